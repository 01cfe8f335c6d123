"""feature_maps: equal to a plain forward, stops early, leaves the model exactly as found."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor

from tb_cnnviz import feature_maps


def test_resnet18_maps_equal_an_independent_extraction():
    model = torchvision.models.resnet18().eval()
    images = torch.randn(2, 3, 64, 64)
    names = ["conv1", "layer1.1.conv2", "layer2.0.downsample.0", "layer4.1.conv2"]
    # torch.fx traces the graph: a different mechanism from our hooks.
    expected = create_feature_extractor(model, return_nodes=names)(images)
    got = feature_maps(model, images, names)
    assert list(got) == names
    for name in names:
        torch.testing.assert_close(got[name], expected[name], rtol=0, atol=0)


def test_vgg11_maps_equal_running_the_sequential_prefix():
    model = torchvision.models.vgg11().eval()
    images = torch.randn(1, 3, 64, 64)
    got = feature_maps(model, images, ["features.0", "features.8"])
    with torch.no_grad():
        torch.testing.assert_close(got["features.0"], model.features[:1](images), rtol=0, atol=0)
        torch.testing.assert_close(got["features.8"], model.features[:9](images), rtol=0, atol=0)


def test_layers_after_the_last_requested_one_never_run():
    model = torchvision.models.vgg11()
    calls = []
    for name in ("features.9", "avgpool", "classifier.0"):
        model.get_submodule(name).register_forward_hook(lambda *_, name=name: calls.append(name))
    feature_maps(model, torch.randn(1, 3, 32, 32), "features.8")
    assert calls == []
    feature_maps(model, torch.randn(1, 3, 32, 32), "features.9")
    assert calls == ["features.9"]


def snapshot(model: nn.Module) -> dict:
    return {
        "modes": [module.training for module in model.modules()],
        "requires_grad": [parameter.requires_grad for parameter in model.parameters()],
        "grads": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        "hooks": [len(module._forward_hooks) for module in model.modules()],
        "state": {key: value.clone() for key, value in model.state_dict().items()},
    }


def assert_same(before: dict, after: dict) -> None:
    assert before["modes"] == after["modes"]
    assert before["requires_grad"] == after["requires_grad"]
    assert before["hooks"] == after["hooks"]
    for old, new in zip(before["grads"], after["grads"], strict=True):
        assert (old is None and new is None) or torch.equal(old, new)
    for key, value in before["state"].items():
        assert torch.equal(value, after["state"][key]), key


@pytest.fixture
def model_in_mixed_state() -> nn.Module:
    model = torchvision.models.resnet18()
    model.train()
    model.layer2.eval()  # a mix of modes must come back as it was, not as all-train
    model.layer1[0].conv1.weight.requires_grad_(False)
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    return model


def test_model_state_is_left_as_found(model_in_mixed_state):
    before = snapshot(model_in_mixed_state)
    feature_maps(model_in_mixed_state, torch.randn(2, 3, 32, 32), ["layer1.0.conv1", "fc"])
    assert_same(before, snapshot(model_in_mixed_state))


def test_model_state_is_left_as_found_when_the_forward_raises(model_in_mixed_state):
    before = snapshot(model_in_mixed_state)
    with pytest.raises(RuntimeError):
        feature_maps(model_in_mixed_state, torch.randn(2, 5, 32, 32), "layer4.1.conv2")  # 5 channels: conv1 fails
    assert_same(before, snapshot(model_in_mixed_state))


def test_reused_module_gives_its_first_output():
    relu = nn.ReLU()
    model = nn.Sequential(nn.Conv2d(1, 2, 3), relu, nn.Conv2d(2, 2, 3), relu)
    images = torch.randn(1, 1, 8, 8)
    with torch.no_grad():
        expected = relu(model[0](images))
    torch.testing.assert_close(feature_maps(model, images, "1")["1"], expected)
