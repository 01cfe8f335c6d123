"""The align route's numbers: two logged feature-map steps' channels matched one to one (channel_matching).

Activations are read back from the logged atlases, not stored twice: a tile's pixel v stands for
activation lo + v / 255 * (hi - lo) of its info's `tile_range` (writer/pictures.py quantize; the tab's
atlas.js reads it the same way), so a channel's sample vector is its (pooled) map over every probe.
Torch-free, Pillow and numpy only; the plugin lends its blob readers. Anything that does not fit raises
AlignError, which the route answers as 422 with the reason.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image
from tensorboard import errors
from werkzeug import wrappers

from tb_cnnviz import contract
from tb_cnnviz.channel_matching import WEAK_BELOW, match_channels
from tb_cnnviz.tensorboard import keys
from tb_cnnviz.tensorboard.infos import read_info
from tb_cnnviz.tensorboard.requests import int_arg, str_arg
from tb_cnnviz.tensorboard.strips import PICTURE_ERRORS, check_picture

FEATURE_MAPS_KIND = "feature_maps"  # the kind whose atlases hold activations (writer/kinds/feature_maps.py)
_TILE_RANGE = "tile_range"  # feature maps' own info key: (probe, channel) -> [low, high]
StepReader = Callable[[str, str, int], list[bytes]]  # (run, tag, step) -> the step's blobs
LatestReader = Callable[[str, str], list[bytes]]  # (run, tag) -> the blobs of the tag's last step


class AlignError(errors.PublicError):
    """Two views whose channels cannot be aligned (not feature maps, other probes, unreadable): 422, with why."""

    http_code = 422


@dataclass(frozen=True)
class Side:
    """One side of a comparison: where it is (for messages), its step's info blob and its atlases."""

    where: str  # e.g. "run 'a' step 3"
    info: bytes
    atlases: list[bytes]


def align_query(request: wrappers.Request, at_step: StepReader, latest: LatestReader) -> dict:
    """The route's answer to the query `run`, `tag`, `step`, `other_run`, `other_step`.

    `at_step(run, tag, step)` reads a step's blobs (NotFoundError naming the logged steps), `latest(run, tag)`
    the last step's of a tag (NotFoundError without the tag): the plugin's readers over its data provider.
    """
    run, tag, step = str_arg(request, "run"), str_arg(request, "tag"), int_arg(request, "step")
    other_run, other_step = str_arg(request, "other_run"), int_arg(request, "other_step")
    blobs, other_blobs = at_step(run, tag, step), at_step(other_run, tag, other_step)
    if other_run != run:
        same_probes(_probe_pictures(latest, run), _probe_pictures(latest, other_run), (run, other_run))
    if len(blobs) <= contract.FIRST_PICTURE_BLOB or len(other_blobs) <= contract.FIRST_PICTURE_BLOB:
        raise AlignError(f"a step of tag {tag!r} holds no info and atlases")
    first = Side(f"run {run!r} step {step}", blobs[contract.INFO_BLOB], blobs[contract.FIRST_PICTURE_BLOB :])
    second = Side(
        f"run {other_run!r} step {other_step}",
        other_blobs[contract.INFO_BLOB],
        other_blobs[contract.FIRST_PICTURE_BLOB :],
    )
    return align_answer(first, second)


def _probe_pictures(latest: LatestReader, run: str) -> list[bytes]:
    """The run's probe images as logged (PNG bytes of its probes tag's last step); AlignError if it has none."""
    try:
        blobs = latest(run, contract.PROBES_TAG)
    except errors.NotFoundError:
        blobs = []
    if len(blobs) <= contract.FIRST_PICTURE_BLOB:
        raise AlignError(f"run {run!r} logged no probe images; channels can only be aligned on shared probe images")
    return blobs[contract.FIRST_PICTURE_BLOB :]


def same_probes(first: list[bytes], second: list[bytes], runs: tuple[str, str]) -> None:
    """AlignError unless both runs logged the same probe images (the probe pictures, byte for byte)."""
    if len(first) != len(second) or any(a != b for a, b in zip(first, second, strict=True)):
        count = "" if len(first) == len(second) else f" ({len(first)} and {len(second)} probe images)"
        raise AlignError(
            f"runs {runs[0]!r} and {runs[1]!r} logged different probe images{count}; channels can only be aligned "
            "on shared probe images"
        )


def align_answer(first: Side, second: Side, threshold: float = WEAK_BELOW) -> dict:
    """The route's JSON: pairs, unmatched and weak channels and summary numbers (Matching.as_dict)."""
    info, other_info = _info(first), _info(second)
    if info[keys.TILE] != other_info[keys.TILE]:
        raise AlignError(
            f"{first.where} has tiles of {info[keys.TILE]} pixels and {second.where} of {other_info[keys.TILE]}; "
            "channels align only on maps of one size"
        )
    table, other_table = activation_table(info, first), activation_table(other_info, second)
    if table.shape[0] != other_table.shape[0]:
        raise AlignError(
            f"{first.where} has {info.get(keys.PROBES)} probes and {second.where} {other_info.get(keys.PROBES)}; "
            "channels can only be aligned on shared probe images"
        )
    try:
        matching = match_channels(table, other_table, info[keys.CHANNELS], other_info[keys.CHANNELS], threshold)
    except ValueError as error:  # e.g. a single 1x1 tile: no correlation can be measured from one sample
        raise AlignError(f"{first.where} and {second.where}: {error}") from None
    return matching.as_dict()


def activation_table(info: dict, side: Side) -> np.ndarray:
    """(probes x tile pixels, channels): each channel's de-quantized map over every probe, probe after probe."""
    channels, ranges = info[keys.CHANNELS], info.get(_TILE_RANGE)
    probes = len(side.atlases)
    if not _ranges_fit(ranges, probes, len(channels)):
        raise AlignError(
            f"{side.where}: its info's {_TILE_RANGE!r} must hold [low, high] finite numbers for each of the "
            f"{probes} probes' {len(channels)} channels"
        )
    (height, width), (rows, columns) = info[keys.TILE], info[keys.GRID]
    if rows * columns < len(channels):
        raise AlignError(f"{side.where}: its grid of {rows}x{columns} tiles cannot hold {len(channels)} channels")
    maps = []
    for probe, atlas in enumerate(side.atlases):
        pixels = _grey_pixels(atlas, (rows * height, columns * width), f"{side.where} probe {probe}")
        tiles = pixels.reshape(rows, height, columns, width).transpose(0, 2, 1, 3).reshape(rows * columns, -1)
        low, high = np.asarray(ranges[probe], dtype=np.float64).T
        maps.append(low[:, None] + tiles[: len(channels)] / 255.0 * (high - low)[:, None])
    return np.concatenate(maps, axis=1).T


def _info(side: Side) -> dict:
    try:
        kind = contract.parse_info(side.info)[keys.KIND]
        if kind != FEATURE_MAPS_KIND:
            raise AlignError(f"{side.where} holds {kind!r}; channels are aligned on {FEATURE_MAPS_KIND!r} tags only")
        info = read_info(side.info)
    except ValueError as error:
        raise AlignError(f"{side.where}: {error}") from None
    if not info.get(keys.CHANNELS) or info.get(keys.TILE) is None or info.get(keys.GRID) is None:
        raise AlignError(f"{side.where}: its info names no channels, tile or grid")
    if any(isinstance(channel, list | str) for channel in info[keys.CHANNELS]):
        raise AlignError(f"{side.where}: its info's channels must be one list of channel numbers")
    if info.get(keys.PROBES) != len(side.atlases):
        raise AlignError(
            f"{side.where}: its info counts {info.get(keys.PROBES)!r} probes but it holds {len(side.atlases)} atlases"
        )
    return info


def _ranges_fit(ranges: object, probes: int, channels: int) -> bool:
    return (
        isinstance(ranges, list)
        and len(ranges) == probes
        and all(isinstance(row, list) and len(row) == channels for row in ranges)
        and all(
            isinstance(pair, list)
            and len(pair) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in pair)
            for row in ranges
            for pair in row
        )
    )


def _grey_pixels(picture: bytes, size: tuple[int, int], where: str) -> np.ndarray:
    """The atlas's grey values (height, width) as floats; AlignError if it is no such PNG of at least `size`."""
    try:
        check_picture(picture)
        image = Image.open(io.BytesIO(picture), formats=["PNG"])
        if image.mode != "L":
            raise ValueError(f"it is a {image.mode} picture, not the grey atlas feature maps log")
        pixels = np.asarray(image, dtype=np.float64)
    except PICTURE_ERRORS as error:
        raise AlignError(f"{where}: its atlas cannot be read: {error}") from None
    if pixels.shape[0] < size[0] or pixels.shape[1] < size[1]:
        raise AlignError(f"{where}: its atlas is {pixels.shape[0]}x{pixels.shape[1]} pixels, smaller than its layout")
    return pixels[: size[0], : size[1]]
