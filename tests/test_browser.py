"""The CNN Viz tab in headless Chromium, inside a real `tensorboard` process, on a logdir from the real callback.

Needs Debian's Chromium at /usr/bin/chromium (Playwright cannot download browsers here).
Screenshots land in tests/artifacts/ for people to look at.
"""

from __future__ import annotations

import io
import itertools
import subprocess
import urllib.parse
from pathlib import Path

import pytest
from conftest import TENSORBOARD, fetch, fetch_json, free_port, poll, tensorboard_server, write_training_logdir
from PIL import Image

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
TAB_IFRAME = "iframe[src*='plugin_entry.html?name=cnnviz']"
RUN = "run_a"
LAYER = "4"  # the second conv layer of conftest.small_cnn: 16 channels of 14x14
LAYER_TAG = f"{LAYER}/feature_maps"
STEPS = 30
FILTER_RUN = "run_b"  # logs filter images besides feature maps
FILTER_STEPS = 4

# Runs in every frame before the page's scripts: collects CSP violations, which Chromium reports as
# events (and not always as console errors).
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI}`);
});
"""

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"needs Chromium at {CHROMIUM}")


def plugin_url(base: str, route: str, **params) -> str:
    return f"{base}/data/plugin/cnnviz/{route}?{urllib.parse.urlencode(params)}"


@pytest.fixture(scope="module")
def logdir(tmp_path_factory) -> Path:
    logdir = tmp_path_factory.mktemp("browser")
    write_training_logdir(logdir / RUN, steps=STEPS)
    write_training_logdir(logdir / FILTER_RUN, steps=FILTER_STEPS, kinds=("feature_maps", "filters"))
    return logdir


@pytest.fixture(scope="module")
def server(logdir):
    with tensorboard_server(logdir) as base:
        # The tab caches step lists; let TensorBoard finish reading the event files first.
        for run, tag, count in [(RUN, LAYER_TAG, STEPS), (FILTER_RUN, f"{LAYER}/filters", FILTER_STEPS)]:
            url = plugin_url(base, "steps", run=run, tag=tag)
            poll(lambda url=url: fetch_json(url)["steps"], lambda steps, count=count: len(steps) == count)
        yield base


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Tab:
    """A TensorBoard page on the CNN Viz tab, and what went wrong in it."""

    def __init__(self, page):
        self.page = page
        self.console_errors: list[str] = []
        page.on("console", self._record_console_error)
        page.on("pageerror", lambda error: self.console_errors.append(str(error)))

    def _record_console_error(self, message) -> None:
        if message.type == "error":
            self.console_errors.append(f"{message.text} ({message.location.get('url')})")

    @property
    def frame(self):
        return self.page.wait_for_selector(TAB_IFRAME, timeout=30_000).content_frame()

    def open(self, url: str):
        self.page.goto(url)
        return self.wait_for_grid()

    def wait_for_grid(self, panel: str = "shown", **expected):
        """The tab's frame once the `panel` grid shows a drawn atlas (and data-* attributes equal to `expected`)."""
        frame = self.frame
        selector = f".grid[data-panel={panel}][data-source]"
        selector += "".join(f'[data-{key}="{value}"]' for key, value in expected.items())
        frame.wait_for_selector(selector, timeout=30_000)
        return frame

    def grid(self, frame, panel: str = "shown") -> dict:
        return frame.eval_on_selector(f".grid[data-panel={panel}]", "grid => ({ ...grid.dataset })")

    def csp_violations(self) -> list[str]:
        recorded = [frame.evaluate("window.__cspViolations") for frame in (self.page.main_frame, self.frame)]
        assert None not in recorded, "the violation recorder must run in TensorBoard's page and in the tab's frame"
        return [violation for violations in recorded for violation in violations]


@pytest.fixture
def tab(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_init_script(RECORD_CSP_VIOLATIONS)
    yield Tab(context.new_page())
    context.close()


def atlas_source(step: int, probe: int = 0, run: str = RUN, tag: str = LAYER_TAG, index: int | None = None) -> str:
    """The relative image URL the tab should draw a step's atlas from (`index` defaults to the probe's)."""
    index = probe + 1 if index is None else index
    return "./image?" + urllib.parse.urlencode({"run": run, "tag": tag, "step": step, "index": index})


def served_tiles(base: str, step: int, probe: int = 0, run: str = RUN, tag: str = LAYER_TAG) -> list[list[int]]:
    """Each channel's tile, cut with PIL from the PNG the plugin serves for `step` (row-major pixels)."""
    info = fetch_json(plugin_url(base, "info", run=run, tag=tag, step=step))
    status, _, png = fetch(plugin_url(base, "image", run=run, tag=tag, step=step, index=probe + 1))
    assert status == 200
    atlas = Image.open(io.BytesIO(png)).convert("L")
    (height, width), columns = info["tile"], info["grid"][1]
    tiles = []
    for position in range(len(info["channels"])):
        x, y = position % columns * width, position // columns * height
        tiles.append(list(atlas.crop((x, y, x + width, y + height)).tobytes()))
    return tiles


READ_RED_CHANNELS = """canvases => canvases.map(canvas => {
  const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
  return Array.from(data.filter((_, i) => i % 4 === 0));
})"""


def drawn_tiles(frame, panel: str = "shown") -> list[list[int]]:
    """Each tile canvas's pixels as drawn (red channel: grey colormap, so equal to the atlas value)."""
    return frame.eval_on_selector_all(f".grid[data-panel={panel}] .tile canvas", READ_RED_CHANNELS)


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

    ARTIFACTS.mkdir(exist_ok=True)
    tab.page.screenshot(path=ARTIFACTS / "cnnviz-1400x900.png")
    tab.page.set_viewport_size({"width": 1000, "height": 800})
    tab.page.screenshot(path=ARTIFACTS / "cnnviz-1000x800.png")
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
    assert "#cnnviz&" in tab.page.url and "p.cnnviz.channel=5" in tab.page.url and "p.cnnviz.step=8" in tab.page.url

    tab.page.reload()
    frame = tab.wait_for_grid(step=8, source=atlas_source(8, probe=2))
    frame.wait_for_selector("dialog.lightbox[open]")
    assert frame.eval_on_selector(".layer[aria-current]", "button => button.dataset.layer") == LAYER
    assert tab.page.url.split("#")[1].startswith("cnnviz&"), "TensorBoard still shows the CNN Viz tab"
    ARTIFACTS.mkdir(exist_ok=True)
    tab.page.screenshot(path=ARTIFACTS / "cnnviz-lightbox.png")

    tab.page.keyboard.press("Escape")
    frame.wait_for_selector("dialog.lightbox:not([open])", state="attached")
    poll(lambda: tab.page.url, lambda url: "p.cnnviz.channel" not in url, timeout=5)
    assert "p.cnnviz.channel" not in tab.page.url
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
    assert shown_activations(frame) == [float(f"{value:.3g}") for value in info["activations"]]
    assert frame.text_content(".title-meta") == f"Filter images · step {last}"

    # The probe picker keeps its selection but has no say; normalization does not apply.
    probe_buttons = "buttons => buttons.map(b => [b.disabled, b.getAttribute('aria-pressed')])"
    assert frame.eval_on_selector_all(".probe", probe_buttons) == [[True, "false"], [True, "false"], [True, "true"]]
    assert frame.is_visible(".probe-note")
    assert frame.is_disabled("input[name='cnnviz-norm'][value='layer']")
    assert "p.cnnviz.probe=2" in tab.page.url and "p.cnnviz.kind=filters" in tab.page.url

    frame.hover(".tile >> nth=3")
    assert frame.text_content(".channel-details") == f"Channel 3reached activation {shown_activations(frame)[3]:g}"

    frame.focus(".tile >> nth=3")  # the View radios would take the arrow keys themselves
    tab.page.keyboard.press("ArrowLeft")
    frame = tab.wait_for_grid(step=last - 1, source=atlas_source(last - 1, run=FILTER_RUN, tag=filters_tag, index=1))
    earlier = fetch_json(plugin_url(server, "info", run=FILTER_RUN, tag=filters_tag, step=last - 1))
    assert drawn_tiles(frame) == served_tiles(server, last - 1, run=FILTER_RUN, tag=filters_tag)
    assert shown_activations(frame) == [float(f"{value:.3g}") for value in earlier["activations"]]
    assert earlier["activations"] != info["activations"], "weights changed, so the reached activations must too"

    frame.click(".tile >> nth=3")
    frame.wait_for_selector("dialog.lightbox[open]")
    assert frame.text_content("dialog.lightbox h2") == f"Layer {LAYER} · Filter images · channel 3 · step {last - 1}"
    assert frame.is_hidden("dialog.lightbox figure"), "filter images come from no probe image"
    ARTIFACTS.mkdir(exist_ok=True)
    tab.page.screenshot(path=ARTIFACTS / "cnnviz-filters-lightbox.png")
    tab.page.keyboard.press("Escape")

    tab.page.screenshot(path=ARTIFACTS / "cnnviz-filters-1400x900.png")
    tab.page.set_viewport_size({"width": 1000, "height": 800})
    tab.page.screenshot(path=ARTIFACTS / "cnnviz-filters-1000x800.png")

    frame.click("label:has(input[name='cnnviz-kind'][value='feature_maps'])")  # back: the probe counts again
    frame = tab.wait_for_grid(source=atlas_source(last - 1, probe=2, run=FILTER_RUN))
    assert drawn_tiles(frame) == served_tiles(server, last - 1, probe=2, run=FILTER_RUN)
    assert not frame.is_disabled(".probe >> nth=0")
    assert frame.query_selector(".tile-caption") is None
    assert tab.console_errors == []
    assert tab.csp_violations() == []


def shown_activations(frame) -> list[float]:
    texts = frame.eval_on_selector_all(".tile-caption", "captions => captions.map(c => c.textContent)")
    return [float(text) for text in texts]


READ_RGB = """canvases => canvases.map(canvas => {
  const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
  return Array.from(data.filter((_, i) => i % 4 !== 3));
})"""
CHART_VALUES = "charts => charts.map(chart => [chart.getAttribute('aria-label'), JSON.parse(chart.dataset.values)])"
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


def downloaded_png(tab, frame, selector: str):
    with tab.page.expect_download() as download:
        frame.click(selector)
    return download.value.suggested_filename, Image.open(download.value.path()).convert("RGB")


def has_colour(image, colour, tolerance: int = 12) -> bool:
    pixels = image.get_flattened_data()
    return any(all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True)) for pixel in pixels)


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
    assert "p.cnnviz.frames=0" in tab.page.url
    assert (
        frame.eval_on_selector_all(".filmstrip .frame canvas", READ_RED_CHANNELS)[-1]
        == served_tiles(server, STEPS - 1)[channel]
    )
    ARTIFACTS.mkdir(exist_ok=True)
    tab.page.screenshot(path=ARTIFACTS / "cnnviz-filmstrip-1400x900.png")

    name, image = downloaded_png(tab, frame, "dialog.lightbox .export")
    assert name == f"cnnviz-{RUN}-{LAYER}-feature_maps-channel{channel}-step{evenly[2]}.png"
    width, height = frame.eval_on_selector(".lightbox-figure", "figure => [figure.scrollWidth, figure.scrollHeight]")
    assert image.size == (2 * (width + 32), 2 * (height + 32)), "the whole figure at twice its size, with a margin"
    assert has_colour(image, CHART_LINE), "the charts are in the export"
    image.save(ARTIFACTS / "cnnviz-export-filmstrip.png")
    tab.page.set_viewport_size({"width": 1000, "height": 800})
    tab.page.screenshot(path=ARTIFACTS / "cnnviz-filmstrip-1000x800.png")
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
    assert scale == f"{-largest:.3g}+{largest:.3g}"

    frame.click(".probe >> nth=1")  # one selection drives every panel
    tab.wait_for_grid(source=atlas_source(step, probe=1))
    frame = tab.wait_for_grid(panel="compared", source=atlas_source(other, probe=1))
    assert drawn_tiles(frame, "compared") == served_tiles(server, other, probe=1)
    ARTIFACTS.mkdir(exist_ok=True)
    tab.page.screenshot(path=ARTIFACTS / "cnnviz-compare-steps-1400x900.png")

    frame.select_option("#cnnviz-compare", "run")  # the same step of another run: run_b stops at step 3
    frame = tab.wait_for_grid(panel="compared", source=atlas_source(FILTER_STEPS - 1, probe=1, run=FILTER_RUN))
    assert drawn_tiles(frame, "compared") == served_tiles(server, FILTER_STEPS - 1, probe=1, run=FILTER_RUN)
    assert (
        frame.text_content(".panel:has(.grid[data-panel=compared]) .panel-title")
        == f"{FILTER_RUN} · step {FILTER_STEPS - 1}"
    )
    assert "p.cnnviz.compare=run" in tab.page.url and f"p.cnnviz.otherRun={FILTER_RUN}" in tab.page.url

    name, image = downloaded_png(tab, frame, ".toolbar .export")
    assert name == f"cnnviz-{RUN}-{LAYER}-feature_maps-step{step}.png"
    width, height = frame.eval_on_selector(".views", "views => [views.scrollWidth, views.scrollHeight]")
    assert image.size == (2 * (width + 32), 2 * (height + 32))
    image.save(ARTIFACTS / "cnnviz-export-compare.png")
    tab.page.set_viewport_size({"width": 1000, "height": 800})
    tab.page.screenshot(path=ARTIFACTS / "cnnviz-compare-runs-1000x800.png")
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
    assert f"p.cnnviz.step={last}" in tab.page.url and "p.cnnviz.speed=8" in tab.page.url
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
    ARTIFACTS.mkdir(exist_ok=True)
    tab.page.screenshot(path=ARTIFACTS / "cnnviz-health-1400x900.png")

    frame.click(f".health-row[data-layer='{LAYER}'] .health-layer")  # a layer's name opens its channels
    frame = tab.wait_for_grid(source=atlas_source(STEPS - 1))
    assert "p.cnnviz.panel" not in tab.page.url

    step = next(step for step, info in enumerate(infos) if dead_positions(info))
    frame = tab.open(f"{server}/#cnnviz&p.cnnviz.layer={LAYER}&p.cnnviz.step={step}")
    tab.wait_for_grid(step=step)
    flagged = frame.eval_on_selector_all(
        ".grid[data-panel=shown] .tile.dead", "tiles => tiles.map(t => Number(t.dataset.position))"
    )
    assert flagged == dead_positions(infos[step])
    tab.page.mouse.move(0, 0)  # no tile hovered: the info bar sums up the layer
    assert f"{len(flagged)} dead" in frame.text_content(".grid[data-panel=shown] .channel-details")
    tab.page.screenshot(path=ARTIFACTS / "cnnviz-dead-channels.png")
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
