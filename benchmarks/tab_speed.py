"""Speed of the CNN Viz tab at the scale of issue 5, in headless Chromium against a real TensorBoard.

Writes a logdir of 3 runs x 12 layers x 100 steps x 64 channels with every kind: feature maps (3
probes), filter images, deconv (each probe's 8 strongest channels) and the dataset's top 9 (every 5
steps), through the real writer functions (each kind module's render + summary.write_blob_sequence; no model
is trained, the pictures are smooth random fields). Rendering is what made writing slow, and pixel
content does not matter for timing, so each layer renders a few variants of each kind once and every
step reuses their PNG bytes (sizes stay those of real atlases); the infos, with their statistics and
channels, differ at every step. Then it starts `tensorboard` and measures:

- first paint: TensorBoard page opened on the tab until the first grid is drawn (wall clock, so it
  includes TensorBoard's own page load);
- step change to the next step (its atlas preloaded) and a jump to a far step (nothing cached), from
  the click or slider input until the grid holds the new step and a frame is painted;
- a filmstrip of all 100 steps of one channel: click on a tile until every frame and chart is drawn;
- the layer health overview of 12 layers x 100 steps, until every chart is drawn.

    python benchmarks/tab_speed.py                    # writes the logdir to a temporary folder
    python benchmarks/tab_speed.py --logdir /tmp/big  # reuses it when it is already there
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the tests' tensorboard fixture

from conftest import fetch_json, poll, tensorboard_server
from machine import summary
from torch.utils.tensorboard import SummaryWriter

from tb_cnnviz import contract
from tb_cnnviz.writer.atlas import png_bytes
from tb_cnnviz.writer.kinds import deconv, feature_maps, filters
from tb_cnnviz.writer.probes import Probes
from tb_cnnviz.writer.summary import write_blob_sequence

RUNS, LAYERS, STEPS, CHANNELS, PROBES = 3, 12, 100, 64, 3
SPATIAL = [32, 32, 16, 16, 16, 8, 8, 8, 8, 4, 4, 4]  # output size per layer, as in a small VGG
FILTER_SIZE = 32
TARGETS_MS = {"first paint": 2000, "next step": 200, "far step": 200, "filmstrip 100 steps": 1000}
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
GRID = ".grid[data-panel=shown]"


def smooth(shape: tuple[int, ...], size: int, generator: torch.Generator) -> torch.Tensor:
    """Random fields that vary like activations do (low frequency), not like noise."""
    coarse = torch.randn(*shape, max(1, size // 4), max(1, size // 4), generator=generator)
    return F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)


VARIANTS = 4  # distinct renderings per layer and kind, reused round-robin over steps and runs
DECONV_CHANNELS = deconv.Deconv.top_channels  # the default
TOP_EVERY = deconv.Deconv.dataset_every  # the default
INPUT = 32  # probe and dataset image size


def field_size(layer: int) -> int:
    """Receptive-field size of a layer in a small VGG: grows with depth, capped at the input."""
    return min(INPUT, 3 + 4 * layer)


def layer_variants(index: int, size: int, generator: torch.Generator) -> list[dict[str, tuple[dict, list[bytes]]]]:
    """VARIANTS renderings of every kind of one layer: {kind: (info, blobs)}."""
    name, channels, field = f"features.{index}", list(range(CHANNELS)), field_size(index)
    variants = []
    for _ in range(VARIANTS):
        maps = smooth((PROBES, CHANNELS), size, generator) - 0.3
        images = torch.sigmoid(smooth((CHANNELS, 1), FILTER_SIZE, generator))
        reached = torch.rand(CHANNELS, generator=generator)
        table = torch.stack([torch.randperm(CHANNELS, generator=generator)[:DECONV_CHANNELS] for _ in range(PROBES)])
        projections = smooth((PROBES * DECONV_CHANNELS, 1), INPUT, generator).reshape(
            PROBES, DECONV_CHANNELS, 1, INPUT, INPUT
        )
        starts = torch.randint(-field // 2, INPUT - field // 2, (PROBES, DECONV_CHANNELS, 2), generator=generator)
        boxes = torch.cat([starts.clamp(0, INPUT), (starts + field).clamp(0, INPUT)], dim=-1)
        activations = torch.rand(PROBES, DECONV_CHANNELS, generator=generator) * 3
        patches = torch.rand(CHANNELS, 9, 1, field, field, generator=generator)
        top_projections = smooth((CHANNELS * 9, 1), field, generator).reshape(CHANNELS, 9, 1, field, field)
        values = torch.rand(CHANNELS, 9, generator=generator).sort(dim=1, descending=True).values
        indices = torch.randint(0, 10_000, (CHANNELS, 9), generator=generator)
        rendered = {
            feature_maps.NAME: feature_maps.render(name, maps, channels, 64),
            filters.NAME: filters.render(name, images, reached, channels),
            deconv.NAME: deconv.render(
                name, "deconvnet", projections, table, activations, boxes, starts, (field, field)
            ),
            deconv.TOP: deconv.render_top(name, channels, values, indices, patches, top_projections),
        }
        variants.append({kind: (info, [png_bytes(picture) for picture in pictures])
                         for kind, (info, pictures) in rendered.items()})  # fmt: skip
    return variants


def at_step(kind: str, info: dict, step: int, generator: torch.Generator) -> dict:
    """A variant's info with the numbers of this step, so charts and captions change along training."""
    info = json.loads(json.dumps(info))
    if kind == feature_maps.NAME:
        drift = 0.01 * step
        info["stats"]["mean"] = [[value + drift for value in row] for row in info["stats"]["mean"]]
        info["stats"]["max"] = [[value + drift for value in row] for row in info["stats"]["max"]]
        for chart in ("mean", "max"):
            info["series"][chart] = [value + drift for value in info["series"][chart]]
    elif kind == filters.NAME:
        info["activations"] = [value * (1 + step / 10) for value in info["activations"]]
        info["series"]["activation"] = info["activations"]
    elif kind == deconv.NAME:  # each probe's strongest channels change from step to step
        info["channels"] = [
            torch.randperm(CHANNELS, generator=generator)[:DECONV_CHANNELS].tolist() for _ in range(PROBES)
        ]
    return info


def fast_event_checksums() -> None:
    """Event files carry a CRC32C per record, which TensorBoard's writer computes in pure Python: most
    of the writing time at this scale. google_crc32c's C code gives the same checksums, when installed."""
    try:
        import google_crc32c
    except ImportError:
        return
    from tensorboard.summary.writer import record_writer

    def masked_crc32c(data: bytes) -> int:
        crc = google_crc32c.value(bytes(data))
        return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF  # TFRecord's masking

    record_writer.masked_crc32c = masked_crc32c


def write_logdir(logdir: Path) -> None:
    fast_event_checksums()
    generator = torch.Generator().manual_seed(0)
    variants = [layer_variants(index, size, generator) for index, size in enumerate(SPATIAL)]
    for run in range(RUNS):
        writer = SummaryWriter(log_dir=str(logdir / f"run_{run}"))
        probes = torch.rand(PROBES, 1, INPUT, INPUT, generator=generator)
        record = Probes(nn.Identity(), probes, [f"probe {i}" for i in range(PROBES)], None, None, None).record()
        blobs = [png_bytes(picture) for picture in record.pictures]
        write_blob_sequence(
            writer, contract.PROBES_TAG, record.info, blobs, 0, count=PROBES, labels=record.info["labels"]
        )
        for step in range(STEPS):
            for index, size in enumerate(SPATIAL):
                name = f"features.{index}"
                content = {"layer": name, "layer_index": index, "layer_type": "Conv2d", "shape": [CHANNELS, size, size]}
                rendered = variants[index][(run + step) % VARIANTS]
                for kind, (info, blobs) in rendered.items():
                    if kind == deconv.TOP and step % TOP_EVERY:
                        continue
                    tag = contract.layer_tag(name, kind)
                    write_blob_sequence(writer, tag, at_step(kind, info, step, generator), blobs, step, **content)
        writer.close()


STEP_CHANGE = """async ({ grid, jump }) => {
  const shown = document.querySelector(grid);
  const before = shown.dataset.step;
  const changed = new Promise((resolve) => {
    const observer = new MutationObserver(() => {
      if (shown.dataset.step !== before) {
        observer.disconnect();
        resolve();
      }
    });
    observer.observe(shown, { attributes: true, attributeFilter: ["data-step"] });
  });
  const start = performance.now();
  if (jump === null) {
    document.querySelector("[aria-label='Next step']").click();
  } else {
    const slider = document.querySelector("#cnnviz-step");
    slider.value = String(jump);
    slider.dispatchEvent(new Event("input"));
  }
  await changed;
  await new Promise(requestAnimationFrame);
  return performance.now() - start;
}"""


def step_change_ms(frame, jump: int | None = None) -> float:
    """Milliseconds from a click on Next (or a slider move to index `jump`) until the new step is painted."""
    return frame.evaluate(STEP_CHANGE, {"grid": GRID, "jump": jump})


RESOURCES = """() => performance.getEntriesByType("resource").map((entry) => [
  entry.name.replace(/^.*\\/plugin\\/cnnviz\\//, ""), entry.startTime, entry.responseEnd,
])"""
first_paint_requests: list = []  # [url, start ms, end ms] in the tab's iframe, relative to its navigation


def measure(base: str, browser) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {name: [] for name in [*TARGETS_MS, "layer health (12 layers)"]}
    for _ in range(3):
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        start = time.perf_counter()
        page.goto(f"{base}/#cnnviz&p.cnnviz.layer=features.0")
        frame = page.wait_for_selector("iframe[src*='plugin_entry.html?name=cnnviz']").content_frame()
        frame.wait_for_selector(f"{GRID}[data-source]", timeout=60_000)
        figures["first paint"].append((time.perf_counter() - start) * 1000)
        if not first_paint_requests:  # what the tab asked for before it painted (first, cold load)
            first_paint_requests.extend(frame.evaluate(RESOURCES))
        page.close()

    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{base}/#cnnviz&p.cnnviz.layer=features.5&p.cnnviz.step=0&p.cnnviz.frames=0")
    frame = page.wait_for_selector("iframe[src*='plugin_entry.html?name=cnnviz']").content_frame()
    frame.wait_for_selector(f"{GRID}[data-source]", timeout=60_000)
    for _ in range(10):
        page.wait_for_timeout(300)  # the neighbours preload, as they do while someone looks at a step
        figures["next step"].append(step_change_ms(frame))
    for target in [90, 20, 70, 40, 95, 15, 60, 30, 80, 50]:
        figures["far step"].append(step_change_ms(frame, target))

    start = time.perf_counter()
    frame.click(f"{GRID} .tile >> nth=5")
    frame.wait_for_selector(".filmstrip[data-ready]", timeout=60_000)
    figures["filmstrip 100 steps"].append((time.perf_counter() - start) * 1000)
    assert frame.eval_on_selector_all(".filmstrip-frames [data-step]", "items => items.length") == STEPS
    page.keyboard.press("Escape")

    start = time.perf_counter()
    frame.click("label:has(input[value=health])")
    frame.wait_for_selector(".health[data-ready]", timeout=120_000)
    figures["layer health (12 layers)"].append((time.perf_counter() - start) * 1000)
    page.close()
    return figures


def _steps(url: str) -> list:
    try:
        return fetch_json(url)["steps"]
    except OSError:
        return []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", type=Path, help="where the logdir is written (or reused)")
    args = parser.parse_args()
    logdir = args.logdir or Path(tempfile.mkdtemp(prefix="cnnviz-tab-speed-"))
    if not any(logdir.glob("run_*/events.*")):
        start = time.perf_counter()
        write_logdir(logdir)
        print(f"wrote {logdir} in {time.perf_counter() - start:.0f} s")

    from playwright.sync_api import sync_playwright

    with tensorboard_server(logdir) as base, sync_playwright() as playwright:
        last = f"{base}/data/plugin/cnnviz/steps?run=run_{RUNS - 1}&tag=features.{LAYERS - 1}/deconv"
        poll(lambda: _steps(last), lambda steps: len(steps) == STEPS, timeout=300)  # TensorBoard has read it all
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        figures = measure(base, browser)
        browser.close()

    print("\nrequests of the tab before its first paint (ms since the iframe's navigation):")
    for url, begin, end in first_paint_requests:
        print(f"  {begin:7.0f} .. {end:7.0f}  {url}")
    print(f"\nCNN Viz tab, {RUNS} runs x {LAYERS} layers x {STEPS} steps x {CHANNELS} channels, every kind")
    print(summary(chromium=subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout.strip()))
    print(f"\n{'measure':<26} {'median ms':>10} {'max ms':>8} {'target ms':>10}  n")
    for name, values in figures.items():
        target = TARGETS_MS.get(name)
        print(
            f"{name:<26} {statistics.median(values):>10.0f} {max(values):>8.0f} "
            f"{(str(target) if target else '-'):>10}  {len(values)}"
        )


if __name__ == "__main__":
    main()
