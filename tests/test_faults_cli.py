"""The command line and the demo under bad input (issue 15, item 6): every mistake is one line on stderr
with a nonzero exit status, never a traceback, and nothing already written is lost.

Each case runs the real command through main(argv) against a run folder an earlier run already wrote,
and checks that folder's files are byte for byte as they were.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import read_cnnviz_events, small_cnn
from PIL import Image

from demo_training.train import parse_args
from tb_cnnviz import contract
from tb_cnnviz.cli.main import main

MODEL = "conftest:small_cnn"  # 1 x 28 x 28 input; Conv2d layers "0" and "4", Linear "8"
REPOSITORY = Path(__file__).resolve().parent.parent


def save_checkpoints(directory: Path, nan_in: int | None = None) -> Path:
    """Checkpoints of epochs 0, 1, 2 as c0.pt.. (one NaN weight in the one of epoch `nan_in`)."""
    directory.mkdir(parents=True, exist_ok=True)
    for epoch in range(3):
        torch.manual_seed(epoch)
        state = small_cnn().state_dict()
        if epoch == nan_in:
            state["0.weight"][0, 0, 1, 1] = float("nan")
        torch.save({"epoch": epoch, "model": state}, directory / f"c{epoch}.pt")
    return directory


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims `width` x `height` grayscale pixels; its data is empty (Pillow opens the header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """Good checkpoints and probe images, and a run folder that a first, successful command wrote."""
    root = tmp_path_factory.mktemp("inputs")
    save_checkpoints(root / "checkpoints")
    (root / "probes").mkdir()
    for name in ("boot", "shirt"):
        pixels = np.random.default_rng(len(name)).integers(0, 256, (28, 28), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "probes" / f"{name}.png")
    assert main(command(root, "--logdir", str(root / "run"))) == 0
    return root


def command(root: Path, *options: str) -> list[str]:
    """The checkpoints command on the good inputs, with `options` added (argparse: a later option wins)."""
    arguments = ["checkpoints", "--model", MODEL, "--device", "cpu", "--checkpoints", str(root / "checkpoints/*.pt")]
    return [*arguments, "--probe-images", str(root / "probes"), "--logdir", str(root / "run"), *options]


def messages(stderr: str) -> list[str]:
    """The command's own lines, without the progress bar (which shares lines with them, split by \\r)."""
    parts = (part.strip() for line in stderr.splitlines() for part in line.split("\r"))
    return [part for part in parts if part.startswith("tb-cnnviz")]


def run(arguments: list[str], capsys) -> tuple[int, list[str], str]:
    """Exit status, the command's lines, and all of stderr."""
    try:
        status = main(arguments)
    except SystemExit as exit_:  # argparse's usage errors
        status = exit_.code
    stderr = capsys.readouterr().err
    return status, messages(stderr), stderr


def files_of(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def write_file(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def checkpoint_bytes(root: Path) -> bytes:
    return (root / "checkpoints" / "c0.pt").read_bytes()


def legacy_checkpoint_bytes(folder: Path) -> bytes:
    path = folder / "legacy.pt"
    torch.save({"epoch": 0, "model": small_cnn().state_dict()}, path, _use_new_zipfile_serialization=False)
    return path.read_bytes()


def probes_from(folder: Path, *files: tuple[str, bytes]) -> list[str]:
    for name, data in files:
        write_file(folder / name, data)
    return ["--probe-images", str(folder)]


def checkpoints_at(path: Path) -> list[str]:
    return ["--checkpoints", str(path)]


# (name, options added to the good command given the inputs folder and a scratch folder, status, message)
BAD_INPUTS = [
    (
        "a decompression-bomb PNG",
        lambda root, tmp: probes_from(tmp / "bomb", ("huge.png", png_claiming(20_000, 20_000))),
        1,
        f"huge.png is too large to be a probe image: Image size (400000000 pixels) exceeds limit of "
        f"{2 * Image.MAX_IMAGE_PIXELS} pixels",
    ),
    (
        "a PNG over Pillow's limit, under twice it (Pillow only warns)",
        lambda root, tmp: probes_from(tmp / "big", ("big.png", png_claiming(10_000, 10_000))),
        1,
        f"big.png is too large to be a probe image: Image size (100000000 pixels) exceeds limit of "
        f"{Image.MAX_IMAGE_PIXELS} pixels",
    ),
    (
        "a PNG that is not one",
        lambda root, tmp: probes_from(tmp / "text", ("a.png", b"hello")),
        1,
        "cannot read",
    ),
    (
        "probe images holding NaN",
        lambda root, tmp: ["--probe-images", str(save_npy(tmp / "nan.npy", nan_at=(1, 0, 3, 3)))],
        1,
        "nan.npy holds 1 NaN or Inf values (in probe images 1); probe images must be finite numbers",
    ),
    (
        "a truncated checkpoint",
        lambda root, tmp: checkpoints_at(write_file(tmp / "cut.pt", checkpoint_bytes(root)[:5000])),
        1,
        "cut.pt is truncated: it starts as a torch.save file but its end is missing (5000 bytes)",
    ),
    (
        "a truncated checkpoint of torch.save's legacy format",
        lambda root, tmp: checkpoints_at(write_file(tmp / "old.pt", legacy_checkpoint_bytes(tmp)[:2000])),
        1,
        "old.pt is truncated: it starts as a torch.save file but its end is missing (2000 bytes)",
    ),
    (
        "an empty checkpoint",
        lambda root, tmp: checkpoints_at(write_file(tmp / "e.pt", b"")),
        1,
        "e.pt is empty (0 bytes)",
    ),
    (
        "a text file as checkpoint",
        lambda root, tmp: checkpoints_at(write_file(tmp / "t.pt", b"not a checkpoint")),
        1,
        "t.pt is not a PyTorch checkpoint (a file torch.save wrote): it is neither torch.save's zip archive nor",
    ),
    (
        "a folder as checkpoint",
        lambda root, tmp: checkpoints_at(root / "checkpoints"),
        1,
        "checkpoints' is a folder; name the checkpoint files in it, e.g. '",
    ),
    (
        "an empty checkpoint folder",
        lambda root, tmp: (tmp / "none").mkdir() or checkpoints_at(tmp / "none" / "*.pt"),
        1,
        "no file matches the pattern",
    ),
    ("a missing checkpoint", lambda root, tmp: checkpoints_at(tmp / "gone.pt"), 1, "no such file"),
    (
        "a file as --logdir",
        lambda root, tmp: ["--logdir", str(write_file(tmp / "log", b""))],
        1,
        "log is a file; give a folder",
    ),
    (
        "a --logdir under a file",
        lambda root, tmp: ["--logdir", str(write_file(tmp / "log", b"") / "run")],
        1,
        "log, which is a file; give a folder",
    ),
    (
        "an unknown layer",
        lambda root, tmp: ["--layers", "conv9", "--logdir", str(tmp / "new-run")],
        1,
        "unknown layer 'conv9'",
    ),
    ("an unknown kind", lambda root, tmp: ["--kinds", "filterz"], 2, "argument --kinds: invalid choice: 'filterz'"),
    ("--max-channels 0", lambda root, tmp: ["--max-channels", "0"], 2, "'0' is not a positive whole number"),
    ("--image-size 0 28", lambda root, tmp: ["--image-size", "0", "28"], 2, "'0' is not a positive whole number"),
    ("--input-std 0", lambda root, tmp: ["--input-std", "0"], 2, "argument --input-std: '0' is not a positive number"),
    ("--input-mean nan", lambda root, tmp: ["--input-mean", "nan"], 2, "'nan' is not a finite number"),
    ("--input-mean x", lambda root, tmp: ["--input-mean", "x"], 2, "argument --input-mean: 'x' is not a number"),
    ("an unknown device", lambda root, tmp: ["--device", "gpu0"], 2, "argument --device: 'gpu0' cannot be used here"),
]


def save_npy(path: Path, nan_at: tuple[int, ...]) -> Path:
    images = np.zeros((2, 1, 28, 28), np.float32)
    images[nan_at] = np.nan
    np.save(path, images)
    return path


@pytest.mark.parametrize(
    ("make_options", "status", "message"), [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS]
)
def test_a_bad_input_is_one_line_and_an_exit_status(inputs, tmp_path, capsys, make_options, status, message):
    earlier = files_of(inputs / "run")
    code, lines, stderr = run(command(inputs, *make_options(inputs, tmp_path)), capsys)
    assert code == status
    assert "Traceback" not in stderr
    errors = [line for line in lines if "checkpoints, ordered by" not in line]
    assert len(errors) == 1 and errors[0].startswith("tb-cnnviz") and ": error: " in errors[0], stderr
    assert message in errors[0]
    assert files_of(inputs / "run") == earlier, "the earlier run's files are untouched"
    made = [path for path in tmp_path.rglob("*") if path.is_dir() and path.name != "none"]  # "none": a case's input
    assert all(any(path.iterdir()) for path in made), "no empty run folder is left behind"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--input-size", "-1", "28", "28"], "argument --input-size: '-1' is not a positive whole number"),
        (["--input-size", "1", "x", "28"], "argument --input-size: 'x' is not a whole number"),
        (["--input-size", "1", "28"], "argument --input-size: expected 3 arguments"),
        (["--input-size", "1", "28", "28", "--device", "cuda:99"], "argument --device: 'cuda:99' cannot be used here"),
    ],
)
def test_the_layers_command_refuses_bad_numbers_on_one_line(arguments, message, capsys):
    code, lines, stderr = run(["layers", "--model", MODEL, "--device", "cpu", *arguments], capsys)
    assert code == 2 and "Traceback" not in stderr
    assert len(lines) == 1 and message in lines[0], stderr


def test_nan_weights_skip_that_checkpoint_once_and_log_the_others(tmp_path, inputs, capsys):
    directory = save_checkpoints(tmp_path / "checkpoints", nan_in=1)
    run_dir = tmp_path / "run"
    arguments = command(inputs, "--checkpoints", str(directory / "*.pt"), "--logdir", str(run_dir))
    code, lines, stderr = run(arguments, capsys)

    assert code == 1 and "Traceback" not in stderr
    skipped = [line for line in lines if "skipped" in line and "c1.pt" in line]
    assert skipped == [
        f"tb-cnnviz: skipped {directory / 'c1.pt'} (step 1): its weights hold NaN or Inf values, 0.weight (1 of 72 "
        "values); no view can be drawn from them, so the other checkpoints are logged without it"
    ], stderr
    assert (
        lines[-1]
        == f"tb-cnnviz: error: 1 of 3 checkpoints skipped (each named above); steps 0, 2 in {run_dir} are kept"
    )
    assert sum("c1.pt" in line for line in lines) == 1, "named once"
    events = read_cnnviz_events(run_dir)
    for layer in ("0", "4"):
        assert sorted(events[contract.layer_tag(layer, "feature_maps")]) == [0, 2]


def test_a_layer_that_cannot_be_drawn_is_named_once_and_the_others_are_logged(tmp_path, inputs, capsys):
    run_dir = tmp_path / "run"
    code, lines, stderr = run(command(inputs, "--layers", "0", "8", "--logdir", str(run_dir)), capsys)
    assert code == 1 and "Traceback" not in stderr
    warned = [line for line in lines if line.startswith("tb-cnnviz: warning: ")]
    assert len(warned) == 1 and "c0.pt (step 0): layer '8' not logged: outputs shape (2, 10)" in warned[0], stderr
    assert "tb_cnnviz:" not in warned[0], "the library's prefix is not repeated inside the command's"
    assert lines[-1].endswith(f"1 of 3 logged with warnings (each named above); steps 0, 1, 2 in {run_dir} are kept")
    assert sorted(read_cnnviz_events(run_dir)[contract.layer_tag("0", "feature_maps")]) == [0, 1, 2]


def fake_repository(tmp_path: Path) -> tuple[Path, Path]:
    """scripts/demo.sh in a copy of the repository whose setup, Python and TensorBoard only record their arguments."""
    shutil.copytree(REPOSITORY / "scripts", tmp_path / "scripts")
    (tmp_path / "scripts" / "setup.sh").write_text("exit 0\n")
    record = tmp_path / "calls"
    for program in ("python", "tensorboard"):
        stub = write_file(
            tmp_path / ".venv" / "bin" / program, f'#!/bin/sh\necho "$@" >> {record}.{program}\n'.encode()
        )
        stub.chmod(0o755)
    return tmp_path / "scripts" / "demo.sh", record


@pytest.mark.parametrize(("port", "extra"), [(None, []), ("6123", []), ("6123", ["--port", "7000"])])
def test_the_demo_tells_the_training_the_port_it_serves(tmp_path, port, extra):
    script, record = fake_repository(tmp_path)
    environment = {key: value for key, value in os.environ.items() if key != "PORT"}
    if port:
        environment["PORT"] = port
    result = subprocess.run(
        ["bash", str(script), "--epochs", "2", *extra], env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    served = port or "6006"
    assert Path(f"{record}.tensorboard").read_text().split() == ["--logdir", "runs", "--port", served]
    training = Path(f"{record}.python").read_text().split()
    assert training[:2] == ["-m", "demo_training.train"]
    assert parse_args(training[2:]).port == int(served), "the closing message names the port served"
    assert parse_args(training[2:]).epochs == 2
    assert f"http://localhost:{served}/#cnnviz" in result.stdout
