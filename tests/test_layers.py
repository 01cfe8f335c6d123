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


def test_big_models_default_to_the_first_conv_and_the_last_at_each_resolution():
    from tb_cnnviz.methods.default_layers import representative_convs

    expected = {
        "resnet18": ["conv1", "layer1.1.conv2", "layer2.1.conv2", "layer3.1.conv2", "layer4.1.conv2"],
        # A bottleneck's 1x1 reduction before its strided conv (layer2.0.conv1) does not stand for its stretch.
        "resnet50": ["conv1", "layer1.2.conv3", "layer2.3.conv3", "layer3.5.conv3", "layer4.2.conv3"],
        "vgg11": ["features.0", "features.3", "features.8", "features.13", "features.18"],
    }
    for name, layers in expected.items():
        model = getattr(torchvision.models, name)(weights=None, num_classes=10)
        assert list(representative_convs(model, torch.rand(1, 3, 32, 32))) == layers, name
        assert len(resolve_layers(model, "all")) == len(resolve_layers(model)) > 6


def test_small_models_keep_every_conv_and_all_may_sit_among_names():
    from tb_cnnviz.methods.default_layers import representative_convs
    from tests.conftest import small_cnn

    model = small_cnn()
    assert list(representative_convs(model, torch.rand(1, 1, 28, 28))) == list(resolve_layers(model))
    assert list(resolve_layers(model, ["all", "5"])) == ["0", "4", "5"]
