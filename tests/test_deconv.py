"""deconvnet: exactly Zeiler & Fergus's reverse pass, every ReLU form, real CNNs, batching, crops, model state."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from tb_cnnviz import Projections, deconvnet
from tb_cnnviz.methods.capture import layer_output

# ---------------------------------------------------------------- the definition, written by hand


class ThreeConvNet(nn.Module):
    """Conv-ReLU-MaxPool-Conv-ReLU-MaxPool-Conv, the ReLU written in any of the ways models write it."""

    def __init__(self, relu=None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 8, 3, padding=1)
        self.conv3 = nn.Conv2d(8, 5, 3, padding=1)
        self.relu = relu or (lambda x: F.relu(x))
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        x = self.pool(self.relu(self.conv1(x)))
        x = self.pool(self.relu(self.conv2(x)))
        return self.conv3(x)


def strongest_only(maps: torch.Tensor, channel: int) -> torch.Tensor:
    """Zeiler & Fergus's start: the channel's single strongest activation of image 0, everything else zero.

    The start is the activation's magnitude (the rule for a unit whose strongest value is not positive: a
    negative start would pass other paths through relu(signal) and draw another picture, not a flipped one).
    """
    signal = torch.zeros_like(maps)
    strongest = maps[0, channel].flatten().argmax()
    signal[0, channel].view(-1)[strongest] = maps[0, channel].flatten()[strongest].abs()
    return signal


def rectifier(rule: str):
    """The reverse pass's ReLU: relu of the signal; guided backprop also masks by the forward's sign."""

    def rectify(signal: torch.Tensor, pre_activation: torch.Tensor) -> torch.Tensor:
        signal = F.relu(signal)
        return signal * (pre_activation > 0) if rule == "guided" else signal

    return rectify


def reference_reverse_pass(net: ThreeConvNet, image: torch.Tensor, channel: int, rule: str) -> torch.Tensor:
    """Zeiler & Fergus by hand: keep the strongest activation, then filter^T, unpool with switches, rectify."""
    with torch.no_grad():
        a1 = F.conv2d(image, net.conv1.weight, net.conv1.bias, padding=1)
        p1, switches1 = F.max_pool2d(F.relu(a1), 2, return_indices=True)
        a2 = F.conv2d(p1, net.conv2.weight, net.conv2.bias, padding=1)
        p2, switches2 = F.max_pool2d(F.relu(a2), 2, return_indices=True)
        a3 = F.conv2d(p2, net.conv3.weight, net.conv3.bias, padding=1)
        signal = strongest_only(a3, channel)
        rectify = rectifier(rule)

        signal = F.conv_transpose2d(signal, net.conv3.weight, padding=1)
        signal = rectify(F.max_unpool2d(signal, switches2, 2, output_size=a2.shape[-2:]), a2)
        signal = F.conv_transpose2d(signal, net.conv2.weight, padding=1)
        signal = rectify(F.max_unpool2d(signal, switches1, 2, output_size=a1.shape[-2:]), a1)
        return F.conv_transpose2d(signal, net.conv1.weight, padding=1)[0]


@pytest.mark.parametrize("rule", ["deconvnet", "guided"])
@pytest.mark.parametrize("crop", [True, False])
def test_equals_the_hand_written_reverse_pass(rule, crop):
    torch.manual_seed(0)
    net = ThreeConvNet()
    images = torch.randn(3, 3, 45, 38)  # odd sizes: pooling drops a row and a column
    result = deconvnet(net, images, "conv3", rule=rule, crop=crop)
    assert isinstance(result, Projections)
    assert result.projections.shape == (3, 5, 3, 45, 38)
    assert result.channels == [0, 1, 2, 3, 4]
    for n in range(3):
        for k in range(5):
            expected = reference_reverse_pass(net, images[n : n + 1], k, rule)
            torch.testing.assert_close(result.projections[n, k], expected, rtol=0, atol=1e-5)
    with torch.no_grad():
        maps = net(images)
    torch.testing.assert_close(result.activations, maps.flatten(2).max(2).values)
    rows, cols = result.positions[..., 0], result.positions[..., 1]
    torch.testing.assert_close(maps[torch.arange(3)[:, None], torch.arange(5), rows, cols], result.activations)


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(F.cosine_similarity(a.flatten().double(), b.flatten().double(), dim=0))


@pytest.mark.parametrize("rule", ["deconvnet", "guided"])
def test_units_whose_strongest_value_is_not_positive_are_projected_from_a_positive_seed(rule):
    """A unit that never fires gets the picture of what drives it up, as the reference from its magnitude."""
    torch.manual_seed(0)
    net = ThreeConvNet()
    with torch.no_grad():
        net.conv3.bias[:2] -= 3.0  # channels 0 and 1 below zero everywhere
    images = torch.randn(3, 3, 24, 24)
    result = deconvnet(net, images, "conv3", rule=rule)
    assert (result.activations[:, :2] < 0).all() and (result.activations[:, 2:] > 0).any()
    assert result.inactive.tolist() == (result.activations <= 0).tolist()
    for n in range(3):
        for k in range(5):
            expected = reference_reverse_pass(net, images[n : n + 1], k, rule)
            assert expected.abs().max() > 0
            assert cosine(result.projections[n, k], expected) >= 0.999, (n, k, float(result.activations[n, k]))


class InplaceTensorRelu(nn.Module):
    def forward(self, x):
        x.relu_()  # relies on the mutation, ignores the return value
        return x


RELU_FORMS = {
    "nn.ReLU": nn.ReLU(),
    "nn.ReLU(inplace)": nn.ReLU(inplace=True),
    "F.relu": lambda x: F.relu(x),
    "F.relu(inplace)": lambda x: F.relu(x, inplace=True),
    "F.relu_": lambda x: F.relu_(x),
    "torch.relu": lambda x: torch.relu(x),
    "torch.relu_": lambda x: torch.relu_(x),
    "Tensor.relu": lambda x: x.relu(),
    "Tensor.relu_ (mutation only)": InplaceTensorRelu(),
    "torch.relu(input=)": lambda x: torch.relu(input=x),
}


@pytest.mark.parametrize("rule", ["deconvnet", "guided"])
@pytest.mark.parametrize("form", list(RELU_FORMS))
def test_every_relu_form_gets_the_rule(form, rule):
    torch.manual_seed(1)
    net = ThreeConvNet(RELU_FORMS[form])
    images = torch.randn(2, 3, 24, 24)
    result = deconvnet(net, images, "conv3", channels=[1, 3], rule=rule)
    for n in range(2):
        for k, channel in enumerate([1, 3]):
            expected = reference_reverse_pass(net, images[n : n + 1], channel, rule)
            torch.testing.assert_close(result.projections[n, k], expected, rtol=0, atol=1e-5)


class SharedReluResidual(nn.Module):
    """One inplace ReLU module called three times, around a residual addition (as torchvision's ResNet)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 6, 3, padding=1)
        self.conv3 = nn.Conv2d(6, 4, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        h = self.relu(self.conv1(x))
        out = self.relu(self.conv2(h))
        out = out + h
        return self.conv3(self.relu(out))


def residual_reference(net: SharedReluResidual, image: torch.Tensor, channel: int, rule: str) -> torch.Tensor:
    with torch.no_grad():
        a1 = net.conv1(image)
        h = F.relu(a1)
        a2 = net.conv2(h)
        s = F.relu(a2) + h
        a3 = net.conv3(F.relu(s))
        signal = strongest_only(a3, channel)
        rectify = rectifier(rule)

        at_sum = rectify(F.conv_transpose2d(signal, net.conv3.weight, padding=1), s)
        through_branch = F.conv_transpose2d(rectify(at_sum, a2), net.conv2.weight, padding=1)
        at_h = rectify(at_sum + through_branch, a1)  # the addition sends the signal down both paths
        return F.conv_transpose2d(at_h, net.conv1.weight, padding=1)[0]


@pytest.mark.parametrize("rule", ["deconvnet", "guided"])
def test_reused_relu_module_and_residual_addition(rule):
    torch.manual_seed(2)
    net = SharedReluResidual()
    images = torch.randn(2, 3, 16, 16)
    result = deconvnet(net, images, "conv3", rule=rule)
    for n in range(2):
        for channel in range(4):
            expected = residual_reference(net, images[n : n + 1], channel, rule)
            torch.testing.assert_close(result.projections[n, channel], expected, rtol=0, atol=1e-5)


# ---------------------------------------------------------------- other activations: the documented rule

OTHER_ACTIVATIONS = {
    "LeakyReLU": nn.LeakyReLU(0.1),
    "ReLU6(inplace)": nn.ReLU6(inplace=True),
    "SiLU": nn.SiLU(),
    "GELU": nn.GELU(),
    "Hardswish(inplace)": nn.Hardswish(inplace=True),
    "ELU": nn.ELU(),
    "Mish": nn.Mish(),
}


def conv_act_conv(activation: nn.Module) -> nn.Sequential:
    torch.manual_seed(3)
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), activation, nn.Conv2d(6, 4, 3, padding=1))


def signal_at_second_conv(net: nn.Sequential, image: torch.Tensor, channel: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The layer-1 pre-activation and the signal after the second conv's transposed filter."""
    with torch.no_grad():
        pre = net[0](image)
        out = net[2](copy.deepcopy(net[1])(pre.clone()))
        signal = torch.zeros_like(out)
        strongest = out[0, channel].flatten().argmax()
        signal[0, channel].view(-1)[strongest] = out[0, channel].flatten()[strongest]
    return pre, F.conv_transpose2d(signal, net[2].weight, padding=1)


@pytest.mark.parametrize("name", list(OTHER_ACTIVATIONS))
def test_rectifier_like_activations_follow_the_documented_rule(name):
    """deconvnet: relu(signal); guided: relu(signal) * max(f'(x), 0)."""
    net = conv_act_conv(OTHER_ACTIVATIONS[name])
    images = torch.randn(2, 3, 12, 12)
    deconv = deconvnet(net, images, "2", channels=[2])
    guided = deconvnet(net, images, "2", channels=[2], rule="guided")
    for n in range(2):
        pre, signal = signal_at_second_conv(net, images[n : n + 1], 2)
        leaf = pre.clone().requires_grad_(True)
        (slope,) = torch.autograd.grad(copy.deepcopy(net[1])(leaf.clone()).sum(), leaf)
        expected_deconv = F.conv_transpose2d(F.relu(signal), net[0].weight, padding=1)[0]
        expected_guided = F.conv_transpose2d(F.relu(signal) * slope.clamp(min=0), net[0].weight, padding=1)[0]
        torch.testing.assert_close(deconv.projections[n, 0], expected_deconv, rtol=0, atol=1e-5)
        torch.testing.assert_close(guided.projections[n, 0], expected_guided, rtol=0, atol=1e-5)


@pytest.mark.parametrize("gate", [nn.Sigmoid(), nn.Hardsigmoid(), nn.Tanh()])
def test_gates_keep_their_ordinary_gradient(gate):
    net = conv_act_conv(gate)
    images = torch.randn(1, 3, 12, 12)
    result = deconvnet(net, images, "2", channels=[0])
    inputs = images.clone().requires_grad_(True)
    out = net(inputs)
    value, flat = out[0, 0].flatten().max(0)
    (gradient,) = torch.autograd.grad(out[0, 0].flatten()[flat], inputs)
    torch.testing.assert_close(result.projections[0, 0], value.detach() * gradient[0], rtol=0, atol=1e-5)


# ---------------------------------------------------------------- real CNNs, batching, crops

TORCHVISION_LAYERS = {
    "vgg11": ["features.3", "features.13"],
    "resnet18": ["layer1.0.conv2", "layer3.1.conv1"],
    "densenet121": ["features.denseblock1.denselayer2.conv2", "features.transition2.conv"],
    "mobilenet_v3_small": ["features.0.0", "features.4.block.0.0"],  # the second sits after squeeze-excitation
    "efficientnet_b0": ["features.1.0.block.0.0", "features.3.0.block.1.0"],
    "googlenet": ["conv2.conv", "inception3b.branch3.1.conv"],
}


@pytest.mark.filterwarnings("ignore:The default weight initialization of GoogleNet")
@pytest.mark.parametrize("architecture", list(TORCHVISION_LAYERS))
def test_torchvision_cnns_project_and_crops_change_nothing(architecture):
    torch.manual_seed(4)
    model = getattr(torchvision.models, architecture)(weights=None)
    images = torch.randn(1, 3, 64, 64)
    for layer in TORCHVISION_LAYERS[architecture]:
        cropped = deconvnet(model, images, layer, channels=[0, 3, 5])
        whole = deconvnet(model, images, layer, channels=[0, 3, 5], crop=False)
        assert cropped.projections.shape == (1, 3, 3, 64, 64)
        assert torch.isfinite(cropped.projections).all()
        assert cropped.projections.abs().amax(dim=(2, 3, 4)).gt(0).all(), f"{layer}: an empty projection"
        scale = whole.projections.abs().max()
        torch.testing.assert_close(cropped.projections, whole.projections, rtol=0, atol=1e-5 * float(scale))
        outside = torch.ones(1, 3, 64, 64, dtype=torch.bool)  # nothing is projected outside the unit's field
        for k in range(3):
            top, left, bottom, right = cropped.boxes[0, k].tolist()
            outside[0, k, top:bottom, left:right] = False
        assert cropped.projections.abs().sum(dim=2)[outside].sum() == 0


class RuleReLU(nn.Module):
    """The per-projection reference: a ReLU module whose backward is the deconvnet rule (module replacement)."""

    class _Rule(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.clamp(min=0)

        @staticmethod
        def backward(ctx, grad):
            return grad.clamp(min=0)

    def forward(self, x):
        return self._Rule.apply(x)


def with_rule_relus(model: nn.Module, rule: type[nn.Module] | None = None) -> nn.Module:
    """A copy of `model` whose nn.ReLU modules are replaced by the rule (what module-hook libraries do)."""
    reference = copy.deepcopy(model).eval()
    for module in list(reference.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.ReLU):
                setattr(module, child_name, (rule or RuleReLU)())
    return reference


def one_projection_at_a_time(reference: nn.Module, image: torch.Tensor, layer: str, channel: int) -> torch.Tensor:
    """What attribution libraries do: the whole model forward and backward for one projection."""
    captured = []
    handle = reference.get_submodule(layer).register_forward_hook(lambda _m, _i, output: captured.append(output))
    inputs = image.clone().requires_grad_(True)
    reference(inputs)
    handle.remove()
    output = captured[0][0, channel].flatten()
    strongest = output.argmax()
    # The reverse pass starts from the activation's magnitude (not 1): Zeiler & Fergus keep the activation,
    # and a positive start shows what drives the unit up, whatever its sign.
    (projection,) = torch.autograd.grad(output[strongest], inputs, grad_outputs=output[strongest].detach().abs())
    return projection[0]


@pytest.mark.parametrize(("architecture", "layer"), [("vgg11", "features.8"), ("resnet18", "layer2.0.conv1")])
def test_batched_equals_one_projection_at_a_time(architecture, layer):
    torch.manual_seed(5)
    model = getattr(torchvision.models, architecture)(weights=None)
    images = torch.randn(2, 3, 64, 64)
    channels = [0, 7, 31]  # channel 0's strongest activation is negative in both: projected from its magnitude
    result = deconvnet(model, images, layer, channels=channels)
    reference = with_rule_relus(model)
    for n in range(2):
        for k, channel in enumerate(channels):
            expected = one_projection_at_a_time(reference, images[n : n + 1], layer, channel)
            scale = float(expected.abs().max())
            torch.testing.assert_close(result.projections[n, k], expected, rtol=0, atol=1e-5 * scale)


class GuidedRuleReLU(nn.Module):
    """Guided backprop as a ReLU module of its own (module replacement): relu(grad) where the input was > 0."""

    class _Rule(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.clamp(min=0)

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad.clamp(min=0) * (x > 0)

    def forward(self, x):
        return self._Rule.apply(x)


@pytest.mark.parametrize("rule", ["deconvnet", "guided"])
def test_negative_units_of_a_resnet_match_the_module_swap_reference_from_a_positive_seed(rule):
    """The issue's case: resnet18 layer2.0.conv2 at 64 px, whose strongest value is negative in some channels."""
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None)
    images = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        maps = layer_output(model.eval(), model.layer2[0].conv2, images)
    negative = (maps.amax(dim=(2, 3))[0] < 0).nonzero().flatten().tolist()[:4]
    assert negative, "the test needs channels whose strongest value is negative"
    result = deconvnet(model, images, "layer2.0.conv2", channels=negative, rule=rule)
    assert result.inactive.all()
    reference = with_rule_relus(model, GuidedRuleReLU if rule == "guided" else RuleReLU)
    for k, channel in enumerate(negative):
        expected = one_projection_at_a_time(reference, images, "layer2.0.conv2", channel)
        assert cosine(result.projections[0, k], expected) >= 0.999, channel


def test_small_memory_budget_splits_into_chunks_with_the_same_result():
    torch.manual_seed(6)
    model = torchvision.models.vgg11(weights=None)
    images = torch.randn(2, 3, 48, 48)
    one_batch = deconvnet(model, images, "features.6", channels=range(10))
    chunked = deconvnet(model, images, "features.6", channels=range(10), memory_budget=1)
    torch.testing.assert_close(chunked.projections, one_batch.projections, rtol=0, atol=1e-6)


def test_per_image_channels_equal_shared_channels():
    torch.manual_seed(7)
    net = ThreeConvNet()
    images = torch.randn(2, 3, 20, 20)
    per_image = deconvnet(net, images, "conv3", channels=torch.tensor([[4, 0], [1, 2]]))
    assert per_image.channels.tolist() == [[4, 0], [1, 2]]
    for n, channels in enumerate([[4, 0], [1, 2]]):
        alone = deconvnet(net, images[n : n + 1], "conv3", channels=channels)
        torch.testing.assert_close(per_image.projections[n], alone.projections[0])


def test_bad_arguments_are_explained():
    net = ThreeConvNet()
    images = torch.randn(1, 3, 20, 20)
    with pytest.raises(ValueError, match="out of range"):
        deconvnet(net, images, "conv3", channels=[5])
    with pytest.raises(ValueError, match="unknown rule"):
        deconvnet(net, images, "conv3", rule="lrp")
    with pytest.raises(ValueError, match="exactly one layer"):
        deconvnet(net, images, "conv*")


# ---------------------------------------------------------------- the model is left as found


def snapshot(model: nn.Module) -> dict:
    return {
        "modes": [module.training for module in model.modules()],
        "requires_grad": [parameter.requires_grad for parameter in model.parameters()],
        "grads": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        "hooks": [
            len(module._forward_hooks) + len(module._forward_pre_hooks) + len(module._backward_hooks)
            for module in model.modules()
        ],
        "state": {key: value.clone() for key, value in model.state_dict().items()},
        "torch_function_modes": torch._C._len_torch_function_stack(),
    }


def assert_same(before: dict, after: dict) -> None:
    assert before["modes"] == after["modes"]
    assert before["requires_grad"] == after["requires_grad"]
    assert before["hooks"] == after["hooks"]
    assert before["torch_function_modes"] == after["torch_function_modes"] == 0
    for old, new in zip(before["grads"], after["grads"], strict=True):
        assert (old is None and new is None) or torch.equal(old, new)
    for key, value in before["state"].items():
        assert torch.equal(value, after["state"][key]), key


def resnet_in_mixed_state() -> nn.Module:
    model = torchvision.models.resnet18()
    model.train()
    model.layer2.eval()
    model.layer1[0].conv1.weight.requires_grad_(False)
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    return model


@pytest.mark.parametrize("rule", ["deconvnet", "guided"])
def test_model_is_left_as_found(rule):
    model = resnet_in_mixed_state()
    before = snapshot(model)
    deconvnet(model, torch.randn(2, 3, 32, 32), "layer1.1.conv2", channels=[0, 1], rule=rule)
    assert_same(before, snapshot(model))


class FailsWithGradients(nn.Module):
    """Passes the selection forward (no_grad), then raises inside the projection forward, after a ReLU ran."""

    def forward(self, x):
        if torch.is_grad_enabled():
            raise RuntimeError("boom")
        return x


def test_model_is_left_as_found_when_the_forward_raises():
    model = resnet_in_mixed_state()
    model.layer1[1].add_module("fails", FailsWithGradients())
    model.layer1[1].register_forward_hook(lambda module, _inputs, output: module.fails(output))
    before = snapshot(model)
    with pytest.raises(RuntimeError, match="boom"):
        deconvnet(model, torch.randn(1, 3, 32, 32), "layer1.1", channels=[0])
    assert_same(before, snapshot(model))


def test_forward_stops_at_the_layer():
    model = torchvision.models.vgg11()
    calls = []
    for name in ("features.9", "classifier.0"):
        model.get_submodule(name).register_forward_hook(lambda *_, name=name: calls.append(name))
    deconvnet(model, torch.randn(1, 3, 32, 32), "features.8", channels=[0])
    assert calls == []
    with torch.no_grad():
        assert layer_output(model, model.features[8], torch.randn(1, 3, 32, 32)).shape == (1, 256, 8, 8)
