"""`tb-cnnviz report`: a static HTML report of a logdir, opened from disk in headless Chromium.

One logdir holds a short real training of the demo model on Fashion-MNIST (feature maps and every model-level
view), a run with training dynamics, a run whose layer name and probe labels are markup and quotes, and a run
with one corrupt step. The report is written once by the real command; its pictures are compared with what a
real TensorBoard serves and what its tab draws.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import browser_tab
import pytest
import torch
from browser_tab import (
    READ_RGB,
    READ_RGBA,
    RECORD_CSP_VIOLATIONS,
    TEXTS,
    atlas_tiles,
    image_source,
    served_image,
)
from conftest import fetch_json, plugin_url, poll, tensorboard_server, write_training_logdir
from dynamics_logs import SETTLED, STEPS, UNREADABLE, write_dynamics_run
from PIL import Image
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.util import tensor_util
from torch import nn

from demo_training.data import CLASS_NAMES, PIXEL_MEAN, PIXEL_STD, batch_count, load_split, probe_batch
from demo_training.train import make_model, make_optimizer, train_epoch
from tb_cnnviz import ClassVisualization, CNNVizCallback, Filters, Fooling
from tb_cnnviz.cli.main import main
from tb_cnnviz.report.numbers import evenly_spaced, format_number, format_percent

browser = browser_tab.browser

TRAINED = "fashion"  # the demo model trained for a few short epochs: dynamics and every model-level view logged
TRAINED_LAYERS = ["features.conv1", "features.conv2", "features.conv3"]
DYNAMICS = "dyn"  # dynamics_logs' run: feature maps and dynamics, settled steps known
HOSTILE = "hostile"
CORRUPT = "corrupt"
HOSTILE_LAYER = '<script>window["__pwned"]=1</script>"q\''  # a module name holds no "."
HOSTILE_LABELS = ["<script>window.__pwned=2</script>", '<img src=x onerror="window.__pwned=3">']
CORRUPT_TAG, CORRUPT_STEP = "4/feature_maps", 1
EPOCHS, TRAIN_IMAGES = 3, 1000
MODEL_KINDS = ("saliency", "grad_cam", "class_visualization", "fooling")

# Each <img> of the report as the browser decoded it: its data-* attributes and its RGBA pixels.
READ_PICTURES = """images => images.map(image => {
  const canvas = document.createElement("canvas");
  canvas.width = image.naturalWidth;
  canvas.height = image.naturalHeight;
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0);
  return { ...image.dataset, pixels: Array.from(context.getImageData(0, 0, canvas.width, canvas.height).data) };
})"""


READ_CHARTS = "charts => charts.map(c => [JSON.parse(c.dataset.series), c.querySelectorAll('circle.point').length])"


def write_trained_run(run_dir: Path) -> None:
    """The demo's FashionCNN trained on TRAIN_IMAGES Fashion-MNIST images per epoch, logged after each epoch."""
    train, test = load_split("train").subset(TRAIN_IMAGES), load_split("test")
    with torch.random.fork_rng(devices=[]):
        model = make_model(seed=0)
        optimizer, scheduler = make_optimizer(model, batch_count(train, 64) * EPOCHS)
        kinds = ["feature_maps", "dynamics", Filters(steps=8, every=1), "saliency", "grad_cam"]
        kinds += [ClassVisualization(steps=8), Fooling(max_steps=20)]
        with CNNVizCallback(
            model,
            probe_batch(test),
            log_dir=str(run_dir),
            kinds=kinds,
            probe_labels=CLASS_NAMES,
            class_names=CLASS_NAMES,
            input_mean=[PIXEL_MEAN],
            input_std=[PIXEL_STD],
        ) as viz:
            for epoch in range(EPOCHS):
                train_epoch(
                    model, train, optimizer, scheduler, epoch=epoch, batch_size=64, seed=0, viz=viz, progress=False
                )


def hostile_cnn() -> nn.Sequential:
    model = nn.Sequential()
    model.add_module(HOSTILE_LAYER, nn.Conv2d(1, 4, 3, padding=1))
    model.add_module("relu", nn.ReLU())
    model.add_module("pool", nn.AdaptiveAvgPool2d(1))
    model.add_module("flatten", nn.Flatten())
    model.add_module("head", nn.Linear(4, 10))
    return model


def write_corrupt_run(scratch: Path, run_dir: Path) -> None:
    """A real run rewritten event by event; CORRUPT_TAG's atlas at CORRUPT_STEP replaced by bytes that are no PNG."""
    write_training_logdir(scratch, steps=3)
    writer = EventFileWriter(str(run_dir))
    for path in sorted(scratch.glob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.tag == CORRUPT_TAG and event.step == CORRUPT_STEP:
                    blobs = list(tensor_util.make_ndarray(value.tensor))
                    blobs[1] = b"this is no PNG"
                    value.tensor.CopyFrom(tensor_util.make_tensor_proto(blobs))
            writer.add_event(Event.FromString(event.SerializeToString()))
    writer.close()


@pytest.fixture(scope="module")
def logdir(tmp_path_factory) -> Path:
    logdir = tmp_path_factory.mktemp("report_logdir")
    write_trained_run(logdir / TRAINED)
    write_dynamics_run(logdir / DYNAMICS)
    hostile = {"model": hostile_cnn(), "probes": 2, "labels": HOSTILE_LABELS, "kinds": ("feature_maps", "saliency")}
    write_training_logdir(logdir / HOSTILE, steps=2, **hostile)
    write_corrupt_run(tmp_path_factory.mktemp("corrupt_source"), logdir / CORRUPT)
    return logdir


@pytest.fixture(scope="module")
def report(logdir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "out"
    started = time.monotonic()
    assert main(["report", "--logdir", str(logdir), "--out", str(out)]) == 0
    print(f"report written in {time.monotonic() - started:.1f} s, {(out / 'index.html').stat().st_size} bytes")
    return out / "index.html"


@pytest.fixture(scope="module")
def opened(browser, report):
    """The report opened from its file:// URL, with every request, console error and CSP violation recorded."""
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    context.add_init_script(RECORD_CSP_VIOLATIONS)
    page = context.new_page()
    requests, errors = [], []
    page.on("request", lambda request: requests.append(request.url))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(report.as_uri())
    page.wait_for_load_state("load")
    yield page, requests, errors
    context.close()


@pytest.fixture(scope="module")
def server(logdir):
    with tensorboard_server(logdir) as base:
        for run, tag, count in [(TRAINED, "model/saliency", EPOCHS), (TRAINED, "features.conv2/feature_maps", EPOCHS)]:
            url = plugin_url(base, "steps", run=run, tag=tag)
            poll(lambda url=url: _steps(url), lambda steps, count=count: len(steps) == count)
        yield base


def _steps(url: str) -> list[int]:
    try:
        return fetch_json(url)["steps"]
    except OSError:
        return []


def pictures(page, run: str, tag: str, step: int | None = None, channel: int | None = None) -> list[dict]:
    """The run's pictures of `tag` (at `step`, of `channel`) as the browser decoded them, in page order."""
    selector = f'section.run[data-run="{run}"] img.tile[data-tag="{tag}"]'
    selector += "" if step is None else f'[data-step="{step}"]'
    selector += "" if channel is None else f'[data-channel="{channel}"]'
    return page.eval_on_selector_all(selector, READ_PICTURES)


def sources(page, run: str) -> list[dict]:
    """Every picture of the run: its data-* attributes and its src (a data: URI)."""
    selector = f'section.run[data-run="{run}"] img.tile'
    return page.eval_on_selector_all(selector, "images => images.map(image => ({ ...image.dataset, src: image.src }))")


def decoded(uri: str) -> list[int]:
    """A data: URI's PNG as RGBA values, as a browser decodes it (grey v is (v, v, v, 255))."""
    assert uri.startswith("data:image/png;base64,")
    return list(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGBA").tobytes())


def test_the_report_opens_from_disk_with_no_request_beyond_it_and_no_console_error(opened, report):
    page, requests, errors = opened
    assert requests == [report.as_uri()], "nothing but the page itself is fetched: its pictures are inline"
    assert errors == []
    assert page.evaluate("window.__cspViolations") == []
    assert page.eval_on_selector_all("section.run", "nodes => nodes.map(node => node.dataset.run)") == sorted(
        [TRAINED, DYNAMICS, HOSTILE, CORRUPT]
    )
    assert page.eval_on_selector_all("nav a", TEXTS) == sorted([TRAINED, DYNAMICS, HOSTILE, CORRUPT])
    loaded = page.eval_on_selector_all("img", "images => images.map(image => image.complete && image.naturalWidth > 0)")
    assert loaded and all(loaded), "every picture decodes"
    browser_tab.ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=browser_tab.ARTIFACTS / "cnnviz-report.png", full_page=True)


def test_every_picture_is_the_crop_of_the_atlas_the_plugin_serves(opened, server):
    page, _, _ = opened
    served = {}  # (run, tag, step) -> (info, atlas) as the real TensorBoard serves them
    for run in (TRAINED, DYNAMICS, HOSTILE):
        shown = sources(page, run)
        assert shown, run
        for picture in shown:
            tag, step = picture["tag"], int(picture["step"])
            if (run, tag, step) not in served:
                info = fetch_json(plugin_url(server, "info", run=run, tag=tag, step=step))
                served[run, tag, step] = info, served_image(server, run, tag, step, 1).convert("RGBA")
            info, atlas = served[run, tag, step]
            channels = info["channels"][0] if isinstance(info["channels"][0], list) else info["channels"]
            position = int(picture["position"]) if "position" in picture else channels.index(int(picture["channel"]))
            [tile] = atlas_tiles(atlas, info["tile"], info["grid"], position + 1)[position:]
            assert decoded(picture["src"]) == tile, (run, tag, step, position)


def test_pictures_equal_what_the_tab_draws(opened, server, browser):
    """A feature-map channel's filmstrip frames, and a step's saliency and fooling tiles, in one tab page."""
    page, _, _ = opened
    layer = "features.conv2"
    tag = f"{layer}/feature_maps"
    strip = f'section.run[data-run="{TRAINED}"] table.filmstrip[data-tag="{tag}"] img.tile'
    channel = int(page.get_attribute(strip, "data-channel"))  # the filmstrip's first: the highest recent drift
    frames = pictures(page, TRAINED, tag, channel=channel)
    assert [int(frame["step"]) for frame in frames] == list(range(EPOCHS)), "every step: fewer than the tab's 8 frames"

    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_init_script(RECORD_CSP_VIOLATIONS)
    tab = browser_tab.Tab(context.new_page())
    tab.open(f"{server}/#cnnviz&p.cnnviz.run={TRAINED}&p.cnnviz.layer={layer}&p.cnnviz.channel={channel}")
    frame = tab.frame
    frame.wait_for_selector(".filmstrip[data-ready]", timeout=30_000)
    steps = frame.eval_on_selector_all(".filmstrip-frames [data-step]", "items => items.map(i => +i.dataset.step)")
    drawn = frame.eval_on_selector_all(".filmstrip .frame canvas", READ_RGBA)
    assert steps == list(range(EPOCHS))
    assert [picture["pixels"] for picture in frames] == drawn

    step = EPOCHS - 1
    for kind in ("saliency", "fooling"):
        report_tiles = pictures(page, TRAINED, f"model/{kind}", step)
        view = f"p.cnnviz.run={TRAINED}&p.cnnviz.layer=(model)&p.cnnviz.kind={kind}&p.cnnviz.step={step}"
        tab.page.evaluate("hash => { location.hash = hash; }", f"#cnnviz&{view}")  # the tab follows an edited URL
        frame = tab.wait_for_grid(source=image_source(TRAINED, f"model/{kind}", step, 1))
        drawn = frame.eval_on_selector_all(".grid[data-panel=shown] .tile canvas.tile-picture", READ_RGB)
        assert len(report_tiles) == len(drawn) == len(CLASS_NAMES)
        rgb = [[value for index, value in enumerate(p["pixels"]) if index % 4 != 3] for p in report_tiles]
        assert rgb == drawn, kind
    tab.assert_clean()
    context.close()


def test_the_dynamics_show_every_layer_with_one_point_per_logged_step_and_its_settled_step(opened):
    page, _, _ = opened
    section = f'section.run[data-run="{DYNAMICS}"]'
    layers = page.eval_on_selector_all(f"{section} .dynamics", "nodes => nodes.map(node => node.dataset.layer)")
    assert layers == list(SETTLED)
    for layer, settled in SETTLED.items():
        block = f'{section} .dynamics[data-layer="{layer}"]'
        expected = "still changing" if settled is None else f"settled from step {settled}"
        assert page.text_content(f"{block} .settled") == expected
        logged = [step for step in range(STEPS) if (f"{layer}/dynamics", step) != UNREADABLE]
        charts = page.eval_on_selector_all(
            f"{block} svg.chart",
            "charts => charts.map(c => [c.getAttribute('aria-label'), JSON.parse(c.dataset.series), "
            "c.querySelectorAll('circle.point').length])",
        )
        labels = [label.split(":")[0] for label, _, _ in charts]
        assert labels[:4] == [
            "Change since the previous log (1 - CKA)",
            "Similarity to the first log (CKA)",
            "Dead fraction",
            "Channel drift (median)",
        ]
        for label, series, points in charts[:4]:
            assert series["steps"] == logged, label
            assert points == sum(value is not None for value in series["values"]), label
        # cka_first and the dead fraction are known at every logged step: one point each
        assert charts[1][2] == charts[2][2] == len(logged)
    heat = json.loads(page.get_attribute(f"{section} svg.heat-map", "data-heat"))
    assert heat["layers"] == list(SETTLED) and heat["steps"] == list(range(STEPS))
    assert page.locator(f"{section} svg.heat-map rect.cell").count() == len(SETTLED) * STEPS
    filmstrip = page.eval_on_selector_all(
        f'{section} article[data-layer="0"] img.tile', "images => images.map(image => image.dataset.channel)"
    )
    assert filmstrip and len(set(filmstrip)) == 4, "four channels, ranked by recent drift"


def test_the_trained_runs_dynamics_show_what_the_dynamics_route_answers(opened, server):
    page, _, _ = opened
    answer = fetch_json(plugin_url(server, "dynamics", run=TRAINED))
    assert [entry["layer"] for entry in answer["layers"]] == TRAINED_LAYERS
    section = f'section.run[data-run="{TRAINED}"]'
    for entry in answer["layers"]:
        block = f'{section} .dynamics[data-layer="{entry["layer"]}"]'
        settled = entry["settled_step"]
        assert page.text_content(f"{block} .settled") == (
            "still changing" if settled is None else f"settled from step {settled}"
        )
        charts = page.eval_on_selector_all(f"{block} svg.chart", READ_CHARTS)
        first, points = charts[1]  # CKA with the first log: known at every log
        assert first == {"steps": list(range(EPOCHS)), "values": entry["change"]["cka_first"]}
        assert points == EPOCHS
        previous = [None if value is None else 1 - value for value in entry["change"]["cka_previous"]]
        assert charts[0][0]["values"] == pytest.approx(previous)
        ranked = page.eval_on_selector_all(f"{block} table.ranked tbody tr td:first-child", TEXTS)
        assert ranked == [str(row["channel"]) for row in entry["channels"][: len(ranked)]] and ranked
        # The filmstrips show the four channels of highest recent drift, their feature maps and filter images.
        article = f'{section} article[data-layer="{entry["layer"]}"]'
        for kind in ("feature_maps", "filters"):
            shown = page.eval_on_selector_all(
                f'{article} table.filmstrip[data-tag="{entry["layer"]}/{kind}"] img.tile',
                "images => images.map(image => [Number(image.dataset.channel), Number(image.dataset.step)])",
            )
            top = [row["channel"] for row in entry["channels"][:4]]
            assert shown == [[channel, step] for channel in top for step in range(EPOCHS)], kind


def test_a_run_without_dynamics_or_a_view_says_so_in_one_line(opened):
    page, _, _ = opened
    missing = page.eval_on_selector_all(f'section.run[data-run="{CORRUPT}"] .missing', TEXTS)
    assert 'No training dynamics logged in this run (the "dynamics" kind).' in missing
    assert any("No model-level views logged" in line for line in missing)
    views = page.eval_on_selector_all(
        f'section.run[data-run="{TRAINED}"] figure.model-view', "nodes => nodes.map(node => node.dataset.kind)"
    )
    assert views == list(MODEL_KINDS)


def test_names_from_the_logs_are_text_never_markup(opened):
    page, _, _ = opened
    assert page.evaluate("() => window.__pwned") is None
    assert page.evaluate("() => document.querySelectorAll('script, img[src=x]').length") == 0
    section = f'section.run[data-run="{HOSTILE}"]'
    assert page.text_content(f"{section} article.layer h4").startswith(HOSTILE_LAYER)
    assert page.get_attribute(f"{section} article.layer", "data-layer") == HOSTILE_LAYER
    headers = page.eval_on_selector_all(f"{section} figure.model-view thead th", TEXTS)
    assert headers[1:] == HOSTILE_LABELS


def test_a_corrupt_step_is_named_and_the_other_steps_are_shown(opened, report):
    page, _, _ = opened
    section = f'section.run[data-run="{CORRUPT}"]'
    notes = page.eval_on_selector_all(f"{section} details.notes li", TEXTS)
    named = [note for note in notes if f"step {CORRUPT_STEP} cannot be read" in note and "Layer 4" in note]
    assert len(named) == 1 and "not a PNG" in named[0], notes
    table = f'{section} table.filmstrip[data-tag="{CORRUPT_TAG}"]'
    blank = page.eval_on_selector_all(
        f"{table} .absent", "nodes => nodes.map(node => [node.dataset.step, node.textContent])"
    )
    assert blank and all(
        text == f"Step {CORRUPT_STEP} cannot be read" and step == str(CORRUPT_STEP) for step, text in blank
    )
    shown = page.eval_on_selector_all(f"{table} img.tile", "images => images.map(image => Number(image.dataset.step))")
    assert sorted(set(shown)) == [0, 2], "the good steps are shown"


@pytest.mark.parametrize(
    ("make_arguments", "message"),
    [
        (lambda tmp, logdir: ["--logdir", str(tmp / "gone"), "--out", str(tmp / "o")], "gone does not exist"),
        (lambda tmp, logdir: ["--logdir", str(touch(tmp / "f")), "--out", str(tmp / "o")], "f is a file"),
        (lambda tmp, logdir: ["--logdir", str(tmp), "--out", str(tmp / "o")], "holds no CNN Viz data"),
        (lambda tmp, logdir: ["--logdir", str(logdir), "--out", str(touch(tmp / "f"))], "f is a file; give a folder"),
        (
            lambda tmp, logdir: ["--logdir", str(logdir), "--out", str(touch(tmp / "f") / "o")],
            "which is a file; give a folder",
        ),
    ],
    ids=["missing logdir", "logdir a file", "logdir without cnnviz data", "out a file", "out under a file"],
)
def test_a_bad_logdir_or_out_is_one_line(logdir, tmp_path, capsys, make_arguments, message):
    arguments = make_arguments(tmp_path, logdir)
    assert main(["report", *arguments]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tb-cnnviz: error: --") and message in lines[0], lines
    assert not (tmp_path / "o").exists(), "nothing written"


def touch(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def test_the_report_is_built_without_torch():
    code = "import sys, tb_cnnviz.report.build; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parent.parent, check=False).returncode == 0


# What the tab computes, evaluated by node from its own modules (format.js, filmstrip.js).
TAB_NUMBERS = """
const format = await import(process.argv[1]);
const filmstrip = await import(process.argv[2]);
const values = JSON.parse(process.argv[3]);
console.log(JSON.stringify({
  numbers: values.map(format.formatNumber),
  percents: values.filter((v) => v >= 0 && v <= 1).map(format.formatPercent),
  spaced: [1, 2, 3, 5, 8, 9, 30, 51].map((n) => [2, 8, 16].map((k) => filmstrip.evenlySpaced([...Array(n).keys()], k))),
}));
"""


def test_numbers_and_filmstrip_steps_are_the_tabs():
    """The report writes numbers with format.js's rules and picks filmstrip steps as filmstrip.js does."""
    node = shutil.which("node") or pytest.fail("node is needed to run the tab's modules: apt-get install nodejs")
    values = [0, 1, -1, 0.5, 0.123456, -0.0456789, 12.345, 999.6, 1234.5, 9999.4, 12345.6, 1e-3, 9.99e-4, 2.5e-7]
    values += [1.125, -1.125, 0.0625, 0.1875, 0.3125, 9995.0, 1.255e5, 1 / 3]  # ties JavaScript rounds up, not to even
    frontend = Path(__file__).resolve().parent.parent / "frontend"
    modules = [(frontend / name).as_uri() for name in ("format.js", "filmstrip.js")]
    done = subprocess.run(
        [node, "--input-type=module", "-e", TAB_NUMBERS, *modules, json.dumps(values)],
        capture_output=True,
        text=True,
        check=True,
    )
    tab = json.loads(done.stdout)
    assert [format_number(value) for value in values] == tab["numbers"]
    assert [format_percent(value) for value in values if 0 <= value <= 1] == tab["percents"]
    spaced = [[evenly_spaced(list(range(n)), k) for k in (2, 8, 16)] for n in (1, 2, 3, 5, 8, 9, 30, 51)]
    assert spaced == tab["spaced"]
