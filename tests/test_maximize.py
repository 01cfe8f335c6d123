"""maximize_filters: reaches the analytic optimum, is reproducible, leaves the model and the RNG alone."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import small_cnn
from torch import nn

import tb_cnnviz
from tb_cnnviz.methods.image_param import FourierParam, PixelParam, tile_to
from tb_cnnviz.methods.maximize import maximize_filters
from tb_cnnviz.methods.transforms import RobustnessTransforms, apply_transforms

FAST = {"size": 32, "steps": 12}
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


def edge_and_opponent_conv() -> nn.Conv2d:
    """Hand-set 4x4 filters on RGB: horizontal edge, vertical edge, diagonal edge, red-green opponent.

    Stride = kernel size, so output positions see disjoint patches: only then can one image put every
    patch at its optimum at once, and the analytic maximum sum(max(W, 0)) + b is reachable everywhere.
    (With overlapping windows the per-position optima of an edge filter conflict.)
    """
    conv = nn.Conv2d(3, 4, kernel_size=4, stride=4)
    weight = torch.zeros(4, 3, 4, 4)
    weight[0, :, :2, :] = 1.0  # bright top, dark bottom
    weight[0, :, 2:, :] = -1.0
    weight[1, :, :, :2] = -0.5  # dark left, bright right
    weight[1, :, :, 2:] = 0.5
    rows, cols = torch.meshgrid(torch.arange(4), torch.arange(4), indexing="ij")
    weight[2, 1] = torch.sign(rows - cols) * 0.8  # green diagonal edge
    weight[3, 0] = 1.0  # red on, green off
    weight[3, 1] = -1.0
    with torch.no_grad():
        conv.weight.copy_(weight)
        conv.bias.copy_(torch.tensor([0.2, -0.3, 0.0, 0.5]))
    return conv


@pytest.mark.parametrize("param", ["fourier", "pixel"])
def test_reaches_ninety_percent_of_the_analytic_maximum(param):
    conv = edge_and_opponent_conv()
    model = nn.Sequential(conv, nn.ReLU(inplace=True), nn.Flatten(), nn.Linear(4 * 8 * 8, 10))
    result = maximize_filters(model, "0", size=32, steps=64, param=param, transforms=False, optimizer="normalized")

    optimum = conv.weight.clamp(min=0).sum(dim=(1, 2, 3)) + conv.bias
    with torch.no_grad():  # measured independently of the method: conv on the returned images
        response = F.conv2d(result.images, conv.weight, conv.bias, stride=4)
    reached = response[torch.arange(4), result.channels].mean(dim=(1, 2))
    assert result.channels == [0, 1, 2, 3]
    assert torch.all(reached >= 0.9 * optimum), (reached, optimum)
    assert torch.allclose(result.activations, reached, atol=1e-5)  # pre-ReLU, the conv's own output


def test_the_default_adam_fourier_setting_reaches_the_analytic_maximum_without_transforms():
    """Under a sigmoid it stopped at 71-86% for any step count: pixels Adam threw into the wrong tail stayed."""
    conv = edge_and_opponent_conv()
    model = nn.Sequential(conv, nn.ReLU(inplace=True))
    result = maximize_filters(model, "0", size=32, steps=256, transforms=False)

    optimum = conv.weight.clamp(min=0).sum(dim=(1, 2, 3)) + conv.bias
    with torch.no_grad():
        response = F.conv2d(result.images, conv.weight, conv.bias, stride=4)
    reached = response[torch.arange(4), result.channels].mean(dim=(1, 2))
    assert torch.all(reached >= 0.9 * optimum), (reached / optimum, "of the analytic maximum")


def test_on_vgg11_an_eighth_of_the_lucent_style_steps_reach_what_lucent_style_reaches():
    """benchmarks/filter_speed.py at a CI size: 48 px, Lucent-style (sigmoid, Adam 0.05, its transforms) 96 steps."""
    from filter_speed import IMAGENET_MEAN, IMAGENET_STD, LAYER, baseline, build_model

    model = build_model()
    _, lucent_style = baseline(model, channel=0, steps=96, seed=0, size=48)
    ours = maximize_filters(model, LAYER, [0], size=48, steps=12, input_mean=IMAGENET_MEAN, input_std=IMAGENET_STD)
    assert float(ours.activations[0]) >= lucent_style, (float(ours.activations[0]), lucent_style)


def test_the_centre_objective_maximizes_the_centre_unit_alone():
    torch.manual_seed(0)
    model = small_cnn(3)
    centre = maximize_filters(model, "0", channels=[1], objective="centre", **FAST)
    mean = maximize_filters(model, "0", channels=[1], **FAST)
    with torch.no_grad():
        maps = model[0](centre.images)[0, 1], model[0](mean.images)[0, 1]
    assert torch.allclose(centre.activations[0], maps[0][16, 16], atol=1e-5)
    assert maps[0][16, 16] > maps[1][16, 16] and maps[0].mean() < maps[1].mean()
    with pytest.raises(ValueError, match=r"unknown objective 'max'; choose one of \['mean', 'centre'\]"):
        maximize_filters(model, "0", objective="max", **FAST)


def test_default_settings_beat_grey_and_the_best_of_many_random_images():
    torch.manual_seed(0)
    model = small_cnn(3)
    result = maximize_filters(model, "4", channels=[5, 9], size=32, steps=32)
    assert result.images.shape == (2, 3, 32, 32)
    candidates = torch.cat([torch.full((1, 3, 32, 32), 0.5), torch.rand(64, 3, 32, 32)])
    with torch.no_grad():
        best = model.eval()[:5](candidates)[:, [5, 9]].mean(dim=(2, 3)).max(dim=0).values
    assert torch.all(result.activations > best + 0.02), (result.activations, best)


def test_same_seed_bit_identical_whatever_the_global_rng_and_leaves_it_untouched():
    model = small_cnn(3)
    torch.manual_seed(1)
    state = torch.get_rng_state()
    first = maximize_filters(model, "0", seed=7, **FAST)
    assert torch.equal(torch.get_rng_state(), state)

    torch.manual_seed(12345)
    torch.rand(100)
    second = maximize_filters(model, "0", seed=7, **FAST)
    assert torch.equal(first.images, second.images)
    assert torch.equal(first.activations, second.activations)

    other = maximize_filters(model, "0", seed=8, **FAST)
    assert not torch.allclose(first.images, other.images)


@pytest.mark.parametrize("colours", [1, 4])
@pytest.mark.parametrize("param", ["fourier", "pixel"])
def test_grayscale_and_four_channel_inputs(colours, param):
    torch.manual_seed(0)
    model = small_cnn(colours)
    result = maximize_filters(model, "0", channels=[1, 2], param=param, **FAST)
    assert result.images.shape == (2, colours, 32, 32)
    assert result.images.min() >= 0 and result.images.max() <= 1
    with torch.no_grad():
        grey = model[0](torch.full((1, colours, 32, 32), 0.5))[0, [1, 2]].mean(dim=(1, 2))
    assert torch.all(result.activations > grey)


def test_normalization_is_applied_inside_and_images_are_in_display_space():
    torch.manual_seed(0)
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    model = small_cnn(3)
    result = maximize_filters(model, "0", input_mean=mean, input_std=std, **FAST)
    assert result.images.min() >= 0 and result.images.max() <= 1

    class Normalize(nn.Module):
        def forward(self, x):
            return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)

    # The same model with the normalization built in, asked for display-space images directly.
    built_in = nn.Sequential(Normalize(), model)
    same = maximize_filters(built_in, "1.0", **FAST)
    assert torch.allclose(result.images, same.images, atol=1e-5)

    with torch.no_grad():
        measured = model[0](Normalize()(result.images))
    own = measured[torch.arange(len(result.channels)), result.channels].mean(dim=(1, 2))
    assert torch.allclose(result.activations, own, atol=1e-5)

    unnormalized = maximize_filters(model, "0", **FAST)
    assert not torch.allclose(unnormalized.images, result.images, atol=1e-3)


def test_chunks_under_a_tiny_memory_budget_give_the_same_result():
    model = small_cnn(3)
    batches: list[int] = []
    handle = model[0].register_forward_pre_hook(lambda module, args: batches.append(args[0].shape[0]))
    try:
        whole = maximize_filters(model, "4", channels=[3, 0, 7, 7], **FAST)
        assert max(batches) == 4
        batches.clear()
        chunked = maximize_filters(model, "4", channels=[3, 0, 7, 7], memory_budget=1, **FAST)
        assert max(batches) <= 2 and batches.count(1) > FAST["steps"]  # probe uses 2; optimization 1 at a time
    finally:
        handle.remove()
    assert chunked.channels == whole.channels == [3, 0, 7, 7]
    assert torch.allclose(chunked.images, whole.images, atol=1e-5)
    assert torch.allclose(chunked.activations, whole.activations, atol=1e-4)


def test_a_512_channel_layer_is_chunked_to_the_budget():
    model = nn.Sequential(nn.Conv2d(3, 512, 3, padding=1), nn.ReLU())
    batches: list[int] = []
    handle = model[0].register_forward_pre_hook(lambda module, args: batches.append(args[0].shape[0]))
    try:
        result = maximize_filters(model, "0", max_channels=None, size=8, steps=1, memory_budget=2**20)
    finally:
        handle.remove()
    assert result.images.shape == (512, 3, 8, 8)
    assert 2 < max(batches) < 512


def model_state(model: nn.Module):
    modes = [module.training for module in model.modules()]
    flags = [parameter.requires_grad for parameter in model.parameters()]
    grads = [None if parameter.grad is None else parameter.grad.clone() for parameter in model.parameters()]
    hooks = sum(len(module._forward_hooks) + len(module._forward_pre_hooks) for module in model.modules())
    return modes, flags, grads, hooks


def assert_same_state(before, after):
    assert before[0] == after[0] and before[1] == after[1] and before[3] == after[3]
    for old, new in zip(before[2], after[2], strict=True):
        assert (old is None and new is None) or torch.equal(old, new)


def awkward_model() -> nn.Sequential:
    """Train mode with one module in eval, a frozen parameter, an existing gradient, a missing one."""
    model = small_cnn(3).train()
    model[1].eval()
    model[4].bias.requires_grad_(False)
    model[0].weight.grad = torch.ones_like(model[0].weight)
    return model


def test_model_left_as_found_and_no_parameter_gets_a_gradient():
    model = awkward_model()
    before = model_state(model)
    maximize_filters(model, "4", channels=[0, 1], **FAST)
    after = model_state(model)
    assert_same_state(before, after)
    assert model[4].weight.grad is None


def test_model_left_as_found_when_the_forward_raises():
    model = awkward_model()

    class FailsLater(nn.Module):
        calls = 0

        def forward(self, x):
            FailsLater.calls += 1
            if FailsLater.calls > 3:  # after the probe, inside the optimization
                raise RuntimeError("boom")
            return x

    model.insert(0, FailsLater())
    before = model_state(model)
    with pytest.raises(RuntimeError, match="boom"):
        maximize_filters(model, "5", **FAST)
    assert_same_state(before, model_state(model))


def test_bad_arguments_are_explained():
    model = small_cnn(3)
    with pytest.raises(ValueError, match="out of range"):
        maximize_filters(model, "0", channels=[8], **FAST)
    with pytest.raises(ValueError, match="exactly one layer"):
        maximize_filters(model, "*", **FAST)
    with pytest.raises(ValueError, match="input_mean has 2 values"):
        maximize_filters(model, "0", input_mean=(0.5, 0.5), **FAST)


def test_public_names():
    assert tb_cnnviz.maximize_filters is maximize_filters
    assert tb_cnnviz.FilterImages.__name__ == "FilterImages"


def test_transforms_identity_at_the_centre_and_grey_padding():
    images = torch.rand(2, 3, 16, 16)
    centre = torch.full((2, 4), 0.5)  # no shift, zoom 1, angle 0
    settings = RobustnessTransforms(pad=16.0)  # 2 px at 16 px
    out = apply_transforms(images, centre, settings, reference_size=16)
    assert out.shape == (2, 3, 20, 20)
    assert torch.allclose(out[:, :, 2:-2, 2:-2], images, atol=1e-5)
    assert torch.allclose(out[:, :, :2], torch.full_like(out[:, :, :2], 0.5))
    shifted = apply_transforms(images, torch.tensor([[1.0, 0.5, 0.5, 0.5]] * 2), settings, 16)
    assert not torch.allclose(shifted, out)


def test_parameterizations_rebuild_from_a_tiled_image():
    generators = [torch.Generator().manual_seed(0)]
    for kind in (FourierParam, PixelParam):
        small = kind(3, 8, 8)
        values = small.init(generators, torch.device("cpu"), sd=1.0)
        large = small.resized(16, 20)
        tiled = tile_to(small.to_linear(values), 16, 20)
        assert torch.allclose(large.to_linear(large.from_linear(tiled)), tiled, atol=1e-5)
        assert torch.allclose(tiled[..., 8:16, 8:16], small.to_linear(values), atol=1e-6)


def test_blur_damps_the_same_frequencies_in_both_parameterizations_and_keeps_the_mean():
    linear = torch.rand(2, 3, 12, 16, generator=torch.Generator().manual_seed(0))
    fourier, pixel = FourierParam(3, 12, 16), PixelParam(3, 12, 16)
    by_fourier = fourier.to_linear(fourier.blurred(fourier.from_linear(linear), 0.5))
    by_pixel = pixel.to_linear(pixel.blurred(pixel.from_linear(linear), 0.5))
    assert torch.allclose(by_fourier, by_pixel, atol=1e-5)
    assert torch.allclose(by_pixel.mean(dim=(2, 3)), linear.mean(dim=(2, 3)), atol=1e-5)
    checker = (torch.arange(12)[:, None] + torch.arange(16)[None, :]) % 2 * 2.0 - 1  # the finest pattern
    damped = pixel.blurred(checker.expand(1, 3, 12, 16), 0.5)
    assert torch.allclose(damped, checker * torch.exp(torch.tensor(-0.5 * 4 * 0.5)), atol=1e-5)
