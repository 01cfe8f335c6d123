"""Receptive fields: measured values equal the conv/pool arithmetic; crops keep strides and borders exact."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from tb_cnnviz import deconvnet, receptive_field
from tb_cnnviz.methods.receptive_field import AxisField, ReceptiveField


@pytest.fixture(scope="module")
def vgg11_features() -> nn.Module:
    """vgg11 without its classifier (130M parameters that only slow the set-up; fields stop at features)."""
    model = torchvision.models.vgg11()
    model.classifier = nn.Identity()
    return model


@pytest.mark.parametrize(
    ("layer", "expected"),
    [
        # size, jump, offset by hand: conv3 p1 -> (3, 1, -1); pool2 -> (4, 2, -1); conv3 p1 -> (8, 2, -3);
        # pool2 -> (10, 4, -3); conv3 p1 -> (18, 4, -7); conv3 p1 -> (26, 4, -11).
        ("features.0", AxisField(3, 1, -1)),
        ("features.2", AxisField(4, 2, -1)),
        ("features.8", AxisField(26, 4, -11)),
    ],
)
def test_vgg11_fields_equal_the_arithmetic(vgg11_features, layer, expected):
    field = receptive_field(vgg11_features, layer, (128, 128))
    assert field == ReceptiveField(128, 128, expected, expected)


def test_resnet18_fields_equal_the_arithmetic():
    model = torchvision.models.resnet18()
    # conv1 7x7 s2 p3 -> (7, 2, -3); maxpool 3 s2 p1 -> (11, 4, -5); a 3x3 conv -> (19, 4, -9).
    assert receptive_field(model, "conv1", (64, 64)).rows == AxisField(7, 2, -3)
    assert receptive_field(model, "maxpool", (64, 64)).cols == AxisField(11, 4, -5)
    assert receptive_field(model, "layer1.0.conv1", (64, 64)).rows == AxisField(19, 4, -9)


def test_rows_and_cols_are_measured_separately():
    net = nn.Sequential(nn.Conv2d(1, 4, (3, 5), stride=(1, 2), padding=(0, 2)), nn.ReLU(), nn.Conv2d(4, 4, 3))
    field = receptive_field(net, "2", (40, 50), in_channels=1)
    assert field.rows == AxisField(5, 1, 0)  # 3 then 3 more at jump 1
    assert field.cols == AxisField(9, 2, -2)  # 5 at jump 2 (offset -2), then 3 units of jump 2: 5 + 2 * 2


@pytest.mark.parametrize(
    ("architecture", "layer"),
    [("mobilenet_v3_small", "features.1.block.2.0"), ("efficientnet_b0", "features.1.0.block.2.0")],
)
def test_after_squeeze_and_excitation_the_field_is_the_whole_image(architecture, layer):
    field = receptive_field(getattr(torchvision.models, architecture)(), layer, (64, 64))
    assert field.rows is None and field.cols is None
    assert field.window_size == (64, 64)


class GlobalMaxShortcut(nn.Module):
    """A detached global max added to a local conv: no gradient shows it, yet the unit sees the whole image."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.out = nn.Identity()

    def forward(self, x):
        y = self.conv(x)
        return self.out(y + y.amax(dim=(2, 3), keepdim=True).detach())


def test_a_dependence_the_gradient_probe_misses_is_caught_by_the_forward_check():
    field = receptive_field(GlobalMaxShortcut(), "out", (32, 32))
    assert field.rows is None and field.cols is None


def test_windows_are_aligned_hold_the_field_and_stay_in_the_image():
    field = ReceptiveField(37, 53, AxisField(26, 4, -11), AxisField(11, 3, -5))
    rows, cols = torch.meshgrid(torch.arange(10), torch.arange(18), indexing="ij")
    positions = torch.stack([rows.flatten(), cols.flatten()], dim=1)
    starts = field.window_starts(positions)
    size = torch.tensor(field.window_size)
    boxes = field.boxes(positions)
    assert (starts % torch.tensor(field.jumps) == 0).all()
    assert (starts >= 0).all() and (starts + size <= torch.tensor([37, 53])).all()
    assert (boxes[:, :2] >= starts).all() and (boxes[:, 2:] <= starts + size).all()


class AwkwardGeometry(nn.Module):
    """Odd kernels and paddings, ceil-mode pooling, a dilated conv and a residual addition."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5, stride=2, padding=2)
        self.pool = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = nn.Conv2d(6, 6, 3, padding=2, dilation=2)
        self.conv3 = nn.Conv2d(6, 5, 3, padding=1)

    def forward(self, x):
        x = self.pool(torch.relu(self.conv1(x)))
        return self.conv3(torch.relu(self.conv2(x)) + x)


@pytest.mark.parametrize("rule", ["deconvnet", "guided"])
def test_crops_equal_whole_images_with_awkward_geometry(rule):
    torch.manual_seed(0)
    net = AwkwardGeometry()
    images = torch.randn(4, 3, 61, 70)
    cropped = deconvnet(net, images, "conv3", rule=rule)
    assert cropped.receptive_field.window_size < (61, 70)  # crops were really used
    whole = deconvnet(net, images, "conv3", rule=rule, crop=False)
    torch.testing.assert_close(cropped.projections, whole.projections, rtol=0, atol=1e-6)
