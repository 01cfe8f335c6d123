"""Which layers a callback logs: what the user named, or for a big model a representative few, said once."""

from __future__ import annotations

import warnings

import torch
from torch import nn

from tb_cnnviz.methods.default_layers import MAX_ALL_CONVS, representative_convs
from tb_cnnviz.methods.layers import ALL, LayerSpec, resolve_layers
from tb_cnnviz.writer.reporting import DefaultLayersWarning


def chosen_layers(model: nn.Module, layers: LayerSpec, images: torch.Tensor) -> dict[str, nn.Module]:
    """resolve_layers(model, layers), except that None picks a big model's representative convs, said once."""
    every = resolve_layers(model, ALL if layers is None else layers)
    if layers is not None or len(every) <= MAX_ALL_CONVS:
        return every
    with torch.random.fork_rng(devices=[]):
        chosen = representative_convs(model, images)
    warnings.warn(
        f"tb_cnnviz: {type(model).__name__} has {len(every)} Conv2d layers; logging {len(chosen)} of them, the "
        f'first and the last at each spatial resolution: {", ".join(chosen)}. Pass layers="all" to log every '
        "Conv2d, or name the layers you want (layers=[...], globs allowed)",
        DefaultLayersWarning,
        stacklevel=3,
    )
    return chosen
