"""The explanatory graph (Zhang et al., AAAI 2018): the part patterns of each filter and how they compose.

A filter fires at many places, some of them noise. A peak that belongs to an object part co-occurs with
peaks of other filters at stable relative positions; mining these relations top down, layer by layer and
without labels, splits each filter into "part patterns": nodes of a graph whose edges link a pattern to the
upper-layer patterns it sits inside, with the displacement between them (a 2-D Gaussian). Peaks that fit
no relation are noise. Each pattern is shown by its top-ranked patches and located on new images by
`locate_parts`. The estimators are in part_mining.py, the peaks in peaks.py.

Where this departs from the paper (a documented simplification):
- Peaks, not every unit: per image each channel keeps its `peaks_per_channel` strongest 3x3 local maxima,
  and of those the ones at or above the `threshold_quantile` of the channel's kept peak values over the data.
  The paper weighs every activation of the map.
- The top layer's patterns are clustered by co-activation: a top pattern keeps a stable displacement from
  the strongest peaks of other top-layer channels (its `peers`), fitted like the layers below. The paper's
  images are cropped to the object, which also gives top patterns a prior position in the image; objects
  here may sit anywhere, so there is none.
- Lower patterns are fitted by hard EM (each image contributes its best-fitting peak, within GATE standard
  deviations) from the densest displacement mode, instead of the paper's soft EM from random starts, and a
  pattern's parents are the `max_parents` upper patterns with the tightest displacement rather than a fixed
  count chosen by co-activation score.
- Location instability needs reference part positions; the paper used annotated landmarks. Without labels,
  a pattern's references are its parents, a top pattern's its peers. `part_mining.location_instability`
  takes any references, e.g. landmarks.
Layers are mined from the last in model order (named_modules) to the first; data is streamed twice (peaks
of all layers in one pass, then the top patches), keeping N * C * peaks_per_channel peaks.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from tb_cnnviz.methods.capture import each_feature_map
from tb_cnnviz.methods.layers import resolve_layers, unwrap_model
from tb_cnnviz.methods.model_state import evaluation_mode, model_device, model_dtype
from tb_cnnviz.methods.part_mining import Fit, MinedNode, channel_anchors, infer_node, mine_layer, node_instabilities
from tb_cnnviz.methods.peaks import (
    LayerGeometry,
    LayerPeaks,
    channel_thresholds,
    layer_geometry,
    peaks_of_maps,
    stream_peaks,
    thresholded,
)
from tb_cnnviz.methods.top_activations import _batches


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
    peers: list[PartEdge] = field(default_factory=list)  # top layer only: displacement from other channels'
    # strongest peaks in the same layer (PartEdge.parent is a channel index there)


@dataclass
class ExplanatoryGraph:
    """Every layer's part patterns, top layer first, with the geometry needed to locate them again."""

    layers: list[str]  # top layer first
    nodes: list[PartNode]
    image_size: tuple[int, int]  # (H, W) of the images the graph was mined on
    receptive_fields: dict[str, tuple[int, int, float]]  # layer -> (size, jump, offset) in input pixels
    thresholds: dict[str, list[float]] = field(default_factory=dict)  # layer -> per-channel peak threshold
    peaks_per_channel: int = 3  # peaks kept per channel and image, as when mined


def explanatory_graph(
    model: nn.Module,
    data: torch.Tensor | Iterable,
    layers: Sequence[str | nn.Module],
    patterns_per_filter: int = 4,
    *,
    top_patches: int = 9,
    peaks_per_channel: int = 3,
    threshold_quantile: float = 0.5,
    max_parents: int = 3,
    max_spread: float = 0.5,
    min_support: float = 0.1,
    batch_size: int = 64,
) -> ExplanatoryGraph:
    """Mine the part patterns of `layers` from held-out `data` (a tensor (N, C, H, W) or a re-iterable loader of
    tensors or (inputs, ...) tuples, in the model's input space, in the same order on both passes).

    patterns_per_filter: at most this many patterns per channel below the top layer. max_spread: the most
    std (per axis, in the upper layer's jumps) of a stable displacement. min_support: the share of the images
    (or, if at least 1, the number) a pattern must be inferred on. The model is left as found.
    """
    settings = {"patterns_per_filter": patterns_per_filter, "peaks_per_channel": peaks_per_channel,
                "max_parents": max_parents, "top_patches": top_patches}  # fmt: skip
    _check(data, layers, settings, threshold_quantile, max_spread)
    settings["max_spread"] = max_spread
    network = unwrap_model(model)
    modules = {name: module for name, module in reversed(resolve_layers(network, list(layers)).items())}
    with evaluation_mode(network, freeze_parameters=True):
        raw, geometry, count, shape = stream_peaks(network, modules, _batches(data, batch_size), peaks_per_channel)
        support = max(2, math.ceil(min_support * count) if min_support < 1 else int(min_support))
        thresholds = {name: channel_thresholds(values, threshold_quantile) for name, (values, _) in raw.items()}
        peaks = {name: thresholded(*raw[name], geometry[name], thresholds[name]) for name in modules}
        mined, instabilities = _mine(peaks, count, shape[1:], settings, support)
        patches = _top_patches(network, data, batch_size, mined, geometry, top_patches)
    empty = {name: torch.zeros(0, shape[0], g.rows.size, g.cols.size) for name, g in geometry.items()}
    nodes = _part_nodes(mined, instabilities, patches, empty)
    return ExplanatoryGraph(
        layers=list(modules),
        nodes=nodes,
        image_size=(shape[1], shape[2]),
        receptive_fields={name: (g.rows.size, round(g.rows.jump), g.rows.offset) for name, g in geometry.items()},
        thresholds={name: value.tolist() for name, value in thresholds.items()},
        peaks_per_channel=peaks_per_channel,
    )


def locate_parts(
    model: nn.Module, graph: ExplanatoryGraph, images: torch.Tensor
) -> list[list[tuple[float, float, float] | None]]:
    """Per node (graph.nodes order), per image: the inferred (x, y, score) of the part, or None when absent.

    Inference as in mining, with the graph's thresholds, displacements and spreads: on the mining data it
    gives the positions the graph was mined with. The model is left as found.
    """
    missing = [name for name in graph.layers if name not in graph.thresholds]
    if missing:
        raise ValueError(f"the graph has no peak thresholds for {missing}; locate parts with a graph that "
                         "explanatory_graph built")  # fmt: skip
    network = unwrap_model(model)
    modules = resolve_layers(network, graph.layers)
    inputs = images.to(device=model_device(network), dtype=model_dtype(network))
    with evaluation_mode(network, freeze_parameters=True):
        maps, problems = each_feature_map(network, inputs, modules)
        if problems:
            raise ValueError("; ".join(problems.values()))
        shape = tuple(inputs.shape[1:])
        geometry = {name: layer_geometry(network, modules[name], name, shape, maps[name]) for name in graph.layers}
    count = len(images)
    located: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    for name in graph.layers:
        thresholds = torch.tensor(graph.thresholds[name], dtype=torch.float32)
        peaks = peaks_of_maps(maps[name], geometry[name], thresholds, graph.peaks_per_channel)
        located |= _locate_layer(peaks, [node for node in graph.nodes if node.layer == name], located, count)
    return [_as_rows(*located[node.id]) for node in graph.nodes]


def _locate_layer(peaks: LayerPeaks, nodes: list[PartNode], located: dict, count: int) -> dict:
    """{node id: (positions (N, 2), scores (N,))} for one layer's nodes, in graph order (as they were mined)."""
    found = {}
    peers = [node.positions for node in channel_anchors(peaks, "", count)] if nodes and not nodes[0].parents else []
    free = torch.ones(len(peaks.value), dtype=torch.bool)
    for node in nodes:
        edges = node.parents or node.peers
        sources = torch.stack([located[edge.parent][0] if node.parents else peers[edge.parent] for edge in edges])
        means = torch.tensor([[edge.dx, edge.dy] for edge in edges], dtype=torch.float64)
        spreads = torch.tensor([[edge.sx, edge.sy] for edge in edges], dtype=torch.float64)
        positions, scores, _, chosen = infer_node(peaks, free & (peaks.channel == node.channel), sources, means,
                                                  spreads, count)  # fmt: skip
        free[chosen[chosen >= 0]] = False
        found[node.id] = (positions, scores)
    return found


def _as_rows(positions: torch.Tensor, scores: torch.Tensor) -> list[tuple[float, float, float] | None]:
    return [
        None if score <= 0 else (float(x), float(y), float(score))
        for (x, y), score in zip(positions.tolist(), scores.tolist(), strict=True)
    ]


def _check(data, layers, counts: dict[str, int], threshold_quantile: float, max_spread: float) -> None:
    if not isinstance(data, torch.Tensor) and iter(data) is data:
        raise TypeError("data is read twice (peaks, then patches): pass a tensor or a re-iterable such as a DataLoader")
    if isinstance(layers, (str, nn.Module)) or len(layers) == 0:
        raise ValueError("layers must be a list of at least one layer name or module, e.g. ['features.8', ...]")
    for name, value in counts.items():
        if not isinstance(value, int) or value < (0 if name == "top_patches" else 1):
            raise ValueError(f"{name} must be a positive integer (top_patches may be 0), got {value!r}")
    if not max_spread > 0:
        raise ValueError(f"max_spread must be positive (in upper-layer jumps), got {max_spread!r}")
    if not 0 <= threshold_quantile < 1:
        raise ValueError(f"threshold_quantile must be in [0, 1), got {threshold_quantile!r}")


def _mine(
    peaks: dict[str, LayerPeaks], count: int, image_size: tuple[int, int], settings: dict, support: int
) -> tuple[list[list[MinedNode]], list[list[float]]]:
    """Per layer, top first: its mined patterns and their location instabilities."""
    names = list(peaks)
    top = names[0]
    above = [channel_anchors(peaks[top], top, count)]
    layers = [mine_layer(peaks[top], top, above[0], count, _fit(peaks[top], peaks[top], settings, support), True)]
    for upper, name in itertools.pairwise(names):
        above.append(layers[-1])
        layers.append(
            mine_layer(peaks[name], name, layers[-1], count, _fit(peaks[upper], peaks[name], settings, support))
        )
    return layers, [node_instabilities(n, a, image_size) for n, a in zip(layers, above, strict=True)]


def _fit(upper: LayerPeaks, lower: LayerPeaks, settings: dict, support: int) -> Fit:
    """Bins of the upper layer's jump; spreads from half the lower layer's jump up to max_spread upper jumps."""
    jump = max(upper.geometry.rows.jump, upper.geometry.cols.jump)
    floor = max(lower.geometry.rows.jump, lower.geometry.cols.jump) / 2
    cap = max(2 * floor, settings["max_spread"] * jump)
    return Fit(jump, floor, cap, settings["max_parents"], settings["patterns_per_filter"], support)


def _top_patches(
    network: nn.Module, data, batch_size: int, layers: list[list[MinedNode]], geometry: dict[str, LayerGeometry],
    k: int,
) -> list[list[tuple[torch.Tensor, tuple[int, int, int, int, int]]]]:  # fmt: skip
    """Per node (flat, top layer first): its k best-scoring inferred positions' crops and boxes, best first."""
    nodes = [node for layer in layers for node in layer]
    wanted: dict[int, list[tuple[int, int, tuple[int, int]]]] = {}
    for index, node in enumerate(nodes):
        ranked = node.scores.argsort(descending=True)[: min(k, node.support)]
        for rank, image in enumerate(ranked.tolist()):
            wanted.setdefault(image, []).append((index, rank, tuple(node.units[image].tolist())))
    crops: list[dict[int, tuple]] = [{} for _ in nodes]
    start = 0
    for batch in _batches(data, batch_size) if wanted else ():
        for image in range(start, start + len(batch)):
            for index, rank, unit in wanted.get(image, []):
                where = geometry[nodes[index].layer]
                patch, box = where.patch(batch[image - start].detach().cpu(), unit)
                crops[index][rank] = (patch, (image, *box))
        start += len(batch)
    return [[crop[rank] for rank in sorted(crop)] for crop in crops]


def _part_nodes(
    layers: list[list[MinedNode]], instabilities: list[list[float]], patches: list, empty: dict[str, torch.Tensor]
) -> list[PartNode]:
    """The public nodes, ids in order top layer first; a top node's relations become its peers."""
    firsts = [0]
    for layer in layers:
        firsts.append(firsts[-1] + len(layer))
    nodes = []
    for depth, layer in enumerate(layers):
        for offset, mined in enumerate(layer):
            index = firsts[depth] + offset
            shift = firsts[depth - 1] if depth else 0
            pairs = zip(mined.parents, mined.means.tolist(), mined.spreads.tolist(), strict=True)
            edges = [PartEdge(shift + parent, *mean, *spread) for parent, mean, spread in pairs]
            crops = patches[index]
            nodes.append(PartNode(
                index, mined.layer, mined.channel, edges if depth else [], instabilities[depth][offset], mined.support,
                torch.stack([crop for crop, _ in crops]) if crops else empty[mined.layer], [box for _, box in crops],
                [] if depth else edges,
            ))  # fmt: skip
    return nodes
