"""`tb-cnnviz report`: check the folders, ask the plugin's routes in-process for every run, write index.html."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from tb_cnnviz.report.page import page, run_section
from tb_cnnviz.report.routes import PluginRoutes
from tb_cnnviz.report.source import RunSource


class ReportError(ValueError):
    """A --logdir or --out the report cannot use; the message says what would be right."""


def write_report(logdir: str, out: str) -> tuple[Path, dict[str, list[str]]]:
    """Write `out`/index.html for the runs under `logdir`; returns its path and, per run, what was left out."""
    _check_logdir(logdir)
    folder = _check_out(out)
    routes = PluginRoutes(logdir)
    listing = routes.json("runs")["runs"]
    if not listing:
        raise ReportError(
            f"--logdir {logdir} holds no CNN Viz data (no event file with cnnviz summaries under it); "
            "give the folder a CNNVizCallback's log_dir is in"
        )
    sections, index, notes = [], [], {}
    for number, run in enumerate(listing):
        source = RunSource(routes, run["run"])
        anchor = f"run-{number}"
        sections.append(run_section(source, run, anchor))
        index.append((run["run"], anchor))
        notes[run["run"]] = source.notes
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    summary = f"{len(listing)} run{'s' if len(listing) != 1 else ''} from {Path(logdir).resolve()}, written {when}"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "index.html"
    target.write_text(page("CNN Viz report", summary, index, sections), encoding="utf-8")
    return target, notes


def _check_logdir(logdir: str) -> None:
    path = Path(logdir)
    if not path.exists():
        raise ReportError(f"--logdir {logdir} does not exist; give the folder tensorboard --logdir would read")
    if not path.is_dir():
        raise ReportError(f"--logdir {logdir} is a file; give the folder holding the runs' event files")
    if not os.access(path, os.R_OK | os.X_OK):
        raise ReportError(f"--logdir {logdir}: no permission to read it")


def _check_out(out: str) -> Path:
    """The folder to write, checked before anything is read: it (or its nearest existing parent) must be writable."""
    path = Path(out)
    existing = next(folder for folder in (path, *path.parents, Path(".")) if folder.exists())
    if not existing.is_dir():
        where = "is a file" if existing == path else f"is under {existing}, which is a file"
        raise ReportError(f"--out {out} {where}; give a folder (it is created if missing)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ReportError(f"--out {out}: no permission to write in {existing}")
    return path
