"""The `tb-cnnviz` command: layer listing, checkpoints logged as the steps of a run, and errors that say what is wrong.

Most tests call `main()` in-process (fast); one runs the installed console script as a user would.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import read_cnnviz_events, small_cnn
from PIL import Image

from tb_cnnviz.cli.main import main
from tb_cnnviz.methods.capture import feature_maps

MODEL = "conftest:small_cnn"  # 1 x 28 x 28 input; Conv2d layers "0" and "4"
EPOCHS_BY_FILE = {"ckpt-a.pt": 4, "ckpt-b.pt": 0, "ckpt-c.pt": 2}


def table_rows(text: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line.strip()) for line in text.splitlines()]


def test_layers_lists_names_types_and_output_shapes(capsys):
    assert main(["layers", "--model", MODEL, "--input-size", "1", "28", "28", "--device", "cpu"]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert rows[0] == ["layer", "type", "output (C x H x W)"]
    assert ["*", "0", "Conv2d", "8 x 28 x 28"] in rows
    assert ["3", "MaxPool2d", "8 x 14 x 14"] in rows
    assert ["*", "4", "Conv2d", "16 x 14 x 14"] in rows
    assert ["8", "Linear", "10"] in rows
    assert [row[-3] for row in rows[1:-1]] == [str(index) for index in range(9)], "model order"


def test_layers_with_an_input_the_model_cannot_take_says_so(capsys):
    assert main(["layers", "--model", MODEL, "--input-size", "1", "32", "32", "--device", "cpu"]) == 1
    assert "Sequential cannot take an input of size 1 x 32 x 32: mat1 and mat2" in capsys.readouterr().err


@pytest.fixture
def checkpoints(tmp_path) -> tuple[Path, dict[int, dict]]:
    """Three demo-style checkpoints of different weights, whose file names sort differently from their epochs."""
    directory = tmp_path / "checkpoints"
    directory.mkdir()
    states = {}
    for name, epoch in EPOCHS_BY_FILE.items():
        torch.manual_seed(epoch)
        states[epoch] = small_cnn().state_dict()
        torch.save({"epoch": epoch, "model": states[epoch]}, directory / name)
    return directory, states


@pytest.fixture
def image_folder(tmp_path) -> Path:
    folder = tmp_path / "probes"
    folder.mkdir()
    generator = np.random.default_rng(0)
    for name in ("boot", "shirt"):
        Image.fromarray(generator.integers(0, 256, (28, 28), dtype=np.uint8)).save(folder / f"{name}.png")
    return folder


def log_checkpoints(checkpoints_dir: Path, probe_images: Path | str, logdir: Path, *extra: str) -> int:
    arguments = ["checkpoints", "--model", MODEL, "--checkpoints", str(checkpoints_dir / "*.pt")]
    arguments += ["--probe-images", str(probe_images), "--logdir", str(logdir), "--device", "cpu", *extra]
    return main(arguments)


def test_checkpoints_become_the_steps_of_a_run_in_training_order(checkpoints, image_folder, tmp_path, capsys):
    directory, states = checkpoints
    run = tmp_path / "runs" / "from-checkpoints"
    assert log_checkpoints(directory, image_folder, run, "--input-mean", "0.5", "--input-std", "0.5") == 0

    events = read_cnnviz_events(run)
    expected_tags = {"probes", "0/feature_maps", "4/feature_maps", "0/dynamics", "4/dynamics"}
    assert set(events) == expected_tags, "the callback's default kinds, as a training run with CNNVizCallback"
    assert sorted(events["4/dynamics"]) == [0, 2, 4], "how the layer changed from checkpoint to checkpoint"
    probes_info = json.loads(events["probes"][0][0])
    assert probes_info["labels"] == ["boot", "shirt"]
    assert sorted(events["0/feature_maps"]) == sorted(events["4/feature_maps"]) == [0, 2, 4]

    pixels = [np.asarray(Image.open(image_folder / f"{name}.png")) for name in ("boot", "shirt")]
    images = (torch.from_numpy(np.stack(pixels)).float().unsqueeze(1) / 255 - 0.5) / 0.5
    for epoch, state in states.items():
        model = small_cnn()
        model.load_state_dict(state)
        expected = feature_maps(model, images, "4")["4"].mean(dim=(2, 3))
        logged = json.loads(events["4/feature_maps"][epoch][0])["stats"]["mean"]
        assert torch.allclose(torch.tensor(logged), expected, atol=1e-4), f"step {epoch} shows epoch {epoch}'s weights"

    err = capsys.readouterr().err
    assert "3 checkpoints, ordered by the epoch stored in each checkpoint" in err
    assert "checkpoints: 100%" in err and "3/3" in err, "a progress bar"


def test_layers_and_kinds_options_and_a_tensor_file_of_probes(checkpoints, tmp_path):
    directory, _ = checkpoints
    torch.save(torch.randn(3, 1, 28, 28), tmp_path / "probes.pt")
    options = ["--layers", "4", "--kinds", "feature_maps", "deconv"]
    assert log_checkpoints(directory, tmp_path / "probes.pt", tmp_path / "run", *options) == 0
    events = read_cnnviz_events(tmp_path / "run")
    assert set(events) == {"probes", "4/feature_maps", "4/deconv"}
    assert sorted(events["4/deconv"]) == [0, 2, 4]


def test_model_level_views_of_checkpoints_name_the_classes(checkpoints, tmp_path):
    directory, _ = checkpoints
    torch.save(torch.randn(2, 1, 28, 28), tmp_path / "probes.pt")
    names = [f"class {index}" for index in range(10)]
    options = ["--layers", "4", "--kinds", "grad_cam", "fooling", "--class-names", *names]
    assert log_checkpoints(directory, tmp_path / "probes.pt", tmp_path / "run", *options) == 0
    events = read_cnnviz_events(tmp_path / "run")
    assert set(events) == {"probes", "model/grad_cam", "model/fooling"}
    assert sorted(events["model/grad_cam"]) == [0, 2, 4]
    assert json.loads(events["model/fooling"][4][0])["class_names"] == names


@pytest.fixture(scope="module")
def factories(tmp_path_factory) -> str:
    """A module of broken factories, importable by name."""
    folder = tmp_path_factory.mktemp("factories")
    (folder / "cli_test_factories.py").write_text(
        "import torch\n"
        "not_callable = 3\n"
        "def returns_text():\n    return 'a model'\n"
        "def needs_width(width):\n    return torch.nn.Conv2d(1, width, 3)\n"
        "def broken():\n    raise RuntimeError('boom')\n"
    )
    (folder / "cli_test_bad_import.py").write_text("import no_such_dependency_xyz\n")
    sys.path.insert(0, str(folder))
    yield folder
    sys.path.remove(str(folder))


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("conftest.small_cnn", "is not a factory path; write 'pkg.module:factory'"),
        ("no_such_package_xyz.models:make", "no module named 'no_such_package_xyz'"),
        (
            "cli_test_bad_import:make",
            "importing 'cli_test_bad_import' failed: No module named 'no_such_dependency_xyz'",
        ),
        ("conftest:small_cnm", "conftest has no 'small_cnm'; did you mean small_cnn?"),
        ("cli_test_factories:not_callable", "not_callable is a int, not a callable that builds a model"),
        ("cli_test_factories:returns_text", "returns_text() returned a str, not a torch.nn.Module"),
        ("cli_test_factories:needs_width", "calling needs_width() failed: TypeError"),
        ("cli_test_factories:broken", "calling broken() failed: RuntimeError: boom"),
    ],
)
def test_a_bad_factory_path_says_which_part_failed(factories, path, message, capsys):
    assert main(["layers", "--model", path, "--input-size", "1", "28", "28"]) == 1
    assert message in capsys.readouterr().err


def save_npy(path: Path, shape: tuple[int, ...]) -> Path:
    np.save(path, np.zeros(shape, np.float32))
    return path


@pytest.mark.parametrize(
    ("make_probes", "message"),
    [
        (lambda tmp: tmp / "nowhere", "nowhere: no such file or folder"),
        (
            lambda tmp: save_npy(tmp / "flat.npy", (2, 28, 28)),
            "holds shape (2, 28, 28); probe images must be (N, C, H, W)",
        ),
        (lambda tmp: save_npy(tmp / "rgb.npy", (2, 3, 28, 28)), "holds images with 3 channels, shape (2, 3, 28, 28)"),
        (
            lambda tmp: save_npy(tmp / "small.npy", (2, 1, 16, 16)),
            "(shape (2, 1, 16, 16)): mat1 and mat2 shapes cannot be multiplied",
        ),
    ],
)
def test_probe_images_of_the_wrong_shape_say_what_is_wrong(checkpoints, tmp_path, make_probes, message, capsys):
    directory, _ = checkpoints
    assert log_checkpoints(directory, make_probes(tmp_path), tmp_path / "run") == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists(), "nothing is written before the inputs check out"


def test_checkpoint_errors_name_the_file_and_the_keys(checkpoints, image_folder, tmp_path, capsys):
    directory, _ = checkpoints
    assert log_checkpoints(tmp_path / "empty", image_folder, tmp_path / "run") == 1
    assert "no file matches the pattern" in capsys.readouterr().err

    other = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1))
    other.add_module("head", torch.nn.Linear(8, 2))
    torch.save({"epoch": 9, "model": other.state_dict()}, directory / "other.pt")
    assert log_checkpoints(directory, image_folder, tmp_path / "run") == 1
    err = capsys.readouterr().err
    assert "other.pt does not fit Sequential: 9 missing keys (in the model, not in the checkpoint): 1.weight" in err
    assert "2 unexpected keys (in the checkpoint, not in the model): head.weight, head.bias" in err
    assert not (tmp_path / "run").exists(), "a bad checkpoint fails before anything is logged"


def test_an_unknown_layer_is_named(checkpoints, image_folder, tmp_path, capsys):
    directory, _ = checkpoints
    assert log_checkpoints(directory, image_folder, tmp_path / "run", "--layers", "conv9") == 1
    assert "unknown layer 'conv9'" in capsys.readouterr().err


def test_the_installed_command_runs_from_the_users_folder(tmp_path):
    command = shutil.which("tb-cnnviz", path=str(Path(sys.executable).parent))
    assert command is not None, "tb-cnnviz is not installed beside this Python: run pip install -e ."
    (tmp_path / "my_models.py").write_text("from torch import nn\ndef tiny():\n    return nn.Conv2d(3, 4, 3)\n")
    result = subprocess.run(
        [command, "layers", "--model", "my_models:tiny", "--input-size", "3", "8", "8", "--device", "cpu"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert table_rows(result.stdout)[0] == ["layer", "type", "output (C x H x W)"]


def test_the_explanatory_graph_of_checkpoints_mines_the_held_out_images(checkpoints, tmp_path, monkeypatch):
    from graph_logs import hand_graph, hand_positions

    from tb_cnnviz.writer.kinds import explanatory_graph as graph_kind

    directory, _ = checkpoints
    held_out = torch.randn(6, 1, 28, 28)
    torch.save(held_out, tmp_path / "held_out.pt")
    torch.save(torch.randn(2, 1, 28, 28), tmp_path / "probes.pt")
    mined = []

    def explanatory_graph(model, data, layers, patterns_per_filter, **options):
        mined.append((data, list(layers)))
        return hand_graph(0)

    monkeypatch.setattr(graph_kind, "explanatory_graph", explanatory_graph)
    monkeypatch.setattr(graph_kind, "locate_parts", lambda model, graph, images: hand_positions(graph, len(images)))
    options = ["--kinds", "explanatory_graph", "--held-out", str(tmp_path / "held_out.pt"), "--held-out-count", "4"]
    assert log_checkpoints(directory, tmp_path / "probes.pt", tmp_path / "run", *options) == 0
    events = read_cnnviz_events(tmp_path / "run")
    assert sorted(events["model/explanatory_graph"]) == [0, 2, 4], "every checkpoint"
    assert len(mined) == 3 and all(torch.equal(data, held_out[:4]) and layers == ["0", "4"] for data, layers in mined)


def test_the_explanatory_graph_without_held_out_images_says_what_to_give(checkpoints, image_folder, tmp_path, capsys):
    directory, _ = checkpoints
    assert log_checkpoints(directory, image_folder, tmp_path / "run", "--kinds", "explanatory_graph") == 1
    assert "--kinds explanatory_graph mines held-out images: give --held-out SOURCE" in capsys.readouterr().err
    assert not (tmp_path / "run").exists(), "nothing written"
    options = ["--kinds", "explanatory_graph", "--held-out", str(tmp_path / "missing")]
    assert log_checkpoints(directory, image_folder, tmp_path / "run", *options) == 1
    assert f"--held-out: {tmp_path / 'missing'}: no such file or folder" in capsys.readouterr().err


def test_the_explanatory_graph_of_checkpoints_from_fashion_mnist_test_images(checkpoints, image_folder, tmp_path):
    """End to end with the real method: --held-out fashion-mnist mines its first test images at every checkpoint."""
    directory, _ = checkpoints
    options = ["--kinds", "explanatory_graph", "--held-out", "fashion-mnist", "--held-out-count", "64"]
    assert log_checkpoints(directory, image_folder, tmp_path / "run", *options) == 0
    logged = read_cnnviz_events(tmp_path / "run")["model/explanatory_graph"]
    assert sorted(logged) == [0, 2, 4]
    for blobs in logged.values():
        info = json.loads(blobs[0])
        assert info["layers"] == ["4", "0"] and info["nodes"] and len(blobs) == 1 + len(info["atlases"])
        assert max(box[0] for node in info["nodes"] for box in node["boxes"]) < 64, "patches of the 64 held-out images"
