"""A run with training dynamics for the plugin and browser tests: the real callback's feature maps of small_cnn,
and beside them dynamics infos in exactly spec14's layout written through the real writer pipeline
(BackgroundWriter + Record), with chosen numbers so the settled steps are known."""

from __future__ import annotations

from pathlib import Path

from conftest import write_training_logdir

from tb_cnnviz.writer.background import BackgroundWriter
from tb_cnnviz.writer.record import Record, new_info

STEPS = 5
THRESHOLD = 0.05
# Per layer of small_cnn ("0": 8 channels, "4": 16): its content and cka_previous per step.
LAYERS = {
    "0": (
        {"layer": "0", "layer_index": 0, "layer_type": "Conv2d", "shape": [8, 28, 28]},
        [None, 0.7, 0.96, 0.98, 0.99],
    ),
    "4": ({"layer": "4", "layer_index": 1, "layer_type": "Conv2d", "shape": [16, 14, 14]}, [None, 0.5, 0.8, 0.99, 0.7]),
}
SETTLED = {"0": 2, "4": None}  # 1 - cka_previous stays below THRESHOLD from step 2 on in "0", never in "4"
UNREADABLE = ("4/dynamics", 2)  # this step's info has a scalar that is no number: skipped, a gap in the heat map
SIMILARITY = {0: 0.6, 2: 0.4, 4: 0.3}  # layer "0"'s filter-image similarity at the steps it is logged


def drift(channel: int, step: int) -> float | None:
    """A channel's drift at a step: None at the first log (no previous one) and for channel 2 at step 3."""
    if step == 0 or (channel == 2 and step == 3):
        return None
    return ((channel * 7 + step * 3) % 10) / 20


def dynamics_info(layer: str, step: int) -> dict:
    content, cka_previous = LAYERS[layer]
    channels = list(range(content["shape"][0]))
    drifts = [drift(channel, step) for channel in channels]
    known = sorted(value for value in drifts if value is not None)
    scalars = {
        "cka_previous": cka_previous[step],
        "cka_first": 1.0 - 0.1 * step,
        "dead_fraction": step / 20,
        "drift": known[len(known) // 2] if known else None,
    }
    if (f"{layer}/dynamics", step) == UNREADABLE:
        scalars["drift"] = "large"
    return new_info(
        "dynamics",
        layer=layer,
        channels=channels,
        series={"drift": drifts},
        scalars=scalars,
        samples=64,
        projection=32,
        settle_threshold=THRESHOLD,
    )


def write_dynamics_run(run_dir: Path) -> None:
    """`run_dir` with STEPS steps of feature maps (real callback) and of dynamics (and filter similarity)."""
    write_training_logdir(run_dir, steps=STEPS)
    sink = BackgroundWriter.open(None, str(run_dir), blocking=True)
    for step in range(STEPS):
        for layer, (content, _) in LAYERS.items():
            sink.write(f"{layer}/dynamics", Record(dynamics_info(layer, step), []), step, content)
        if step in SIMILARITY:
            info = new_info("filters", channels=[0, 1], series={}, scalars={"similarity": SIMILARITY[step]})
            sink.write("0/filters", Record(info, []), step, LAYERS["0"][0])
        sink.end_step()
    sink.close(close_writer=True)
