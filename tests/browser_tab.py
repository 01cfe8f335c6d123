"""The CNN Viz tab in headless Chromium: the browser and page fixtures, the Tab page helper, and what the
browser tests read from the page (drawn tiles, texts, charts) or from the plugin (served atlases).

Browser tests take their fixtures from here (`browser, tab = browser_tab.browser, browser_tab.tab`):
pytest finds fixtures by name in the test module. Numbers are compared with what the tab's own
formatter (frontend/format.js) writes, loaded in the page, never with a Python re-implementation.
"""

from __future__ import annotations

import io
import urllib.parse
from pathlib import Path

import pytest
from conftest import fetch, plugin_url
from PIL import Image
from playwright import sync_api

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
TAB_IFRAME = "iframe[src*='plugin_entry.html?name=cnnviz']"

# Runs in every frame before the page's scripts: collects CSP violations, which Chromium reports as
# events (and not always as console errors).
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI}`);
});
"""

# Calls a function of the tab's own frontend/format.js (served beside the tab's other modules) in its frame.
CALL_FORMAT = """async ([name, values]) => {
  const format = await import(new URL("static/format.js", document.baseURI).href);
  return values.map((value) => format[name](value));
}"""

READ_RED_CHANNELS = """canvases => canvases.map(canvas => {
  const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
  return Array.from(data.filter((_, i) => i % 4 === 0));
})"""
READ_RGB = """canvases => canvases.map(canvas => {
  const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
  return Array.from(data.filter((_, i) => i % 4 !== 3));
})"""
READ_RGBA = """canvases => canvases.map(canvas => {
  const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
  return Array.from(data);
})"""
TEXTS = "nodes => nodes.map(node => node.textContent)"
CHART_VALUES = "charts => charts.map(chart => [chart.getAttribute('aria-label'), JSON.parse(chart.dataset.values)])"


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"No Chromium at {CHROMIUM}: the browser tests are required. Install Debian's chromium "
            "(apt-get install chromium); Playwright cannot download its own browsers here."
        )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def tab(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_init_script(RECORD_CSP_VIOLATIONS)
    yield Tab(context.new_page())
    context.close()


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
    def url(self) -> str:
        """TensorBoard's URL as the page has it now. Playwright's page.url can miss a history.replaceState
        that the tab's iframe makes on its parent (seen: a stale URL for 10 s after the write)."""
        return self.page.evaluate("() => location.href")

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

    def formatted(self, name: str, values: list[float]) -> list[str]:
        """`values` as the tab writes them with format.js's `name` (formatNumber, formatPercent)."""
        return self.frame.evaluate(CALL_FORMAT, [name, list(values)])

    def format_number(self, value: float) -> str:
        return self.formatted("formatNumber", [value])[0]

    def format_percent(self, fraction: float) -> str:
        return self.formatted("formatPercent", [fraction])[0]

    def keep_screenshot(self, name: str) -> None:
        """Save what the page shows as tests/artifacts/<name>.png, for people to look at."""
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=ARTIFACTS / f"{name}.png")

    def keep_screenshots_at_both_sizes(self, name: str) -> None:
        """Screenshots at 1400x900 and at 1000x800 (the narrow width the tab must stay usable at)."""
        self.keep_screenshot(f"{name}-1400x900")
        self.page.set_viewport_size({"width": 1000, "height": 800})
        self.keep_screenshot(f"{name}-1000x800")

    def csp_violations(self) -> list[str]:
        recorded = [frame.evaluate("window.__cspViolations") for frame in (self.page.main_frame, self.frame)]
        assert None not in recorded, "the violation recorder must run in TensorBoard's page and in the tab's frame"
        return [violation for violations in recorded for violation in violations]

    def assert_clean(self) -> None:
        """No console error, no uncaught exception, no CSP violation so far."""
        assert self.console_errors == []
        assert self.csp_violations() == []


def image_source(run: str, tag: str, step: int, index: int) -> str:
    """The relative image URL the tab draws an atlas from (a grid's or top patches' data-source)."""
    return "./image?" + urllib.parse.urlencode({"run": run, "tag": tag, "step": step, "index": index})


def served_image(base: str, run: str, tag: str, step: int, index: int) -> Image.Image:
    status, _, png = fetch(plugin_url(base, "image", run=run, tag=tag, step=step, index=index))
    assert status == 200
    return Image.open(io.BytesIO(png))


def atlas_tiles(atlas: Image.Image, tile: list[int], grid: list[int], count: int) -> list[list[int]]:
    """The first `count` tiles of an atlas laid out as `tile` ([h, w]) and `grid` ([rows, columns]), row-major."""
    (height, width), columns = tile, grid[1]
    tiles = []
    for position in range(count):
        x, y = position % columns * width, position // columns * height
        tiles.append(list(atlas.crop((x, y, x + width, y + height)).tobytes()))
    return tiles


def drawn_tiles(frame, panel: str = "shown") -> list[list[int]]:
    """Each tile canvas's pixels as drawn (red channel: grey colormap, so equal to the atlas value)."""
    return frame.eval_on_selector_all(f".grid[data-panel={panel}] .tile canvas.tile-picture", READ_RED_CHANNELS)


def drawn_rgb_tiles(frame, panel: str = "shown") -> list[list[int]]:
    return frame.eval_on_selector_all(f".grid[data-panel={panel}] .tile canvas.tile-picture", READ_RGB)


def texts(frame, selector: str) -> list[str]:
    return frame.eval_on_selector_all(selector, TEXTS)


def downloaded_png(tab: Tab, frame, selector: str):
    with tab.page.expect_download() as download:
        frame.click(selector)
    return download.value.suggested_filename, Image.open(download.value.path()).convert("RGB")


def has_colour(image, colour, tolerance: int = 12) -> bool:
    pixels = image.get_flattened_data()
    return any(all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True)) for pixel in pixels)
