"""One run's data as the tab fetches it, and what could not be read, said once per piece for the report."""

from __future__ import annotations

from functools import cache

from tb_cnnviz.report.routes import PluginRoutes, RouteError


class RunSource:
    """The routes' answers for run `run`, cached (a logged step never changes); `notes` lists what was left out."""

    def __init__(self, routes: PluginRoutes, run: str) -> None:
        self.routes = routes
        self.run = run
        self.notes: list[str] = []

    def note(self, text: str) -> str:
        """Remember `text` (a piece left out of the report and why) and return it, for the report's line."""
        if text not in self.notes:
            self.notes.append(text)
        return text

    @cache  # noqa: B019 - one source per run, dropped with the report
    def steps(self, tag: str) -> list[int]:
        return self.routes.json("steps", run=self.run, tag=tag)["steps"]

    @cache  # noqa: B019
    def info(self, tag: str, step: int) -> dict:
        return self.routes.json("info", run=self.run, tag=tag, step=step)

    @cache  # noqa: B019
    def image(self, tag: str, step: int, index: int) -> bytes:
        return self.routes.picture("image", run=self.run, tag=tag, step=step, index=index).png

    @cache  # noqa: B019
    def series(self, tag: str) -> dict:
        return self.routes.json("series", run=self.run, tag=tag)

    def dynamics(self) -> dict | None:
        """The dynamics route's answer for the run, or None (noted) when it cannot be had."""
        try:
            return self.routes.json("dynamics", run=self.run)
        except RouteError as error:
            self.note(f"Training dynamics cannot be read: {error.reason}")
            return None
