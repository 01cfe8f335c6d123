"""The CNN Viz tab in headless Chromium, inside a real `tensorboard` process, on a logdir from the real callback.

Needs Debian's Chromium at /usr/bin/chromium (Playwright cannot download browsers here).
Screenshots land in tests/artifacts/ for people to look at.
"""

from __future__ import annotations

import io
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

    def wait_for_grid(self, **expected):
        """The tab's frame once its grid shows a drawn atlas (and data-* attributes equal to `expected`)."""
        frame = self.frame
        selector = ".grid[data-source]" + "".join(f'[data-{key}="{value}"]' for key, value in expected.items())
        frame.wait_for_selector(selector, timeout=30_000)
        return frame

    def grid(self, frame) -> dict:
        return frame.eval_on_selector(".grid", "grid => ({ ...grid.dataset })")

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


def drawn_tiles(frame) -> list[list[int]]:
    """Each tile canvas's pixels as drawn (red channel: grey colormap, so equal to the atlas value)."""
    return frame.eval_on_selector_all(
        ".tile canvas",
        """canvases => canvases.map(canvas => {
             const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
             return Array.from(data.filter((_, i) => i % 4 === 0));
           })""",
    )


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
