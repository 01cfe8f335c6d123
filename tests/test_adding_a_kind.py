"""Adding a kind is four edits and nothing else: docs/adding-a-kind.md's walk-through, applied to a copy of
the package, logs a new kind through the real callback and the tab draws it in Chromium.

The code comes from the page itself, so the walk-through cannot drift from what works.
"""

from __future__ import annotations

import filecmp
import os
import re
import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path

import browser_tab
import pytest
from browser_tab import atlas_tiles, drawn_tiles, served_image
from conftest import fetch_json, plugin_url, tensorboard_server

browser, tab = browser_tab.browser, browser_tab.tab  # the page fixtures, found by name

ROOT = Path(__file__).resolve().parent.parent
WALK_THROUGH = ROOT / "docs" / "adding-a-kind.md"
COPIED = ("tb_cnnviz", "frontend")
EDIT = re.compile(r"<!-- (new file|one line): (\S+)(?: after: (.+?))? -->\n```\w*\n(.*?)```", re.S)
KIND, TAG, RUN, STEPS = "channel_mean", "4/channel_mean", "run_a", 3

WRITE_LOGDIR = """
import sys
import torch
from conftest import small_cnn
from tb_cnnviz import CNNVizCallback

torch.manual_seed(0)
model = small_cnn()
kinds = ["feature_maps", "channel_mean"]
with CNNVizCallback(model, torch.rand(2, 1, 28, 28), log_dir=sys.argv[1], kinds=kinds) as viz:
    for epoch in range(int(sys.argv[2])):
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(0.1 * torch.randn(parameter.shape))
        viz.on_epoch_end(epoch)
"""


def walk_through_edits() -> list[tuple[str, str, str | None, str]]:
    """(what, path, after, code) of each edit the page shows, in order."""
    return EDIT.findall(WALK_THROUGH.read_text(encoding="utf-8"))


def apply(edits, tree: Path) -> None:
    for what, path, after, code in edits:
        file = tree / path
        if what == "new file":
            assert not file.exists(), f"{path} already exists: the walk-through must add it"
            file.write_text(code, encoding="utf-8")
            continue
        lines = file.read_text(encoding="utf-8").splitlines(keepends=True)
        (anchor,) = [index for index, line in enumerate(lines) if line.strip() == after.strip()]
        lines.insert(anchor + 1, code)
        file.write_text("".join(lines), encoding="utf-8")


def differences(left: Path, right: Path, prefix: str = "") -> tuple[list[str], list[str], list[str]]:
    """(only in left, only in right, changed) files of two trees, ignoring caches."""
    compared = filecmp.dircmp(left, right, ignore=["__pycache__"])
    only_left = [prefix + name for name in compared.left_only]
    only_right = [prefix + name for name in compared.right_only]
    changed = [prefix + name for name in compared.diff_files]
    for name in compared.common_dirs:
        more = differences(left / name, right / name, f"{prefix}{name}/")
        only_left, only_right, changed = only_left + more[0], only_right + more[1], changed + more[2]
    return only_left, only_right, changed


@pytest.fixture(scope="module")
def tree_with_a_new_kind(tmp_path_factory) -> Path:
    tree = tmp_path_factory.mktemp("tree")
    for folder in COPIED:
        shutil.copytree(ROOT / folder, tree / folder, ignore=shutil.ignore_patterns("__pycache__"))
    apply(walk_through_edits(), tree)
    return tree


def test_the_walk_through_is_two_new_modules_and_one_line_in_each_registry(tree_with_a_new_kind):
    edits = walk_through_edits()
    assert [(what, path) for what, path, _, _ in edits] == [
        ("new file", "tb_cnnviz/writer/kinds/channel_mean.py"),
        ("one line", "tb_cnnviz/writer/kinds/__init__.py"),
        ("new file", "frontend/kinds/channel-mean.js"),
        ("one line", "frontend/kinds/index.js"),
    ]
    assert all(code.count("\n") == 1 for what, _, _, code in edits if what == "one line")
    added, removed, changed = [], [], []
    for folder in COPIED:
        only_repo, only_tree, diff = differences(ROOT / folder, tree_with_a_new_kind / folder, f"{folder}/")
        removed, added, changed = removed + only_repo, added + only_tree, changed + diff
    assert removed == []
    assert sorted(added) == ["frontend/kinds/channel-mean.js", "tb_cnnviz/writer/kinds/channel_mean.py"]
    assert sorted(changed) == ["frontend/kinds/index.js", "tb_cnnviz/writer/kinds/__init__.py"]


@pytest.fixture(scope="module")
def server(tree_with_a_new_kind, tmp_path_factory):
    logdir = tmp_path_factory.mktemp("new_kind")
    path = f"{tree_with_a_new_kind}:{ROOT / 'tests'}"
    subprocess.run(
        [sys.executable, "-c", WRITE_LOGDIR, str(logdir / RUN), str(STEPS)],
        check=True,
        cwd=tree_with_a_new_kind,  # `python -c` puts its working directory first on the path
        env={**os.environ, "PYTHONPATH": path},
        timeout=300,
    )
    with tensorboard_server(logdir, env={"PYTHONPATH": str(tree_with_a_new_kind)}) as base:
        yield base


def test_the_new_kind_is_logged_listed_and_charted(server):
    (run,) = fetch_json(plugin_url(server, "runs"))["runs"]
    (layer,) = [layer for layer in run["layers"] if layer["name"] == "4"]
    assert layer["kinds"][KIND] == TAG
    series = fetch_json(plugin_url(server, "series", run=RUN, tag=TAG))
    assert series["steps"] == list(range(STEPS)) and series["channels"] == list(range(16))
    assert len(series["stats"]["mean"]) == STEPS and all(len(row) == 16 for row in series["stats"]["mean"])


def test_the_tab_offers_and_draws_the_new_kind(server, tab):
    state = {"run": RUN, "layer": "4", "kind": KIND, "step": STEPS - 1, "cmap": "grey"}
    query = "&".join(f"p.cnnviz.{key}={urllib.parse.quote(str(value))}" for key, value in state.items())
    tab.page.goto(f"{server}/#cnnviz&{query}")
    frame = tab.wait_for_grid(step=STEPS - 1)
    assert urllib.parse.urlencode({"tag": TAG}) in tab.grid(frame)["source"]
    info = fetch_json(plugin_url(server, "info", run=RUN, tag=TAG, step=STEPS - 1))
    atlas = served_image(server, RUN, TAG, STEPS - 1, 1)
    assert drawn_tiles(frame) == atlas_tiles(atlas, info["tile"], info["grid"], len(info["channels"]))
    assert "Channel mean heat map" in frame.text_content("body")
    assert frame.query_selector(".error[role=alert]") is None, frame.text_content(".status")
    tab.keep_screenshot("cnnviz-new-kind-channel-mean")
    tab.assert_clean()
