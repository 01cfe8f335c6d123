"""The CNN Viz tab's model-level views (saliency, Grad-CAM, class images, fooling images) in headless Chromium.

Same setup as test_browser.py (browser_tab's Tab and helpers): a real `tensorboard` process on a logdir the
real callback wrote, here with the model-level kinds; what the tab draws is checked against what the plugin serves.
"""

from __future__ import annotations

import urllib.parse

import browser_tab
import pytest
import torch
from browser_tab import (
    ARTIFACTS,
    CHART_VALUES,
    Tab,
    atlas_tiles,
    downloaded_png,
    drawn_rgb_tiles,
    image_source,
    served_image,
    texts,
)
from conftest import fetch_json, five_class_cnn, plugin_url, poll, tensorboard_server, write_training_logdir

from demo_training.data import CLASS_NAMES, PIXEL_MEAN, PIXEL_STD
from tb_cnnviz import ClassVisualization, CNNVizCallback

# The page fixtures: pytest finds fixtures by name in the test module.
browser, tab = browser_tab.browser, browser_tab.tab

MODEL_RUN = "run_model"  # feature maps and all four model-level kinds, Fashion-MNIST's class names
MODEL_STEPS = 3
OTHER_RUN = "run_other"  # saliency too, fewer steps: the run to compare with
OTHER_STEPS = 2
LAYERS_RUN = "run_layers"  # no model-level kind: no Model entry
HOSTILE_RUN = "run_hostile"  # model-level kinds only, class names and probe labels that are HTML
LOST_RUN = "run_lost"  # class images only, of the raw score on random weights: some lost to another class
MODEL_KINDS = ("saliency", "grad_cam", "class_visualization", "fooling")
KIND_LABELS = ["Saliency", "Grad-CAM", "Class images", "Fooling images"]
HOSTILE_CLASSES = [f'<img src=x onerror="window.__pwned={index}">' for index in range(9)] + ["<b>bold</b> & <i>i</i>"]
HOSTILE_LABELS = ["<script>window.__pwned=1</script>", "<b>b</b>", "&amp;"]
MODEL = "(model)"


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("browser_model_views")
    model_kinds = ("feature_maps", *MODEL_KINDS)
    write_training_logdir(logdir / MODEL_RUN, steps=MODEL_STEPS, kinds=model_kinds, class_names=CLASS_NAMES)
    write_training_logdir(
        logdir / OTHER_RUN, steps=OTHER_STEPS, kinds=("feature_maps", "saliency"), class_names=CLASS_NAMES
    )
    write_training_logdir(logdir / LAYERS_RUN, steps=1)
    write_training_logdir(
        logdir / HOSTILE_RUN,
        steps=1,
        kinds=("saliency", "class_visualization"),
        class_names=HOSTILE_CLASSES,
        labels=HOSTILE_LABELS,
    )
    probes = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    kinds = [ClassVisualization(objective="score", l2=1e-2)]
    normalization = {"input_mean": [PIXEL_MEAN], "input_std": [PIXEL_STD]}
    with CNNVizCallback(five_class_cnn(0), probes, log_dir=str(logdir / LOST_RUN), kinds=kinds, **normalization) as viz:
        viz.log(0)
    return logdir


@pytest.fixture(scope="module")
def server(logdir):
    with tensorboard_server(logdir) as base:
        # The tab caches the runs listing and step lists; let TensorBoard finish reading the event files first.
        expected = [(MODEL_RUN, kind, MODEL_STEPS) for kind in MODEL_KINDS]
        expected += [(OTHER_RUN, "saliency", OTHER_STEPS), (HOSTILE_RUN, "class_visualization", 1)]
        expected += [(LOST_RUN, "class_visualization", 1)]
        for run, kind, count in expected:
            url = plugin_url(base, "steps", run=run, tag=model_tag(kind))
            poll(lambda url=url: _steps(url), lambda steps, count=count: len(steps) == count)
        yield base


def _steps(url: str) -> list[int]:
    try:
        return fetch_json(url)["steps"]
    except OSError:  # the tag is not read yet: 400/404
        return []


def model_tag(kind: str) -> str:
    return f"model/{kind}"


def model_url(base: str, run: str = MODEL_RUN, **view) -> str:
    """TensorBoard's page on the tab showing `run`'s model-level views (and `view`'s other state)."""
    state = {"run": run, "layer": MODEL, **view}
    return f"{base}/#cnnviz&" + "&".join(
        f"p.cnnviz.{key}={urllib.parse.quote(str(value))}" for key, value in state.items()
    )


def model_source(kind: str, step: int, run: str = MODEL_RUN) -> str:
    """The relative URL the tab draws a model-level kind's atlas from: blob 1 whatever the probe."""
    return image_source(run, model_tag(kind), step, 1)


def served_info(base: str, kind: str, step: int, run: str = MODEL_RUN) -> dict:
    return fetch_json(plugin_url(base, "info", run=run, tag=model_tag(kind), step=step))


def served_rgb_tiles(base: str, kind: str, step: int, run: str = MODEL_RUN) -> list[list[int]]:
    """Each tile's RGB pixels, cut with PIL from the atlas the plugin serves (atlas order, row-major)."""
    info = served_info(base, kind, step, run)
    atlas = served_image(base, run, model_tag(kind), step, 1).convert("RGB")
    return atlas_tiles(atlas, info["tile"], info["grid"], len(info["channels"]))


def class_name(info: dict, index: int) -> str:
    return info["class_names"][index] if info["class_names"] else f"class {index}"


def probe_name(info: dict, probe: int) -> str:
    return f"Probe {probe + 1}: {info['labels'][probe]}"


def predicted_captions(tab: Tab, info: dict) -> list[str]:
    """Saliency and Grad-CAM captions: the predicted class and its probability as the tab writes it, per probe."""
    percents = tab.formatted("formatPercent", info["probabilities"])
    return [
        f"{class_name(info, predicted)} {percent}"
        for predicted, percent in zip(info["predicted"], percents, strict=True)
    ]


def fooling_caption(tab: Tab, info: dict, probe: int) -> str:
    target = f"{class_name(info, info['targets'][probe])} {tab.format_percent(info['target_probabilities'][probe])}"
    if not info["succeeded"][probe]:
        return f"not fooled · {target}"
    steps = info["steps"][probe]
    if steps == 0:
        return f"already {target}"
    return f"→ {target} · {steps} step{'' if steps == 1 else 's'}"


def select_kind(tab: Tab, frame, kind: str, step: int, run: str = MODEL_RUN):
    frame.click(f"label:has(input[name='cnnviz-kind'][value='{kind}'])")
    return tab.wait_for_grid(step=step, source=model_source(kind, step, run))


def assert_clean(tab: Tab) -> None:
    assert tab.console_errors == []
    assert tab.csp_violations() == []


def test_the_model_entry_offers_the_model_views_each_drawn_from_the_served_atlas(server, tab):
    last = MODEL_STEPS - 1
    frame = tab.open(f"{server}/#cnnviz&p.cnnviz.run={MODEL_RUN}")
    headings = texts(frame, ".sidebar h2:not([hidden])")
    assert headings[:2] == ["Model", "Layers"], "the Model section comes above the layers"
    assert frame.eval_on_selector_all(".layer", "buttons => buttons.map(b => b.dataset.layer)") == [MODEL, "0", "4"]

    frame.click(f'.layer[data-layer="{MODEL}"]')
    frame = tab.wait_for_grid(step=last, source=model_source("saliency", last))
    assert frame.eval_on_selector(".layer[aria-current]", "button => button.dataset.layer") == MODEL
    assert "p.cnnviz.layer=(model)" in tab.url
    choices = "inputs => inputs.map(input => [input.value, input.nextElementSibling.textContent])"
    assert frame.eval_on_selector_all("input[name='cnnviz-kind']", choices) == [
        list(choice) for choice in zip(MODEL_KINDS, KIND_LABELS, strict=True)
    ]
    assert frame.text_content(".view-title") == f"ModelSaliency · step {last}"

    # Saliency: one tile per probe, labelled by the probe's label, captioned with its predicted class.
    info = served_info(server, "saliency", last)
    assert drawn_rgb_tiles(frame) == served_rgb_tiles(server, "saliency", last)
    assert texts(frame, ".grid[data-panel=shown] .tile-label") == info["labels"]
    assert texts(frame, ".grid[data-panel=shown] .tile-caption") == predicted_captions(tab, info)
    aria = frame.eval_on_selector_all(
        ".grid[data-panel=shown] .tile", "tiles => tiles.map(t => t.getAttribute('aria-label'))"
    )
    assert aria == [probe_name(info, probe) for probe in range(3)]
    frame.hover(".grid[data-panel=shown] .tile >> nth=1")
    details = frame.text_content(".grid[data-panel=shown] .channel-details")
    predicted, probability = class_name(info, info["predicted"][1]), tab.format_percent(info["probabilities"][1])
    assert details == f"{probe_name(info, 1)}predicted {predicted}probability {probability}"
    # Every probe is in the grid: the picker has no say.
    assert frame.eval_on_selector_all(".probe", "buttons => buttons.every(b => b.disabled)")
    assert frame.text_content(".probe-note") == "Every probe image has its own tile."
    tab.keep_screenshot("cnnviz-model-saliency-1400x900")

    info = served_info(server, "grad_cam", last)
    frame = select_kind(tab, frame, "grad_cam", last)
    assert drawn_rgb_tiles(frame) == served_rgb_tiles(server, "grad_cam", last)
    assert texts(frame, ".grid[data-panel=shown] .tile-caption") == predicted_captions(tab, info)
    frame.hover(".grid[data-panel=shown] .tile >> nth=0")
    layer_size = "\N{MULTIPLICATION SIGN}".join(map(str, info["layer_size"]))
    assert f"layer {info['layer']} ({layer_size})" in frame.text_content(".channel-details")

    # Class images: one tile per class, labelled by its name, captioned with its probability.
    info = served_info(server, "class_visualization", last)
    frame = select_kind(tab, frame, "class_visualization", last)
    assert drawn_rgb_tiles(frame) == served_rgb_tiles(server, "class_visualization", last)
    assert texts(frame, ".grid[data-panel=shown] .tile-label") == CLASS_NAMES
    assert texts(frame, ".grid[data-panel=shown] .tile-caption") == [
        tab.format_percent(p) for p in info["probabilities"]
    ]
    frame.hover(".grid[data-panel=shown] .tile >> nth=7")
    assert frame.text_content(".channel-details").startswith("Class 7: Sneakerscore ")
    tab.keep_screenshot("cnnviz-model-class-images-1400x900")

    # Fooling images: original | changed | difference with white gaps, captioned with the target class.
    info = served_info(server, "fooling", last)
    frame = select_kind(tab, frame, "fooling", last)
    drawn = drawn_rgb_tiles(frame)
    assert drawn == served_rgb_tiles(server, "fooling", last)
    (height, width), pane, gap = info["tile"], info["pane_width"], info["pane_gap"]
    assert width == 3 * pane + 2 * gap and info["panes"] == ["original", "changed", "difference"]
    for tile in drawn:
        gaps = [
            tile[3 * (row * width + column) : 3 * (row * width + column) + 3]
            for row in range(height)
            for column in range(pane, pane + gap)
        ]
        assert all(pixel == [255, 255, 255] for pixel in gaps), "white columns part the three panes"
    assert texts(frame, ".grid[data-panel=shown] .tile-caption") == [
        fooling_caption(tab, info, probe) for probe in range(3)
    ]
    frame.hover(".grid[data-panel=shown] .tile >> nth=1")
    details = frame.text_content(".channel-details")
    for part in (
        f"target {class_name(info, info['targets'][1])}",
        f"target probability {tab.format_percent(info['target_probabilities'][1])}",
        f"steps {info['steps'][1]} of {info['max_steps']}",
        "largest pixel change ",
        "magnification \N{MULTIPLICATION SIGN}",
    ):
        assert part in details
    tab.keep_screenshots_at_both_sizes("cnnviz-model-fooling")

    # Layer health is about layers only; the run without model-level kinds has no Model entry.
    frame.click("input[name='cnnviz-panel'][value='health']")
    frame.wait_for_selector(".health[data-ready]", timeout=30_000)
    assert frame.eval_on_selector_all(".health-row", "rows => rows.map(row => row.dataset.layer)") == ["0", "4"]
    frame.select_option("#cnnviz-run", LAYERS_RUN)
    frame.wait_for_selector(f'.health[data-ready*="{LAYERS_RUN}"]', timeout=30_000)
    assert frame.is_hidden("#cnnviz-model-heading")
    assert frame.query_selector(f'.layer[data-layer="{MODEL}"]') is None
    assert_clean(tab)


def test_stepping_and_comparing_with_another_step_or_run_show_the_served_atlases(server, tab):
    last = MODEL_STEPS - 1
    frame = tab.open(model_url(server))
    tab.wait_for_grid(step=last, source=model_source("saliency", last))
    before = drawn_rgb_tiles(frame)
    frame.focus(".grid[data-panel=shown] .tile >> nth=0")
    tab.page.keyboard.press("ArrowLeft")
    frame = tab.wait_for_grid(step=last - 1, source=model_source("saliency", last - 1))
    after = drawn_rgb_tiles(frame)
    assert after == served_rgb_tiles(server, "saliency", last - 1)
    assert after != before, "weights changed between steps, so the maps must too"
    info = served_info(server, "saliency", last - 1)
    assert texts(frame, ".grid[data-panel=shown] .tile-caption") == predicted_captions(tab, info)

    frame.select_option("#cnnviz-compare", "step")
    frame.select_option("#cnnviz-other-step", "0")
    frame = tab.wait_for_grid(panel="compared", step=0, source=model_source("saliency", 0))
    assert drawn_rgb_tiles(frame, "compared") == served_rgb_tiles(server, "saliency", 0)
    assert texts(frame, ".grid[data-panel=compared] .tile-caption") == predicted_captions(
        tab, served_info(server, "saliency", 0)
    )
    assert frame.text_content(".panel:has(.grid[data-panel=compared]) .panel-title") == f"{MODEL_RUN} · step 0"
    assert frame.is_disabled("#cnnviz-diff"), "saliency maps of two steps do not subtract"
    assert frame.is_hidden(".panel:has(.grid[data-panel=difference])")
    tab.keep_screenshot("cnnviz-model-compare-steps-1400x900")

    frame.select_option("#cnnviz-compare", "run")  # the same step of another run (it stops earlier)
    frame.select_option("#cnnviz-other-run", OTHER_RUN)
    frame = tab.wait_for_grid(panel="compared", source=model_source("saliency", OTHER_STEPS - 1, run=OTHER_RUN))
    assert drawn_rgb_tiles(frame, "compared") == served_rgb_tiles(server, "saliency", OTHER_STEPS - 1, run=OTHER_RUN)
    assert f"p.cnnviz.otherRun={OTHER_RUN}" in tab.url

    name, image = downloaded_png(tab, frame, ".toolbar .export")
    assert name == f"cnnviz-{MODEL_RUN}-model-saliency-step{last - 1}.png"
    width, height = frame.eval_on_selector(".views", "views => [views.scrollWidth, views.scrollHeight]")
    assert image.size == (2 * (width + 32), 2 * (height + 32))

    # The other run logged no Grad-CAM: the tab says so rather than compare with nothing.
    frame.click("label:has(input[name='cnnviz-kind'][value='grad_cam'])")
    message = f"Run “{OTHER_RUN}” has no Grad-CAM of the model to compare with."
    poll(lambda: frame.text_content(".status"), lambda text: message in text, timeout=10)
    assert frame.is_hidden(".panel:has(.grid[data-panel=compared])")
    assert_clean(tab)


FRAME_STEPS = "items => items.map(item => Number(item.dataset.step))"
READ_FRAMES = """canvases => canvases.map(canvas => {
  const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
  return Array.from(data.filter((_, i) => i % 4 !== 3));
})"""


def open_filmstrip(tab: Tab, server: str, kind: str, item: int):
    """The tab opened afresh on `kind`'s tile `item`, once its filmstrip is drawn; with the served series and charts."""
    tab.page.goto("about:blank")  # a new hash alone would keep the page, and its filmstrip, as they were
    frame = tab.open(model_url(server, kind=kind, channel=item))
    frame.wait_for_selector(".filmstrip[data-ready]", timeout=30_000)
    assert frame.eval_on_selector_all(".filmstrip-frames [data-step]", FRAME_STEPS) == list(range(MODEL_STEPS))
    series = fetch_json(plugin_url(server, "series", run=MODEL_RUN, tag=model_tag(kind)))
    charts = dict(frame.eval_on_selector_all(".filmstrip svg.chart", CHART_VALUES))
    return frame, series, charts


def chart(charts: dict, label: str) -> list:
    return next(values for summary, values in charts.items() if summary.startswith(f"{label}:"))


def test_the_filmstrip_of_a_probe_or_class_shows_it_at_every_step_with_its_charts(server, tab):
    last, probe = MODEL_STEPS - 1, 1
    frame, series, charts = open_filmstrip(tab, server, "saliency", probe)
    infos = [served_info(server, "saliency", step) for step in range(MODEL_STEPS)]
    heading = frame.text_content("dialog.lightbox h2")
    assert heading == f"Model · Saliency · {probe_name(infos[last], probe)} · step {last}"
    assert frame.eval_on_selector_all(".filmstrip .frame canvas", READ_FRAMES) == [
        served_rgb_tiles(server, "saliency", step)[probe] for step in range(MODEL_STEPS)
    ]
    assert texts(frame, ".filmstrip .frame-caption") == [predicted_captions(tab, info)[probe] for info in infos]
    assert chart(charts, "Probability of the predicted class") == [row[probe] for row in series["stats"]["probability"]]
    assert frame.text_content(".lightbox-stats").startswith(probe_name(infos[last], probe))

    frame.click(".frame[aria-label='Step 0']")  # a frame jumps to its step, the probe stays open
    frame = tab.wait_for_grid(step=0, source=model_source("saliency", 0))
    frame.wait_for_selector("dialog.lightbox[open] .frame[aria-current][aria-label='Step 0']")
    assert frame.text_content("dialog.lightbox h2").endswith(f"{probe_name(infos[0], probe)} · step 0")
    name, image = downloaded_png(tab, frame, "dialog.lightbox .export")
    assert name == f"cnnviz-{MODEL_RUN}-model-saliency-probe{probe}-step0.png"
    image.save(ARTIFACTS / "cnnviz-model-export-filmstrip.png")
    tab.keep_screenshot("cnnviz-model-filmstrip-1400x900")

    frame, series, charts = open_filmstrip(tab, server, "class_visualization", 7)
    assert frame.text_content("dialog.lightbox h2") == f"Model · Class images · Class 7: Sneaker · step {last}"
    assert chart(charts, "Probability") == [row[7] for row in series["stats"]["probability"]]
    assert chart(charts, "Score") == [row[7] for row in series["stats"]["score"]]
    assert texts(frame, ".filmstrip .frame-caption") == [
        tab.format_percent(row[7]) for row in series["stats"]["probability"]
    ]

    frame, series, charts = open_filmstrip(tab, server, "fooling", probe)
    assert frame.eval_on_selector_all(".filmstrip .frame canvas", READ_FRAMES) == [
        served_rgb_tiles(server, "fooling", step)[probe] for step in range(MODEL_STEPS)
    ]
    assert chart(charts, "Probability of the target class") == [
        row[probe] for row in series["stats"]["target_probability"]
    ]
    assert chart(charts, "Steps") == [row[probe] for row in series["stats"]["steps"]]
    infos = [served_info(server, "fooling", step) for step in range(MODEL_STEPS)]
    assert texts(frame, ".filmstrip .frame-caption") == [fooling_caption(tab, info, probe) for info in infos]
    tab.keep_screenshot("cnnviz-model-fooling-filmstrip-1400x900")
    assert_clean(tab)


def test_a_class_image_the_model_classifies_as_another_class_is_flagged_lost(server, tab):
    frame = tab.open(f"{server}/#cnnviz&p.cnnviz.run={LOST_RUN}")  # no layers, one kind: the class images
    frame = tab.wait_for_grid(source=model_source("class_visualization", 0, run=LOST_RUN))
    info = served_info(server, "class_visualization", 0, run=LOST_RUN)
    lost = [p for p, (c, seen) in enumerate(zip(info["channels"], info["predicted"], strict=True)) if c != seen]
    assert lost and len(lost) < len(info["channels"]), info["predicted"]
    flagged = frame.eval_on_selector_all(
        ".grid[data-panel=shown] .tile.flagged[data-flag=lost]", "tiles => tiles.map(t => Number(t.dataset.position))"
    )
    assert flagged == lost
    assert texts(frame, ".grid[data-panel=shown] .tile.flagged .tile-flag") == ["lost"] * len(lost)
    assert frame.get_attribute(f".tile[data-position='{lost[0]}']", "aria-label") == f"Class {lost[0]} (lost)"
    tab.page.mouse.move(0, 0)  # no tile hovered: the info bar sums up the classes
    details = ".grid[data-panel=shown] .channel-details"
    assert f"{len(lost)} lost (classified as another class)" in frame.text_content(details)
    frame.hover(f".grid[data-panel=shown] .tile >> nth={lost[0]}")
    assert f"classified as class {info['predicted'][lost[0]]}" in frame.text_content(details)
    assert "objective score" in frame.text_content(details)
    tab.keep_screenshot("cnnviz-model-class-images-lost")
    assert_clean(tab)


def test_class_names_and_probe_labels_with_markup_are_shown_as_text(server, tab):
    frame = tab.open(f"{server}/#cnnviz&p.cnnviz.run={HOSTILE_RUN}")  # no layers: the tab opens on the model
    frame = tab.wait_for_grid(source=model_source("saliency", 0, run=HOSTILE_RUN))
    assert frame.is_hidden("#cnnviz-layers-heading")
    info = served_info(server, "saliency", 0, run=HOSTILE_RUN)
    assert texts(frame, ".grid[data-panel=shown] .tile-label") == HOSTILE_LABELS
    assert texts(frame, ".grid[data-panel=shown] .tile-caption") == predicted_captions(tab, info)

    frame = select_kind(tab, frame, "class_visualization", 0, run=HOSTILE_RUN)
    assert texts(frame, ".grid[data-panel=shown] .tile-label") == HOSTILE_CLASSES
    frame.click(".grid[data-panel=shown] .tile >> nth=9")
    frame.wait_for_selector("dialog.lightbox[open]")
    assert frame.text_content("dialog.lightbox h2") == f"Model · Class images · Class 9: {HOSTILE_CLASSES[9]} · step 0"
    tab.keep_screenshot("cnnviz-model-hostile-names")

    injected = "() => document.querySelectorAll('b, i, script:not([type=module]), img[src=x]').length"
    assert frame.evaluate(injected) == 0
    for window in (tab.page.main_frame, frame):
        assert window.evaluate("typeof window.__pwned") == "undefined"
    assert_clean(tab)
