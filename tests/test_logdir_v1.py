"""A logdir written by release 1 (tests/fixtures/logdir_v1, never rewritten) served by today's plugin, both loaders.

Every route on every tag. The chart numbers release 1 derived per kind are recomputed here from the
event files with a small reading of their own, not by calling the plugin's code.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import fetch, fetch_json, plugin_url, poll, read_cnnviz_events, tensorboard_server
from PIL import Image

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "logdir_v1"
RUN = "run_v1"
LAYERS = ["0", "4"]
LAYER_KINDS = {"feature_maps", "filters", "deconv", "deconv_top"}
MODEL_KINDS = {"saliency", "grad_cam", "class_visualization", "fooling"}
EVENTS = read_cnnviz_events(FIXTURE / RUN)  # {tag: {step: [info, picture, ...]}}
TAGS = sorted(EVENTS)


def expected_series(info: dict) -> dict[str, list]:
    """The numbers release 1 charted for an info, as its plugin derived them (feature maps: over probes)."""
    kind = info["kind"]
    if kind == "feature_maps":
        stats = {name: np.array(info["stats"][name], dtype=float) for name in ("mean", "max", "dead")}
        return {"mean": stats["mean"].mean(axis=0), "max": stats["max"].max(axis=0), "dead": stats["dead"].mean(axis=0)}
    keys = {
        "filters": {"activation": "activations"},
        "saliency": {"probability": "probabilities"},
        "grad_cam": {"probability": "probabilities"},
        "class_visualization": {"probability": "probabilities", "score": "scores"},
        "fooling": {"steps": "steps", "target_probability": "target_probabilities"},
    }.get(kind, {})
    return {chart: info[key] for chart, key in keys.items()}


def info_of(tag: str, step: int) -> dict:
    return json.loads(EVENTS[tag][step][0])


@pytest.fixture(scope="module", params=["true", "false"], ids=["load_fast", "python_loader"])
def base(request, tmp_path_factory) -> str:
    # The server writes its log into the logdir: serve a link to the fixture's run, never the fixture itself.
    logdir = tmp_path_factory.mktemp("logdir_v1")
    (logdir / RUN).symlink_to(FIXTURE / RUN, target_is_directory=True)
    with tensorboard_server(logdir, f"--load_fast={request.param}") as url:
        poll(
            lambda: fetch_json(plugin_url(url, "steps", run=RUN, tag="model/fooling"))["steps"],
            lambda s: s == [0, 1, 2],
        )
        yield url


def test_fixture_is_what_release_1_wrote():
    assert len(TAGS) == 13 and {info_of(tag, min(EVENTS[tag]))["version"] for tag in TAGS} == {1}


def test_runs_lists_every_layer_kind_and_model_kind(base):
    (run,) = fetch_json(plugin_url(base, "runs"))["runs"]
    assert run["run"] == RUN
    assert run["probes"] == {"tag": "probes", "step": 0, "count": 2, "labels": ["probe 0", "probe 1"]}
    assert [(layer["name"], layer["index"], layer["type"]) for layer in run["layers"]] == [
        ("0", 0, "Conv2d"),
        ("4", 1, "Conv2d"),
    ]
    assert [layer["shape"] for layer in run["layers"]] == [[8, 28, 28], [16, 14, 14]]
    for layer in run["layers"]:
        assert layer["kinds"] == {kind: f"{layer['name']}/{kind}" for kind in LAYER_KINDS}
    assert run["model"] == {"kinds": {kind: f"model/{kind}" for kind in MODEL_KINDS}}


@pytest.mark.parametrize("tag", TAGS)
def test_steps_info_and_every_image(base, tag):
    steps = fetch_json(plugin_url(base, "steps", run=RUN, tag=tag))
    assert steps["steps"] == sorted(EVENTS[tag]) and len(steps["wall_times"]) == len(steps["steps"])
    for step, blobs in EVENTS[tag].items():
        raw = json.loads(blobs[0])
        info = fetch_json(plugin_url(base, "info", run=RUN, tag=tag, step=step))
        assert info.pop("series").keys() == expected_series(raw).keys()
        assert info == raw, "the info as release 1 wrote it, plus its series"
        for index in range(1, len(blobs)):
            status, headers, body = fetch(plugin_url(base, "image", run=RUN, tag=tag, step=step, index=index))
            assert (status, headers["Content-Type"], body) == (200, "image/png", blobs[index])
        status, _, body = fetch(plugin_url(base, "image", run=RUN, tag=tag, step=step, index=len(blobs)))
        assert status == 404 and b"out of range" in body


@pytest.mark.parametrize("tag", TAGS)
def test_series_holds_the_numbers_release_1_charted(base, tag):
    series = fetch_json(plugin_url(base, "series", run=RUN, tag=tag))
    steps = sorted(EVENTS[tag])
    last = info_of(tag, steps[-1])
    assert series["steps"] == steps and series["skipped"] == []
    assert series["kind"] == last["kind"] and series["channels"] == last.get("channels", [])
    expected = {step: expected_series(info_of(tag, step)) for step in steps}
    assert set(series["stats"]) == set(expected[steps[-1]])
    for name, rows in series["stats"].items():
        for row, step in zip(rows, steps, strict=True):
            # Release 1 rounded to 5 significant digits; channels are the same at every step here.
            assert info_of(tag, step)["channels"] == last["channels"]
            np.testing.assert_allclose(np.array(row, dtype=float), expected[step][name], rtol=1e-4, atol=0)


@pytest.mark.parametrize("tag", [tag for tag in TAGS if tag != "probes"])
def test_strip_cuts_the_channels_tile_from_every_step(base, tag):
    steps = sorted(EVENTS[tag])
    last = info_of(tag, steps[-1])
    probe_channels = last["channels"][0] if isinstance(last["channels"][0], list) else last["channels"]
    channel = probe_channels[min(len(probe_channels) - 1, last["grid"][1] + 1)]  # row 1 when there is one
    status, _, body = fetch(plugin_url(base, "strip", run=RUN, tag=tag, channel=channel, index=1))
    assert status == 200
    strip = np.asarray(Image.open(io.BytesIO(body)).convert("RGBA"))
    height, width = last["tile"]
    assert strip.shape[:2] == (height, width * len(steps))
    for place, step in enumerate(steps):
        info = info_of(tag, step)
        items = info["channels"][0] if isinstance(info["channels"][0], list) else info["channels"]
        frame = strip[:, place * width : (place + 1) * width]
        if channel not in items:
            assert (frame[..., 3] == 0).all(), "a step without the channel's tile is transparent"
            continue
        row, col = divmod(items.index(channel), info["grid"][1])
        atlas = np.asarray(Image.open(io.BytesIO(EVENTS[tag][step][1])).convert("RGBA"))
        np.testing.assert_array_equal(frame, atlas[row * height : (row + 1) * height, col * width : (col + 1) * width])


def test_probes_tag_has_no_strip_and_an_empty_series(base):
    status, _, body = fetch(plugin_url(base, "strip", run=RUN, tag="probes", channel=0, index=1))
    assert status == 404 and b"no tile of channel 0" in body
    series = fetch_json(plugin_url(base, "series", run=RUN, tag="probes"))
    assert (series["kind"], series["channels"], series["stats"]) == ("probes", [], {})


def test_static_serves_the_tab(base):
    status, headers, body = fetch(f"{base}/data/plugin/cnnviz/static/index.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript") and b"export function render" in body
