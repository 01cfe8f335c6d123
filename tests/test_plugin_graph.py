"""The explanatory graph through the plugin's generic routes (runs, info, image, series) on a real TensorBoard,
under both loaders: served as logged, charted per layer, and a bad step costs only itself."""

from __future__ import annotations

import json

import pytest
from conftest import fetch, fetch_json, plugin_url, poll, read_cnnviz_events, tensorboard_server
from graph_logs import LOW, TOP, hand_graph, write_crafted_graph_run, write_graph_run

TAG = "model/explanatory_graph"
STEPS = 3


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("plugin_graph")
    write_graph_run(logdir / "run", steps=STEPS)
    crafted = write_crafted_graph_run(logdir / "crafted")
    return logdir, read_cnnviz_events(logdir / "run")[TAG], crafted


@pytest.fixture(scope="module", params=["true", "false"], ids=["load_fast", "python_loader"])
def server(request, logdir):
    with tensorboard_server(logdir[0], f"--load_fast={request.param}") as base:
        for run, count in (("run", STEPS), ("crafted", 4)):
            url = plugin_url(base, "steps", run=run, tag=TAG)
            poll(
                lambda url=url: fetch(url),
                lambda answer, count=count: answer[0] == 200 and len(json.loads(answer[2])["steps"]) == count,
            )
        yield base, logdir[1], logdir[2]


def test_the_run_lists_the_graph_among_its_model_views(server):
    base, _, _ = server
    runs = {run["run"]: run for run in fetch_json(plugin_url(base, "runs"))["runs"]}
    assert runs["run"]["model"]["kinds"]["explanatory_graph"] == TAG
    assert runs["crafted"]["model"] == {"kinds": {"explanatory_graph": TAG}}


def test_info_and_patch_atlases_are_served_as_logged(server):
    base, logged, _ = server
    for step, blobs in logged.items():
        info = fetch_json(plugin_url(base, "info", run="run", tag=TAG, step=step))
        assert info == json.loads(blobs[0])
        assert [node["id"] for node in info["nodes"]] == [node.id for node in hand_graph(step).nodes]
        for atlas in info["atlases"]:
            status, headers, png = fetch(
                plugin_url(base, "image", run="run", tag=TAG, step=step, index=atlas["picture"])
            )
            assert status == 200 and headers["Content-Type"] == "image/png" and png == blobs[atlas["picture"]]


def test_the_series_route_charts_patterns_and_instability_per_layer_over_steps(server):
    base, logged, _ = server
    series = fetch_json(plugin_url(base, "series", run="run", tag=TAG))
    assert series["kind"] == "explanatory_graph" and series["steps"] == [0, 1, 2]
    assert series["channels"] == [TOP, LOW], "the items charted are the layers, names as logged"
    assert series["stats"]["patterns"] == [[2, 3], [2, 4], [2, 4]]
    expected = [json.loads(logged[step][0])["series"]["instability"] for step in range(STEPS)]
    assert series["stats"]["instability"] == expected and series["skipped"] == []


def test_a_bad_step_costs_only_itself(server):
    base, _, crafted = server
    series = fetch_json(plugin_url(base, "series", run="crafted", tag=TAG))
    assert series["steps"] == [0, 2, 3] and [row["step"] for row in series["skipped"]] == [1]
    assert "not JSON" in series["skipped"][0]["reason"]
    status, headers, body = fetch(plugin_url(base, "info", run="crafted", tag=TAG, step=1))
    assert status == 422 and headers["Content-Type"].startswith("text/plain") and b"not JSON" in body
    for step in (0, 2, 3):
        assert fetch_json(plugin_url(base, "info", run="crafted", tag=TAG, step=step)) == json.loads(crafted[step][0])
