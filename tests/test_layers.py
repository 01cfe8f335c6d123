"""resolve_layers: how users name layers, and what they read when a name is wrong."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from tb_cnnviz import resolve_layers


@pytest.fixture(scope="module")
def resnet() -> nn.Module:
    return torchvision.models.resnet18()


def test_default_is_every_conv2d_in_model_order(resnet):
    expected = [name for name, module in resnet.named_modules() if isinstance(module, nn.Conv2d)]
    assert list(resolve_layers(resnet)) == expected
    assert len(expected) == 20


def test_names_globs_and_modules_mix_and_come_back_in_model_order(resnet):
    layers = resolve_layers(resnet, ["layer3.0.conv1", "layer*.0.conv2", resnet.conv1])
    assert list(layers) == [
        "conv1", "layer1.0.conv2", "layer2.0.conv2", "layer3.0.conv1", "layer3.0.conv2", "layer4.0.conv2",
    ]  # fmt: skip
    assert layers["conv1"] is resnet.conv1


@pytest.mark.parametrize(
    "wrap",
    [nn.DataParallel, lambda model: torch.compile(model), lambda model: nn.DataParallel(torch.compile(model))],
    ids=["DataParallel", "compile", "both"],
)
def test_wrapped_models_resolve_with_and_without_prefix(resnet, wrap):
    wrapped = wrap(resnet)
    prefixed = next(name for name, _ in wrapped.named_modules() if name.endswith("layer1.0.conv1"))
    assert prefixed != "layer1.0.conv1"
    for name in (prefixed, "layer1.0.conv1"):
        assert resolve_layers(wrapped, name) == {"layer1.0.conv1": resnet.layer1[0].conv1}
    assert list(resolve_layers(wrapped)) == list(resolve_layers(resnet))


def test_unknown_name_names_the_closest_layers_and_how_to_list_them(resnet):
    with pytest.raises(ValueError) as error:
        resolve_layers(resnet, "layer1.0.conv")
    message = str(error.value)
    assert "unknown layer 'layer1.0.conv'" in message
    assert "layer1.0.conv1" in message and "layer1.0.conv2" in message
    assert "named_modules()" in message


def test_pattern_matching_nothing_and_foreign_module_are_errors(resnet):
    with pytest.raises(ValueError, match="matches no layer"):
        resolve_layers(resnet, "encoder.*")
    with pytest.raises(ValueError, match="not part of the model"):
        resolve_layers(resnet, nn.Conv2d(3, 3, 1))
    with pytest.raises(ValueError, match=r"no nn\.Conv2d"):
        resolve_layers(nn.Sequential(nn.Linear(2, 2)))
