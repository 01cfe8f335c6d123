"""Runs with training dynamics for the plugin and browser tests.

write_demo_dynamics_run: the real callback (feature maps, dynamics) on a few short epochs of the demo model
training on Fashion-MNIST. write_dynamics_run: infos in the dynamics kind's layout with chosen numbers
(known settled steps, an unreadable step, filter similarity), written through the real writer pipeline
(BackgroundWriter + Record) beside the real callback's feature maps of small_cnn.
"""

from __future__ import annotations

from pathlib import Path

import torch
from conftest import write_training_logdir

from tb_cnnviz import contract
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


def dynamics_info(layer: str, step: int, layers: dict = LAYERS) -> dict:
    content, cka_previous = layers[layer]
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


def write_dynamics_records(run_dir: Path, layers: dict = LAYERS, similarity_layer: str = "0") -> None:
    """Dynamics infos of `layers` ({name: (content, cka_previous per step)}) at steps 0..STEPS-1, and filter
    similarity of `similarity_layer` (a plain name), through the real writer pipeline."""
    sink = BackgroundWriter.open(None, str(run_dir), blocking=True)
    for step in range(STEPS):
        for layer, (content, _) in layers.items():
            sink.write(
                f"{contract.tag_name(layer)}/dynamics", Record(dynamics_info(layer, step, layers), []), step, content
            )
        if step in SIMILARITY:  # filter images of `similarity_layer`, numbers only
            info = new_info("filters", channels=[0, 1], series={}, scalars={"similarity": SIMILARITY[step]})
            sink.write(f"{similarity_layer}/filters", Record(info, []), step, layers[similarity_layer][0])
        sink.end_step()
    sink.close(close_writer=True)


def write_dynamics_run(run_dir: Path) -> None:
    """`run_dir` with STEPS steps of feature maps (real callback) and of dynamics (and filter similarity)."""
    write_training_logdir(run_dir, steps=STEPS)
    write_dynamics_records(run_dir)


DEMO_EPOCHS = 4
DEMO_IMAGES, DEMO_BATCH, DEMO_BATCHES = 2000, 64, 8  # per epoch: 8 batches of 64 of the first 2,000 images


def write_demo_dynamics_run(run_dir: Path, kinds: tuple[str, ...] = ("feature_maps", "dynamics")) -> None:
    """`run_dir` as the demo leaves it after DEMO_EPOCHS short epochs, logging `kinds` after each."""
    from demo_training.data import batch_count, load_split
    from demo_training.train import demo_callback, make_model, make_optimizer, train_epoch

    train, test = load_split("train").subset(DEMO_IMAGES), load_split("test")
    with torch.random.fork_rng(devices=[]):
        model = make_model(seed=0)
        optimizer, scheduler = make_optimizer(model, DEMO_EPOCHS * batch_count(train, DEMO_BATCH, DEMO_BATCHES))
        with demo_callback(model, test, kinds, log_dir=str(run_dir)) as viz:
            for epoch in range(DEMO_EPOCHS):
                train_epoch(
                    model, train, optimizer, scheduler, epoch=epoch, batch_size=DEMO_BATCH, seed=0, viz=viz,
                    max_batches=DEMO_BATCHES, progress=False,
                )  # fmt: skip
