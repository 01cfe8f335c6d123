"""Filter images at the callback's defaults reach a positive activation for every channel real images drive.

On the briefly trained demo model (real Fashion-MNIST), at Filters()'s defaults (32 steps, fitted size,
Adam lr 0.5, the centre-unit objective): every channel that some real test image drives clearly above
zero at some unit reaches a positive value on its own filter image. With the channel-mean objective, 5 of
conv3's 64 ended below zero at 24 px (and 512 steps leave them there): their mean is negative on every
real image, most of a 24-px image's 6x6 units see the padding, and no image found made it positive;
their centre units all reach positive values. A tile that still ends at or below zero is flagged in the tab.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from demo_training.data import PIXEL_MEAN, PIXEL_STD, load_split
from tb_cnnviz import CNNVizCallback, Filters, maximize_filters
from tb_cnnviz.methods.capture import feature_maps
from tb_cnnviz.writer.kinds.filters import fitted_size, render
from tests.conftest import read_cnnviz_events
from tests.trained_demo import trained_fashion_cnn

LAYERS = ["features.conv2", "features.conv3"]
FILTERS_JS = Path(__file__).resolve().parent.parent / "frontend" / "kinds" / "filters.js"
TEST_IMAGES = 1000


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    model, probes = trained_fashion_cnn()
    run = tmp_path_factory.mktemp("filters")
    with CNNVizCallback(model, probes, log_dir=str(run), layers=LAYERS, kinds=[Filters()],
                        input_mean=[PIXEL_MEAN], input_std=[PIXEL_STD]) as viz:  # fmt: skip
        viz.log(0)
    return model, probes, read_cnnviz_events(run)


def alive_on_real_images(model, layer: str) -> torch.Tensor:
    """(C,) whether some unit of each channel exceeds 1% of the layer's largest on the first 1000 test images.

    The margin leaves out channels that are all but dead: conv2's channel 11 peaks at 0.037 on them (the
    layer's largest: 5.7) and its filter image ends at -0.29 at 32 steps, +0.02 at 128; the tab flags it.
    """
    images = load_split("test").subset(TEST_IMAGES).images
    with torch.no_grad():
        peaks = [
            feature_maps(model, images[i : i + 250], [layer])[layer].amax(dim=(0, 2, 3))
            for i in range(0, TEST_IMAGES, 250)
        ]
    peak = torch.stack(peaks).amax(dim=0)
    return peak > 0.01 * peak.max()


@pytest.mark.parametrize("layer", LAYERS)
def test_every_channel_alive_on_real_images_reaches_a_positive_activation_at_the_defaults(logged, layer):
    model, _, events = logged
    info = json.loads(events[f"{layer}/filters"][0][0])
    alive = alive_on_real_images(model, layer)
    assert alive[info["channels"]].sum() >= 30, "the test needs channels real images drive"
    pairs = zip(info["channels"], info["activations"], strict=True)
    missed = [(channel, value) for channel, value in pairs if alive[channel] and value <= 0]
    assert not missed, f"{layer}: channels alive on real images whose filter images end non-positive: {missed}"


def flags(info: dict) -> list:
    """frontend/kinds/filters.js's flag for every tile of `info`, as node evaluates it."""
    node = shutil.which("node") or pytest.fail("node is needed for the frontend's checks: apt-get install nodejs")
    script = """
const { default: kind } = await import(process.argv[1]);
const info = JSON.parse(process.argv[2]);
console.log(JSON.stringify(info.channels.map((_, position) => kind.flag(info, 0, position))));
"""
    done = subprocess.run([node, "--input-type=module", "-e", script, FILTERS_JS.as_uri(), json.dumps(info)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_tab_flags_exactly_the_filter_images_that_end_non_positive(logged):
    """The channel-mean objective leaves some of conv3's images below zero: the tab marks those, and only those."""
    model, _, _ = logged
    result = maximize_filters(model, "features.conv3", size=24, steps=32, lr=0.5, max_channels=None,
                              input_mean=[PIXEL_MEAN], input_std=[PIXEL_STD], objective="mean")  # fmt: skip
    info, _ = render("features.conv3", result.images, result.activations, result.channels)
    below = [position for position, value in enumerate(info["activations"]) if value <= 0]
    assert below, "the case needs images that end non-positive"
    flagged = [position for position, flag in enumerate(flags(info)) if flag]
    assert flagged == below
    assert flags(info)[below[0]] == {"text": "not reached", "why": "optimization ended at activation <= 0"}


def test_the_defaults_blur_away_one_pixel_speckle_and_keep_most_of_the_activation(logged):
    """Without blur, conv3's images are blobs sprinkled with single pixels: twice the mean |Laplacian|."""
    model, _, _ = logged
    defaults = Filters()
    settings = {"size": 24, "steps": defaults.steps, "lr": defaults.lr, "objective": defaults.objective}
    settings |= {"max_channels": None, "input_mean": [PIXEL_MEAN], "input_std": [PIXEL_STD]}
    sharp = maximize_filters(model, "features.conv3", blur=0.0, **settings)
    smooth = maximize_filters(model, "features.conv3", blur=defaults.blur, **settings)
    laplacian = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]).view(1, 1, 3, 3)
    detail = [float(F.conv2d(result.images, laplacian).abs().mean()) for result in (sharp, smooth)]
    assert detail[1] < 0.6 * detail[0], detail
    assert smooth.activations.mean() > 0.8 * sharp.activations.mean()
    assert smooth.activations.min() > 0


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
