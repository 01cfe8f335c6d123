"""The tab flags deconvnet projections of units that were not firing (strongest value not positive): such a
projection shows what would drive its unit up, so its tile carries an "inactive" badge and the summary counts it.
"""

from __future__ import annotations

import json
from pathlib import Path

import browser_tab
import pytest
import torch
from browser_tab import TEXTS
from conftest import fetch_json, plugin_url, poll, read_cnnviz_events, small_cnn, tensorboard_server

from tb_cnnviz import CNNVizCallback, Deconv

# The page fixtures: pytest finds fixtures by name in the test module.
browser, tab = browser_tab.browser, browser_tab.tab

RUN = "run"
LAYER = "4"  # the second conv of conftest.small_cnn, before its ReLU
NEVER_FIRES = 3  # a channel of LAYER whose bias keeps it below zero on every input
FLAGGED = ".grid[data-panel=shown] .tile.flagged[data-flag=inactive]"
POSITIONS = "tiles => tiles.map(tile => Number(tile.dataset.position))"


@pytest.fixture(scope="module")
def logdir(tmp_path_factory) -> Path:
    """One step of one layer: the channel that never fires, and each probe's 3 strongest channels."""
    logdir = tmp_path_factory.mktemp("inactive")
    torch.manual_seed(0)
    model = small_cnn()
    with torch.no_grad():
        model[4].bias[NEVER_FIRES] = -100.0
    generator = torch.Generator().manual_seed(0)
    probes, dataset = torch.rand(2, 1, 28, 28, generator=generator), torch.rand(16, 1, 28, 28, generator=generator)
    kind = Deconv(channels=[NEVER_FIRES], top_channels=3, dataset=dataset, dataset_every=1, every=1)
    with CNNVizCallback(model, probes, log_dir=str(logdir / RUN), layers=LAYER, kinds=[kind]) as viz:
        viz.log(0)
    return logdir


@pytest.fixture(scope="module")
def server(logdir):
    with tensorboard_server(logdir) as base:
        for tag in (f"{LAYER}/deconv", f"{LAYER}/deconv_top"):
            url = plugin_url(base, "steps", run=RUN, tag=tag)
            poll(lambda url=url: fetch_json(url)["steps"], lambda steps: steps == [0])
        yield base


def test_projections_of_units_that_were_not_firing_carry_an_inactive_badge_and_are_counted(logdir, server, tab):
    info = json.loads(read_cnnviz_events(logdir / RUN)[f"{LAYER}/deconv"][0][0])
    probe = 1
    inactive = [position for position, flagged in enumerate(info["inactive"][probe]) if flagged]
    assert info["channels"][probe][0] == NEVER_FIRES and inactive == [0], "the logdir should hold one inactive unit"

    frame = tab.open(f"{server}/#cnnviz&p.cnnviz.layer={LAYER}&p.cnnviz.kind=deconv&p.cnnviz.probe={probe}")
    assert frame.eval_on_selector_all(FLAGGED, POSITIONS) == inactive
    assert frame.eval_on_selector_all(f"{FLAGGED} .tile-flag", TEXTS) == ["inactive"]
    assert frame.eval_on_selector_all(".grid[data-panel=shown] .tile:not(.flagged)", POSITIONS) == [1, 2, 3]
    tab.page.mouse.move(0, 0)  # no tile hovered: the info bar sums up the grid
    summary = frame.text_content(".grid[data-panel=shown] .channel-details")
    assert "1 inactive (strongest value not positive: projected from a positive seed)" in summary
    tab.keep_screenshot("cnnviz-deconv-inactive")

    frame.click("input[name='cnnviz-kind'][value='deconv_top']")  # the dataset's top 9: the same rule
    frame.wait_for_selector('.top-patches[data-step="0"]', timeout=30_000)
    top = fetch_json(plugin_url(server, "info", run=RUN, tag=f"{LAYER}/deconv_top", step=0))
    row = top["channels"].index(NEVER_FIRES)
    assert top["inactive"][row] == [True] * top["k"]
    flagged = frame.eval_on_selector_all(
        ".top-card", "cards => cards.map(card => card.querySelectorAll('.top-projection .top-cell.flagged').length)"
    )
    assert flagged == [sum(ranks) for ranks in top["inactive"]]
    badges = frame.eval_on_selector_all(".top-card h3 .tile-flag", TEXTS)
    assert badges == [f"{sum(ranks)} inactive" if any(ranks) else "" for ranks in top["inactive"]]
    count = sum(map(sum, top["inactive"]))
    assert f"{count} inactive (strongest value not positive" in frame.text_content(".top-note")
    tab.keep_screenshot("cnnviz-deconv-top-inactive")
    tab.assert_clean()
