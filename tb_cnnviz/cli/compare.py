"""`tb-cnnviz compare`: the channels of two checkpoints of one model matched layer by layer.

Two trainings (or two moments of one) do not number their channels alike. Each checkpoint's feature
maps of the chosen layers on the probe images, at full resolution (every probe at every position is a
sample), are matched one to one by correlation (channel_matching), and a line per layer says how well
they match; `--json` gives every pair.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import torch
from torch import nn

from tb_cnnviz.channel_matching import WEAK_BELOW, Matching, match_channels
from tb_cnnviz.cli.checkpoints import (
    CheckpointError,
    expand_checkpoint_paths,
    load_checkpoint,
    non_finite_weights,
    state_dict_for,
)
from tb_cnnviz.cli.model_factory import build_model
from tb_cnnviz.cli.probe_images import probes_for
from tb_cnnviz.methods.capture import each_feature_map
from tb_cnnviz.writer.layer_choice import chosen_layers

_COLUMNS = ("layer", "channels", "mean r", f"share > {WEAK_BELOW}", "weak", "unmatched")


def compare_checkpoints_command(arguments: argparse.Namespace) -> None:
    """Print, per layer, how well the two checkpoints' channels match (a table, or JSON with --json)."""
    model = build_model(arguments.model).to(arguments.device)
    probes = probes_for(model, arguments)
    paths = [_one_file(pattern) for pattern in arguments.checkpoints]
    states = [_weights(model, path, arguments.trust_checkpoints) for path in paths]  # all read before any work
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        layers = chosen_layers(model, arguments.layers, probes.images)
    for warning in caught:
        print(f"tb-cnnviz: {str(warning.message).removeprefix('tb_cnnviz: ')}", file=sys.stderr)
    tables = [
        _activation_tables(model, state, layers, probes.images, path) for state, path in zip(states, paths, strict=True)
    ]
    matchings = {}
    for name in layers:
        try:
            matchings[name] = match_channels(tables[0][name], tables[1][name])
        except ValueError as error:
            raise ValueError(f"layer {name!r}: {error}") from None
    if arguments.json:
        print(json.dumps(_as_json(paths, matchings, tables), indent=1))
    else:
        print(_as_table(paths, matchings, tables))


def _one_file(pattern: str) -> Path:
    paths = expand_checkpoint_paths([pattern])
    if len(paths) != 1:
        raise CheckpointError(f"{pattern!r} names {len(paths)} files; compare takes exactly one checkpoint per name")
    return paths[0]


def _weights(model: nn.Module, path: Path, trust: bool) -> dict[str, torch.Tensor]:
    state = state_dict_for(model, load_checkpoint(path, trust), path)
    non_finite = non_finite_weights(state)
    if non_finite:
        raise CheckpointError(
            f"{path}: its weights hold NaN or Inf values ({', '.join(non_finite[:4])}); no channel can be matched"
        )
    return state


def _activation_tables(
    model: nn.Module, state: dict, layers: dict[str, nn.Module], images: torch.Tensor, path: Path
) -> dict:
    """{layer: (probes x positions, channels) float64 numpy table} of the model with `state`'s weights."""
    model.load_state_dict(state)
    maps, problems = each_feature_map(model, images, layers)
    if problems:
        raise ValueError(f"{path}: {'; '.join(problems.values())}")
    return {
        name: output.double().cpu().movedim(1, -1).reshape(-1, output.shape[1]).numpy() for name, output in maps.items()
    }


def _as_json(paths: list[Path], matchings: dict[str, Matching], tables: list[dict]) -> dict:
    return {
        "checkpoints": [str(path) for path in paths],
        "threshold": WEAK_BELOW,
        "layers": [
            {"layer": name, "channels": [tables[0][name].shape[1], tables[1][name].shape[1]], **matching.as_dict()}
            for name, matching in matchings.items()
        ],
    }


def _as_table(paths: list[Path], matchings: dict[str, Matching], tables: list[dict]) -> str:
    rows = [_COLUMNS]
    for name, matching in matchings.items():
        counts = {tables[0][name].shape[1], tables[1][name].shape[1]}
        rows.append(
            (
                name,
                "/".join(str(count) for count in sorted(counts)),
                _number(matching.mean_correlation, "{:.3f}"),
                _number(matching.share_above, "{:.0%}"),
                str(len(matching.weak)),
                str(len(matching.unmatched) + len(matching.other_unmatched)),
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(_COLUMNS))]
    lines = [
        "  ".join(
            cell.ljust(width) if column == 0 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    heading = f"channels of {paths[1]} matched to those of {paths[0]} by correlation on the probe images"
    return "\n".join([heading, *lines, f"weak: matched with r < {WEAK_BELOW}"])


def _number(value: float | None, spelled: str) -> str:
    return "-" if value is None else spelled.format(value)
