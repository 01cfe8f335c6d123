"""Checkpoint files -> state_dicts that fit the model, in training order, with errors that name what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import small_cnn
from torch import nn

from tb_cnnviz.cli.checkpoints import (
    CheckpointError,
    expand_checkpoint_paths,
    load_checkpoint,
    order_checkpoints,
    state_dict_for,
    stored_position,
)


def order(positions: dict[str, dict[str, int]]) -> tuple[list[tuple[str, int]], str]:
    ordered, how = order_checkpoints({Path(name): position for name, position in positions.items()})
    return [(checkpoint.path.name, checkpoint.step) for checkpoint in ordered], how


def test_the_stored_epoch_orders_and_numbers_the_steps():
    steps, how = order({"b.pt": {"epoch": 10}, "a.pt": {"epoch": 2}, "c.pt": {"epoch": 0}})
    assert steps == [("c.pt", 0), ("a.pt", 2), ("b.pt", 10)]
    assert "epoch" in how


def test_global_step_decides_when_epochs_repeat():
    # Lightning saving twice per epoch: epoch=0-step=50.ckpt, epoch=0-step=100.ckpt
    steps, how = order({"x.ckpt": {"epoch": 0, "global_step": 100}, "y.ckpt": {"epoch": 0, "global_step": 50}})
    assert steps == [("y.ckpt", 50), ("x.ckpt", 100)]
    assert "global_step" in how


def test_the_number_in_the_file_name_orders_when_nothing_is_stored():
    steps, how = order({"model_epoch10.pt": {}, "model_epoch9.pt": {}, "model_epoch2.pt": {}})
    assert steps == [("model_epoch2.pt", 2), ("model_epoch9.pt", 9), ("model_epoch10.pt", 10)]
    assert "file name" in how


def test_without_distinct_numbers_natural_file_order_gives_steps_0_1_2():
    steps, how = order({"run-b.pt": {}, "run-a10.pt": {}, "run-a9.pt": {}})
    assert steps == [("run-a9.pt", 0), ("run-a10.pt", 1), ("run-b.pt", 2)]
    assert "no distinct epoch or step" in how


def test_stored_position_reads_ints_and_integer_tensors_only():
    contents = {"epoch": 3, "global_step": torch.tensor(120), "step": 1.5, "model": {}}
    assert stored_position(contents) == {"epoch": 3, "global_step": 120}
    assert stored_position({"epoch": True}) == {}
    assert stored_position(small_cnn().state_dict()) == {}


@pytest.mark.parametrize(
    "wrap",
    [
        pytest.param(lambda state: state, id="plain state_dict"),
        pytest.param(lambda state: {"epoch": 1, "model": state}, id="demo: model"),
        pytest.param(lambda state: {"state_dict": state, "optimizer_states": []}, id="lightning: state_dict"),
        pytest.param(lambda state: {f"module.{key}": value for key, value in state.items()}, id="DDP prefix"),
        pytest.param(lambda state: {f"_orig_mod.{key}": value for key, value in state.items()}, id="compile prefix"),
        pytest.param(
            lambda state: {
                "state_dict": {**{f"model.{key}": value for key, value in state.items()}, "loss.w": torch.ones(1)}
            },
            id="LightningModule attribute prefix",
        ),
    ],
)
def test_state_dicts_are_found_and_their_keys_fitted(wrap, tmp_path):
    source, target = small_cnn(), small_cnn()
    path = tmp_path / "checkpoint.pt"
    torch.save(wrap(source.state_dict()), path)

    target.load_state_dict(state_dict_for(target, load_checkpoint(path), path))
    for name, tensor in source.state_dict().items():
        assert torch.equal(target.state_dict()[name], tensor)


def test_a_checkpoint_of_another_model_names_missing_and_unexpected_keys(tmp_path):
    other = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1))
    other.add_module("head", nn.Linear(2, 2))
    with pytest.raises(CheckpointError) as caught:
        state_dict_for(small_cnn(), other.state_dict(), Path("other.pt"))
    message = str(caught.value)
    assert "other.pt does not fit Sequential" in message
    assert "missing keys (in the model, not in the checkpoint): 1.weight, 1.bias, 1.running_mean" in message
    assert "unexpected keys (in the checkpoint, not in the model): 2.weight, 2.bias, head.weight, head.bias" in message


def test_a_shape_mismatch_names_the_key_and_both_shapes(tmp_path):
    state = small_cnn().state_dict()
    state["4.weight"] = torch.zeros(32, 8, 3, 3)
    with pytest.raises(
        CheckpointError, match=r"4\.weight is \(32, 8, 3, 3\) in the checkpoint, \(16, 8, 3, 3\) in the model"
    ):
        state_dict_for(small_cnn(), state, Path("wide.pt"))


def test_a_dict_without_a_state_dict_lists_its_keys():
    with pytest.raises(CheckpointError, match=r"its keys are 'weights', 'epoch'; expected a state_dict"):
        state_dict_for(small_cnn(), {"weights": [1, 2], "epoch": 3}, Path("odd.pt"))


def test_files_holding_python_objects_need_trust(tmp_path):
    path = tmp_path / "pickled.pt"
    torch.save({"model": small_cnn().state_dict(), "config": Path("x")}, path)
    with pytest.raises(
        CheckpointError, match=r"\(pathlib\.PosixPath\); if you trust the file, pass --trust-checkpoints"
    ):
        load_checkpoint(path)
    assert load_checkpoint(path, trust=True)["config"] == Path("x")


def test_a_file_that_is_no_checkpoint_says_so(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match=r"notes\.pt is not a PyTorch checkpoint .*it begins b'not '"):
        load_checkpoint(path)


def test_paths_and_patterns_expand_to_files_each_once(tmp_path):
    for name in ("epoch_1.pt", "epoch_0.pt", "notes.txt"):
        (tmp_path / name).touch()
    found = expand_checkpoint_paths([str(tmp_path / "*.pt"), str(tmp_path / "epoch_0.pt")])
    assert [path.name for path in found] == ["epoch_0.pt", "epoch_1.pt"]
    with pytest.raises(CheckpointError, match=r"no such file '.*missing\.pt'"):
        expand_checkpoint_paths([str(tmp_path / "missing.pt")])
    with pytest.raises(CheckpointError, match=r"no file matches the pattern '.*\*\.ckpt'"):
        expand_checkpoint_paths([str(tmp_path / "*.ckpt")])
