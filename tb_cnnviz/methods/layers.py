"""Turn what a user writes ("features.0", "layer*.conv1", a module, nothing) into named modules."""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterable

from torch import nn

# Prefixes that wrappers put in front of every name: (Distributed)DataParallel and torch.compile.
WRAPPER_PREFIXES = ("module.", "_orig_mod.")

LayerSpec = str | nn.Module | Iterable[str | nn.Module] | None
ALL = "all"  # every Conv2d, as a name: what the callback's layers="all" asks for past its default choice


def unwrap_model(model: nn.Module) -> nn.Module:
    """The user's own model inside DataParallel / DistributedDataParallel / torch.compile."""
    while True:
        if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            model = model.module
        elif hasattr(model, "_orig_mod") and isinstance(model._orig_mod, nn.Module):
            model = model._orig_mod
        else:
            return model


def _strip_wrapper_prefixes(name: str) -> str:
    stripped = True
    while stripped:
        stripped = False
        for prefix in WRAPPER_PREFIXES:
            if name.startswith(prefix):
                name, stripped = name[len(prefix) :], True
    return name


def resolve_layers(model: nn.Module, layers: LayerSpec = None) -> dict[str, nn.Module]:
    """Named modules of `model` selected by `layers`, in model order.

    `layers` is None or "all" (every Conv2d), or one or more exact names, glob patterns or modules
    ("all" among them adds every Conv2d, unless the model has a module named "all").
    Names are those of the unwrapped model; the `module.` / `_orig_mod.` prefixes of wrappers
    are accepted and dropped. Raises ValueError naming the closest valid layers.
    """
    named = {name: module for name, module in unwrap_model(model).named_modules() if name}
    convs = {name for name, module in named.items() if isinstance(module, nn.Conv2d)}
    if layers is None or (layers == ALL and ALL not in named):
        selected = convs
        if not selected:
            raise ValueError(
                f"{type(model).__name__} has no nn.Conv2d layer; pass layers=[...] with names from "
                "dict(model.named_modules())"
            )
    else:
        specs = [layers] if isinstance(layers, (str, nn.Module)) else list(layers)
        if not specs:
            raise ValueError("layers is empty; pass None for every Conv2d, or names or modules")
        selected = set()
        for spec in specs:
            selected |= convs if spec == ALL and ALL not in named else _match(named, spec)
    return {name: module for name, module in named.items() if name in selected}


def _match(named: dict[str, nn.Module], spec: str | nn.Module) -> set[str]:
    if isinstance(spec, nn.Module):
        names = {name for name, module in named.items() if module is spec}
        if not names:
            raise ValueError(f"the module {type(spec).__name__} given in layers is not part of the model")
        return names
    if not isinstance(spec, str):
        raise TypeError(f"layers must hold names or nn.Module objects, got {type(spec).__name__}")
    name = _strip_wrapper_prefixes(spec)
    if name in named:
        return {name}
    if any(char in name for char in "*?["):
        matches = set(fnmatch.filter(named, name))
        if matches:
            return matches
        raise ValueError(f"the pattern {spec!r} matches no layer{_hint(named, name)}")
    raise ValueError(f"unknown layer {spec!r}{_hint(named, name)}")


def _hint(named: dict[str, nn.Module], name: str) -> str:
    closest = difflib.get_close_matches(name, list(named), n=5, cutoff=0.5)
    listing = "; list them all with [name for name, _ in model.named_modules()]"
    if closest:
        return f". Closest valid layers: {', '.join(closest)}{listing}"
    return f"{listing}"


def single_layer(model: nn.Module, layer: str | nn.Module) -> tuple[str, nn.Module]:
    """(name, module) of the one layer `layer` selects, for methods that work on exactly one layer."""
    selected = resolve_layers(model, layer)
    if len(selected) != 1:
        raise ValueError(f"layer must name exactly one layer, {layer!r} matches {len(selected)}: {list(selected)}")
    return next(iter(selected.items()))


def first_conv(model: nn.Module) -> nn.Conv2d | None:
    """The first nn.Conv2d of the (unwrapped) model, which tells what input channels it takes; None if none."""
    return next((module for module in unwrap_model(model).modules() if isinstance(module, nn.Conv2d)), None)
