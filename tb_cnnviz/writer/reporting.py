"""How the writer reports a visualization problem: a CNNVizWarning, never an exception into training."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class CNNVizWarning(UserWarning):
    """A visualization problem reported instead of crashing the training run."""


class DefaultLayersWarning(UserWarning):
    """Which layers the callback chose when none were named (a big model's representative few); not a problem,
    so not a CNNVizWarning: name `layers` (or layers="all") to choose, or filter this category to silence it."""


class AlreadyReported(Exception):
    """A shared input (feature maps, class predictions) failed and was warned about once this step;
    the kinds that need it log nothing, without a warning each."""


def warn(message: str) -> None:
    """Report `message` as a CNNVizWarning, prefixed with the library's name."""
    warnings.warn(f"tb_cnnviz: {message}", CNNVizWarning, stacklevel=3)


def guarded(what: str, function: Callable[..., T], *args) -> T | None:
    """Call `function`; a failure becomes a CNNVizWarning naming `what`, so training goes on."""
    try:
        return function(*args)
    except AlreadyReported:
        return None
    except Exception as error:  # noqa: BLE001 - reporting, not hiding: the run must not crash
        warn(f"{what} not logged: {error}")
        return None
