"""Layer health's Dynamics view in headless Chromium: what it draws equals what the dynamics route serves.

Same setup as test_browser.py (browser_tab's Tab and helpers): a real `tensorboard` process on the demo
model's run as the real callback logs feature maps and dynamics over a few short epochs of Fashion-MNIST
(dynamics_logs.py); every number drawn is read back from the page.
"""

from __future__ import annotations

import json

import browser_tab
import pytest
from browser_tab import CHART_VALUES, downloaded_png, has_colour, texts
from conftest import fetch_json, plugin_url, poll, tensorboard_server
from dynamics_logs import DEMO_EPOCHS, SIMILARITY, write_demo_dynamics_run, write_dynamics_records

# The page fixtures: pytest finds fixtures by name in the test module.
browser, tab = browser_tab.browser, browser_tab.tab

RUN = "demo"
HOSTILE_RUN = "hostile"  # dynamics alone, of a layer whose name is HTML
HOSTILE_LAYER = '<img src=x onerror="window.__pwned=1">'
RANKED = 8
CHART_LABELS = [
    "Change since previous log (1 \u2212 CKA)",
    "CKA with first log",
    "Dead channels",
    "Median channel drift",
]
HEAT_CELLS = "cells => cells.map(cell => [cell.dataset.layer, Number(cell.dataset.step), cell.dataset.value])"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("browser_dynamics")
    write_demo_dynamics_run(logdir / RUN)
    hostile = {"layer": HOSTILE_LAYER, "layer_index": 0, "layer_type": "Conv2d", "shape": [4, 8, 8]}
    conv = {"layer": "conv", "layer_index": 1, "layer_type": "Conv2d", "shape": [4, 4, 4]}
    layers = {HOSTILE_LAYER: (hostile, [None, 0.9, 0.99, 0.99, 0.99]), "conv": (conv, [None, 0.5, 0.5, 0.5, 0.5])}
    write_dynamics_records(logdir / HOSTILE_RUN, layers, similarity_layer="conv")
    with tensorboard_server(logdir, "--load_fast=false") as base:
        poll(
            lambda: fetch_json(plugin_url(base, "dynamics", run=RUN))["steps"], lambda steps: len(steps) == DEMO_EPOCHS
        )
        yield base


def one_minus(values: list) -> list:
    return [None if value is None else 1 - value for value in values]


def test_dynamics_view_draws_the_routes_curves_settled_steps_heat_map_and_ranking(server, tab):
    answer = fetch_json(plugin_url(server, "dynamics", run=RUN))
    current = answer["steps"][2]
    tab.page.goto(f"{server}/#cnnviz&p.cnnviz.panel=health&p.cnnviz.step={current}")
    frame = tab.frame
    frame.wait_for_selector(".health[data-ready]", timeout=30_000)
    assert frame.is_hidden(".dynamics")
    frame.click("input[name='cnnviz-health-view'][value='dynamics']")
    frame.wait_for_selector(".dynamics[data-ready]", timeout=30_000)
    poll(lambda: tab.url, lambda url: "p.cnnviz.health=dynamics" in url, timeout=10)
    assert frame.is_hidden(".health-rows")
    # The dynamics kind has no pictures: not a View of its own.
    assert "dynamics" not in frame.eval_on_selector_all(
        "input[name='cnnviz-kind']", "inputs => inputs.map(i => i.value)"
    )

    rows = frame.eval_on_selector_all(".dynamics-row", "rows => rows.map(row => row.dataset.layer)")
    assert rows == [layer["layer"] for layer in answer["layers"]]
    for layer in answer["layers"]:
        row = f".dynamics-row[data-layer='{layer['layer']}']"
        charts = frame.eval_on_selector_all(f"{row} svg.chart", CHART_VALUES)
        expected = [
            one_minus(layer["change"]["cka_previous"]),
            layer["change"]["cka_first"],
            layer["change"]["dead_fraction"],
            layer["change"]["drift"],
        ]
        labels = CHART_LABELS + (["Filter-image similarity"] if layer["similarity"] else [])
        assert [label.split(":")[0] for label, _ in charts] == labels
        for (_, values), wanted in zip(charts, expected, strict=False):
            assert len(values) == len(layer["steps"])  # one point per answered step
            assert values == [None if value is None else pytest.approx(value) for value in wanted]
        if layer["similarity"]:
            assert charts[-1][1] == layer["similarity"]["values"]
        settled = layer["settled_step"]
        want = "still changing" if settled is None else f"settled at step {settled}"
        assert frame.text_content(f"{row} .dynamics-settled") == want
        ranked = frame.eval_on_selector_all(
            f"{row} .dynamics-channel", "buttons => buttons.map(b => b.dataset.channel)"
        )
        assert ranked == [str(entry["channel"]) for entry in layer["channels"][:RANKED]]
        drifts = texts(frame, f"{row} .dynamics-drift")
        assert drifts == tab.formatted("formatNumber", [entry["recent_drift"] for entry in layer["channels"][:RANKED]])

    heat = answer["heat"]
    cells = frame.eval_on_selector_all(".heat-map .heat-cell", HEAT_CELLS)
    assert len(cells) == len(heat["layers"]) * len(heat["steps"])
    drawn = {(name, step): None if value == "" else float(value) for name, step, value in cells}
    for name, values in zip(heat["layers"], heat["values"], strict=True):
        for step, value in zip(heat["steps"], values, strict=True):
            assert drawn[name, step] == value, (name, step)  # exactly the served number, or no value
    assert all(drawn[name, heat["steps"][0]] is None for name in heat["layers"]), "the first log has no previous one"
    assert frame.get_attribute(".heat-map .heat-current", "data-step") == str(current)
    tab.keep_screenshot("cnnviz-dynamics-1400x900")
    # Export PNG draws the heat map too: its largest change is the top of viridis.
    name, image = downloaded_png(tab, frame, "button.export")
    assert name == f"cnnviz-{RUN}-{answer['layers'][0]['layer']}-dynamics-step{current}.png"
    assert has_colour(image, (253, 231, 37)), "the heat map (its largest cell and its legend's top)"

    # A ranked channel opens its filmstrip of the layer's feature maps.
    layer = answer["layers"][1]
    channel = layer["channels"][0]["channel"]
    frame.click(f".dynamics-row[data-layer='{layer['layer']}'] .dynamics-channel[data-channel='{channel}']")
    frame.wait_for_selector("dialog.lightbox[open]", timeout=30_000)
    frame.wait_for_selector(".filmstrip[data-ready]", timeout=30_000)
    key = json.loads(frame.get_attribute(".filmstrip", "data-ready"))
    assert key[:3] == [RUN, layer["feature_maps_tag"], channel]
    assert f"channel {channel}" in frame.text_content("dialog.lightbox h2")
    assert f"p.cnnviz.channel={channel}" in tab.url and "p.cnnviz.panel" not in tab.url
    tab.assert_clean()


def test_layer_names_are_text_and_a_layer_with_dynamics_alone_still_shows_them(server, tab):
    tab.page.goto(f"{server}/#cnnviz&p.cnnviz.run={HOSTILE_RUN}&p.cnnviz.panel=health&p.cnnviz.health=dynamics")
    frame = tab.frame
    frame.wait_for_selector(".dynamics[data-ready]", timeout=30_000)
    assert texts(frame, ".dynamics-row .layer-name") == [HOSTILE_LAYER, "conv"]
    assert HOSTILE_LAYER in texts(frame, ".heat-map text")
    assert texts(frame, ".dynamics-settled") == ["settled at step 2", "still changing"]
    charts = frame.eval_on_selector_all(".dynamics-row[data-layer=conv] svg.chart", CHART_VALUES)
    assert charts[-1][0].startswith("Filter-image similarity") and charts[-1][1] == list(SIMILARITY.values())
    # No feature maps of these layers: their ranked channels cannot open a filmstrip.
    assert frame.eval_on_selector_all(".dynamics-channel", "buttons => buttons.every(b => b.disabled)")
    assert frame.evaluate("window.__pwned") is None and tab.page.evaluate("window.__pwned") is None
    frame.click("input[name='cnnviz-panel'][value='channels']")
    frame.wait_for_selector(".status >> text=logged no pictures; see Layer health", timeout=30_000)
    tab.assert_clean()
