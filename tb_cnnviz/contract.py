"""The one contract between the writer (callback), the reader (plugin) and the tab (frontend/contract.js).

Plugin name, tag scheme, the summary metadata's content, the keys every info blob shares and the blob
layout. Keys one kind alone writes and reads live in that kind's writer and tab modules, not here.
No torch: TensorBoard imports this through the plugin on machines that never import torch.
"""

from __future__ import annotations

import json
import re
import types
import typing
from typing import TypedDict

from tensorboard.compat.proto.summary_pb2 import DATA_CLASS_BLOB_SEQUENCE, SummaryMetadata

PLUGIN_NAME = "cnnviz"

# Bumped when the layout of metadata or info blobs changes; readers accept every version up to
# their own, so logdirs written by an older release keep opening in a newer one.
#   1: the first release; the plugin derived each kind's chart numbers from its own info keys.
#   2: every info carries its chart numbers under SERIES, so the plugin reads any kind alike.
VERSION = 2

MODEL_SCOPE = "model"  # scope of model-level kinds (saliency, class images...), logged under "model/<kind>"
PROBES_TAG = "probes"  # the probe images, logged once
PROBES_KIND = "probes"


# What a layer name may hold that a tag may not: TensorBoard's data server (--load_fast=true) puts the tag in
# each blob key as a JSON string it reads without unescaping, so every character JSON escapes (", \ and the
# control characters) fails there ("failed to parse blob key: BadJson"). "%" too, so the encoding reverses.
_NOT_IN_TAGS = re.compile(r'[%"\\\x00-\x1f]')


def tag_name(name: str) -> str:
    """`name` as a tag may hold it: each character of _NOT_IN_TAGS as %XX (urllib.parse.unquote reverses it).

    Only tags are encoded: the metadata keeps the real name (Content "layer"), which the tab shows.
    """
    return _NOT_IN_TAGS.sub(lambda match: f"%{ord(match.group()):02X}", name)


def layer_tag(layer: str, kind: str) -> str:
    """Tag of one layer's time series of one kind, e.g. "features.0/feature_maps" (`layer` as tag_name writes it)."""
    return f"{tag_name(layer)}/{kind}"


def scalar_tag(layer: str | None, name: str) -> str:
    """Tag of an ordinary TensorBoard scalar a record carries: "cnnviz/<layer>/<name>", or "cnnviz/model/<name>"
    for a model-level record (`layer` None); `layer` as tag_name writes it."""
    return f"{PLUGIN_NAME}/{MODEL_SCOPE if layer is None else tag_name(layer)}/{name}"


def model_tag(kind: str) -> str:
    """Tag of a model-level kind's time series, e.g. "model/saliency"."""
    return f"{MODEL_SCOPE}/{kind}"


class Content(TypedDict, total=False):
    """The JSON content of a summary's metadata: what the runs listing is built from, without reading blobs."""

    version: int
    kind: str
    scope: str  # MODEL_SCOPE for model-level kinds; absent for a layer's kinds
    layer: str  # a layer kind's layer name, as model.named_modules() spells it
    layer_index: int  # the layer's place among the logged layers (model order)
    layer_type: str  # its module class, e.g. "Conv2d"
    shape: list[int]  # its output's (C, H, W)
    count: int  # the probes tag: how many probe images
    labels: list[str] | None  # the probes tag: their names


class Info(TypedDict, total=False):
    """The keys every info blob (blob INFO_BLOB of a step) shares; a kind adds its own beside them."""

    version: int
    kind: str
    channels: list[int] | list[list[int]]  # the item at each atlas position: one list, or one per probe
    tile: list[int]  # [height, width] of one tile in an atlas
    grid: list[int]  # [rows, columns] of tiles in an atlas
    probes: int  # probe images of the step, for kinds with one atlas per probe
    series: dict[str, list[float | None]]  # per chart name, one number per item of `channels`
    scalars: dict[str, float | None]  # per chart name, one number for the whole tag at this step (as TB scalars)


CONTENT_KEYS = tuple(Content.__annotations__)
INFO_KEYS = tuple(Info.__annotations__)

# Blob layout of every step: the info as JSON first, then PNG pictures (atlases) in the kind's order.
INFO_BLOB = 0
FIRST_PICTURE_BLOB = 1


def create_summary_metadata(kind: str, **content) -> SummaryMetadata:
    """Metadata for a blob-sequence summary of `kind`; `content` (Content keys) describes the series."""
    unknown = sorted(set(content) - set(CONTENT_KEYS))
    if unknown:
        raise ValueError(f"summary content keys {unknown} are not in the contract; known: {list(CONTENT_KEYS)}")
    payload = {"version": VERSION, "kind": kind, **content}
    return SummaryMetadata(
        plugin_data=SummaryMetadata.PluginData(plugin_name=PLUGIN_NAME, content=json.dumps(payload).encode("utf-8")),
        data_class=DATA_CLASS_BLOB_SEQUENCE,
    )


def parse_plugin_content(content: bytes) -> Content:
    """Metadata content as a dict whose every Content key has its annotated type; ValueError for content
    this release cannot read. Keys outside the contract are kept unchecked (a newer writer may add some)."""
    payload = _parse(content, "metadata")
    for key, hint in _CONTENT_TYPES.items():
        if key in payload and not _fits(payload[key], hint):
            raise ValueError(f"cnnviz metadata {key!r} must be {_spelled(hint)}, got {payload[key]!r:.100}")
    return payload


def parse_info(blob: bytes) -> Info:
    """A step's info blob as a dict; ValueError for an info this release cannot read."""
    return _parse(blob, "info")


def _parse(blob: bytes, what: str) -> dict:
    """A JSON object with a 'kind' string and an integer version this release reads; ValueError saying what is wrong."""
    try:
        payload = json.loads(blob.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"cnnviz {what} is not JSON: {error}") from error
    if not isinstance(payload, dict) or not isinstance(payload.get("kind"), str):
        raise ValueError(f"cnnviz {what} lacks a 'kind' (a string): {str(payload)[:200]!r}")
    version = payload.get("version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValueError(f"cnnviz {what} 'version' must be an integer, got {version!r:.100}")
    if version > VERSION:
        raise ValueError(
            f"cnnviz {what} version {version!r} is newer than this release reads ({VERSION}); upgrade tb-cnnviz"
        )
    return payload


_CONTENT_TYPES = typing.get_type_hints(Content)


def _fits(value: object, hint: object) -> bool:
    """Whether JSON `value` has type `hint` (int, float, str, list[X], dict[K, V], X | None)."""
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, argument) for argument in arguments)
    if origin is list:
        return isinstance(value, list) and all(_fits(item, arguments[0]) for item in value)
    if origin is dict:
        return isinstance(value, dict) and all(
            _fits(k, arguments[0]) and _fits(v, arguments[1]) for k, v in value.items()
        )
    if hint is type(None):
        return value is None
    if hint in (int, float):  # JSON writes 2.0 as 2; a bool is no number here
        return isinstance(value, int | hint) and not isinstance(value, bool)
    return isinstance(value, hint)


def _spelled(hint: object) -> str:
    return hint.__name__ if isinstance(hint, type) else str(hint)
