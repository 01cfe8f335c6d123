"""The explanatory graph view in headless Chromium, against a real TensorBoard on runs the real callback wrote
(graph_logs.py): nodes and links drawn equal what the routes serve, thumbnails and patches equal the served
atlas crops, heat markers sit at the served positions, names from logs are text, a bad step costs itself."""

from __future__ import annotations

import json
import urllib.parse

import browser_tab
import numpy as np
import pytest
from browser_tab import CHART_VALUES, READ_RGBA, downloaded_png, has_colour, served_image, texts
from conftest import fetch, fetch_json, plugin_url, poll, tensorboard_server
from graph_logs import LOW, PROBES, TOP, write_crafted_graph_run, write_graph_run, write_mined_run

browser, tab = browser_tab.browser, browser_tab.tab

TAG = "model/explanatory_graph"
STEPS = 3
VIEW = ".graph-view"
# Each drawn line's ends and each node button's centre, in board pixels.
READ_GEOMETRY = """board => {
  const origin = board.getBoundingClientRect();
  const centre = (node) => {
    const r = node.getBoundingClientRect();
    return [r.left + r.width / 2 - origin.left, r.top + r.height / 2 - origin.top];
  };
  const nodes = [...board.querySelectorAll(".graph-node")].map((n) => [n.dataset.node, centre(n)]);
  const end = (line, key) => Number(line.getAttribute(key));
  const lines = [...board.querySelectorAll(".graph-edge")].map((l) => ({
    child: Number(l.dataset.child), parent: Number(l.dataset.parent),
    x1: end(l, "x1"), y1: end(l, "y1"), x2: end(l, "x2"), y2: end(l, "y2"),
  }));
  return { nodes: Object.fromEntries(nodes), lines };
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("browser_graph")
    write_graph_run(logdir / "run", steps=STEPS)
    write_crafted_graph_run(logdir / "crafted")
    write_mined_run(logdir / "mined", steps=2)
    with tensorboard_server(logdir) as base:
        for run, count in (("run", STEPS), ("crafted", 4), ("mined", 2)):
            url = plugin_url(base, "steps", run=run, tag=TAG)
            poll(
                lambda url=url: fetch(url),
                lambda answer, count=count: answer[0] == 200 and len(json.loads(answer[2])["steps"]) == count,
            )
        yield base


def graph_url(base: str, run: str = "run", **view) -> str:
    state = {"run": run, "layer": "(model)", "kind": "explanatory_graph", **view}
    return f"{base}/#cnnviz&" + "&".join(
        f"p.cnnviz.{key}={urllib.parse.quote(str(value))}" for key, value in state.items()
    )


def open_graph(tab, url: str, step: int):
    tab.page.goto(url)
    frame = tab.frame
    frame.wait_for_selector(f"{VIEW}:not([hidden])[data-step='{step}']:not(.busy)", timeout=30_000)
    frame.wait_for_selector(f"{VIEW} .graph-chart-row", timeout=30_000)
    return frame


def tile(atlas, info_atlas, row: int, column: int) -> np.ndarray:
    """The tile at (row, column) of a served grey atlas, as RGBA the way the browser decodes it."""
    (height, width) = info_atlas["tile"]
    grey = np.asarray(atlas.convert("L"))[row * height : (row + 1) * height, column * width : (column + 1) * width]
    return np.dstack([grey, grey, grey, np.full_like(grey, 255)])


def canvases(frame, selector: str) -> list[np.ndarray]:
    sizes = frame.eval_on_selector_all(selector, "cs => cs.map(c => [c.height, c.width])")
    pixels = frame.eval_on_selector_all(selector, READ_RGBA)
    return [np.array(data, dtype=np.uint8).reshape(h, w, 4) for (h, w), data in zip(sizes, pixels, strict=True)]


@pytest.mark.parametrize(("run", "step"), [("run", STEPS - 1), ("mined", 1)], ids=["by_hand", "mined"])
def test_nodes_links_and_thumbnails_are_those_served(server, tab, run, step):
    frame = open_graph(tab, graph_url(server, run=run), step)
    info = fetch_json(plugin_url(server, "info", run=run, tag=TAG, step=step))
    drawn = frame.eval_on_selector(".graph-board", READ_GEOMETRY)
    assert sorted(map(int, drawn["nodes"])) == sorted(node["id"] for node in info["nodes"])
    served_links = {(node["id"], edge["parent"]) for node in info["nodes"] for edge in node["parents"]}
    assert {(line["child"], line["parent"]) for line in drawn["lines"]} == served_links and len(drawn["lines"]) == len(
        served_links
    )
    for line in drawn["lines"]:  # each line runs from its child's top edge to its parent's bottom edge
        (cx, cy), (px, py) = drawn["nodes"][str(line["child"])], drawn["nodes"][str(line["parent"])]
        assert (line["x1"], line["x2"]) == pytest.approx((cx, px), abs=1) and cy > py
        assert line["y1"] < cy and line["y2"] > py
    atlases = {
        atlas["layer"]: (atlas, served_image(server, run, TAG, step, atlas["picture"])) for atlas in info["atlases"]
    }
    thumbs = canvases(frame, ".graph-node canvas")
    ids = frame.eval_on_selector_all(".graph-node", "ns => ns.map(n => Number(n.dataset.node))")
    by_id = {node["id"]: node for node in info["nodes"]}
    for node_id, thumb in zip(ids, thumbs, strict=True):
        atlas, image = atlases[by_id[node_id]["layer"]]
        assert np.array_equal(thumb, tile(image, atlas, by_id[node_id]["row"], 0)), node_id
    assert texts(frame, ".graph-layer") == info["layers"], "layer names from the logs, as text (by hand: HTML)"
    assert frame.eval_on_selector_all(f"{VIEW} b, {VIEW} i", "ns => ns.length") == 0
    tab.keep_screenshot(f"graph-view-{run}")
    name, exported = downloaded_png(tab, frame, "button:has-text('Export PNG')")
    assert name == f"cnnviz-{run}-model-explanatory_graph-step{step}.png"
    assert has_colour(exported, (0x78, 0x90, 0x9C), tolerance=6), "the links are in the exported figure"
    tab.assert_clean()


def test_a_node_shows_its_patches_heat_markers_and_links(server, tab):
    info = fetch_json(plugin_url(server, "info", run="run", tag=TAG, step=STEPS - 1))
    node = next(node for node in info["nodes"] if node["id"] == 3)  # two parents, 3 patches; absent on the last probe
    frame = open_graph(tab, graph_url(server), STEPS - 1)
    frame.click(".graph-node[data-node='3']")
    frame.wait_for_selector(".graph-node-details[data-node='3']:not([hidden])")
    assert texts(frame, ".graph-node-title") == [f"node 3 · {LOW} channel 2"]
    atlas = next(atlas for atlas in info["atlases"] if atlas["layer"] == LOW)
    image = served_image(server, "run", TAG, STEPS - 1, atlas["picture"])
    patches = canvases(frame, ".graph-patch")
    assert len(patches) == node["patches"] == 3
    for column, patch in enumerate(patches):
        assert np.array_equal(patch, tile(image, atlas, node["row"], column)), column
    positions = info["positions"][info["nodes"].index(node)]
    maps = canvases(frame, ".graph-heat-map")
    assert len(maps) == PROBES
    assert positions[-1] is None and all(positions[:-1])
    for at, heat in zip(positions[:-1], maps, strict=False):
        red_excess = heat[..., 0].astype(int) - heat[..., 1].astype(int)
        assert np.unravel_index(red_excess.argmax(), red_excess.shape) == (round(at[1]), round(at[0]))
    parents = frame.eval_on_selector_all(
        ".graph-parents li", "ls => ls.map(l => [Number(l.dataset.node), l.textContent])"
    )
    assert [parent for parent, _ in parents] == [edge["parent"] for edge in node["parents"]]
    for (_, text), edge in zip(parents, node["parents"], strict=True):
        numbers = tab.formatted("formatNumber", [edge["dx"], edge["dy"], edge["sx"], edge["sy"]])
        assert f"dx {numbers[0]}, dy {numbers[1]} (spread {numbers[2]} \u00d7 {numbers[3]})" in text
    assert texts(frame, ".graph-children li") == ["none"] and frame.is_hidden(".graph-peers")
    frame.click(".graph-parents li[data-node='1'] button")  # a link opens the linked node
    frame.wait_for_selector(".graph-node-details[data-node='1']")
    children = frame.eval_on_selector_all(".graph-children li", "ls => ls.map(l => Number(l.dataset.node))")
    assert sorted(children) == [3, 4]
    peer = tab.formatted("formatNumber", [5.0, -2.0, 1.0, 1.5])
    assert texts(frame, ".graph-peers li") == [
        f"{TOP} channel 1: dx {peer[0]}, dy {peer[1]} (spread {peer[2]} \u00d7 {peer[3]})"
    ]
    absent = canvases(frame, ".graph-heat-map")[PROBES - 1]  # node 1 is not found on the last probe
    probe = served_image(server, "run", "probes", 0, PROBES).convert("L")
    assert np.array_equal(absent[..., 0], np.asarray(probe)) and texts(frame, ".graph-heat-cell figcaption")[
        -1
    ].endswith("not found")
    tab.keep_screenshot("graph-view-node")
    tab.assert_clean()


def test_the_step_slider_shows_the_graph_change_and_charts_follow_the_series(server, tab):
    frame = open_graph(tab, graph_url(server), STEPS - 1)
    assert frame.eval_on_selector_all(".graph-node", "ns => ns.length") == 6
    frame.focus(".graph-node >> nth=0")
    tab.page.keyboard.press("ArrowLeft")  # the tab's stepper, by its arrow keys
    frame.wait_for_selector(f"{VIEW}[data-step='1']:not(.busy)")
    frame.click("button[aria-label='Previous step']")
    frame.wait_for_selector(f"{VIEW}[data-step='0']:not(.busy)")
    assert frame.eval_on_selector_all(".graph-node", "ns => ns.length") == 5, "node 5 appears at step 1"
    series = fetch_json(plugin_url(server, "series", run="run", tag=TAG))
    rows = frame.eval_on_selector_all(".graph-chart-row", "rs => rs.map(r => r.dataset.layer)")
    assert rows == [TOP, LOW]
    charts = frame.eval_on_selector_all(".graph-chart-row svg.chart", CHART_VALUES)
    expected = [
        [row[layer] for row in series["stats"][stat]] for layer in range(2) for stat in ("patterns", "instability")
    ]
    assert [values for _, values in charts] == expected
    tab.assert_clean()


def test_the_opened_pattern_follows_its_channel_across_steps_whose_ids_differ(server, tab):
    frame = open_graph(tab, graph_url(server, channel=3), STEPS - 1)  # node 3: LOW channel 2, its only pattern
    frame.wait_for_selector(".graph-node-details[data-node='3']:not([hidden])")
    frame.click("button[aria-label='Previous step']")
    frame.wait_for_selector(f"{VIEW}[data-step='1']:not(.busy)")
    frame.click("button[aria-label='Previous step']")
    frame.wait_for_selector(f"{VIEW}[data-step='0']:not(.busy)")
    frame.wait_for_selector(".graph-node-details[data-node='103']:not([hidden])")  # step 0 numbers it 103
    assert texts(frame, ".graph-node-title") == [f"node 103 · {LOW} channel 2"]
    assert frame.eval_on_selector_all(".graph-node[aria-pressed='true']", "ns => ns.map(n => n.dataset.node)") == [
        "103"
    ]
    assert "channel=103" in urllib.parse.unquote(tab.url)
    tab.assert_clean()


def test_a_step_whose_graph_cannot_be_read_costs_only_that_step(server, tab):
    frame = open_graph(tab, graph_url(server, run="crafted", step=2), 2)
    assert frame.eval_on_selector(VIEW, "v => v.classList.contains('unreadable')")
    note = texts(frame, ".graph-note")[0]
    assert note.startswith("Step 2 cannot be read") and "links to 99" in note
    assert frame.eval_on_selector_all(".graph-node", "ns => ns.length") == 0
    charts = frame.eval_on_selector_all(".graph-chart-row svg.chart", CHART_VALUES)
    assert charts and all(len(values) == 3 for _, values in charts), "the charts keep the readable steps 0, 2, 3"
    frame.click("button[aria-label='Previous step']")
    frame.wait_for_selector(f"{VIEW}[data-step='1']:not(.busy)")
    assert "Step 1 cannot be read" in texts(frame, ".graph-note")[0] and "not JSON" in texts(frame, ".graph-note")[0]
    frame.click("button[aria-label='Previous step']")
    frame.wait_for_selector(f"{VIEW}[data-step='0']:not(.busy):not(.unreadable)")
    assert frame.eval_on_selector_all(".graph-node", "ns => ns.length") == 5
