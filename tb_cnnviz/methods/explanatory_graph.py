"""The explanatory graph (Zhang et al., AAAI 2018): part patterns of each filter and how they compose.

Interface first; the mining follows in later commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class PartEdge:
    """A link from a node to one parent in the layer above: where the child sits relative to it."""

    parent: int  # id of a node in the layer above
    dx: float  # mean displacement child - parent, input pixels (x: right)
    dy: float  # (y: down)
    sx: float  # spread (std) of that displacement, input pixels
    sy: float


@dataclass
class PartNode:
    """One part pattern of one channel: where it lands, how stably, and what it looks like."""

    id: int  # unique in the graph
    layer: str
    channel: int
    parents: list[PartEdge]  # empty for the top layer's nodes
    instability: float  # location instability (paper's definition, normalized by image size)
    support: int  # held-out images on which the node was inferred
    patches: torch.Tensor  # (k, C, h, w) top-ranked receptive-field crops, input space as the model takes it
    patch_boxes: list[tuple[int, int, int, int, int]]  # (image index, top, left, bottom, right) of each crop


@dataclass
class ExplanatoryGraph:
    """Every layer's part patterns, top layer first, with the geometry needed to locate them again."""

    layers: list[str]  # top layer first
    nodes: list[PartNode]
    image_size: tuple[int, int]  # (H, W) of the images the graph was mined on
    receptive_fields: dict[str, tuple[int, int, float]]  # layer -> (size, jump, offset) in input pixels


def explanatory_graph(
    model: nn.Module,
    data: torch.Tensor | Iterable,
    layers: Sequence[str | nn.Module],
    patterns_per_filter: int = 4,
    *,
    top_patches: int = 9,
    peaks_per_channel: int = 3,
    threshold_quantile: float = 0.9,
    batch_size: int = 64,
    progress: bool = False,
) -> ExplanatoryGraph:
    """Mine the part patterns of `layers` (any order; mined top down) from the held-out `data`."""
    raise NotImplementedError


def locate_parts(
    model: nn.Module, graph: ExplanatoryGraph, images: torch.Tensor
) -> list[list[tuple[float, float, float] | None]]:
    """Per node (graph.nodes order), per image: the inferred (x, y, score) of the part, or None when absent."""
    raise NotImplementedError
