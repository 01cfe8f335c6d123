"""Bad records in event files never break the plugin: every route answers 200 for good data and 4xx for bad,
never 5xx, under both loaders; the tab says what failed in words and keeps working.

Event files are written with the project's own summary code (tb_cnnviz/writer/summary.py) where the data is
well formed, and as raw records where it must be exactly as bad as a corrupt or hostile file can make it.
"""

from __future__ import annotations

import io
import json
import re
import struct
import time
import zlib
from pathlib import Path

import browser_tab
import numpy as np
import pytest
from browser_tab import TAB_IFRAME, drawn_tiles, image_source, texts
from conftest import fetch, fetch_json, plugin_url, tensorboard_server, write_training_logdir
from PIL import Image
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import DATA_CLASS_BLOB_SEQUENCE, Summary, SummaryMetadata
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.util import tensor_util
from torch.utils.tensorboard import SummaryWriter

from tb_cnnviz import contract
from tb_cnnviz.writer.summary import blob_sequence_summary, write_blob_sequence

browser, tab = browser_tab.browser, browser_tab.tab

TAG = "model/toy"
LAYOUT = {"version": 2, "kind": "toy", "channels": [0, 1], "tile": [2, 2], "grid": [1, 2]}


def png(value: int, height: int = 2, width: int = 4) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((height, width), value, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def bomb_png(width: int, height: int) -> bytes:
    """A PNG whose header claims `width` x `height` pixels (a decompression bomb's shape), with no data to match."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


def good_info(step: int) -> dict:
    return {**LAYOUT, "series": {"score": [float(step), 1.0]}}


def raw_summary(tag: str, content: bytes, blobs: list[bytes]) -> Summary:
    """One blob-sequence summary with metadata content exactly `content`, whatever it holds."""
    metadata = SummaryMetadata(
        plugin_data=SummaryMetadata.PluginData(plugin_name=contract.PLUGIN_NAME, content=content),
        data_class=DATA_CLASS_BLOB_SEQUENCE,
    )
    tensor = tensor_util.make_tensor_proto(np.array(blobs, dtype=object))
    return Summary(value=[Summary.Value(tag=tag, metadata=metadata, tensor=tensor)])


def write_raw(run_dir: Path, events: list[tuple[int, Summary]]) -> None:
    writer = EventFileWriter(str(run_dir))
    for step, summary in events:
        writer.add_event(Event(wall_time=time.time(), step=step, summary=summary))
    writer.close()


# Run "meta": one good layer and one good model kind beside tags whose metadata breaks the contract.
BAD_CONTENTS = {
    "null_index/toy": {"kind": "toy", "layer": "null_index", "layer_index": None},
    "text_index/toy": {"kind": "toy", "layer": "text_index", "layer_index": "1"},
    "float_index/toy": {"kind": "toy", "layer": "float_index", "layer_index": 1.5},
    "list_kind/toy": {"kind": ["toy"], "layer": "list_kind", "layer_index": 0},
    "dict_layer/toy": {"kind": "toy", "layer": {"name": "x"}, "layer_index": 0},
    "no_layer/toy": {"kind": "toy", "layer_index": 0},
    "bad_shape/toy": {"kind": "toy", "layer": "bad_shape", "layer_index": 0, "shape": "8x28x28"},
    "bad_labels": {"kind": "probes", "count": 2, "labels": [1, 2]},
}
BAD_BYTES = {"not_utf8/toy": b"\xff\xfe{", "a_list/toy": b"[1, 2]"}


def write_meta_run(run_dir: Path) -> None:
    good = [
        (
            "conv/toy",
            json.dumps({"version": 2, "kind": "toy", "layer": "conv", "layer_index": 0, "shape": [2, 2, 2]}),
        ),
        (TAG, json.dumps({"version": 2, "kind": "toy", "scope": contract.MODEL_SCOPE})),
    ]
    tags = [*good, *((tag, json.dumps({"version": 2, **content})) for tag, content in BAD_CONTENTS.items())]
    contents = [(tag, content.encode()) for tag, content in tags] + list(BAD_BYTES.items())
    blobs = [json.dumps(good_info(0)).encode(), png(0)]
    write_raw(run_dir, [(0, raw_summary(tag, content, blobs)) for tag, content in contents])


# Run "steps": one tag of a model-level kind whose good steps hold channel 1 at value 10 * step.
STEPS = {
    0: "good",
    1: "info not UTF-8",
    2: "info a JSON list",
    3: "release-1 feature maps with ragged stats",
    4: "grid null",
    5: "grid zero",
    6: "tile negative",
    7: "atlas not a PNG",
    8: "atlas over the pixel limit",
    9: "decompression bomb",
    10: "atlas smaller than its layout",
    11: "no blobs at all",
    12: "NaN beside the series",
    13: "good",
}
UNREADABLE_INFOS = {1, 2, 3, 5, 6, 11}
BAD_PICTURES = {4, 7, 8, 9, 10}  # readable info, but no tile can be cut from the step's atlas
SERIES_STEPS = sorted(set(STEPS) - UNREADABLE_INFOS)


def bad_step(step: int) -> list[bytes]:
    """The blobs of bad step `step` (see STEPS)."""
    info, atlas = json.dumps(good_info(step)).encode(), png(10 * step)
    ragged = {"version": 1, "kind": "feature_maps", "stats": {"mean": [[1, 2], [3]], "max": [[1]], "dead": [[0]]}}
    return {
        1: lambda: [b"\xff\xfe\x00garbage", atlas],
        2: lambda: [b"[1, 2, 3]", atlas],
        3: lambda: [json.dumps({**LAYOUT, **ragged}).encode(), atlas],
        4: lambda: [json.dumps({**good_info(step), "grid": None}).encode(), atlas],
        5: lambda: [json.dumps({**good_info(step), "grid": [0, 2]}).encode(), atlas],
        6: lambda: [json.dumps({**good_info(step), "tile": [-2, 2]}).encode(), atlas],
        7: lambda: [info, b"GIF89a\x01\x00\x01\x00"],
        8: lambda: [info, png(0, height=6000, width=6000)],
        9: lambda: [info, bomb_png(20_000, 20_000)],
        10: lambda: [info, png(10 * step, height=2, width=2)],
        11: lambda: [],
        12: lambda: [json.dumps({**good_info(step), "extra": float("nan")}).encode(), atlas],
    }[step]()


def write_steps_run(run_dir: Path) -> None:
    """The good steps as the callback writes them, the bad ones raw; in step order (the Python loader drops
    steps logged after a later one, taking it for a restart)."""
    metadata = json.dumps({"version": 2, "kind": "toy", "scope": contract.MODEL_SCOPE}).encode()
    events = []
    for step, what in STEPS.items():
        if what == "good":
            summary = blob_sequence_summary(TAG, good_info(step), [png(10 * step)], scope=contract.MODEL_SCOPE)
        else:
            summary = raw_summary(TAG, metadata, bad_step(step))
        events.append((step, summary))
    write_raw(run_dir, events)


def write_flipped_run(run_dir: Path) -> None:
    """Six good steps written by the project's code, then one byte flipped in step 3's picture."""
    writer = SummaryWriter(str(run_dir))
    for step in range(6):
        write_blob_sequence(writer, TAG, good_info(step), [png(10 * step)], step, scope=contract.MODEL_SCOPE)
    writer.close()
    (path,) = run_dir.glob("events.out.tfevents.*")
    data = bytearray(path.read_bytes())
    pictures = [match.start() for match in re.finditer(rb"IDAT", data)]
    data[pictures[3] + 6] ^= 0x01  # inside step 3's compressed pixels
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def logdir(tmp_path_factory) -> Path:
    logdir = tmp_path_factory.mktemp("faults")
    write_meta_run(logdir / "meta")
    write_steps_run(logdir / "steps")
    write_flipped_run(logdir / "flipped")
    return logdir


@pytest.fixture(scope="module", params=["true", "false"], ids=["load_fast", "python_loader"])
def server(request, logdir):
    with tensorboard_server(logdir, f"--load_fast={request.param}") as base:
        # The loaders read runs in the background: wait for the last step of each.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _all_loaded(base):
            time.sleep(0.3)
        yield request.param, base


def _all_loaded(base: str) -> bool:
    runs = {run["run"] for run in fetch_json(plugin_url(base, "runs"))["runs"]}
    return {"meta", "steps", "flipped"} <= runs and 13 in steps_of(base, "steps")


def steps_of(base: str, run: str) -> list[int]:
    status, _, body = fetch(plugin_url(base, "steps", run=run, tag=TAG))
    return json.loads(body)["steps"] if status == 200 else []


def server_log(base: str, logdir: Path) -> str:
    port = base.rsplit(":", 1)[1]
    return (logdir / f"tensorboard-{port}.log").read_text()


def test_tags_with_bad_metadata_are_skipped_with_one_warning_each_and_the_rest_listed(server, logdir):
    _, base = server
    for _ in range(3):  # three requests: still one warning per bad tag
        runs = {run["run"]: run for run in fetch_json(plugin_url(base, "runs"))["runs"]}
    meta = runs["meta"]
    assert [(layer["name"], layer["index"], layer["shape"]) for layer in meta["layers"]] == [("conv", 0, [2, 2, 2])]
    assert meta["model"] == {"kinds": {"toy": TAG}} and meta["probes"] is None
    assert sorted(runs) == ["flipped", "meta", "steps"], "one run's bad tags never hide the other runs"
    log = server_log(base, logdir)
    for tag in [*BAD_CONTENTS, *BAD_BYTES]:
        warnings = [line for line in log.splitlines() if "skipping run 'meta'" in line and f"tag '{tag}'" in line]
        assert len(warnings) == 1, (tag, warnings)
    assert "cnnviz metadata 'layer_index' must be int, got None" in log
    assert "cnnviz metadata 'labels' must be list[str] | None, got [1, 2]" in log


def test_series_keeps_good_steps_and_lists_the_bad_ones(server):
    _, base = server
    series = fetch_json(plugin_url(base, "series", run="steps", tag=TAG))
    assert series["steps"] == SERIES_STEPS
    assert series["stats"]["score"] == [[float(step), 1.0] for step in SERIES_STEPS]
    reasons = {skipped["step"]: skipped["reason"] for skipped in series["skipped"]}
    assert sorted(reasons) == sorted(UNREADABLE_INFOS)
    assert "not JSON" in reasons[1] and "lacks a 'kind'" in reasons[2] and "ragged" not in reasons[3]
    assert "release 1 charted" in reasons[3]
    assert "'grid' must be [rows, columns], each in 1..32768, got [0, 2]" in reasons[5]
    assert "'tile' must be [height, width]" in reasons[6] and "no blobs" in reasons[11]


def test_info_answers_200_for_good_steps_and_422_with_the_reason_for_bad_ones(server):
    _, base = server
    for step in STEPS:
        status, headers, body = fetch(plugin_url(base, "info", run="steps", tag=TAG, step=step))
        if step in UNREADABLE_INFOS or step == 12:
            assert status == 422 and headers["Content-Type"].startswith("text/plain"), (step, status, body)
            assert body.startswith(f"step {step} of this tag: ".encode())
        else:
            assert status == 200 and json.loads(body)["series"]["score"][0] == step, (step, status, body)
    assert b"holds NaN or Infinity" in fetch(plugin_url(base, "info", run="steps", tag=TAG, step=12))[2]


def test_image_answers_the_png_or_422_for_a_picture_that_is_none_or_too_large(server):
    _, base = server
    statuses = {step: fetch(plugin_url(base, "image", run="steps", tag=TAG, step=step, index=1))[0] for step in STEPS}
    assert statuses == {**dict.fromkeys(STEPS, 200), 7: 422, 8: 422, 9: 422, 11: 404}
    body = fetch(plugin_url(base, "image", run="steps", tag=TAG, step=9, index=1))[2]
    assert body == b"picture 1 of step 9 of this tag: it is 20000x20000 pixels, over the 33554432 an atlas may have"


def test_strip_leaves_bad_steps_blank_names_them_and_keeps_the_good_tiles(server):
    _, base = server
    status, headers, body = fetch(plugin_url(base, "strip", run="steps", tag=TAG, channel=1, index=1))
    assert status == 200
    bad = sorted(UNREADABLE_INFOS | BAD_PICTURES)
    assert headers["X-CNNViz-Skipped-Steps"] == ",".join(map(str, bad))
    strip = np.asarray(Image.open(io.BytesIO(body)).convert("RGBA"))
    assert strip.shape == (2, 2 * len(STEPS), 4)
    for step in STEPS:
        frame = strip[:, 2 * step : 2 * step + 2]
        if step in bad:
            assert (frame[..., 3] == 0).all(), step
        else:
            assert (frame[..., 3] == 255).all() and (frame[..., 0] == 10 * step).all(), step


def test_a_flipped_byte_costs_at_most_its_step(server):
    load_fast, base = server
    steps = steps_of(base, "flipped")
    # TensorBoard's Python loader stops reading a file at a record whose checksum fails (its choice);
    # the data server checks no checksum and serves the step with its corrupt picture.
    assert steps == (list(range(6)) if load_fast == "true" else [0, 1, 2])
    status, headers, body = fetch(plugin_url(base, "strip", run="flipped", tag=TAG, channel=1, index=1))
    assert status == 200 and headers.get("X-CNNViz-Skipped-Steps") == ("3" if load_fast == "true" else None)
    alpha = np.asarray(Image.open(io.BytesIO(body)).convert("RGBA"))[0, ::2, 3]
    assert list(alpha) == [0 if step == 3 else 255 for step in steps]
    for route in ("series", "info", "image"):
        for step in steps:
            status = fetch(plugin_url(base, route, run="flipped", tag=TAG, step=step, index=1))[0]
            assert status in (200, 422), (route, step, status)


def test_a_static_name_too_long_for_the_file_system_is_404(server):
    _, base = server
    for name in ("a" * 256, "a" * 300 + ".js", "/".join(["b" * 200] * 30)):
        status, _, body = fetch(f"{base}/data/plugin/cnnviz/static/{name}")
        assert status == 404 and body.startswith(b"Not found: no frontend file"), (len(name), status)


# The tab: a layer whose every info is corrupt, and one step of another layer whose atlas is no PNG.
GOOD_LAYER, BAD_LAYER = "0", "4"
TAB_STEPS, BAD_STEP = 3, 1


def copy_with_corruptions(source: Path, target: Path) -> None:
    """Every event of `source` (written by the real callback) into `target`, with BAD_LAYER's infos made
    garbage and GOOD_LAYER's first atlas at BAD_STEP replaced by bytes that are no PNG."""
    writer = EventFileWriter(str(target))
    for path in sorted(source.glob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                blobs = list(tensor_util.make_ndarray(value.tensor)) if value.HasField("tensor") else []
                if value.tag == f"{BAD_LAYER}/feature_maps":
                    blobs[0] = b"\xffgarbage"
                elif value.tag == f"{GOOD_LAYER}/feature_maps" and event.step == BAD_STEP:
                    blobs[1] = b"not a PNG"
                else:
                    continue
                value.tensor.CopyFrom(tensor_util.make_tensor_proto(np.array(blobs, dtype=object)))
            if event.HasField("summary"):
                writer.add_event(event)
    writer.close()


@pytest.fixture(scope="module")
def tab_server(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("tab_faults")
    write_training_logdir(logdir / "written", steps=TAB_STEPS, probes=2)
    copy_with_corruptions(logdir / "written", logdir / "corrupt" / "run")
    with tensorboard_server(logdir / "corrupt") as base:
        yield base


def test_a_layer_that_fails_to_load_clears_the_grid_and_says_why(tab_server, tab):
    frame = tab.open(f"{tab_server}/#cnnviz")
    assert drawn_tiles(frame), "the first layer's tiles are drawn"
    frame.click(f'.layer[data-layer="{BAD_LAYER}"]')
    alert = frame.wait_for_selector(".error[role=alert]", timeout=30_000)
    assert "cnnviz info is not JSON" in alert.text_content() and "<" not in alert.text_content()
    frame.wait_for_selector(".grid[data-panel=shown]", state="hidden")
    assert frame.text_content(".view-title .title-layer") == f"Layer {BAD_LAYER}"
    assert texts(frame, ".layer[aria-current] .layer-name") == [BAD_LAYER]

    frame.click(f'.layer[data-layer="{GOOD_LAYER}"]')  # the tab keeps working
    frame = tab.wait_for_grid(source=image_source("run", f"{GOOD_LAYER}/feature_maps", TAB_STEPS - 1, 1))
    frame.wait_for_selector(".error[role=alert]", state="detached")
    assert frame.text_content(".view-title .title-layer") == f"Layer {GOOD_LAYER}"
    assert drawn_tiles(frame)
    assert tab.csp_violations() == []


def test_a_step_that_cannot_be_read_is_a_marked_frame_and_a_message_and_the_next_step_works(tab_server, tab):
    channel = 2
    frame = tab.open(f"{tab_server}/#cnnviz&p.cnnviz.layer={GOOD_LAYER}&p.cnnviz.channel={channel}")
    frame.wait_for_selector(".filmstrip[data-ready]", timeout=30_000)
    absent = texts(frame, ".filmstrip .frame-absent")
    assert absent == [f"Step {BAD_STEP} cannot be read" if step == BAD_STEP else "" for step in range(TAB_STEPS)]

    frame.click(f".frame[aria-label='Step {BAD_STEP}']")  # the grid of the bad step cannot be drawn
    alert = frame.wait_for_selector(".error[role=alert]", timeout=30_000)
    assert alert.text_content() == f"Could not load: picture 1 of step {BAD_STEP} of this tag: it is not a PNG"
    frame.wait_for_selector(".grid[data-panel=shown]", state="hidden")
    frame.wait_for_selector("dialog.lightbox:not([open])", state="attached")

    frame.focus("#cnnviz-step")
    tab.page.keyboard.press("ArrowRight")  # the next step draws again
    frame = tab.wait_for_grid(source=image_source("run", f"{GOOD_LAYER}/feature_maps", BAD_STEP + 1, 1))
    assert drawn_tiles(frame) and frame.query_selector(".error[role=alert]") is None
    assert tab.csp_violations() == []


def test_an_html_error_page_is_shown_as_one_line_not_as_markup(tab_server, tab):
    html = "<!doctype html><html><head><title>500 Internal Server Error</title></head><body><h1>Oops</h1></body></html>"
    tab.page.route(
        "**/data/plugin/cnnviz/info?*", lambda route: route.fulfill(status=500, body=html, content_type="text/html")
    )
    tab.page.goto(f"{tab_server}/#cnnviz")
    alert = tab.page.wait_for_selector(TAB_IFRAME).content_frame().wait_for_selector(".error[role=alert]")
    assert alert.text_content() == "Could not load: The server could not answer (HTTP 500)."
