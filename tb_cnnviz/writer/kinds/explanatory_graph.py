"""The explanatory graph (Zhang et al., AAAI 2018): each filter's part patterns, mined from held-out images,
linked to the patterns of the layer above they sit in, and located again on the probes, every few logs.

The mining is methods/explanatory_graph.py's; this module fixes its layers, runs it on the held-out set,
locates the nodes on the probe images and turns the graph into one info and one patch atlas per layer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, TypedDict

import torch

from tb_cnnviz import contract
from tb_cnnviz.methods.explanatory_graph import ExplanatoryGraph, PartNode, explanatory_graph, locate_parts
from tb_cnnviz.methods.layers import LayerSpec, resolve_layers
from tb_cnnviz.writer.atlas import pack_atlas
from tb_cnnviz.writer.kinds.base import ModelKind
from tb_cnnviz.writer.kinds.options import check_count
from tb_cnnviz.writer.pictures import display_images, fit_tiles
from tb_cnnviz.writer.record import Record, new_info
from tb_cnnviz.writer.statistics import round_number

if TYPE_CHECKING:
    from tb_cnnviz.writer.context import StepContext
    from tb_cnnviz.writer.probes import Probes

NAME = "explanatory_graph"
# Mining streams the held-out set once per layer: far more than a probe pass, so every 5th log by default.
EVERY = 5
DEFAULT_LAYER_COUNT = 4  # the paper mined four upper conv layers: the top 4 of the callback's layers
PATTERNS = "patterns"  # series: part patterns mined per layer
INSTABILITY = "instability"  # series: their mean location instability


class PartEdgeInfo(TypedDict):
    """A node's link to one parent: the mean displacement child - parent and its spread, input pixels."""

    parent: int
    dx: float
    dy: float
    sx: float
    sy: float


class PeerInfo(TypedDict):
    """A top pattern's stable displacement from another channel's strongest peak in its layer, input pixels."""

    channel: int
    dx: float
    dy: float
    sx: float
    sy: float


class PartNodeInfo(TypedDict):
    """One part pattern; `row`: its row in its layer's patch atlas, `patches`: how many tiles of that row hold one."""

    id: int
    layer: str
    channel: int
    parents: list[PartEdgeInfo]
    peers: list[PeerInfo]  # top layer only: the channels its position is mined relative to
    instability: float | None
    support: int
    row: int
    patches: int
    boxes: list[list[int]]  # per patch: [held-out image index, top, left, bottom, right]


class PatchAtlasInfo(TypedDict):
    """Where a layer's patches are: picture blob `picture`, a row per node of `grid[1]` tiles of `tile` pixels."""

    layer: str
    picture: int
    tile: list[int]
    grid: list[int]


class ExplanatoryGraphInfo(TypedDict, total=False):
    """The kind's own keys beside contract.Info's.

    The info has no `tile`/`grid` of its own: each layer's patches have their receptive field's size, so
    each layer has its atlas, described under `atlases`. `channels` (the items `series` charts) are the
    layers, so the series route charts part patterns and mean instability per layer over steps.
    """

    layers: list[str]  # top layer first
    nodes: list[PartNodeInfo]  # layer by layer, top first; at most `max_nodes` per layer
    mined: list[int]  # per layer, the part patterns mined (nodes beyond max_nodes are not logged)
    atlases: list[PatchAtlasInfo]  # per layer with nodes
    positions: list[list[list[float] | None]]  # (node, probe) inferred [x, y, score] in the probe's pixels, or None
    image_size: list[int]  # [H, W] the graph was mined at
    receptive_fields: dict[str, list[float]]  # layer -> [size, jump, offset], input pixels
    patterns_per_filter: int
    top_patches: int


@dataclass
class PartGraph(ModelKind):
    """The explanatory graph of `layers` over the held-out `dataset`, logged as kind "explanatory_graph".

    `dataset`: held-out images as the model takes them, a tensor (N, C, H, W) or an iterable of batches
    (a DataLoader; (images, labels) batches are fine), required. `layers`: names or globs; None for the
    top DEFAULT_LAYER_COUNT of the callback's layers, fixed at the first log. `max_nodes`: the most
    supported part patterns logged per layer (the atlas and the drawing stay small on wide layers; the
    series count every mined one). Logged at every 5th log by default.
    """

    name: ClassVar[str] = NAME
    title: ClassVar[str] = "explanatory graph"
    made_by_name: ClassVar[bool] = False
    every: int = field(default=EVERY, kw_only=True)
    dataset: torch.Tensor | Iterable | None = field(default=None, repr=False)
    layers: LayerSpec = None
    patterns_per_filter: int = 4
    top_patches: int = 9
    max_nodes: int = 32
    _layers: list[str] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.dataset is None:
            raise ValueError(
                "PartGraph (kind 'explanatory_graph') mines part patterns from held-out images: pass "
                "dataset= a tensor (N, C, H, W) or a loader of batches as the model takes them, e.g. "
                "kinds=[PartGraph(dataset=test_loader)]; the command line takes --held-out"
            )
        if isinstance(self.dataset, Iterator):
            raise ValueError(
                "PartGraph dataset is a one-shot iterator, but every log reads it twice (peaks, then patches) and "
                "logs again later: pass a tensor or a re-iterable loader (a DataLoader, a list of batches)"
            )
        for option in ("patterns_per_filter", "top_patches", "max_nodes"):
            check_count("PartGraph", option, getattr(self, option), 1)

    def attach(self, model, probes: Probes) -> None:
        if self.layers is not None:
            self._layers = list(resolve_layers(model, self.layers))

    def fix(self, context: StepContext) -> None:
        if self._layers is None:
            self._layers = list(context.layers)[-DEFAULT_LAYER_COUNT:]
        if not self._layers:
            raise ValueError("PartGraph has no layers to mine: the callback logs none; name them with layers=")

    def records(self, context: StepContext) -> Iterator[Record]:
        graph = explanatory_graph(
            context.model, self.dataset, self._layers, self.patterns_per_filter, top_patches=self.top_patches
        )
        positions = locate_parts(context.model, graph, context.probes.images)
        probes = context.probes
        yield Record(
            *render(graph, positions, self.max_nodes, context.max_tile_size, probes.input_mean, probes.input_std,
                    patterns_per_filter=self.patterns_per_filter, top_patches=self.top_patches)
        )  # fmt: skip


def render(
    graph: ExplanatoryGraph,
    positions: list[list[tuple[float, float, float] | None]],
    max_nodes: int,
    max_tile_size: int,
    mean=None,
    std=None,
    **settings,
) -> tuple[dict, list]:
    """Info and one patch atlas per layer with nodes (a row per node, its patches left to right).

    Per layer the `max_nodes` most supported nodes are kept; edges to parents left out go too.
    """
    kept, mined = _kept_nodes(graph, max_nodes)
    kept_ids = {node.id for node in kept}
    where = {node.id: index for index, node in enumerate(graph.nodes)}
    nodes, atlases, pictures = [], [], []
    for layer in graph.layers:
        row_nodes = [node for node in kept if node.layer == layer]
        if not row_nodes:
            continue
        tiles, counts = _patch_tiles(row_nodes, max_tile_size, mean, std)
        picture = contract.FIRST_PICTURE_BLOB + len(pictures)
        grid = [len(row_nodes), max(1, max(counts))]
        pictures.append(pack_atlas(tiles, tuple(grid)))
        atlases.append({"layer": layer, "picture": picture, "tile": list(tiles.shape[1:3]), "grid": grid})
        pairs = enumerate(zip(row_nodes, counts, strict=True))
        nodes += [_node_info(node, row, count, kept_ids) for row, (node, count) in pairs]
    located = [[_position(at) for at in positions[where[node["id"]]]] for node in nodes]
    info = new_info(
        NAME, channels=list(graph.layers), layers=list(graph.layers), nodes=nodes, mined=mined, atlases=atlases,
        positions=located, image_size=list(graph.image_size),
        receptive_fields={layer: [_number(v) for v in field_] for layer, field_ in graph.receptive_fields.items()},
        series={PATTERNS: mined, INSTABILITY: _mean_instability(graph)}, **settings,
    )  # fmt: skip
    return info, pictures


def _kept_nodes(graph: ExplanatoryGraph, max_nodes: int) -> tuple[list[PartNode], list[int]]:
    """Per layer its `max_nodes` most supported nodes (ties: the graph's order), and how many each layer mined."""
    kept, mined = [], []
    for layer in graph.layers:
        layer_nodes = [node for node in graph.nodes if node.layer == layer]
        mined.append(len(layer_nodes))
        kept += sorted(layer_nodes, key=lambda node: -node.support)[:max_nodes]
    return kept, mined


def _patch_tiles(nodes: list[PartNode], max_tile_size: int, mean, std) -> tuple:
    """(rows * k, h, w[, 3]) uint8 tiles, k per node (black past a node's own patches), and each node's count."""
    k = max(len(node.patches) for node in nodes)
    size = next((tuple(node.patches.shape[-2:]) for node in nodes if len(node.patches)), (1, 1))
    channels = next((node.patches.shape[1] for node in nodes if len(node.patches)), 1)
    rows = torch.full((len(nodes), max(k, 1), channels, *size), float("nan"))
    for row, node in enumerate(nodes):
        if len(node.patches):
            rows[row, : len(node.patches)] = node.patches.detach().float().cpu()
    flat = fit_tiles(rows.flatten(0, 1).nan_to_num(0.0), max_tile_size)
    pixels = display_images(flat, mean, std)
    empty = torch.isnan(rows).flatten(0, 1).flatten(1).all(dim=1).numpy()
    pixels[empty] = 0
    return pixels, [len(node.patches) for node in nodes]


def _node_info(node: PartNode, row: int, count: int, kept: set[int]) -> PartNodeInfo:
    parents = [{"parent": int(edge.parent), **_geometry(edge)} for edge in node.parents if edge.parent in kept]
    peers = [{"channel": int(edge.parent), **_geometry(edge)} for edge in node.peers]
    return {
        "id": int(node.id), "layer": node.layer, "channel": int(node.channel), "parents": parents, "peers": peers,
        "instability": _number(node.instability), "support": int(node.support), "row": row, "patches": count,
        "boxes": [[int(value) for value in box] for box in node.patch_boxes],
    }  # fmt: skip


def _geometry(edge) -> dict[str, float | None]:
    return {key: _number(getattr(edge, key)) for key in ("dx", "dy", "sx", "sy")}


def _number(value) -> float | None:
    """A float of the graph (a Python or tensor number) with 5 significant digits; None when not finite."""
    return round_number(float(value))


def _position(at: tuple[float, float, float] | None) -> list[float] | None:
    return None if at is None else [_number(value) for value in at]


def _mean_instability(graph: ExplanatoryGraph) -> list[float | None]:
    """Per layer, the mean location instability of its mined nodes (None without nodes or finite values)."""
    means = []
    for layer in graph.layers:
        values = [node.instability for node in graph.nodes if node.layer == layer]
        finite = [value for value in map(float, values) if math.isfinite(value)]
        means.append(_number(sum(finite) / len(finite)) if finite else None)
    return means
