"""The `tb-cnnviz` command: list a model's layers, or log saved checkpoints as steps of a run.

    tb-cnnviz layers --model demo_training.model:FashionCNN --input-size 1 28 28
    tb-cnnviz checkpoints --model demo_training.model:FashionCNN --checkpoints 'runs/demo/checkpoints/*.pt' \
        --probe-images fashion-mnist --logdir runs/demo-checkpoints

Run it where `pkg.module` imports from (the current folder is searched first, as with `python -m`).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence

import torch
from torch import nn
from tqdm import tqdm

from tb_cnnviz.cli import fashion_mnist
from tb_cnnviz.cli.checkpoints import (
    expand_checkpoint_paths,
    load_checkpoint,
    order_checkpoints,
    state_dict_for,
    stored_position,
)
from tb_cnnviz.cli.layer_listing import format_layer_table, list_layers
from tb_cnnviz.cli.model_factory import build_model
from tb_cnnviz.cli.probe_images import ProbeImageError, load_probe_images
from tb_cnnviz.methods.layers import first_conv
from tb_cnnviz.methods.model_state import evaluation_mode, model_device
from tb_cnnviz.writer.callback import CNNVizCallback, CNNVizWarning
from tb_cnnviz.writer.kinds import KINDS, kind_names
from tb_cnnviz.writer.kinds.feature_maps import FeatureMaps


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `tb-cnnviz` console script; returns the exit status (1: an error, explained)."""
    arguments = _parser().parse_args(argv)
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        arguments.command(arguments)
    except (ValueError, OSError, CNNVizWarning) as error:
        print(f"tb-cnnviz: error: {error}", file=sys.stderr)
        return 1
    return 0


def list_layers_command(arguments: argparse.Namespace) -> None:
    model = build_model(arguments.model).to(arguments.device)
    print(format_layer_table(list_layers(model, tuple(arguments.input_size))))


def log_checkpoints_command(arguments: argparse.Namespace) -> None:
    model = build_model(arguments.model).to(arguments.device)
    probes = load_probe_images(
        arguments.probe_images,
        _input_channels(model),
        size=arguments.image_size,
        input_mean=arguments.input_mean,
        input_std=arguments.input_std,
    )
    _check_model_takes(model, probes.images, arguments.probe_images)

    # Read every checkpoint once before logging anything, so a bad one fails fast and the order is known.
    positions = {}
    for path in expand_checkpoint_paths(arguments.checkpoints):
        contents = load_checkpoint(path, trust=arguments.trust_checkpoints)
        state_dict_for(model, contents, path)
        positions[path] = stored_position(contents)
    ordered, how = order_checkpoints(positions)
    print(f"tb-cnnviz: {len(ordered)} checkpoints, ordered by {how}", file=sys.stderr)

    # A visualization failure is a warning inside a training loop; here it is the command's error.
    with warnings.catch_warnings():
        warnings.simplefilter("error", CNNVizWarning)
        with CNNVizCallback(
            model,
            probes.images,
            log_dir=arguments.logdir,
            layers=arguments.layers,
            # Every kind at every checkpoint: the checkpoints already are the sampling the user chose.
            kinds=[KINDS[name](every=1) for name in arguments.kinds],
            max_channels=arguments.max_channels,
            probe_labels=probes.labels,
            # Fashion-MNIST's probes are one image per class, in class order: their labels are the class names.
            class_names=arguments.class_names
            or (probes.labels if arguments.probe_images == fashion_mnist.NAME else None),
            input_mean=probes.input_mean,
            input_std=probes.input_std,
        ) as viz:
            for checkpoint in tqdm(ordered, desc="checkpoints", unit="checkpoint"):
                contents = load_checkpoint(checkpoint.path, trust=arguments.trust_checkpoints)
                model.load_state_dict(state_dict_for(model, contents, checkpoint.path))
                viz.log(checkpoint.step)
    print(f"tb-cnnviz: logged steps {ordered[0].step}..{ordered[-1].step} into {arguments.logdir}", file=sys.stderr)


def _input_channels(model: nn.Module) -> int:
    """Channels of the model's first Conv2d (3 if it has none), so image files load in the right mode."""
    conv = first_conv(model)
    return conv.in_channels if conv is not None else 3


def _check_model_takes(model: nn.Module, images: torch.Tensor, source: str) -> None:
    """One forward pass on a probe, so images of the wrong size fail with their shape named."""
    try:
        with evaluation_mode(model), torch.no_grad():
            model(images[:1].to(model_device(model)))
    except Exception as error:
        raise ProbeImageError(
            f"the model cannot run on the probe images from {source} (shape {tuple(images.shape)}): {error}; "
            "give images of the size the model was trained on (--image-size H W resizes a folder's images)"
        ) from error


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tb-cnnviz", description="See what each layer of a CNN learns, in TensorBoard."
    )
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    default_device = "cuda" if torch.cuda.is_available() else "cpu"

    layers = commands.add_parser("layers", help="list layer names, types and output shapes for an input size")
    layers.set_defaults(command=list_layers_command)
    _add_model_arguments(layers, default_device)
    layers.add_argument(
        "--input-size",
        type=int,
        nargs=3,
        required=True,
        metavar=("C", "H", "W"),
        help="one input image's size, e.g. 1 28 28",
    )

    checkpoints = commands.add_parser("checkpoints", help="log saved checkpoints as the steps of one run")
    checkpoints.set_defaults(command=log_checkpoints_command)
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
    checkpoints.add_argument(
        "--layers",
        nargs="+",
        help="layer names or glob patterns, or 'all' for every Conv2d (default: every Conv2d of a model with "
        "at most 6, else the first and the last at each spatial resolution, as the layers command marks them)",
    )
    checkpoints.add_argument(
        "--kinds",
        nargs="+",
        choices=kind_names(),
        default=[FeatureMaps.name],
        help=f"what to log per layer, and model-level views (default: {FeatureMaps.name})",
    )
    checkpoints.add_argument(
        "--class-names", nargs="+", metavar="NAME", help="one name per model output, shown by the model-level views"
    )
    checkpoints.add_argument("--max-channels", type=int, default=64, help="channels shown per layer (default: 64)")
    checkpoints.add_argument(
        "--trust-checkpoints",
        action="store_true",
        help="load checkpoints with full pickle (runs code in them: trusted files only)",
    )
    return parser


def _add_model_arguments(parser: argparse.ArgumentParser, default_device: str) -> None:
    parser.add_argument(
        "--model",
        required=True,
        metavar="PKG.MODULE:FACTORY",
        help="a callable that builds the model without arguments, e.g. demo_training.model:FashionCNN",
    )
    parser.add_argument("--device", default=default_device, help=f"where the model runs (default: {default_device})")


def _add_probe_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the probe images come from and how image files become the model's input."""
    parser.add_argument(
        "--probe-images",
        required=True,
        metavar="SOURCE",
        help=f"a folder of image files, a .npy/.pt tensor (N, C, H, W), or {fashion_mnist.NAME!r}",
    )
    parser.add_argument("--image-size", type=int, nargs=2, metavar=("H", "W"), help="resize image files to H x W")
    parser.add_argument(
        "--input-mean",
        type=float,
        nargs="+",
        metavar="M",
        help="per-channel mean the model's inputs are normalized with (image files, uint8 arrays)",
    )
    parser.add_argument(
        "--input-std", type=float, nargs="+", metavar="S", help="per-channel standard deviation, likewise"
    )


if __name__ == "__main__":
    sys.exit(main())
