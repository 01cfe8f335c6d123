"""Checks shared by the kinds' options: each error names the option, the bad value and what is accepted."""

from __future__ import annotations

from collections.abc import Sequence

from tb_cnnviz.methods.image_param import PARAMETERIZATIONS
from tb_cnnviz.methods.indices import checked_indices

OPTIMIZERS = ("adam", "normalized")


def check_count(owner: str, name: str, value, least: int) -> None:
    """`value` must be an int >= `least`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{owner} {name} must be an int >= {least}, got {value!r}")


def check_positive(owner: str, name: str, value) -> None:
    """`value` must be a number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"{owner} {name} must be a number > 0, got {value!r}")


def check_choice(owner: str, name: str, value, choices: Sequence[str]) -> None:
    """`value` must be one of `choices`."""
    if value not in choices:
        raise ValueError(f"{owner} {name} {value!r} is unknown; choose one of {list(choices)}")


def check_size(owner: str, value) -> None:
    """None (the probes' size), a side length, or (height, width), all positive ints."""
    sides = (value,) if isinstance(value, int) else tuple(value) if isinstance(value, (tuple, list)) else None
    if value is not None and (not sides or len(sides) > 2 or any(not isinstance(s, int) or s < 1 for s in sides)):
        raise ValueError(f"{owner} size must be None (its default), an int or (height, width), got {value!r}")


def check_image_optimization(owner: str, options) -> None:
    """The options filter and class images share: steps, size, parameterization, optimizer, rate, budget."""
    check_count(owner, "steps", options.steps, 1)
    check_size(owner, options.size)
    check_choice(owner, "param", options.param, sorted(PARAMETERIZATIONS))
    check_choice(owner, "optimizer", options.optimizer, OPTIMIZERS)
    check_positive(owner, "lr", options.lr)
    check_positive(owner, "memory_budget", options.memory_budget)


def optimization_settings(options) -> dict:
    """The keyword arguments of maximize_filters / class_visualization that `options` carries."""
    names = ("steps", "param", "decorrelate", "transforms", "optimizer", "lr", "lr_decay", "memory_budget")
    return {name: getattr(options, name) for name in names}


def model_classes(given: Sequence[int] | None, class_count: int, what: str, default: list[int]) -> list[int]:
    """The classes a user `given` for option `what`, each checked against the model's outputs; else `default`."""
    if given is None:
        return default
    return checked_indices(given, class_count, what, f"the model's {class_count} outputs")
