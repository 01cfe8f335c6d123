"""The demo trains for real on real Fashion-MNIST and leaves CNN Viz data and checkpoints behind.

Small on purpose (3,000 training images, 2 epochs: seconds on two CPU cores); the full-length
accuracy is measured by running `python -m demo_training.train`.
"""

from __future__ import annotations

import contextlib
import io
import json

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from demo_training.data import CLASS_NAMES
from demo_training.model import FashionCNN
from demo_training.train import main
from tb_cnnviz import contract
from tb_cnnviz.writer.kinds import kind_names
from tb_cnnviz.writer.kinds.deconv import TOP

# Required, never skipped: without the Debian package the demo downloads the data set, and a machine
# without network then fails here, which is the truth.

EPOCHS = 2
CONV_LAYERS = ["features.conv1", "features.conv2", "features.conv3"]
PORT = 6123  # not TensorBoard's default, so a message naming 6006 regardless fails


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """One short demo run shared by the tests below: (test accuracy, run directory, what it printed)."""
    logdir = tmp_path_factory.mktemp("runs")
    arguments = ["--epochs", str(EPOCHS), "--train-subset", "3000", "--logdir", str(logdir), "--run-name", "short"]
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        accuracy = main([*arguments, "--port", str(PORT)])
    return accuracy, logdir / "short", printed.getvalue()


def test_accuracy_is_well_above_chance(finished_run):
    accuracy, _, _ = finished_run
    assert accuracy > 0.6, f"test accuracy {accuracy:.1%} after {EPOCHS} short epochs (chance is 10%)"


def test_run_holds_every_kind_of_every_conv_layer_at_every_epoch(finished_run):
    _, run_dir, _ = finished_run
    events = EventAccumulator(str(run_dir), size_guidance={"tensors": 0}).Reload()

    content = events.PluginTagToContent(contract.PLUGIN_NAME)
    kinds = (*kind_names("layer"), TOP)
    expected_tags = {contract.PROBES_TAG} | {contract.layer_tag(name, kind) for name in CONV_LAYERS for kind in kinds}
    expected_tags |= {contract.model_tag(kind) for kind in kind_names("model")}
    assert set(content) == expected_tags
    for kind in kind_names("model"):
        logged = events.Tensors(contract.model_tag(kind))
        assert [event.step for event in logged] == list(range(EPOCHS))
        assert json.loads(logged[-1].tensor_proto.string_val[0])["class_names"] == CLASS_NAMES
    for name in CONV_LAYERS:
        for kind in kind_names("layer"):
            assert [event.step for event in events.Tensors(contract.layer_tag(name, kind))] == list(range(EPOCHS))
        top = events.Tensors(contract.layer_tag(name, TOP))
        assert [event.step for event in top] == list(range(0, EPOCHS, 2))  # the demo logs the top 9 every 2nd epoch
        tag = contract.layer_tag(name, "feature_maps")
        assert [event.step for event in events.Tensors(tag)] == list(range(EPOCHS))
        blobs = events.Tensors(tag)[-1].tensor_proto.string_val
        info = json.loads(blobs[0])
        assert info["layer"] == name and info["probes"] == 10 == len(blobs) - 1
        assert all(png.startswith(b"\x89PNG") for png in blobs[1:])
    dynamics = {contract.scalar_tag(name, scalar) for name in CONV_LAYERS for scalar in ("cka_first", "dead_fraction")}
    assert {"loss/train", "loss/test", "accuracy/test"} | dynamics <= set(events.Tags()["scalars"]), "beside the loss"


def test_each_epoch_leaves_a_checkpoint_that_loads(finished_run):
    _, run_dir, _ = finished_run
    checkpoints = sorted((run_dir / "checkpoints").glob("*.pt"))
    assert len(checkpoints) == EPOCHS
    saved = torch.load(checkpoints[-1], weights_only=True)
    assert saved["epoch"] == EPOCHS - 1
    FashionCNN().load_state_dict(saved["model"])


def test_the_closing_message_names_the_port_to_open(finished_run):
    _, _, printed = finished_run
    assert f"tensorboard --logdir {finished_run[1].parent} --port {PORT}" in printed
    assert f"open http://localhost:{PORT}/#cnnviz" in printed
    assert "6006" not in printed
