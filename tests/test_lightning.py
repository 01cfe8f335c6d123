"""The Lightning callback in real `lightning.Trainer` runs on CPU: where and when it logs, training unchanged."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from types import SimpleNamespace

import lightning.pytorch as pl
import pytest
import torch
import torch.nn.functional as F
from conftest import read_cnnviz_events, small_cnn
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.data import DataLoader, TensorDataset

from tb_cnnviz.integrations.lightning import CNNVizCallback

LAYER_TAGS = {"probes", "net.0/feature_maps", "net.4/feature_maps", "net.0/dynamics", "net.4/dynamics"}


class TinyClassifier(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = small_cnn()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)

    def training_step(self, batch, batch_index):
        images, labels = batch
        loss = F.cross_entropy(self(images), labels)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.9)


def fit(tmp_path, callbacks=(), epochs: int = 2, **trainer_options) -> TinyClassifier:
    """A short real training: `epochs` epochs of 3 batches of 8 random 28x28 images."""
    generator = torch.Generator().manual_seed(1)
    data = TensorDataset(
        torch.randn(24, 1, 28, 28, generator=generator), torch.randint(0, 10, (24,), generator=generator)
    )
    module = TinyClassifier()
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=epochs,
        callbacks=list(callbacks),
        default_root_dir=tmp_path,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
        **trainer_options,
    )
    torch.manual_seed(2)  # the dropout masks: the same in every run
    trainer.fit(module, DataLoader(data, batch_size=8))
    return module


def probes() -> torch.Tensor:
    return torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(3))


def test_logs_into_the_tensorboard_loggers_run_and_leaves_training_unchanged(tmp_path):
    logger = TensorBoardLogger(tmp_path / "tb", name="exp")
    trained = fit(tmp_path, [CNNVizCallback(probes(), probe_labels=["a", "b"])], logger=logger)
    untouched = fit(tmp_path / "plain", logger=False)

    run_dir = tmp_path / "tb" / "exp" / "version_0"
    events = read_cnnviz_events(run_dir)
    assert set(events) == LAYER_TAGS
    assert sorted(events["net.0/feature_maps"]) == sorted(events["net.4/feature_maps"]) == [0, 1]
    scalars = EventAccumulator(str(run_dir)).Reload().Tags()["scalars"]
    assert "train_loss" in scalars, "the user's scalars and the feature maps share one run"
    assert not (tmp_path / "cnnviz").exists()
    for name, tensor in trained.state_dict().items():
        assert torch.equal(tensor, untouched.state_dict()[name]), f"{name} differs from the run without the callback"


def test_without_a_tensorboard_logger_logs_into_its_own_dir(tmp_path):
    fit(tmp_path, [CNNVizCallback(probes(), every_n_epochs=2)], epochs=3, logger=CSVLogger(tmp_path / "csv"))
    events = read_cnnviz_events(tmp_path / "cnnviz")
    assert set(events) == LAYER_TAGS
    assert sorted(events["net.0/feature_maps"]) == [1], "every_n_epochs=2 over 3 epochs logs epoch 1 only"


def test_an_explicit_log_dir_wins_over_the_logger(tmp_path):
    logger = TensorBoardLogger(tmp_path / "tb", name="exp")
    fit(tmp_path, [CNNVizCallback(probes(), log_dir=tmp_path / "mine", layers="net.4")], epochs=1, logger=logger)
    assert set(read_cnnviz_events(tmp_path / "mine")) == {"probes", "net.4/feature_maps", "net.4/dynamics"}
    assert read_cnnviz_events(tmp_path / "tb" / "exp" / "version_0") == {}


def test_steps_can_follow_the_global_step_of_the_users_scalars(tmp_path):
    logger = TensorBoardLogger(tmp_path / "tb", name="exp")
    fit(tmp_path, [CNNVizCallback(probes(), layers="net.4", step="global_step")], epochs=2, logger=logger)
    run_dir = tmp_path / "tb" / "exp" / "version_0"
    assert sorted(read_cnnviz_events(run_dir)["net.4/feature_maps"]) == [3, 6], "3 batches per epoch"
    loss_steps = [event.step for event in EventAccumulator(str(run_dir)).Reload().Scalars("train_loss")]
    assert max(loss_steps) == 5, "the last scalar, logged at the 6th optimizer step (0-based 5), precedes it"


def test_options_are_checked_when_the_callback_is_made():
    with pytest.raises(TypeError, match="max_chanels"):
        CNNVizCallback(probes(), max_chanels=4)
    with pytest.raises(TypeError, match="writer"):
        CNNVizCallback(probes(), writer=None)
    with pytest.raises(ValueError, match=r"step 'batch' is unknown; choose one of \['epoch', 'global_step'\]"):
        CNNVizCallback(probes(), step="batch")


def test_a_process_other_than_global_zero_does_nothing(tmp_path):
    trainer = SimpleNamespace(
        is_global_zero=False,
        loggers=[TensorBoardLogger(tmp_path / "tb")],
        default_root_dir=str(tmp_path),
        current_epoch=0,
    )
    callback = CNNVizCallback(probes())
    module = TinyClassifier()
    callback.setup(trainer, module, "fit")
    callback.on_train_epoch_end(trainer, module)
    callback.teardown(trainer, module, "fit")
    assert callback.viz is None
    assert list(tmp_path.iterdir()) == []


def test_importing_tb_cnnviz_never_imports_lightning():
    script = textwrap.dedent(
        """
        import sys
        import tb_cnnviz, tb_cnnviz.writer.callback, tb_cnnviz.cli, tb_cnnviz.integrations
        from tb_cnnviz import CNNVizCallback
        loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("lightning", "pytorch_lightning"))
        assert not loaded, loaded

        sys.modules["lightning"] = None  # as if Lightning were not installed
        try:
            import tb_cnnviz.integrations.lightning
        except ImportError as error:
            assert "pip install 'tb-cnnviz[lightning]'" in str(error), error
        else:
            raise AssertionError("no ImportError without Lightning")
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
