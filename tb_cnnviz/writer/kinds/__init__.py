"""The kinds the callback logs, one module each; KINDS, the registry, makes a kind loggable by name.

Adding a kind: one module here (a LayerKind or ModelKind dataclass with a `records` method) and its
line in REGISTERED; the order there is the order error messages and the command line list them in.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Sequence

from tb_cnnviz.writer.kinds.base import Kind

# The registry: one line per kind, "<its module in this folder>.<its Kind class>".
REGISTERED = (
    "feature_maps.FeatureMaps",
    "filters.Filters",
    "deconv.Deconv",
    "dynamics.Dynamics",
    "saliency.Saliency",
    "grad_cam.GradCam",
    "class_visualization.ClassVisualization",
    "fooling.Fooling",
    "explanatory_graph.PartGraph",
)

# What a callback (and `tb-cnnviz checkpoints`) logs when no kinds are named: cheap, and about every layer.
DEFAULT_KINDS = ("feature_maps", "dynamics")


def _load(entry: str) -> type[Kind]:
    module, name = entry.rsplit(".", 1)
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


KINDS: dict[str, type[Kind]] = {kind.name: kind for kind in map(_load, REGISTERED)}


def kind_names(scope: str | None = None, *, by_name: bool = False) -> list[str]:
    """Names of the registered kinds, of one scope ("layer" or "model") or all, in registry order.

    `by_name`: only those that log when given by name alone (not explanatory_graph, which needs held-out data).
    """
    return [
        name
        for name, kind in KINDS.items()
        if (scope is None or kind.scope == scope) and (kind.made_by_name or not by_name)
    ]


def resolve_kinds(kinds: Sequence[str | Kind]) -> list[Kind]:
    """Kind objects for `kinds` (names for default options, or configured objects), each a fresh copy.

    A copy, so what a kind fixes at the first log belongs to one callback even if the object is shared.
    """
    if isinstance(kinds, (str, Kind)):
        kinds = [kinds]
    unknown = [kind for kind in kinds if not isinstance(kind, Kind) and kind not in KINDS]
    if unknown or not kinds:
        raise ValueError(f"kinds {unknown or list(kinds)} are not loggable; choose from {kind_names()}")
    resolved = [dataclasses.replace(kind) if isinstance(kind, Kind) else KINDS[kind]() for kind in kinds]
    names = [kind.name for kind in resolved]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"kinds name {twice} more than once; give each kind once (configure it with its class)")
    return resolved
