"""The CNN Viz tab in headless Chromium, inside a real `tensorboard` process, on a logdir from the real callback.

Required tests: they fail (not skip) without Debian's Chromium at /usr/bin/chromium, which Playwright
cannot download here. Screenshots land in tests/artifacts/ for people to look at. The page helpers and
fixtures live in tab.py.
"""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

import browser_tab
import pytest
from browser_tab import (
    ARTIFACTS,
    CHART_VALUES,
    READ_RED_CHANNELS,
    READ_RGB,
    READ_RGBA,
    TEXTS,
    atlas_tiles,
    downloaded_png,
    drawn_tiles,
    has_colour,
    image_source,
    served_image,
)
from conftest import (
    TENSORBOARD,
    fetch,
    fetch_json,
    free_port,
    plugin_url,
    poll,
    tensorboard_server,
    write_training_logdir,
)
from PIL import Image
from torch import nn

# The page fixtures: pytest finds fixtures by name in the test module.
browser, tab = browser_tab.browser, browser_tab.tab

RUN = "run_a"
LAYER = "4"  # the second conv layer of conftest.small_cnn: 16 channels of 14x14
LAYER_TAG = f"{LAYER}/feature_maps"
STEPS = 30
FILTER_RUN = "run_b"  # logs filter images besides feature maps
FILTER_STEPS = 4
DECONV_RUN = "run_c"  # logs deconv besides feature maps, and the dataset's top 9 every 2 steps
DECONV_STEPS = 5
DECONV_TAG = f"{LAYER}/deconv"
TOP_TAG = f"{LAYER}/deconv_top"

# Names from logs are text, never markup: a run directory, a layer and probe labels that are HTML.
# The run name has no '"': TensorBoard's Rust data server cannot parse blob keys of such runs (400).
HOSTILE_RUN = "x<img src=x onerror=window.__pwned=1>"
HOSTILE_LAYER = "<b>bold</b>"
HOSTILE_LABELS = ["<script>window.__pwned=1</script>", '<img src=x onerror="window.__pwned=1">', "&amp; <i>i</i>"]


def hostile_cnn() -> nn.Sequential:
    """A CNN whose conv layer is registered under HTML, as any user's add_module call can do."""
    model = nn.Sequential()
    model.add_module(HOSTILE_LAYER, nn.Conv2d(1, 4, 3, padding=1))
    model.add_module("relu", nn.ReLU())
    model.add_module("pool", nn.AdaptiveAvgPool2d(1))
    model.add_module("flatten", nn.Flatten())
    model.add_module("head", nn.Linear(4, 10))
    return model


@pytest.fixture(scope="module")
def logdir(tmp_path_factory) -> Path:
    logdir = tmp_path_factory.mktemp("browser")
    write_training_logdir(logdir / RUN, steps=STEPS)
    write_training_logdir(logdir / FILTER_RUN, steps=FILTER_STEPS, kinds=("feature_maps", "filters"))
    write_training_logdir(logdir / DECONV_RUN, steps=DECONV_STEPS, kinds=("feature_maps", "deconv"))
    write_training_logdir(logdir / HOSTILE_RUN, steps=2, model=hostile_cnn(), labels=HOSTILE_LABELS)
    return logdir


@pytest.fixture(scope="module")
def server(logdir):
    with tensorboard_server(logdir) as base:
        # The tab caches step lists; let TensorBoard finish reading the event files first.
        expected = [
            (RUN, LAYER_TAG, STEPS),
            (FILTER_RUN, f"{LAYER}/filters", FILTER_STEPS),
            (DECONV_RUN, DECONV_TAG, DECONV_STEPS),
            (DECONV_RUN, TOP_TAG, len(range(0, DECONV_STEPS, 2))),
        ]
        for run, tag, count in expected:
            url = plugin_url(base, "steps", run=run, tag=tag)
            poll(lambda url=url: fetch_json(url)["steps"], lambda steps, count=count: len(steps) == count)
        yield base


def atlas_source(step: int, probe: int = 0, run: str = RUN, tag: str = LAYER_TAG, index: int | None = None) -> str:
    """The relative image URL the tab should draw a step's atlas from (`index` defaults to the probe's)."""
    return image_source(run, tag, step, probe + 1 if index is None else index)


def served_tiles(
    base: str, step: int, probe: int = 0, run: str = RUN, tag: str = LAYER_TAG, index: int | None = None
) -> list[list[int]]:
    """Each tile, cut with PIL from the PNG the plugin serves for `step` (row-major grey pixels).

    `index` is the blob (default: the probe's atlas); every cell of the atlas grid for a dataset's top
    patches, else one tile per channel of the probe.
    """
    info = fetch_json(plugin_url(base, "info", run=run, tag=tag, step=step))
    atlas = served_image(base, run, tag, step, probe + 1 if index is None else index).convert("L")
    rows, columns = info["grid"]
    if info["kind"] == "deconv_top":
        count = rows * columns
    else:
        count = len(info["channels"][probe] if info["kind"] == "deconv" else info["channels"])
    return atlas_tiles(atlas, info["tile"], info["grid"], count)


def test_keyboard_steps_show_the_served_atlas_of_the_new_step(server, tab):
    frame = tab.open(f"{server}/#cnnviz")
    assert tab.grid(frame)["step"] == str(STEPS - 1)  # opens on the latest step

    frame.click(f'.layer[data-layer="{LAYER}"]')
    frame = tab.wait_for_grid(step=STEPS - 1, source=atlas_source(STEPS - 1))
    before = drawn_tiles(frame)
    assert before == served_tiles(server, STEPS - 1)

    tab.page.keyboard.press("ArrowLeft")  # focus is on the layer button: arrows step through training
    frame = tab.wait_for_grid(step=STEPS - 2)
    assert tab.grid(frame)["source"] == atlas_source(STEPS - 2)
    after = drawn_tiles(frame)
    assert after == served_tiles(server, STEPS - 2)
    assert after != before, "weights changed between steps, so the atlases must differ"

    frame.focus("#cnnviz-step")  # the slider itself answers arrow keys natively
    tab.page.keyboard.press("ArrowLeft")
    frame = tab.wait_for_grid(step=STEPS - 3)
    assert drawn_tiles(frame) == served_tiles(server, STEPS - 3)
    assert frame.text_content(".step-value") == str(STEPS - 3)

    tab.keep_screenshots_at_both_sizes("cnnviz")
    assert tab.console_errors == []
    assert tab.csp_violations() == []


def test_view_state_survives_a_reload_of_the_tensorboard_page(server, tab):
    view = {"layer": LAYER, "step": 7, "probe": 2, "norm": "layer", "cmap": "viridis"}
    frame = tab.open(f"{server}/#cnnviz&" + "&".join(f"p.cnnviz.{key}={value}" for key, value in view.items()))
    tab.wait_for_grid(step=7, source=atlas_source(7, probe=2))
    assert frame.is_checked("input[name='cnnviz-norm'][value='layer']")
    assert frame.input_value("#cnnviz-cmap") == "viridis"

    frame.click(".tile >> nth=5")
    frame.wait_for_selector("dialog.lightbox[open]")
    tab.page.keyboard.press("ArrowRight")  # steps while the channel is enlarged
    frame = tab.wait_for_grid(step=8)
    assert "channel 5 · step 8" in frame.text_content("dialog.lightbox h2")
    assert "#cnnviz&" in tab.url and "p.cnnviz.channel=5" in tab.url and "p.cnnviz.step=8" in tab.url

    tab.page.reload()
    frame = tab.wait_for_grid(step=8, source=atlas_source(8, probe=2))
    frame.wait_for_selector("dialog.lightbox[open]")
    assert frame.eval_on_selector(".layer[aria-current]", "button => button.dataset.layer") == LAYER
    assert tab.url.split("#")[1].startswith("cnnviz&"), "TensorBoard still shows the CNN Viz tab"
    tab.keep_screenshot("cnnviz-lightbox")

    tab.page.keyboard.press("Escape")
    frame.wait_for_selector("dialog.lightbox:not([open])", state="attached")
    poll(lambda: tab.url, lambda url: "p.cnnviz.channel" not in url, timeout=5)
    assert "p.cnnviz.channel" not in tab.url
    assert tab.console_errors == []
    assert tab.csp_violations() == []


def test_filter_images_show_the_served_atlas_and_each_reached_activation(server, tab):
    filters_tag = f"{LAYER}/filters"
    last = FILTER_STEPS - 1
    frame = tab.open(f"{server}/#cnnviz&p.cnnviz.run={FILTER_RUN}&p.cnnviz.layer={LAYER}&p.cnnviz.probe=2")
    tab.wait_for_grid(source=atlas_source(last, probe=2, run=FILTER_RUN))

    frame.click("label:has(input[name='cnnviz-kind'][value='filters'])")
    # One atlas per step whatever the probe: blob 1.
    frame = tab.wait_for_grid(step=last, source=atlas_source(last, run=FILTER_RUN, tag=filters_tag, index=1))
    assert drawn_tiles(frame) == served_tiles(server, last, run=FILTER_RUN, tag=filters_tag)
    info = fetch_json(plugin_url(server, "info", run=FILTER_RUN, tag=filters_tag, step=last))
    assert shown_captions(frame) == tab.formatted("formatNumber", info["activations"])
    assert frame.text_content(".title-meta") == f"Filter images · step {last}"

    # The probe picker keeps its selection but has no say; normalization does not apply.
    probe_buttons = "buttons => buttons.map(b => [b.disabled, b.getAttribute('aria-pressed')])"
    assert frame.eval_on_selector_all(".probe", probe_buttons) == [[True, "false"], [True, "false"], [True, "true"]]
    assert frame.is_visible(".probe-note")
    assert frame.is_disabled("input[name='cnnviz-norm'][value='layer']")
    assert "p.cnnviz.probe=2" in tab.url and "p.cnnviz.kind=filters" in tab.url

    frame.hover(".tile >> nth=3")
    assert frame.text_content(".channel-details") == f"Channel 3reached activation {shown_captions(frame)[3]}"

    frame.focus(".tile >> nth=3")  # the View radios would take the arrow keys themselves
    tab.page.keyboard.press("ArrowLeft")
    frame = tab.wait_for_grid(step=last - 1, source=atlas_source(last - 1, run=FILTER_RUN, tag=filters_tag, index=1))
    earlier = fetch_json(plugin_url(server, "info", run=FILTER_RUN, tag=filters_tag, step=last - 1))
    assert drawn_tiles(frame) == served_tiles(server, last - 1, run=FILTER_RUN, tag=filters_tag)
    assert shown_captions(frame) == tab.formatted("formatNumber", earlier["activations"])
    assert earlier["activations"] != info["activations"], "weights changed, so the reached activations must too"

    frame.click(".tile >> nth=3")
    frame.wait_for_selector("dialog.lightbox[open]")
    assert frame.text_content("dialog.lightbox h2") == f"Layer {LAYER} · Filter images · channel 3 · step {last - 1}"
    assert frame.is_hidden("dialog.lightbox figure"), "filter images come from no probe image"
    tab.keep_screenshot("cnnviz-filters-lightbox")
    tab.page.keyboard.press("Escape")

    tab.keep_screenshots_at_both_sizes("cnnviz-filters")

    frame.click("label:has(input[name='cnnviz-kind'][value='feature_maps'])")  # back: the probe counts again
    frame = tab.wait_for_grid(source=atlas_source(last - 1, probe=2, run=FILTER_RUN))
    assert drawn_tiles(frame) == served_tiles(server, last - 1, probe=2, run=FILTER_RUN)
    assert not frame.is_disabled(".probe >> nth=0")
    assert frame.query_selector(".tile-caption") is None
    assert tab.console_errors == []
    assert tab.csp_violations() == []


def shown_captions(frame) -> list[str]:
    return frame.eval_on_selector_all(".tile-caption", TEXTS)


BOX_ON_IMAGE = """figure => {
  const image = figure.querySelector("img");
  const box = figure.querySelector(".receptive-field");
  const rect = (element) => { const r = element.getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; };
  return { hidden: box.hidden, box: JSON.parse(box.dataset.box || "null"), image: rect(image), drawn: rect(box),
           natural: [image.naturalHeight, image.naturalWidth] };
}"""


def probe_patch(probe_image: Image.Image, start: list[int], size: list[int]) -> list[int]:
    """RGBA pixels of the probe image under a tile: image pixel (row + i, col + j), transparent outside."""
    pixels = probe_image.convert("RGBA").load()
    (row, col), (height, width) = start, size
    out = []
    for i in range(height):
        for j in range(width):
            y, x = row + i, col + j
            inside = 0 <= y < probe_image.height and 0 <= x < probe_image.width
            out += list(pixels[x, y]) if inside else [0, 0, 0, 0]
    return out


def assert_box_drawn_at(drawn: dict, box: list[int]) -> None:
    """The receptive-field element covers exactly box (top, left, bottom, right) of the shown image."""
    assert not drawn["hidden"] and drawn["box"] == box
    (x, y, width, height), (rows, columns) = drawn["image"], drawn["natural"]
    top, left, bottom, right = box
    scale_x, scale_y = width / columns, height / rows
    expected = [x + left * scale_x, y + top * scale_y, (right - left) * scale_x, (bottom - top) * scale_y]
    assert drawn["drawn"] == pytest.approx(expected, abs=1.0)


def test_deconv_shows_each_probe_projection_beside_its_input_patch_with_value_channel_and_field(server, tab):
    step, probe = DECONV_STEPS - 1, 1
    frame = tab.open(
        f"{server}/#cnnviz&p.cnnviz.run={DECONV_RUN}&p.cnnviz.layer={LAYER}&p.cnnviz.kind=deconv&p.cnnviz.probe={probe}"
    )
    tab.wait_for_grid(step=step, source=atlas_source(step, probe, run=DECONV_RUN, tag=DECONV_TAG))
    info = fetch_json(plugin_url(server, "info", run=DECONV_RUN, tag=DECONV_TAG, step=step))
    channels, activations = info["channels"][probe], info["activations"][probe]
    assert drawn_tiles(frame) == served_tiles(server, step, probe, run=DECONV_RUN, tag=DECONV_TAG)
    runs = fetch_json(plugin_url(server, "runs"))["runs"]
    probes = next(run for run in runs if run["run"] == DECONV_RUN)["probes"]
    probe_image = served_image(server, DECONV_RUN, probes["tag"], probes["step"], probe + 1)
    patches = frame.eval_on_selector_all(".grid[data-panel=shown] .tile canvas.tile-patch", READ_RGBA)
    assert patches == [probe_patch(probe_image, start, info["tile"]) for start in info["patch_starts"][probe]]
    assert any(min(start) < 0 for start in info["patch_starts"][probe]), "some field leaves the image: blank there"
    labels = frame.eval_on_selector_all(".grid[data-panel=shown] .tile-label", TEXTS)
    assert labels == [str(channel) for channel in channels]
    captions = frame.eval_on_selector_all(".grid[data-panel=shown] .tile-caption", TEXTS)
    assert captions == tab.formatted("formatNumber", activations)

    position = 3
    frame.hover(f".grid[data-panel=shown] .tile[data-position='{position}']")
    drawn = frame.eval_on_selector(".grid[data-panel=shown] .grid-probe", BOX_ON_IMAGE)
    assert_box_drawn_at(drawn, info["boxes"][probe][position])
    details = frame.text_content(".grid[data-panel=shown] .channel-details")
    assert f"Channel {channels[position]}" in details and tab.format_number(activations[position]) in details
    tab.keep_screenshots_at_both_sizes("cnnviz-deconv")

    frame.click(f".grid[data-panel=shown] .tile[data-position='{position}']")  # enlarged, with its field
    frame.wait_for_selector("dialog.lightbox[open]")
    assert frame.text_content("dialog.lightbox h2").endswith(f"channel {channels[position]} · step {step}")
    enlarged = frame.eval_on_selector("dialog.lightbox .lightbox-probe", BOX_ON_IMAGE)
    assert_box_drawn_at(enlarged, info["boxes"][probe][position])
    assert frame.eval_on_selector_all("dialog.lightbox canvas.lightbox-patch", READ_RGBA) == [patches[position]]

    # The filmstrip follows the channel, not the position; steps where this probe's strongest
    # channels leave it out say so instead of showing another channel's tile.
    frame.wait_for_selector(".filmstrip[data-ready]", timeout=30_000)
    infos = served_infos(server, range(DECONV_STEPS), run=DECONV_RUN, tag=DECONV_TAG)
    channel = channels[position]
    frames = frame.eval_on_selector_all(".filmstrip .frame canvas", READ_RED_CHANNELS)
    absent = frame.eval_on_selector_all(".filmstrip .frame-absent", TEXTS)
    missing = []
    for shown_step, (drawn_frame, note, step_info) in enumerate(zip(frames, absent, infos, strict=True)):
        if channel in step_info["channels"][probe]:
            at = step_info["channels"][probe].index(channel)
            assert drawn_frame == served_tiles(server, shown_step, probe, run=DECONV_RUN, tag=DECONV_TAG)[at]
            assert note == ""
        else:
            assert note == f"not among this probe's strongest at step {shown_step}"
            missing.append(shown_step)
    if missing:  # stepping there keeps the channel open and says why it has no tile
        frame.click(f".frame[aria-label='Step {missing[0]}']")
        tab.wait_for_grid(step=missing[0])
        frame.wait_for_selector("dialog.lightbox[open] .lightbox-absent:not([hidden])")
        assert f"step {missing[0]}" in frame.text_content(".lightbox-absent")
    assert tab.console_errors == []
    assert tab.csp_violations() == []


def test_top_patches_of_the_dataset_show_the_latest_logged_step_at_or_before_the_current_one(server, tab):
    frame = tab.open(f"{server}/#cnnviz&p.cnnviz.run={DECONV_RUN}&p.cnnviz.layer={LAYER}&p.cnnviz.step=1")
    frame.click("input[name='cnnviz-kind'][value='deconv_top']")
    frame.wait_for_selector('.top-patches[data-step="1"][data-logged-step="0"]', timeout=30_000)
    assert "showing step 0, the latest at or before step 1" in frame.text_content(".top-note")
    frame.focus("#cnnviz-step")  # steps walk the layer's steps; the top 9 is logged at even ones only
    tab.page.keyboard.press("ArrowRight")
    frame.wait_for_selector('.top-patches[data-step="2"][data-logged-step="2"]', timeout=30_000)
    assert frame.text_content(".top-note").startswith("Logged at step 2.")
    tab.page.keyboard.press("ArrowRight")
    frame.wait_for_selector('.top-patches[data-step="3"][data-logged-step="2"]', timeout=30_000)

    info = fetch_json(plugin_url(server, "info", run=DECONV_RUN, tag=TOP_TAG, step=2))
    cards = frame.eval_on_selector_all(".top-card", "cards => cards.map(card => Number(card.dataset.channel))")
    assert cards == info["channels"]
    patches = served_tiles(server, 2, run=DECONV_RUN, tag=TOP_TAG, index=1)
    projections = served_tiles(server, 2, run=DECONV_RUN, tag=TOP_TAG, index=2)
    assert frame.eval_on_selector_all(".top-patch canvas", READ_RED_CHANNELS) == patches
    assert frame.eval_on_selector_all(".top-projection canvas", READ_RED_CHANNELS) == projections
    values = frame.eval_on_selector_all(".top-patch figcaption", TEXTS)
    assert values == tab.formatted("formatNumber", [value for row in info["values"] for value in row])
    indices = frame.eval_on_selector_all(".top-projection figcaption", TEXTS)
    assert indices == [f"#{index}" for row in info["indices"] for index in row]
    tab.keep_screenshots_at_both_sizes("cnnviz-top9")
    assert tab.console_errors == []
    assert tab.csp_violations() == []


CHART_LINE = (230, 81, 0)  # #e65100 in charts.js


def served_infos(base: str, steps, run: str = RUN, tag: str = LAYER_TAG) -> list[dict]:
    return [fetch_json(plugin_url(base, "info", run=run, tag=tag, step=step)) for step in steps]


def probe_mean(info: dict, stat: str, position: int) -> float:
    """A channel's statistic averaged over probes, rounded as the `series` route serves it (5 digits)."""
    values = [row[position] for row in info["stats"][stat]]
    return float(f"{sum(values) / len(values):.5g}")


def dead_positions(info: dict) -> list[int]:
    """Channels whose maximum over all probes is <= 0 (the issue's definition of dead)."""
    return [k for k in range(len(info["channels"])) if max(row[k] for row in info["stats"]["max"]) <= 0]


# Records each word the export draws, in canvas pixels, to check that texts do not run together.
RECORD_WORDS = """() => {
  window.__drawnWords = [];
  const fillText = CanvasRenderingContext2D.prototype.fillText;
  CanvasRenderingContext2D.prototype.fillText = function (text, x, y, ...rest) {
    const { a, d, e, f } = this.getTransform();
    window.__drawnWords.push({ text, x: a * x + e, y: d * y + f, width: a * this.measureText(text).width });
    return fillText.call(this, text, x, y, ...rest);
  };
}"""
# The figure's size and parts as export.js lays it out (frames that scroll sideways wrap meanwhile).
LAYOUT_WHILE_EXPORTING = """figure => {
  figure.classList.add("exporting");
  const outer = figure.getBoundingClientRect();
  const inside = [...figure.querySelectorAll(".frame")].filter((frame) => {
    const box = frame.getBoundingClientRect();
    return box.left >= outer.left && box.right <= outer.right + 0.5;
  });
  const probe = figure.querySelector(".probe-view img").getBoundingClientRect();
  const layout = { size: [figure.scrollWidth, figure.scrollHeight], framesInside: inside.length,
    probe: [probe.left - outer.left, probe.top - outer.top, probe.right - outer.left, probe.bottom - outer.top] };
  figure.classList.remove("exporting");
  return layout;
}"""


def assert_words_apart(words: list[dict]) -> None:
    """Words drawn on one line leave room between each other: no statistics run together."""
    lines: dict[int, list[dict]] = {}
    for word in words:
        lines.setdefault(round(word["y"]), []).append(word)
    for line in lines.values():
        line.sort(key=lambda word: word["x"])
        for before, after in itertools.pairwise(line):
            assert before["x"] + before["width"] < after["x"], f"{before['text']!r} runs into {after['text']!r}"


def test_filmstrip_shows_a_channel_over_training_with_its_statistics(server, tab):
    channel = 5  # channels are 0..15 in atlas order, so channel 5 is tile 5
    frame = tab.open(f"{server}/#cnnviz&p.cnnviz.layer={LAYER}&p.cnnviz.channel={channel}")
    frame.wait_for_selector(".filmstrip[data-ready]", timeout=30_000)
    evenly = [int(i * (STEPS - 1) / 7 + 0.5) for i in range(8)]  # 8 frames by default, first and last included
    assert (
        frame.eval_on_selector_all(".filmstrip-frames [data-step]", "items => items.map(i => Number(i.dataset.step))")
        == evenly
    )
    drawn = frame.eval_on_selector_all(".filmstrip .frame canvas", READ_RED_CHANNELS)
    assert drawn == [served_tiles(server, step)[channel] for step in evenly]
    assert frame.get_attribute(".frame[aria-current]", "aria-label") == f"Step {STEPS - 1}"

    infos = served_infos(server, range(STEPS))
    (mean_label, means), (dead_label, deads) = frame.eval_on_selector_all(".filmstrip svg.chart", CHART_VALUES)
    assert mean_label.startswith("Mean activation") and dead_label.startswith("Dead fraction")
    assert means == pytest.approx([probe_mean(info, "mean", channel) for info in infos])
    assert deads == pytest.approx([probe_mean(info, "dead", channel) for info in infos])

    frame.click(f".frame[aria-label='Step {evenly[2]}']")  # a frame jumps to its step
    frame = tab.wait_for_grid(step=evenly[2], source=atlas_source(evenly[2]))
    assert frame.text_content("dialog.lightbox h2").endswith(f"channel {channel} · step {evenly[2]}")
    frame.wait_for_selector(f".frame[aria-current][aria-label='Step {evenly[2]}']")

    frame.select_option("#cnnviz-frames", "0")  # every step
    frame.wait_for_function("() => document.querySelectorAll('.filmstrip-frames [data-step]').length === 30")
    frame.wait_for_selector(".filmstrip[data-ready]")
    assert "p.cnnviz.frames=0" in tab.url
    assert (
        frame.eval_on_selector_all(".filmstrip .frame canvas", READ_RED_CHANNELS)[-1]
        == served_tiles(server, STEPS - 1)[channel]
    )
    tab.keep_screenshot("cnnviz-filmstrip-1400x900")

    on_screen = frame.eval_on_selector(".lightbox-figure", "figure => [figure.scrollWidth, figure.scrollHeight]")
    assert frame.eval_on_selector(".filmstrip-frames", "row => row.scrollWidth > row.clientWidth"), "frames scroll"
    frame.evaluate(RECORD_WORDS)
    name, image = downloaded_png(tab, frame, "dialog.lightbox .export")
    assert name == f"cnnviz-{RUN}-{LAYER}-feature_maps-channel{channel}-step{evenly[2]}.png"
    exported = frame.eval_on_selector(".lightbox-figure", LAYOUT_WHILE_EXPORTING)
    width, height = exported["size"]
    assert image.size == (2 * (width + 32), 2 * (height + 32)), "the whole figure at twice its size, with a margin"
    assert width == on_screen[0] and height > on_screen[1], "the frames that scrolled wrap onto more rows"
    assert exported["framesInside"] == STEPS, "no frame is cut off"
    assert has_colour(image, CHART_LINE), "the charts are in the export"
    words = frame.evaluate("window.__drawnWords")
    assert {"Channel", "mean", "max", "dead", "range"} <= {word["text"] for word in words}
    assert_words_apart(words)
    left, top, right, bottom = exported["probe"]  # the probe image, drawn at twice its size beside a margin
    probe_region = image.crop((2 * (left + 16), 2 * (top + 16), 2 * (right + 16), 2 * (bottom + 16))).convert("L")
    assert len(set(probe_region.get_flattened_data())) > 50, "the probe image (random pixels) is in the export"
    image.save(ARTIFACTS / "cnnviz-export-filmstrip.png")
    tab.page.set_viewport_size({"width": 1000, "height": 800})
    tab.keep_screenshot("cnnviz-filmstrip-1000x800")
    assert tab.console_errors == []
    assert tab.csp_violations() == []


def test_compare_two_steps_side_by_side_with_their_signed_difference_then_another_run(server, tab):
    step, other = 20, 3
    frame = tab.open(
        f"{server}/#cnnviz&p.cnnviz.layer={LAYER}&p.cnnviz.step={step}"
        f"&p.cnnviz.compare=step&p.cnnviz.otherStep={other}&p.cnnviz.diff=true"
    )
    tab.wait_for_grid(step=step, source=atlas_source(step))
    tab.wait_for_grid(panel="compared", step=other, source=atlas_source(other))
    frame = tab.wait_for_grid(panel="difference", step=step)
    assert drawn_tiles(frame) == served_tiles(server, step)
    assert drawn_tiles(frame, "compared") == served_tiles(server, other)
    assert frame.text_content(".panel:has(.grid[data-panel=compared]) .panel-title") == f"{RUN} · step {other}"

    # Red where the shown step's activation is higher, blue where lower, on one scale for the layer.
    now, then = served_infos(server, [step, other])
    differences = []
    for position, (a, b) in enumerate(zip(served_tiles(server, step), served_tiles(server, other), strict=True)):
        (lo_a, hi_a), (lo_b, hi_b) = now["tile_range"][0][position], then["tile_range"][0][position]
        differences.append(
            [(lo_a + va / 255 * (hi_a - lo_a)) - (lo_b + vb / 255 * (hi_b - lo_b)) for va, vb in zip(a, b, strict=True)]
        )
    largest = max(abs(d) for tile in differences for d in tile)
    checked = 0
    for tile, rgb in zip(
        differences, frame.eval_on_selector_all(".grid[data-panel=difference] .tile canvas", READ_RGB), strict=True
    ):
        for index, d in enumerate(tile):
            if abs(d) > 0.2 * largest:
                red, _, blue = rgb[3 * index : 3 * index + 3]
                assert (red > blue) == (d > 0), f"difference {d} drawn as {rgb[3 * index : 3 * index + 3]}"
                checked += 1
    assert checked > 100
    scale = frame.text_content(".grid[data-panel=difference] .scale")
    low, high = tab.formatted("formatNumber", [-largest, largest])
    assert scale == f"{low}+{high}"

    frame.click(".probe >> nth=1")  # one selection drives every panel
    tab.wait_for_grid(source=atlas_source(step, probe=1))
    frame = tab.wait_for_grid(panel="compared", source=atlas_source(other, probe=1))
    assert drawn_tiles(frame, "compared") == served_tiles(server, other, probe=1)
    tab.keep_screenshot("cnnviz-compare-steps-1400x900")

    frame.select_option("#cnnviz-compare", "run")  # the same step of another run: run_b stops at step 3
    frame = tab.wait_for_grid(panel="compared", source=atlas_source(FILTER_STEPS - 1, probe=1, run=FILTER_RUN))
    assert drawn_tiles(frame, "compared") == served_tiles(server, FILTER_STEPS - 1, probe=1, run=FILTER_RUN)
    assert (
        frame.text_content(".panel:has(.grid[data-panel=compared]) .panel-title")
        == f"{FILTER_RUN} · step {FILTER_STEPS - 1}"
    )
    assert "p.cnnviz.compare=run" in tab.url and f"p.cnnviz.otherRun={FILTER_RUN}" in tab.url

    name, image = downloaded_png(tab, frame, ".toolbar .export")
    assert name == f"cnnviz-{RUN}-{LAYER}-feature_maps-step{step}.png"
    width, height = frame.eval_on_selector(".views", "views => [views.scrollWidth, views.scrollHeight]")
    assert image.size == (2 * (width + 32), 2 * (height + 32))
    image.save(ARTIFACTS / "cnnviz-export-compare.png")
    tab.page.set_viewport_size({"width": 1000, "height": 800})
    tab.keep_screenshot("cnnviz-compare-runs-1000x800")
    assert tab.console_errors == []
    assert tab.csp_violations() == []


RECORD_STEPS = """() => {
  const grid = document.querySelector(".grid[data-panel=shown]");
  window.__painted = [];
  new MutationObserver(() => window.__painted.push([Number(grid.dataset.step), performance.now()]))
    .observe(grid, { attributes: true, attributeFilter: ["data-step"] });
}"""


def test_playback_walks_the_steps_in_order_at_the_chosen_speed(server, tab):
    frame = tab.open(f"{server}/#cnnviz&p.cnnviz.layer={LAYER}&p.cnnviz.step=0&p.cnnviz.speed=8")
    tab.wait_for_grid(step=0)
    assert frame.input_value("#cnnviz-speed") == "8"
    frame.evaluate(RECORD_STEPS)
    frame.click(".play")
    assert frame.get_attribute(".play", "aria-pressed") == "true"
    frame.wait_for_function("() => window.__painted.length >= 8", timeout=20_000)
    frame.click(".play")
    assert frame.get_attribute(".play", "aria-pressed") == "false"
    painted = frame.evaluate("window.__painted")
    assert [step for step, _ in painted[:8]] == list(range(1, 9))
    gaps = sorted(later - earlier for (_, earlier), (_, later) in itertools.pairwise(painted[:8]))
    assert gaps[len(gaps) // 2] >= 1000 / 8 - 15, "8 steps per second, not faster"
    stopped = len(frame.evaluate("window.__painted"))
    tab.page.wait_for_timeout(600)
    assert len(frame.evaluate("window.__painted")) == stopped, "paused means no more steps"
    last = painted[-1][0]
    assert drawn_tiles(frame) == served_tiles(server, last)
    assert f"p.cnnviz.step={last}" in tab.url and "p.cnnviz.speed=8" in tab.url
    assert tab.console_errors == []


def test_layer_health_charts_mean_activation_and_dead_channels_and_the_grid_flags_them(server, tab):
    tab.page.goto(f"{server}/#cnnviz&p.cnnviz.panel=health")
    frame = tab.frame
    frame.wait_for_selector(".health[data-ready]", timeout=30_000)
    assert frame.eval_on_selector_all(".health-row", "rows => rows.map(row => row.dataset.layer)") == ["0", LAYER]

    infos = served_infos(server, range(STEPS))
    channels = len(infos[0]["channels"])
    (mean_label, means), (dead_label, deads) = frame.eval_on_selector_all(
        f".health-row[data-layer='{LAYER}'] svg.chart", CHART_VALUES
    )
    assert mean_label.startswith("Mean activation") and dead_label.startswith("Dead channels")
    assert means == pytest.approx(
        [sum(probe_mean(info, "mean", k) for k in range(channels)) / channels for info in infos]
    )
    assert deads == pytest.approx([len(dead_positions(info)) / channels for info in infos])
    tab.keep_screenshot("cnnviz-health-1400x900")

    frame.click(f".health-row[data-layer='{LAYER}'] .health-layer")  # a layer's name opens its channels
    frame = tab.wait_for_grid(source=atlas_source(STEPS - 1))
    assert "p.cnnviz.panel" not in tab.url

    step = next(step for step, info in enumerate(infos) if dead_positions(info))
    frame = tab.open(f"{server}/#cnnviz&p.cnnviz.layer={LAYER}&p.cnnviz.step={step}")
    tab.wait_for_grid(step=step)
    flagged = frame.eval_on_selector_all(
        ".grid[data-panel=shown] .tile.flagged[data-flag=dead]", "tiles => tiles.map(t => Number(t.dataset.position))"
    )
    assert flagged == dead_positions(infos[step])
    tab.page.mouse.move(0, 0)  # no tile hovered: the info bar sums up the layer
    assert f"{len(flagged)} dead" in frame.text_content(".grid[data-panel=shown] .channel-details")
    tab.keep_screenshot("cnnviz-dead-channels")
    assert tab.console_errors == []
    assert tab.csp_violations() == []


FOCUSED = """() => {
  const node = document.activeElement;
  const ring = (element) => getComputedStyle(element).outlineStyle !== "none";
  const name = node.getAttribute("aria-label") || node.labels?.[0]?.textContent || node.closest("label")?.textContent
    || node.textContent || node.title;
  return {
    what: node.id || (node.type === "radio" ? `radio:${node.name}` : node.className) || node.tagName,
    name: (name || "").trim(),
    ring: ring(node) || (node.type === "radio" && ring(node.nextElementSibling)),
  };
}"""


def test_every_control_is_reachable_by_keyboard_labelled_and_visibly_focused(server, tab):
    frame = tab.open(f"{server}/#cnnviz&p.cnnviz.step=10")
    frame.focus("#cnnviz-run")
    reached = []
    for _ in range(60):
        reached.append(frame.evaluate(FOCUSED))
        if reached[-1]["what"] == "tile":
            break
        tab.page.keyboard.press("Tab")
    what = [item["what"] for item in reached]
    controls = [
        "cnnviz-run",
        "layer",
        "probe",
        "radio:cnnviz-panel",
        "radio:cnnviz-kind",
        "radio:cnnviz-norm",
        "cnnviz-cmap",
    ]
    controls += ["cnnviz-compare", "export", "reload", "step-button", "cnnviz-step", "play", "cnnviz-speed", "tile"]
    for control in controls:
        assert control in what, f"{control} not reachable by Tab: {what}"
    unnamed = [item["what"] for item in reached if not item["name"]]
    assert unnamed == []
    unringed = [item["what"] for item in reached if not item["ring"]]
    assert unringed == []


def test_names_from_the_logs_are_shown_as_text_never_as_markup(server, tab):
    frame = tab.open(f"{server}/#cnnviz")
    frame.select_option("#cnnviz-run", HOSTILE_RUN)
    source = atlas_source(1, run=HOSTILE_RUN, tag=f"{HOSTILE_LAYER}/feature_maps")
    frame = tab.wait_for_grid(source=source)
    assert frame.eval_on_selector("#cnnviz-run", "select => select.selectedOptions[0].textContent") == HOSTILE_RUN
    assert frame.text_content(".layer[aria-current] .layer-name") == HOSTILE_LAYER
    assert frame.text_content(".view-title .title-layer") == f"Layer {HOSTILE_LAYER}"
    assert frame.eval_on_selector_all(".probe-label", TEXTS) == HOSTILE_LABELS
    frame.click(".tile >> nth=0")  # the lightbox and the health panel write the names too
    frame.wait_for_selector("dialog.lightbox[open]")
    assert HOSTILE_LAYER in frame.text_content("dialog.lightbox h2")
    assert frame.text_content("dialog.lightbox figcaption") == HOSTILE_LABELS[0]
    tab.page.keyboard.press("Escape")
    frame.click("input[name='cnnviz-panel'][value='health']")
    frame.wait_for_selector(".health[data-ready]", timeout=30_000)
    assert frame.text_content(".health-row .layer-name") == HOSTILE_LAYER

    injected = "() => document.querySelectorAll('b, i, script:not([type=module]), img[src=x]').length"
    assert frame.evaluate(injected) == 0
    for window in (tab.page.main_frame, frame):
        assert window.evaluate("typeof window.__pwned") == "undefined"
    assert tab.console_errors == [], "an injected <img src=x> would have failed to load"
    assert tab.csp_violations() == []


def test_the_tab_works_under_a_path_prefix(logdir, tab):
    with tensorboard_server(logdir, path_prefix="/tb/x") as base:
        frame = tab.open(f"{base}/#cnnviz")
        assert tab.grid(frame)["source"].startswith("./image?")
        assert frame.url.startswith(f"{base}/data/plugin_entry.html")
        assert frame.eval_on_selector(".probe img", "img => img.complete && img.naturalWidth > 0")
        # TensorBoard's own page asks for its Roboto fonts without the prefix: its 404s, not the tab's.
        assert [error for error in tab.console_errors if "/font-roboto/" not in error] == []
        assert tab.csp_violations() == []


def test_a_failed_fetch_is_shown_in_the_tab(server, tab):
    message = "step 3 is not logged; logged steps: [0, 1]"
    tab.page.route(
        "**/data/plugin/cnnviz/image?*",
        lambda route: route.fulfill(status=404, body=message, content_type="text/plain"),
    )
    tab.page.goto(f"{server}/#cnnviz")
    alert = tab.frame.wait_for_selector(".error[role=alert]", timeout=30_000)
    assert message in alert.text_content()


def test_an_empty_logdir_explains_how_to_log(tmp_path, tab):
    # conftest's server waits for a run to appear, which never happens here: start it by hand.
    port = free_port()
    process = subprocess.Popen(
        [TENSORBOARD, "--logdir", str(tmp_path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        poll(lambda: _answers(f"http://127.0.0.1:{port}/data/plugin/cnnviz/runs"), bool, timeout=60)
        tab.page.goto(f"http://127.0.0.1:{port}/#cnnviz")
        help_box = tab.frame.wait_for_selector(".empty", timeout=30_000)
        assert "CNNVizCallback" in help_box.text_content()
        assert tab.console_errors == []
        assert tab.csp_violations() == []
    finally:
        process.terminate()
        process.wait(timeout=20)


def _answers(url: str) -> bool:
    try:
        return fetch(url)[0] == 200
    except OSError:
        return False
