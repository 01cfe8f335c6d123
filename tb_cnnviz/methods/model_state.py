"""Leave the user's model exactly as found: modes, requires_grad, gradients."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


@contextmanager
def evaluation_mode(model: nn.Module, freeze_parameters: bool = False) -> Iterator[nn.Module]:
    """Run `model` in eval mode (running BatchNorm stats, no dropout), then restore every module's mode.

    With `freeze_parameters`, parameters stop requiring gradients for the duration, so a backward
    pass to the input leaves their `.grad` untouched; the flags come back as they were.
    """
    modes = [(module, module.training) for module in model.modules()]
    parameters = list(model.parameters())
    requires_grad = [parameter.requires_grad for parameter in parameters]
    try:
        model.eval()
        if freeze_parameters:
            for parameter in parameters:
                parameter.requires_grad_(False)
        yield model
    finally:
        for module, training in modes:
            module.training = training
        for parameter, flag in zip(parameters, requires_grad, strict=True):
            parameter.requires_grad_(flag)


def model_device(model: nn.Module) -> torch.device:
    """Where the model's tensors live (CPU for a model without any)."""
    for tensor in list(model.parameters()) + list(model.buffers()):
        return tensor.device
    return torch.device("cpu")


def model_dtype(model: nn.Module) -> torch.dtype:
    """The floating dtype of the model's parameters, so inputs match it."""
    for parameter in model.parameters():
        if parameter.is_floating_point():
            return parameter.dtype
    return torch.get_default_dtype()
