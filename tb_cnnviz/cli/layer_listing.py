"""The layers a model has, with the output shape each gives for one input size: what --layers can name."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tb_cnnviz.methods.default_layers import representative_convs
from tb_cnnviz.methods.hooks import forward_hooks
from tb_cnnviz.methods.layers import unwrap_model
from tb_cnnviz.methods.model_state import evaluation_mode, model_device, model_dtype


@dataclass(frozen=True)
class LayerRow:
    name: str
    type_name: str
    output: str  # "C x H x W" per image, another output's type, or "not called"
    logged_by_default: bool  # what the callback logs when no layers are given (methods/default_layers.py)


def list_layers(model: nn.Module, input_size: tuple[int, ...]) -> list[LayerRow]:
    """Every named module of `model` in model order, with its output shape for one input of `input_size` (C, H, W)."""
    network = unwrap_model(model)
    named = [(name, module) for name, module in network.named_modules() if name]
    outputs: dict[str, str] = {}

    def hook_for(name: str):
        def record(module: nn.Module, args: tuple, output) -> None:
            if name not in outputs:
                described = (
                    " x ".join(map(str, output.shape[1:]))
                    if isinstance(output, torch.Tensor)
                    else type(output).__name__
                )
                outputs[name] = described

        return record

    inputs = torch.zeros(1, *input_size, device=model_device(network), dtype=model_dtype(network))
    try:
        with forward_hooks([(module, hook_for(name)) for name, module in named]):
            with evaluation_mode(network), torch.no_grad():
                network(inputs)
    except Exception as error:
        size = " x ".join(map(str, input_size))
        raise ValueError(f"{type(network).__name__} cannot take an input of size {size}: {error}") from error
    default = representative_convs(network, inputs)
    return [
        LayerRow(name, type(module).__name__, outputs.get(name, "not called"), name in default)
        for name, module in named
    ]


def format_layer_table(rows: list[LayerRow]) -> str:
    """Aligned columns; '*' marks the layers logged when no --layers are given."""
    table = [("", "layer", "type", "output (C x H x W)")]
    table += [("*" if row.logged_by_default else "", row.name, row.type_name, row.output) for row in rows]
    widths = [max(len(cells[column]) for cells in table) for column in range(3)]
    lines = [
        "  ".join([*(cell.ljust(width) for cell, width in zip(cells[:3], widths, strict=True)), cells[3]])
        for cells in table
    ]
    return "\n".join(line.rstrip() for line in lines) + (
        "\n* logged when no --layers are given (every Conv2d of a model with at most 6, else the first and the last"
        " at each spatial resolution; --layers all logs every Conv2d)"
    )
