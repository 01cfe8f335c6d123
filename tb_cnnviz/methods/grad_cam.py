"""Grad-CAM (Selvaraju et al. 2017): where in the image a layer's evidence for a class lies.

The layer's feature maps A^k are weighted by the spatial mean of d score / d A^k and summed;
ReLU keeps what speaks for the class. Gradients stop at the layer: nothing below it is differentiated.
"""

from __future__ import annotations

import torch
from torch import nn

from tb_cnnviz.methods.class_scores import Target, class_logits, resolve_targets
from tb_cnnviz.methods.hooks import forward_hooks
from tb_cnnviz.methods.layers import resolve_layers, single_layer, unwrap_model
from tb_cnnviz.methods.model_state import evaluation_mode, model_device, model_dtype


def grad_cam(
    model: nn.Module, images: torch.Tensor, layer: str | nn.Module | None = None, target: Target = None
) -> torch.Tensor:
    """Grad-CAM of `images` (N, C, H, W) at `layer`'s resolution: (N, h, w) float32 in [0, 1].

    `layer` names one layer whose output is (N, K, h, w) (default: the model's last Conv2d); a layer
    called several times is taken at its first call. `target` as in `saliency` (None: predicted class).
    Each map is divided by its maximum; a map with no positive evidence is all zeros.
    The model is left as found (modes, requires_grad, gradients, hooks).
    """
    name, module = single_layer(model, layer) if layer is not None else last_conv(model)
    network = unwrap_model(model)
    inputs = images.detach().to(device=model_device(network), dtype=model_dtype(network))
    captured: list[torch.Tensor] = []

    def cut_graph_here(_module: nn.Module, _args: tuple, output) -> torch.Tensor | None:
        if captured or not isinstance(output, torch.Tensor) or output.dim() != 4:
            captured.append(output)
            return None
        leaf = output.detach().requires_grad_(True)
        captured.append(leaf)
        # A clone flows on: an inplace op after the layer (ReLU(inplace=True)) must not change the maps.
        return leaf.clone()

    hooked = forward_hooks([(module, cut_graph_here)])
    with hooked, evaluation_mode(network, freeze_parameters=True), torch.enable_grad():
        logits = class_logits(network, inputs)
        if not captured:
            raise ValueError(f"layer {name!r} was never called by {type(network).__name__}.forward")
        maps = captured[0]
        if not isinstance(maps, torch.Tensor) or maps.dim() != 4:
            raise ValueError(f"layer {name!r} ({type(module).__name__}) does not return (N, K, h, w) feature maps")
        classes = resolve_targets(target, logits)
        (gradient,) = torch.autograd.grad(logits.gather(1, classes[:, None]).sum(), maps)
    weights = gradient.float().mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * maps.detach().float()).sum(dim=1))
    return cam / cam.amax(dim=(1, 2), keepdim=True).clamp_min(torch.finfo(cam.dtype).tiny)


def last_conv(model: nn.Module) -> tuple[str, nn.Module]:
    """(name, module) of the model's last nn.Conv2d in definition order: Grad-CAM's usual layer."""
    return list(resolve_layers(model).items())[-1]
