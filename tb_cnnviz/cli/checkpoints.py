"""Saved checkpoints -> state_dicts for one model, in training order.

A checkpoint is a plain state_dict or a dict holding one under a common key ("state_dict" for
Lightning, "model" for the demo...). Its place in training comes from the epoch/step stored in it
or the number in its file name, so the logged steps line up with the training run's.
"""

from __future__ import annotations

import glob
import re
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tb_cnnviz.methods.layers import WRAPPER_PREFIXES

# Keys under which training code commonly nests the state_dict, tried in this order.
STATE_DICT_KEYS = ("state_dict", "model_state_dict", "model", "net", "network", "module")
# Keys holding the checkpoint's place in training, preferred in this order.
ORDER_KEYS = ("epoch", "global_step", "step")
_LISTED_KEYS = 8
_ZIP_MAGIC = b"PK\x03\x04"  # how torch.save's default format, a zip archive, begins
_PICKLE_PROTOCOL = b"\x80"  # how its legacy format, pickle protocol 2 or later, begins


class CheckpointError(ValueError):
    """A checkpoint that cannot be found, read or loaded into the model; the message says which and why."""


@dataclass(frozen=True)
class OrderedCheckpoint:
    path: Path
    step: int


def expand_checkpoint_paths(patterns: Iterable[str]) -> list[Path]:
    """Files named by paths or glob patterns ('ckpts/*.pt'), each once; a name matching nothing is an error."""
    found: dict[Path, None] = {}
    for pattern in patterns:
        matches = sorted(glob.glob(pattern, recursive=True)) if glob.has_magic(pattern) else [pattern]
        files = [Path(match) for match in matches if Path(match).is_file()]
        if not files and Path(pattern).is_dir():
            raise CheckpointError(
                f"{pattern!r} is a folder; name the checkpoint files in it, e.g. '{Path(pattern) / '*.pt'}'"
            )
        if not files:
            what = "no file matches the pattern" if glob.has_magic(pattern) else "no such file"
            raise CheckpointError(f"{what} {pattern!r}")
        found.update(dict.fromkeys(files))
    return list(found)


def load_checkpoint(path: Path, trust: bool = False) -> Any:
    """The object saved in `path`, on CPU. Without `trust`, only tensors and plain containers load (no code runs)."""
    try:
        try:
            return torch.load(path, map_location="cpu", weights_only=not trust, mmap=True)
        except RuntimeError as error:
            if "mmap" not in str(error):
                raise
            return torch.load(path, map_location="cpu", weights_only=not trust)  # the legacy format cannot mmap
    except Exception as error:
        raise CheckpointError(_unreadable(path, error)) from error


def non_finite_weights(state: Mapping[str, torch.Tensor]) -> list[str]:
    """Each floating-point tensor holding NaN or Inf, with how many of its values do: no view can be drawn from it."""
    counts = {key: int((~torch.isfinite(tensor)).sum()) for key, tensor in state.items() if tensor.is_floating_point()}
    return [f"{key} ({count} of {state[key].numel()} values)" for key, count in counts.items() if count]


def _unreadable(path: Path, error: Exception) -> str:
    """Why `path` did not load, in the user's terms: empty, truncated, unsafe, or not a checkpoint at all."""
    unsafe = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
    if unsafe:
        return (
            f"{path} holds Python objects besides tensors ({unsafe.group(1)}); if you trust the file, pass "
            "--trust-checkpoints to load it with full pickle (which can run code)"
        )
    size = path.stat().st_size
    if size == 0:
        return f"{path} is empty (0 bytes), not a PyTorch checkpoint; was it saved completely?"
    with path.open("rb") as file:
        start = file.read(4)
    if (start == _ZIP_MAGIC and not zipfile.is_zipfile(path)) or _ended_early(error):
        return (
            f"{path} is truncated: it starts as a torch.save file but its end is missing ({size} bytes); "
            "it was cut off while being saved or copied, so save or copy it again"
        )
    if start[:1] != _PICKLE_PROTOCOL:
        reason = f"it is neither torch.save's zip archive nor its older pickle format (it begins {start!r})"
    else:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return f"{path} is not a PyTorch checkpoint (a file torch.save wrote): {reason}"


def stored_position(contents: Any) -> dict[str, int]:
    """The epoch / global_step / step numbers a checkpoint dict stores at its top level."""
    if not isinstance(contents, Mapping):
        return {}
    position = {}
    for key in ORDER_KEYS:
        value = contents.get(key)
        if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_floating_point():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            position[key] = value
    return position


def order_checkpoints(positions: Mapping[Path, Mapping[str, int]]) -> tuple[list[OrderedCheckpoint], str]:
    """Checkpoints in training order with the step each is logged at, and how the order was found.

    The first of: the stored epoch, global_step or step, the last number in the file name, that every
    checkpoint has and no two share; else file-name order with steps 0, 1, 2...
    """
    paths = list(positions)
    criteria = [
        (f"the {key} stored in each checkpoint", {p: positions[p].get(key) for p in paths}) for key in ORDER_KEYS
    ]
    criteria.append(("the number in each file name", {p: _last_number(p.stem) for p in paths}))
    for description, steps in criteria:
        values = list(steps.values())
        if None not in values and len(set(values)) == len(values):
            ordered = sorted(paths, key=lambda path: steps[path])
            return [OrderedCheckpoint(path, steps[path]) for path in ordered], description
    ordered = sorted(paths, key=lambda path: _natural_key(path.name))
    return [
        OrderedCheckpoint(path, index) for index, path in enumerate(ordered)
    ], "file name (no distinct epoch or step found)"


def state_dict_for(model: nn.Module, contents: Any, path: Path) -> dict[str, torch.Tensor]:
    """The state_dict in `contents`, with keys renamed to fit `model`; CheckpointError naming what does not fit.

    Wrapper prefixes (DDP's "module.", torch.compile's "_orig_mod.") are dropped, and a prefix naming
    the network inside a LightningModule ("model.") is found and dropped when that makes the keys fit.
    """
    state = _find_state_dict(contents, path)
    expected = model.state_dict()
    state = _fit_keys(state, set(expected))
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    if missing or unexpected:
        raise CheckpointError(
            f"{path} does not fit {type(model).__name__}: "
            f"{_listing('missing keys (in the model, not in the checkpoint)', missing)}; "
            f"{_listing('unexpected keys (in the checkpoint, not in the model)', unexpected)}"
        )
    wrong_shapes = [
        f"{key} is {tuple(state[key].shape)} in the checkpoint, {tuple(value.shape)} in the model"
        for key, value in expected.items()
        if state[key].shape != value.shape
    ]
    if wrong_shapes:
        raise CheckpointError(
            f"{path} does not fit {type(model).__name__}: {_listing('shape mismatches', wrong_shapes)}"
        )
    return state


def _find_state_dict(contents: Any, path: Path) -> dict[str, torch.Tensor]:
    if _is_state_dict(contents):
        return dict(contents)
    if isinstance(contents, Mapping):
        for key in STATE_DICT_KEYS:
            if _is_state_dict(contents.get(key)):
                return dict(contents[key])
        keys = ", ".join(repr(key) for key in list(contents)[:_LISTED_KEYS])
        raise CheckpointError(
            f"{path} holds a dict without a state_dict: its keys are {keys}; expected a state_dict or a dict "
            f"holding one under one of {', '.join(STATE_DICT_KEYS)}"
        )
    raise CheckpointError(f"{path} holds a {type(contents).__name__}, not a state_dict or a dict holding one")


def _is_state_dict(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and len(value) > 0
        and all(isinstance(key, str) and isinstance(item, torch.Tensor) for key, item in value.items())
    )


def _fit_keys(state: dict[str, torch.Tensor], expected: set[str]) -> dict[str, torch.Tensor]:
    state = {_without_wrapper_prefixes(key): value for key, value in state.items()}
    if set(state) == expected:
        return state
    for prefix in sorted({key.split(".", 1)[0] + "." for key in state if "." in key}):
        inner = {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}
        if set(inner) == expected:
            return inner
    return state


def _without_wrapper_prefixes(key: str) -> str:
    while key.startswith(WRAPPER_PREFIXES):
        key = key.split(".", 1)[1]
    return key


def _listing(what: str, items: list[str]) -> str:
    shown = ", ".join(items[:_LISTED_KEYS])
    more = f" and {len(items) - _LISTED_KEYS} more" if len(items) > _LISTED_KEYS else ""
    return f"{len(items)} {what}{': ' + shown + more if items else ''}"


def _last_number(text: str) -> int | None:
    numbers = re.findall(r"\d+", text)
    return int(numbers[-1]) if numbers else None


def _natural_key(name: str) -> list:
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name)]


def _ended_early(error: Exception) -> bool:
    """torch.load's legacy format reports a cut-off file as EOFError, or as "unexpected EOF" once tensors start."""
    return isinstance(error, EOFError) or "unexpected EOF" in str(error)
