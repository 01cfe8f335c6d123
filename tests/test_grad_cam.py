"""grad_cam equals its definition; overlays and activation maps are what they say."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import small_cnn
from torch import nn

import tb_cnnviz
from tb_cnnviz.methods.activation_map import activation_map
from tb_cnnviz.methods.grad_cam import grad_cam
from tb_cnnviz.methods.overlays import heat_colors, overlay


def hand_built_model() -> nn.Sequential:
    """conv - ReLU - conv - ReLU(inplace) - flatten - linear: the head gives every position its own gradient."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(4, 6, 3, stride=2, padding=1),
        nn.ReLU(inplace=True),
        nn.Flatten(),
        nn.Linear(6 * 5 * 5, 3),
    )


def grad_cam_by_hand(model: nn.Sequential, images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """The definition written out: A = second conv's output, w_k = mean of dy_c/dA_k, ReLU(sum_k w_k A_k) / max."""
    first, second, linear = model[0], model[2], model[5]
    maps = F.conv2d(F.relu(F.conv2d(images, first.weight, first.bias, padding=1)), second.weight, second.bias,
                    stride=2, padding=1).detach().requires_grad_(True)  # fmt: skip
    logits = F.linear(F.relu(maps).flatten(1), linear.weight, linear.bias)
    (gradient,) = torch.autograd.grad(logits[torch.arange(len(images)), classes].sum(), maps)
    weights = gradient.mean(dim=(2, 3))
    cam = F.relu(torch.einsum("nk,nkhw->nhw", weights, maps.detach()))
    peak = cam.amax(dim=(1, 2), keepdim=True)
    return torch.where(peak > 0, cam / peak, torch.zeros_like(cam))  # no positive evidence: zeros


def test_equals_the_definition_on_a_hand_built_model():
    model = hand_built_model()
    images = torch.randn(5, 1, 10, 10, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        predicted = model(images).argmax(dim=1)
    expected = grad_cam_by_hand(model, images, predicted)
    result = grad_cam(model, images)  # default: the last Conv2d, "2"
    assert result.shape == (5, 5, 5) and float(result.min()) >= 0 and float(result.max()) <= 1
    torch.testing.assert_close(result, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(
        grad_cam(model, images, "2", target=2), grad_cam_by_hand(model, images, torch.full((5,), 2))
    )


def test_with_global_average_pooling_it_is_the_class_activation_map():
    """Zhou et al.'s CAM: for conv - GAP - linear, Grad-CAM is ReLU(sum_k W[c, k] A_k), normalized."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
    images = torch.randn(3, 3, 12, 12)
    with torch.no_grad():
        maps = model[0](images)
        cam = F.relu(torch.einsum("k,nkhw->nhw", model[3].weight[1], maps))
    torch.testing.assert_close(grad_cam(model, images, target=1), cam / cam.amax(dim=(1, 2), keepdim=True))


def test_no_positive_evidence_gives_zeros_and_bad_layers_are_explained():
    model = hand_built_model()
    with torch.no_grad():
        model[5].weight.fill_(-1.0)  # every positive (post-ReLU) activation lowers every score
        model[2].bias.fill_(10.0)
    cam = grad_cam(model, torch.randn(2, 1, 10, 10), "3")
    assert torch.equal(cam, torch.zeros_like(cam))
    with pytest.raises(ValueError, match=r"\(N, K, h, w\)"):
        grad_cam(model, torch.randn(2, 1, 10, 10), "4")


def test_overlay_blends_a_jet_heatmap_over_the_image_at_its_size():
    grey = torch.rand(2, 1, 16, 16)
    heatmap = torch.rand(2, 4, 4)
    plain = overlay(grey, heatmap, alpha=0.0)
    assert plain.shape == (2, 3, 16, 16) and torch.equal(plain, grey.expand(-1, 3, -1, -1))
    blended = overlay(grey, heatmap, alpha=0.4)
    assert float(blended.min()) >= 0 and float(blended.max()) <= 1
    colours = heat_colors(torch.tensor([[[0.0, 0.5, 1.0]]]))[0, :, 0]
    assert colours[2, 0] > colours[0, 0] and colours[0, 2] > colours[2, 2]  # low is blue, high is red
    assert colours[1, 1] == colours[:, 1].max()  # the middle is green
    with pytest.raises(ValueError, match="alpha"):
        overlay(grey, heatmap, alpha=2)


def test_activation_map_shows_the_most_active_channel_or_the_mean():
    torch.manual_seed(0)
    model = small_cnn(1)
    images = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        output = model.eval()[:5](images)
    strongest = output.mean(dim=(2, 3)).argmax(dim=1)
    result = activation_map(model, images, "4")
    assert torch.equal(result.channels, strongest) and result.layer == "4"
    chosen = output[torch.arange(3), strongest]
    low = chosen.amin(dim=(1, 2), keepdim=True)
    torch.testing.assert_close(result.maps, (chosen - low) / (chosen.amax(dim=(1, 2), keepdim=True) - low))
    mean = activation_map(model, images, "4", channel="mean")
    assert mean.channels is None and mean.maps.shape == (3, 14, 14)
    assert float(mean.maps.amin()) == 0 and float(mean.maps.amax()) == 1
    with pytest.raises(ValueError, match="channel must be"):
        activation_map(model, images, "4", channel=16)


def test_public_names():
    assert tb_cnnviz.grad_cam is grad_cam
    assert tb_cnnviz.overlay is overlay
    assert tb_cnnviz.activation_map is activation_map
