"""Release 1's per-kind keyword arguments of CNNVizCallback, still accepted for one release.

Each becomes the kind object that says the same (filter_options={"steps": 8} -> Filters(steps=8)),
with a DeprecationWarning that spells it; remove this module in the next release.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence

from tb_cnnviz.writer.kinds import Kind
from tb_cnnviz.writer.kinds.class_visualization import ClassVisualization
from tb_cnnviz.writer.kinds.deconv import Deconv
from tb_cnnviz.writer.kinds.filters import Filters
from tb_cnnviz.writer.kinds.fooling import Fooling
from tb_cnnviz.writer.kinds.grad_cam import GradCam

# Release 1's options dicts: the argument, the kind it configures, the function its error named.
OPTIONS_DICTS = {
    "filter_options": (Filters, "maximize_filters"),
    "class_options": (ClassVisualization, "class_visualization"),
    "fooling_options": (Fooling, "fooling_images"),
}
# Release 1's flat arguments: argument -> (kind, option).
FLAT_ARGUMENTS = {
    "deconv_rule": (Deconv, "rule"),
    "deconv_top_channels": (Deconv, "top_channels"),
    "deconv_channels": (Deconv, "channels"),
    "deconv_dataset": (Deconv, "dataset"),
    "deconv_dataset_every": (Deconv, "dataset_every"),
    "grad_cam_layer": (GradCam, "layer"),
}


def with_deprecated_arguments(kinds: Sequence[str | Kind], arguments: dict) -> list[str | Kind]:
    """`kinds` with each release-1 argument given in `arguments` (the callback's, by name) folded into its kind.

    A kind configured so replaces its name in `kinds`; one not chosen is still checked, as before.
    """
    kinds = [kinds] if isinstance(kinds, (str, Kind)) else list(kinds)
    options: dict[type[Kind], dict] = {}
    spelled: dict[type[Kind], list[str]] = {}
    for argument in (*OPTIONS_DICTS, *FLAT_ARGUMENTS):
        value = arguments.get(argument)
        if value is None:
            continue
        if argument in OPTIONS_DICTS:
            kind, function = OPTIONS_DICTS[argument]
            options.setdefault(kind, {}).update(_checked_options(kind, function, value))
        else:
            kind, option = FLAT_ARGUMENTS[argument]
            options.setdefault(kind, {})[option] = value
        spelled.setdefault(kind, []).append(argument)
    for kind, chosen in options.items():
        configured = kind(**chosen)
        _warn(spelled[kind], configured, chosen)
        kinds = _replaced(kinds, configured, spelled[kind])
    return kinds


def _checked_options(kind: type[Kind], function: str, options: dict) -> dict:
    """`options` if `kind` has every one of them, else release 1's error naming the ones it does not take."""
    accepted = [option.name for option in dataclasses.fields(kind) if option.init]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"{function} takes no option {unknown}; it takes {accepted}")
    return dict(options)


def _warn(arguments: list[str], configured: Kind, chosen: dict) -> None:
    shown = ", ".join(f"{name}=..." if name == "dataset" else f"{name}={value!r}" for name, value in chosen.items())
    warnings.warn(
        f"CNNVizCallback's {', '.join(arguments)} will be removed in the next release; "
        f"use kinds=[{type(configured).__name__}({shown})] instead",
        DeprecationWarning,
        stacklevel=4,
    )


def _replaced(kinds: list[str | Kind], configured: Kind, arguments: list[str]) -> list[str | Kind]:
    """`kinds` with `configured` in place of its name; an error if `kinds` configures it already."""
    if any(isinstance(kind, Kind) and kind.name == configured.name for kind in kinds):
        raise ValueError(
            f"kinds holds a {type(configured).__name__} and {', '.join(arguments)} configures it too; use one of them"
        )
    return [configured if kind == configured.name else kind for kind in kinds]
