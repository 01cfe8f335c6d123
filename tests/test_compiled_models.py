"""torch.compile'd models: layers resolve to the user's names, feature maps match the eager model's,
and logging leaves the compiled model working and its outputs unchanged."""

from __future__ import annotations

import copy

import pytest
import torch
from conftest import read_cnnviz_events, small_cnn

from tb_cnnviz import CNNVizCallback, feature_maps, resolve_layers
from tb_cnnviz.methods.layers import unwrap_model


@pytest.fixture(params=["torch.compile(model)", "model.compile()"])
def model_and_compiled(request):
    """(an eager model, the same weights compiled) for both ways of compiling: wrapper and in place."""
    torch.manual_seed(0)
    model = small_cnn().eval()
    # The "eager" backend keeps the test fast on CPU; what matters here is dynamo's tracing and hooks.
    if request.param == "torch.compile(model)":
        return model, torch.compile(model, backend="eager")
    compiled = copy.deepcopy(model)
    compiled.compile(backend="eager")
    return model, compiled


def test_layers_resolve_to_the_models_own_names(model_and_compiled):
    model, compiled = model_and_compiled
    assert list(resolve_layers(compiled)) == list(resolve_layers(model)) == ["0", "4"]
    assert resolve_layers(compiled, "_orig_mod.4")["4"] is unwrap_model(compiled)[4]


def test_feature_maps_of_a_compiled_model_match_the_eager_ones(model_and_compiled, tmp_path):
    model, compiled = model_and_compiled
    images = torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    before = compiled(images)  # compiled and run once, as in training

    maps = feature_maps(compiled, images)
    expected = feature_maps(model, images)
    assert maps.keys() == expected.keys() == {"0", "4"}
    for name in maps:
        assert torch.equal(maps[name], expected[name])

    with CNNVizCallback(compiled, images, log_dir=str(tmp_path)) as viz:
        viz.log(0)
    tags = {"probes", "0/feature_maps", "4/feature_maps", "0/dynamics", "4/dynamics"}
    assert set(read_cnnviz_events(tmp_path)) == tags
    assert torch.equal(compiled(images), before), "the compiled model computes the same after logging"
    assert all(not module._forward_hooks for module in unwrap_model(compiled).modules()), "hooks left behind"
