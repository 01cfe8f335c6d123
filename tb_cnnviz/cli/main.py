"""The `tb-cnnviz` command: list a model's layers, log saved checkpoints as steps of a run, compare two, or
write a report.

    tb-cnnviz layers --model demo_training.model:FashionCNN --input-size 1 28 28
    tb-cnnviz checkpoints --model demo_training.model:FashionCNN --checkpoints 'runs/demo/checkpoints/*.pt' \
        --probe-images fashion-mnist --logdir runs/demo-checkpoints
    tb-cnnviz compare --model demo_training.model:FashionCNN --checkpoints a.pt b.pt --probe-images fashion-mnist
    tb-cnnviz report --logdir runs/demo --out report/

Run it where `pkg.module` imports from (the current folder is searched first, as with `python -m`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from tensorboard.util import tb_logging
from torch import nn
from tqdm import tqdm

from tb_cnnviz.cli import arguments as command_line
from tb_cnnviz.cli import fashion_mnist
from tb_cnnviz.cli.checkpoints import (
    OrderedCheckpoint,
    expand_checkpoint_paths,
    load_checkpoint,
    non_finite_weights,
    order_checkpoints,
    state_dict_for,
    stored_position,
)
from tb_cnnviz.cli.compare import compare_checkpoints_command
from tb_cnnviz.cli.layer_listing import format_layer_table, list_layers
from tb_cnnviz.cli.model_factory import build_model
from tb_cnnviz.cli.probe_images import (
    ProbeImageError,
    check_model_takes,
    load_probe_images,
    model_input_channels,
    probes_for,
)
from tb_cnnviz.report.build import write_report
from tb_cnnviz.writer.callback import CNNVizCallback, CNNVizWarning
from tb_cnnviz.writer.kinds import KINDS


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `tb-cnnviz` console script; returns the exit status (1: an error, explained on one line)."""
    arguments = command_line.parser(
        list_layers_command, log_checkpoints_command, compare_checkpoints_command, report_command
    ).parse_args(argv)
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        arguments.command(arguments)
    except (ValueError, OSError, CNNVizWarning) as error:
        print(f"tb-cnnviz: error: {_one_line(error)}", file=sys.stderr)
        return 1
    return 0


class CommandError(ValueError):
    """The command could not do all it was asked; the message says what, after what was done is kept."""


def list_layers_command(arguments: argparse.Namespace) -> None:
    model = build_model(arguments.model).to(arguments.device)
    print(format_layer_table(list_layers(model, tuple(arguments.input_size))))


def report_command(arguments: argparse.Namespace) -> None:
    # TensorBoard's and the plugin's warnings (a bad record, a 404) reach the user as the report's notes instead.
    tb_logging.get_logger().setLevel(logging.ERROR)
    path, notes = write_report(arguments.logdir, arguments.out)
    left_out = [f"run {run}: {note}" for run, run_notes in notes.items() for note in run_notes]
    for line in left_out[:_NOTES_SHOWN]:
        print(f"tb-cnnviz: left out: {line}", file=sys.stderr)
    more = f" ({len(left_out) - _NOTES_SHOWN} more)" if len(left_out) > _NOTES_SHOWN else ""
    said = f"; {len(left_out)} pieces left out{more}, each named in it" if left_out else ""
    runs = f"{len(notes)} run{'s' if len(notes) != 1 else ''}"
    print(f"tb-cnnviz: report of {runs} written to {path}{said}", file=sys.stderr)


_NOTES_SHOWN = 10  # left-out pieces named on stderr; the report names them all


def log_checkpoints_command(arguments: argparse.Namespace) -> None:
    model = build_model(arguments.model).to(arguments.device)
    probes = probes_for(model, arguments)
    kinds = _kinds(arguments, model)

    # Read every checkpoint once before logging anything, so a bad one fails fast and the order is known.
    positions = {}
    for path in expand_checkpoint_paths(arguments.checkpoints):
        contents = load_checkpoint(path, trust=arguments.trust_checkpoints)
        state_dict_for(model, contents, path)
        positions[path] = stored_position(contents)
    ordered, how = order_checkpoints(positions)
    _check_logdir(arguments.logdir)
    print(f"tb-cnnviz: {len(ordered)} checkpoints, ordered by {how}", file=sys.stderr)

    report = _Report()
    # A visualization problem is a warning inside a training loop; here it is reported once, naming the
    # checkpoint, and the command goes on with the next one and ends with exit status 1.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CNNVizWarning)
        with CNNVizCallback(
            model,
            probes.images,
            log_dir=arguments.logdir,
            layers=arguments.layers,
            # Every kind at every checkpoint: the checkpoints already are the sampling the user chose.
            kinds=kinds,
            max_channels=arguments.max_channels,
            probe_labels=probes.labels,
            # Fashion-MNIST's probes are one image per class, in class order: their labels are the class names.
            class_names=arguments.class_names
            or (probes.labels if arguments.probe_images == fashion_mnist.NAME else None),
            input_mean=probes.input_mean,
            input_std=probes.input_std,
        ) as viz:
            for checkpoint in tqdm(ordered, desc="checkpoints", unit="checkpoint"):
                state = state_dict_for(
                    model, load_checkpoint(checkpoint.path, arguments.trust_checkpoints), checkpoint.path
                )
                if report.skipped_for_weights(checkpoint, non_finite_weights(state)):
                    continue
                model.load_state_dict(state)
                viz.log(checkpoint.step)
                report.warnings(checkpoint, caught)
        report.warnings(None, caught)  # from the writer's last writes, at close
    report.finish(ordered, arguments.logdir)


class _Report:
    """What the logging loop tells the user: each problem once, on one line naming the checkpoint, then a summary."""

    def __init__(self) -> None:
        self.shown: set[str] = set()
        self.warned: set[OrderedCheckpoint | None] = set()  # None: a write that failed at close
        self.skipped: list[OrderedCheckpoint] = []

    def skipped_for_weights(self, checkpoint: OrderedCheckpoint, non_finite: list[str]) -> bool:
        if non_finite:
            self.skipped.append(checkpoint)
            self._say(
                f"skipped {checkpoint.path} (step {checkpoint.step}): its weights hold NaN or Inf values, "
                f"{_listed(non_finite)}; no view can be drawn from them, so the other checkpoints are logged without it"
            )
        return bool(non_finite)

    def warnings(self, checkpoint: OrderedCheckpoint | None, caught: list) -> None:
        """Say each warning raised while logging `checkpoint` (None: while closing), then forget them."""
        where = f"{checkpoint.path} (step {checkpoint.step})" if checkpoint else "closing the event file"
        for warning in caught:
            message = _one_line(warning.message).removeprefix("tb_cnnviz: ")
            if issubclass(warning.category, CNNVizWarning):
                self.warned.add(checkpoint)
                self._say(f"warning: {where}: {message}")
            else:
                self._say(message)
        caught.clear()

    def finish(self, ordered: list[OrderedCheckpoint], logdir: str) -> None:
        logged = [checkpoint.step for checkpoint in ordered if checkpoint not in self.skipped]
        if not self.skipped and not self.warned:
            print(f"tb-cnnviz: logged steps {logged[0]}..{logged[-1]} into {logdir}", file=sys.stderr)
            return
        problems = [
            f"{len(self.skipped)} of {len(ordered)} checkpoints skipped" if self.skipped else "",
            f"{len(self.warned - {None})} of {len(ordered)} logged with warnings" if self.warned - {None} else "",
            "the last writes failed" if None in self.warned else "",
        ]
        kept = f"steps {_listed([str(step) for step in logged], 8)} in {logdir} are kept" if logged else "none logged"
        raise CommandError(f"{', '.join(filter(None, problems))} (each named above); {kept}")

    def _say(self, message: str) -> None:
        if message not in self.shown:
            self.shown.add(message)
            tqdm.write(f"tb-cnnviz: {message}", file=sys.stderr)


def _kinds(arguments: argparse.Namespace, model: nn.Module) -> list:
    """The asked kinds, logged at every checkpoint; those that mine a data set get --held-out's images."""
    mining = [name for name in arguments.kinds if not KINDS[name].made_by_name]
    if mining and arguments.held_out is None:
        raise CommandError(
            f"--kinds {' '.join(mining)} mines held-out images: give --held-out SOURCE (a folder of images, a "
            f".npy/.pt tensor or {fashion_mnist.NAME}) and optionally --held-out-count N"
        )
    held_out = {"dataset": _held_out_images(arguments, model)} if mining else {}
    return [KINDS[name](every=1, **(held_out if name in mining else {})) for name in arguments.kinds]


def _held_out_images(arguments: argparse.Namespace, model: nn.Module) -> torch.Tensor:
    """The first --held-out-count images of --held-out, as the model takes them (checked with one forward)."""
    source, count = arguments.held_out, arguments.held_out_count
    if source == fashion_mnist.NAME:
        images = fashion_mnist.held_out_images(count)
    else:
        try:
            loaded = load_probe_images(
                source, model_input_channels(model), size=arguments.image_size,
                input_mean=arguments.input_mean, input_std=arguments.input_std,
            )  # fmt: skip
        except ProbeImageError as error:
            raise CommandError(f"--held-out: {error}") from error
        images = loaded.images[:count]
    check_model_takes(model, images, source, "--held-out images")
    return images


def _check_logdir(logdir: str) -> None:
    """Fail now, in the user's terms, if the run folder cannot be made; it is made when the first step is written."""
    path = Path(logdir)
    existing = next(folder for folder in (path, *path.parents, Path(".")) if folder.exists())
    if not existing.is_dir():
        where = "is a file" if existing == path else f"is under {existing}, which is a file"
        raise CommandError(f"--logdir {logdir} {where}; give a folder (it is created if missing)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise CommandError(f"--logdir {logdir}: no permission to write in {existing}")


def _one_line(error: object) -> str:
    """An error's text on one line: a multi-line message from torch or PIL would break the one-line report."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return "; ".join(lines) or type(error).__name__


def _listed(items: list[str], most: int = 4) -> str:
    more = f" and {len(items) - most} more" if len(items) > most else ""
    return ", ".join(items[:most]) + more


if __name__ == "__main__":
    sys.exit(main())
