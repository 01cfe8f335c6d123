"""Filter images at the callback's defaults reach what the probes show a channel can reach.

On the briefly trained demo model (real Fashion-MNIST), at Filters()'s defaults (32 steps, fitted size,
Adam lr 0.5): every channel whose mean activation is positive on some probe (the quantity a filter image
maximizes) reaches a positive mean activation on its own filter image. At the old lr 1.0 (28 px) conv3
ended 9 of 64 images non-positive, one of them such a channel: Adam's first steps overshot (activations
fell from -0.4 to -2.1 in 4 steps) and left half the pixels in the sigmoid's flat tails. The few left
non-positive are channels no probe drives positive on average: localized detectors whose units at the
border see the padding; 512 steps leave them negative too (the spatial-mean objective, not the steps).
"""

from __future__ import annotations

import json

import pytest
import torch

from demo_training.data import PIXEL_MEAN, PIXEL_STD
from tb_cnnviz import CNNVizCallback, Filters
from tb_cnnviz.methods.capture import feature_maps
from tb_cnnviz.writer.kinds.filters import fitted_size
from tests.conftest import read_cnnviz_events
from tests.trained_demo import trained_fashion_cnn

LAYERS = ["features.conv2", "features.conv3"]


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    model, probes = trained_fashion_cnn()
    run = tmp_path_factory.mktemp("filters")
    with CNNVizCallback(model, probes, log_dir=str(run), layers=LAYERS, kinds=[Filters()],
                        input_mean=[PIXEL_MEAN], input_std=[PIXEL_STD]) as viz:  # fmt: skip
        viz.log(0)
    return model, probes, read_cnnviz_events(run)


@pytest.mark.parametrize("layer", LAYERS)
def test_every_channel_alive_on_the_probes_reaches_a_positive_activation_at_the_defaults(logged, layer):
    model, probes, events = logged
    info = json.loads(events[f"{layer}/filters"][0][0])
    reached = torch.tensor(info["activations"])
    alive = feature_maps(model, probes, [layer])[layer].mean(dim=(2, 3)).amax(dim=0) > 0
    assert alive[info["channels"]].sum() >= 30, "the test needs channels the probes drive"
    pairs = zip(info["channels"], reached, strict=True)
    missed = [channel for channel, value in pairs if alive[channel] and value <= 0]
    assert not missed, f"{layer}: channels {missed} are alive on the probes but their filter images end non-positive"
    if layer == "features.conv3":
        assert int((reached <= 0).sum()) <= 6, "lr 1.0 left 8-9 of conv3's 64 images non-positive, lr 0.5 leaves 5"


def test_filter_images_are_sized_to_the_layer(logged):
    _, _, events = logged
    # conv3's units see 18 px (rounded up to 24); conv2's see 10 px (at least 16).
    assert json.loads(events["features.conv3/filters"][0][0])["tile"] == [24, 24]
    assert json.loads(events["features.conv2/filters"][0][0])["tile"] == [16, 16]


def test_fitted_sizes_round_up_to_8_within_16_and_the_probes_size():
    assert fitted_size((7, 7), (32, 32)) == (16, 16)
    assert fitted_size((18, 43), (32, 32)) == (24, 32)
    assert fitted_size((100, 100), (224, 224)) == (104, 104)
    assert fitted_size((3, 3), (12, 12)) == (12, 12)
