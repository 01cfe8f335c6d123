"""The tab on tests/fixtures/logdir_v1, a logdir written by the release whose metadata is version 1: every
layer kind and model kind it logged draws its atlas, with no error banner, console error or CSP violation.
"""

from __future__ import annotations

import shutil
import urllib.parse
from pathlib import Path

import browser_tab
import pytest
from browser_tab import READ_RGBA
from conftest import fetch_json, plugin_url, tensorboard_server

# The page fixtures: pytest finds fixtures by name in the test module.
browser, tab = browser_tab.browser, browser_tab.tab

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "logdir_v1"
RUN = "run_v1"
LAST = 2  # steps 0-2
MODEL = "(model)"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("logdir_v1")
    shutil.copytree(
        FIXTURE, logdir, dirs_exist_ok=True
    )  # the server writes its log beside the runs: not into the fixture
    with tensorboard_server(logdir) as base:
        yield base


def views(base: str) -> list[tuple[str, str, str]]:
    """(scope, kind, tag) of everything the run logged: each layer's kinds, then the model's."""
    (run,) = [run for run in fetch_json(plugin_url(base, "runs"))["runs"] if run["run"] == RUN]
    found = [(layer["name"], kind, tag) for layer in run["layers"] for kind, tag in layer["kinds"].items()]
    return found + [(MODEL, kind, tag) for kind, tag in run["model"]["kinds"].items()]


def test_every_kind_of_a_version_1_logdir_is_drawn(server, tab):
    shown = views(server)
    kinds = {kind for _, kind, _ in shown}
    assert kinds == {
        "feature_maps",
        "filters",
        "deconv",
        "deconv_top",
        "saliency",
        "grad_cam",
        "class_visualization",
        "fooling",
    }
    for scope, kind, tag in shown:
        tab.page.goto("about:blank")  # each view opened afresh from its URL
        state = {"run": RUN, "layer": scope, "kind": kind, "step": LAST}
        tab.page.goto(
            f"{server}/#cnnviz&"
            + "&".join(f"p.cnnviz.{key}={urllib.parse.quote(str(value))}" for key, value in state.items())
        )
        frame = tab.frame
        view = ".top-patches" if kind == "deconv_top" else ".grid[data-panel=shown]"
        tag_query = urllib.parse.urlencode({"tag": tag})
        frame.wait_for_selector(f'{view}[data-step="{LAST}"][data-source*="{tag_query}&"]', timeout=30_000)
        pictures = frame.eval_on_selector_all(f"{view} canvas:not(.colorbar)", READ_RGBA)
        assert pictures, f"{tag}: nothing drawn"
        assert all(any(picture[3::4]) for picture in pictures if len(picture) > 4), f"{tag}: a blank picture"
        # Release 1 did not say which units were inactive (its step 2 has some in 4/deconv_top): no flag is guessed.
        assert frame.query_selector(f"{view} [data-flag=inactive]") is None, f"{tag}: flagged inactive"
        assert frame.query_selector(".error[role=alert]") is None, f"{tag}: {frame.text_content('.status')}"
        assert frame.text_content(".status") == "", f"{tag}: {frame.text_content('.status')}"
        tab.keep_screenshot(f"cnnviz-v1-{scope.strip('()')}-{kind}")
        tab.assert_clean()
