"""The plain activation overlay of the first CNN-visualization articles: one layer's activity as a map.

Before gradient methods, people laid the most active feature map (or the mean over channels) of a
layer over the image to see where the layer responds; it needs only a forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tb_cnnviz.methods.capture import feature_maps
from tb_cnnviz.methods.layers import single_layer
from tb_cnnviz.methods.overlays import normalize_heatmap


@dataclass(frozen=True)
class ActivationMaps:
    """Result of `activation_map`.

    maps: (N, h, w) in [0, 1], each image's map stretched from its minimum to its maximum;
    channels: (N,) the channel shown per image, or None for the channel mean; layer: the layer's name.
    """

    maps: torch.Tensor
    channels: torch.Tensor | None
    layer: str


def activation_map(
    model: nn.Module, images: torch.Tensor, layer: str | nn.Module, channel: int | str = "max"
) -> ActivationMaps:
    """One map per image of `layer`'s output (N, K, h, w) for model inputs `images`.

    `channel`: "max" for each image's most active channel (largest mean activation), "mean" for the
    mean over channels, or an int for one channel. Forward only, stopping at the layer, as `feature_maps`.
    """
    name, _ = single_layer(model, layer)
    output = feature_maps(model, images, name)[name].float()
    if output.dim() != 4:
        raise ValueError(f"layer {name!r} returns shape {tuple(output.shape)}; it needs (N, K, h, w) feature maps")
    rows = torch.arange(len(output), device=output.device)
    if channel == "mean":
        return ActivationMaps(normalize_heatmap(output.mean(dim=1)), None, name)
    if channel == "max":
        chosen = output.mean(dim=(2, 3)).argmax(dim=1)
    elif isinstance(channel, int) and 0 <= channel < output.shape[1]:
        chosen = torch.full((len(output),), channel, dtype=torch.long, device=output.device)
    else:
        raise ValueError(f"channel must be 'max', 'mean' or an int in [0, {output.shape[1]}), got {channel!r}")
    return ActivationMaps(normalize_heatmap(output[rows, chosen]), chosen, name)
