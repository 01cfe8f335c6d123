"""Feature maps: the outputs of chosen layers, captured with forward hooks."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from tb_cnnviz.methods.hooks import forward_hooks
from tb_cnnviz.methods.layers import LayerSpec, resolve_layers, unwrap_model
from tb_cnnviz.methods.model_state import evaluation_mode, model_device, model_dtype


class _AllLayersCaptured(Exception):
    """Raised from a hook to stop the forward pass once nothing after it is needed."""


def feature_maps(model: nn.Module, images: torch.Tensor, layers: LayerSpec = None) -> dict[str, torch.Tensor]:
    """Outputs of `layers` for `images`, as a plain eval-mode forward computes them.

    The forward pass stops as soon as every requested layer has run, so later layers cost nothing.
    A module called several times (weight sharing) yields its first output. Runs under no_grad in
    eval mode; modes and hooks are restored even when the forward raises. Results stay on the
    model's device, detached. ValueError if a layer gives no tensor (see `each_feature_map`).
    """
    outputs, problems = each_feature_map(model, images, resolve_layers(model, layers))
    if problems:
        raise ValueError("; ".join(problems.values()))
    return outputs


def each_feature_map(
    model: nn.Module, images: torch.Tensor, layers: dict[str, nn.Module]
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """({name: output}, {name: why it has none}) for the named modules `layers`, as `feature_maps` computes
    them: a layer that returns no tensor or is never called costs only its own output, never the others'."""
    network = unwrap_model(model)
    inputs = images.to(device=model_device(network), dtype=model_dtype(network))
    captured: dict[str, torch.Tensor] = {}
    problems: dict[str, str] = {}

    def hook_for(name: str):
        def keep_output(module: nn.Module, args: tuple, output) -> None:
            if name in captured or name in problems:
                return
            if isinstance(output, torch.Tensor):
                # A clone: an inplace op after this layer (nn.ReLU(inplace=True)) would overwrite the output.
                captured[name] = output.detach().clone()
            else:
                problems[name] = (
                    f"layer {name!r} ({type(module).__name__}) returns {type(output).__name__}, "
                    "not a tensor; choose a layer whose output is a feature map"
                )
            if len(captured) + len(problems) == len(layers):
                raise _AllLayersCaptured

        return keep_output

    hooks = [(module, hook_for(name)) for name, module in layers.items()]
    with contextlib.suppress(_AllLayersCaptured), forward_hooks(hooks), evaluation_mode(network), torch.no_grad():
        network(inputs)
    for name in layers:
        if name not in captured and name not in problems:
            problems[name] = f"layer {name!r} was never called by {type(network).__name__}.forward"
    return {name: captured[name] for name in layers if name in captured}, problems


def layer_output(network: nn.Module, module: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """The output of `module` when `network` runs on `inputs`; the forward stops right after it.

    For methods that need gradients through the layer (deconvnet, maximization): unlike
    `feature_maps` it neither detaches nor clones, and leaves grad mode and model modes to the caller.
    The hook is removed even when the forward raises.
    """
    captured: list[torch.Tensor] = []

    def stop(_module: nn.Module, _args: tuple, output) -> None:
        if not captured:
            captured.append(output)
            raise _AllLayersCaptured

    with contextlib.suppress(_AllLayersCaptured), forward_hooks([(module, stop)]):
        network(inputs)
    if not captured:
        raise ValueError(f"the layer {type(module).__name__} was never called by {type(network).__name__}.forward")
    output = captured[0]
    if not isinstance(output, torch.Tensor):
        raise ValueError(f"the layer {type(module).__name__} returns {type(output).__name__}, not a tensor")
    return output
