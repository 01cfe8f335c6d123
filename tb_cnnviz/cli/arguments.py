"""The `tb-cnnviz` command line: its options, each checked as it is parsed, and errors on one line.

A number out of range or a device this machine lacks stops the command before anything is read or
written, with `tb-cnnviz COMMAND: error: argument --option: what was wrong` and exit status 2.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import NoReturn

import torch

from tb_cnnviz.cli import fashion_mnist
from tb_cnnviz.writer.kinds import DEFAULT_KINDS, kind_names


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the help option, not the whole usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def positive_int(text: str) -> int:
    value = _parsed(int, text, "a whole number")
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number (1 or more)")
    return value


def finite_float(text: str) -> float:
    value = _parsed(float, text, "a number")
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def positive_float(text: str) -> float:
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number (a standard deviation is > 0)")
    return value


def usable_device(text: str) -> str:
    """A device torch can allocate on here ('cpu', 'cuda', 'cuda:1', 'mps'...), tried with an empty tensor."""
    try:
        torch.empty(0, device=torch.device(text))
    except (RuntimeError, AssertionError, ValueError) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise argparse.ArgumentTypeError(f"{text!r} cannot be used here: {reason}; try --device cpu") from error
    return text


def _parsed(convert: Callable[[str], int | float], text: str, what: str) -> int | float:
    try:
        return convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def parser(
    list_layers: Callable, log_checkpoints: Callable, compare: Callable, report: Callable
) -> argparse.ArgumentParser:
    """The command line, its commands calling `list_layers`, `log_checkpoints`, `compare` and `report` with the
    parsed options."""
    parser = OneLineParser(prog="tb-cnnviz", description="See what each layer of a CNN learns, in TensorBoard.")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    default_device = "cuda" if torch.cuda.is_available() else "cpu"

    layers = commands.add_parser("layers", help="list layer names, types and output shapes for an input size")
    layers.set_defaults(command=list_layers)
    _add_model_arguments(layers, default_device)
    layers.add_argument(
        "--input-size",
        type=positive_int,
        nargs=3,
        required=True,
        metavar=("C", "H", "W"),
        help="one input image's size, e.g. 1 28 28",
    )

    checkpoints = commands.add_parser("checkpoints", help="log saved checkpoints as the steps of one run")
    checkpoints.set_defaults(command=log_checkpoints)
    _add_model_arguments(checkpoints, default_device)
    checkpoints.add_argument(
        "--checkpoints",
        nargs="+",
        required=True,
        metavar="PATH_OR_GLOB",
        help="checkpoint files or quoted glob patterns, e.g. 'ckpts/*.pt'",
    )
    _add_probe_arguments(checkpoints)
    checkpoints.add_argument("--logdir", required=True, help="the run directory to write, e.g. runs/checkpoints")
    _add_layers_argument(checkpoints)
    checkpoints.add_argument(
        "--kinds",
        nargs="+",
        choices=kind_names(),
        default=list(DEFAULT_KINDS),
        help=f"what to log per layer, and model-level views (default: {' '.join(DEFAULT_KINDS)}, as the callback)",
    )
    _add_held_out_arguments(checkpoints)
    checkpoints.add_argument(
        "--class-names", nargs="+", metavar="NAME", help="one name per model output, shown by the model-level views"
    )
    checkpoints.add_argument(
        "--max-channels", type=positive_int, default=64, help="channels shown per layer (default: 64)"
    )
    _add_trust_argument(checkpoints)
    _add_compare_command(commands, compare, default_device)
    _add_report_command(commands, report)
    return parser


def _add_compare_command(commands, compare: Callable, default_device: str) -> None:
    command = commands.add_parser(
        "compare", help="match two checkpoints' channels layer by layer by correlation on the probe images"
    )
    command.set_defaults(command=compare)
    _add_model_arguments(command, default_device)
    command.add_argument(
        "--checkpoints", nargs=2, required=True, metavar=("A", "B"), help="the two checkpoint files to compare"
    )
    _add_probe_arguments(command)
    _add_layers_argument(command)
    command.add_argument("--json", action="store_true", help="print every matched pair as JSON instead of a table")
    _add_trust_argument(command)


def _add_layers_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--layers",
        nargs="+",
        help="layer names or glob patterns, or 'all' for every Conv2d (default: every Conv2d of a model with "
        "at most 6, else the first and the last at each spatial resolution, as the layers command marks them)",
    )


def _add_trust_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trust-checkpoints",
        action="store_true",
        help="load checkpoints with full pickle (runs code in them: trusted files only)",
    )


def _add_report_command(commands, report: Callable) -> None:
    command = commands.add_parser("report", help="write a static HTML report of a logdir (no server needed)")
    command.set_defaults(command=report)
    command.add_argument("--logdir", required=True, help="the folder tensorboard --logdir would read")
    command.add_argument(
        "--out", required=True, help="the folder to write index.html into (created if missing), e.g. report/"
    )


def _add_model_arguments(parser: argparse.ArgumentParser, default_device: str) -> None:
    parser.add_argument(
        "--model",
        required=True,
        metavar="PKG.MODULE:FACTORY",
        help="a callable that builds the model without arguments, e.g. demo_training.model:FashionCNN",
    )
    parser.add_argument(
        "--device",
        type=usable_device,
        default=default_device,
        help=f"where the model runs (default: {default_device})",
    )


def _add_held_out_arguments(parser: argparse.ArgumentParser) -> None:
    """Held-out images, for the kinds that mine a data set rather than look at the probes."""
    parser.add_argument(
        "--held-out",
        metavar="SOURCE",
        help="held-out images for the kinds that mine a data set (explanatory_graph): a folder of image files, a "
        f".npy/.pt tensor (N, C, H, W), or {fashion_mnist.NAME!r} (its test images); read as --probe-images",
    )
    parser.add_argument(
        "--held-out-count", type=positive_int, default=256, help="held-out images used, the first N (default: 256)"
    )


def _add_probe_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the probe images come from and how image files become the model's input."""
    parser.add_argument(
        "--probe-images",
        required=True,
        metavar="SOURCE",
        help=f"a folder of image files, a .npy/.pt tensor (N, C, H, W), or {fashion_mnist.NAME!r}",
    )
    parser.add_argument(
        "--image-size", type=positive_int, nargs=2, metavar=("H", "W"), help="resize image files to H x W"
    )
    parser.add_argument(
        "--input-mean",
        type=finite_float,
        nargs="+",
        metavar="M",
        help="per-channel mean the model's inputs are normalized with (image files, uint8 arrays)",
    )
    parser.add_argument(
        "--input-std", type=positive_float, nargs="+", metavar="S", help="per-channel standard deviation, likewise"
    )
