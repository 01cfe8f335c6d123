"""The plugin's routes answered in-process: TensorBoard's own loader and WSGI app over a logdir, no server.

The event files are read as `tensorboard --logdir` (with --load_fast=false) reads them: an EventMultiplexer
behind a MultiplexerDataProvider, every cnnviz step kept. Requests go through TensorBoard's WSGI app, so
a route's error is the 4xx text the tab would read.
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass

from tensorboard.backend import application
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
from tensorboard.plugins import base_plugin
from werkzeug.test import Client

from tb_cnnviz import contract
from tb_cnnviz.tensorboard.plugin import KEEP_EVERY_STEP, CNNVizPlugin

_ROUTES = f"/data/plugin/{contract.PLUGIN_NAME}"


class RouteError(Exception):
    """A route answered an error: `status` and the plugin's one-line reason."""

    def __init__(self, route: str, status: int, reason: str) -> None:
        super().__init__(f"{route}: {reason} (HTTP {status})")
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Picture:
    """A PNG a route answered, and the steps its blank frames stand for (the strip's skipped-steps header)."""

    png: bytes
    skipped: tuple[int, ...] = ()


class PluginRoutes:
    """CNNVizPlugin over the event files under `logdir`, asked as the tab asks it."""

    def __init__(self, logdir: str) -> None:
        multiplexer = plugin_event_multiplexer.EventMultiplexer(
            tensor_size_guidance={contract.PLUGIN_NAME: KEEP_EVERY_STEP}
        )
        multiplexer.AddRunsFromDirectory(logdir)
        multiplexer.Reload()
        provider = data_provider.MultiplexerDataProvider(multiplexer, logdir)
        hints = {contract.PLUGIN_NAME: KEEP_EVERY_STEP}
        context = base_plugin.TBContext(data_provider=provider, logdir=logdir, sampling_hints=hints)
        self.plugin = CNNVizPlugin(context)
        self._client = Client(application.TensorBoardWSGI([self.plugin], data_provider=provider))

    def json(self, route: str, **params) -> dict:
        return json.loads(self._get(route, params).get_data())

    def picture(self, route: str, **params) -> Picture:
        answer = self._get(route, params)
        skipped = answer.headers.get("X-CNNViz-Skipped-Steps", "")
        return Picture(answer.get_data(), tuple(int(step) for step in skipped.split(",") if step))

    def _get(self, route: str, params: dict):
        answer = self._client.get(f"{_ROUTES}/{route}?{urllib.parse.urlencode(params)}")
        if answer.status_code != 200:
            reason = answer.get_data(as_text=True) if answer.mimetype == "text/plain" else answer.status
            raise RouteError(route, answer.status_code, " ".join(reason.split())[:400])
        return answer
