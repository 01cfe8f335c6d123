"""A step's info blob read into today's layout: parsed by the contract, release-1 infos upgraded, checked.

Every route that reads infos goes through `read_info`, so none of them knows a kind or a version.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from tb_cnnviz import contract
from tb_cnnviz.tensorboard import keys, release1


@dataclass(frozen=True)
class StepInfo:
    """What the series and strip routes need of one step's info (cached: a logged step never changes)."""

    kind: str
    channels: list  # one list of items, or one list per probe
    tile: list[int] | None
    grid: list[int] | None
    series: dict[str, list[float | None]]
    scalars: dict[str, float | None]

    @classmethod
    def of(cls, info: contract.Info) -> StepInfo:
        return cls(
            info[keys.KIND],
            info.get(keys.CHANNELS, []),
            info.get(keys.TILE),
            info.get(keys.GRID),
            info[keys.SERIES],
            info.get(keys.SCALARS, {}),
        )


def read_info(blob: bytes) -> contract.Info:
    """The info of a step, with `series` even when release 1 wrote it; ValueError says what is wrong."""
    info = contract.parse_info(blob)
    if info.get(keys.VERSION, 0) <= release1.LAST_VERSION:
        info = release1.upgrade_info(info)
    _check_layout(info)
    _check_series(info)
    _check_scalars(info)
    return info


def _check_layout(info: contract.Info) -> None:
    """`channels` a list of items (or one list per probe); `tile` and `grid`, if given, two positive ints."""
    channels = info.get(keys.CHANNELS, [])
    if not isinstance(channels, list) or not (
        all(map(_item, channels)) or all(isinstance(row, list) and all(map(_item, row)) for row in channels)
    ):
        raise ValueError(
            f"info {keys.CHANNELS!r} must be a list of numbers or names, or one such list per probe, "
            f"got {channels!r:.100}"
        )
    for key, sides in ((keys.TILE, "[height, width]"), (keys.GRID, "[rows, columns]")):
        value = info.get(key)
        if value is not None and not (
            isinstance(value, list)
            and len(value) == 2
            and all(_whole(side) and 0 < side <= _MAX_SIDE for side in value)
        ):
            raise ValueError(f"info {key!r} must be {sides}, each in 1..{_MAX_SIDE}, got {value!r:.100}")


_MAX_SIDE = 1 << 15  # pixels or tiles along one side of an atlas: far beyond any logged one


def _item(value: object) -> bool:
    """An atlas item: a channel or class number, or a name."""
    return isinstance(value, str) or _finite_number(value)


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_series(info: contract.Info) -> None:
    """`series` maps chart names to one number (or None) per item of a flat `channels` list (none: no items)."""
    channels, series = info.get(keys.CHANNELS, []), info.get(keys.SERIES)
    if not isinstance(channels, list):
        raise ValueError(f"info {keys.CHANNELS!r} must be a list, got {channels!r:.100}")
    if not isinstance(series, dict):
        raise ValueError(f"info {keys.SERIES!r} must map chart names to lists of numbers, got {series!r:.100}")
    if series and any(isinstance(item, list) for item in channels):
        raise ValueError(
            f"info {keys.SERIES!r} needs one {keys.CHANNELS!r} list shared by all probes; this one has one per probe"
        )
    for name, values in series.items():
        if not isinstance(values, list) or len(values) != len(channels):
            raise ValueError(
                f"info {keys.SERIES}[{name!r}] must hold one number or null per item of {keys.CHANNELS!r} "
                f"({len(channels)}), got {values!r:.100}"
            )
        if not all(value is None or _finite_number(value) for value in values):
            raise ValueError(f"info {keys.SERIES}[{name!r}] must hold finite numbers or null, got {values!r:.100}")


def _check_scalars(info: contract.Info) -> None:
    """`scalars`, if given, maps chart names to one finite number or None each."""
    scalars = info.get(keys.SCALARS, {})
    if not isinstance(scalars, dict) or not all(
        isinstance(name, str) and (value is None or _finite_number(value)) for name, value in scalars.items()
    ):
        raise ValueError(
            f"info {keys.SCALARS!r} must map chart names to one finite number or null each, got {scalars!r:.100}"
        )


def _finite_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class Unreadable:
    """A step whose info this release cannot read; `reason` says why (logged once, answered to the tab)."""

    reason: str


Entry = StepInfo | Unreadable


class InfoCache:
    """StepInfo (or Unreadable) per blob key, bounded; the first reading of a bad info logs a warning."""

    def __init__(self, size: int, logger) -> None:
        self._size = size
        self._logger = logger
        self._entries: dict[str, Entry] = {}

    def get_many(self, blobs: list, read_many: Callable[[list], list[bytes]], where: str) -> list[Entry]:
        """One entry per info blob reference; `read_many` reads the uncached ones; `where` names run and tag."""
        missing = [blob for blob in blobs if blob.blob_key not in self._entries]
        for reference, blob in zip(missing, read_many(missing), strict=True):
            try:
                entry = StepInfo.of(read_info(blob))
            except ValueError as error:
                self._logger.warning("cnnviz: skipping an info of %s: %s", where, error)
                entry = Unreadable(str(error))
            if len(self._entries) >= self._size:
                self._entries.pop(next(iter(self._entries)))
            self._entries[reference.blob_key] = entry
        return [self._entries[blob.blob_key] for blob in blobs]
