"""The layers logged when none are named: every Conv2d of a small model, a representative few of a big one.

A ResNet-50 has 53 Conv2d layers; logging them all costs minutes and hundreds of MB per step. Past
`MAX_ALL_CONVS` convs, the default is one conv per stretch of constant spatial resolution: the first
conv, and the last conv before each change of resolution (conv1, layer1..4's last conv for a ResNet;
the conv before each max pool for a VGG: 5 layers for both, at 32 px or 224 px). Resolutions are
measured, not guessed from strides: one eval-mode forward of one probe image records each conv's output
size in call order. A conv inside a block that changes resolution after it (a bottleneck's 1x1
reduction before its strided conv) does not stand for its stretch when another conv does: the block's
output, not its input, is what the next stage sees.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from tb_cnnviz.methods.hooks import forward_hooks
from tb_cnnviz.methods.layers import unwrap_model
from tb_cnnviz.methods.model_state import evaluation_mode, model_device, model_dtype

MAX_ALL_CONVS = 6  # up to this many Conv2d layers, the default logs them all
_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


def every_conv(model: nn.Module) -> dict[str, nn.Module]:
    """{name: module} of every nn.Conv2d of the (unwrapped) model, in model order."""
    return {name: module for name, module in unwrap_model(model).named_modules() if isinstance(module, nn.Conv2d)}


def representative_convs(model: nn.Module, images: torch.Tensor) -> dict[str, nn.Module]:
    """Every Conv2d if there are at most MAX_ALL_CONVS, else the first conv and the last before each change of
    spatial resolution (measured by one forward of images[:1]), in model order.

    The model is left as found (modes, hooks); the forward runs under no_grad and draws no random numbers
    in eval mode.
    """
    network = unwrap_model(model)
    convs = every_conv(network)
    if len(convs) <= MAX_ALL_CONVS:
        return convs
    named = dict(network.named_modules())
    sizes = _output_sizes(network, images[:1])
    called = [name for name in sizes if name in convs]  # convs in call order
    if not called:
        return convs
    stretches: list[list[str]] = []
    for name in called:
        if stretches and sizes[stretches[-1][-1]] == sizes[name]:
            stretches[-1].append(name)
        else:
            stretches.append([name])
    chosen = {called[0]}
    for stretch in stretches:
        standing = [name for name in stretch if _stands_for_its_size(name, named, sizes)]
        chosen.add((standing or stretch)[-1])
    return {name: module for name, module in convs.items() if name in chosen}


def _output_sizes(network: nn.Module, image: torch.Tensor) -> dict[str, tuple[int, ...]]:
    """{name: spatial size of its first output} of every module that ran, in the order they finished."""
    sizes: dict[str, tuple[int, ...]] = {}

    def hook_for(name: str):
        def record(module: nn.Module, args: tuple, output) -> None:
            if name not in sizes and isinstance(output, torch.Tensor) and output.dim() >= 3:
                sizes[name] = tuple(output.shape[2:])

        return record

    hooks = [(module, hook_for(name)) for name, module in network.named_modules() if name]
    inputs = image.to(device=model_device(network), dtype=model_dtype(network))
    with forward_hooks(hooks), evaluation_mode(network), torch.no_grad(), contextlib.suppress(Exception):
        network(inputs)  # a model failing after its last conv (wrong head) still tells its convs' sizes
    return sizes


def _stands_for_its_size(name: str, named: dict[str, nn.Module], sizes: dict[str, tuple[int, ...]]) -> bool:
    """False when the conv's innermost enclosing block (not a plain container) outputs another resolution."""
    parts = name.split(".")
    for end in range(len(parts) - 1, 0, -1):
        parent = ".".join(parts[:end])
        if not isinstance(named.get(parent), _CONTAINERS):
            return parent not in sizes or sizes[parent] == sizes[name]
    return True
