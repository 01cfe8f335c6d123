"""CNN Viz for PyTorch Lightning: feature maps at the end of training epochs, in the trainer's TensorBoard run.

    from tb_cnnviz.integrations.lightning import CNNVizCallback
    trainer = lightning.Trainer(callbacks=[CNNVizCallback(probe_images, input_mean=[0.5], input_std=[0.5])])

Needs the optional extra: pip install "tb-cnnviz[lightning]".
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import torch

try:
    import lightning.pytorch as pl
    from lightning.pytorch.loggers import TensorBoardLogger
except ImportError as error:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "tb_cnnviz.integrations.lightning needs Lightning; install it with: pip install 'tb-cnnviz[lightning]'"
    ) from error

from tb_cnnviz.writer import callback as core

# Where the run goes when the trainer has no TensorBoardLogger and no log_dir was given.
DEFAULT_SUBDIR = "cnnviz"
# What a logged step is numbered by: the epoch, or the trainer's global step as self.log's scalars are.
STEP_SOURCES = ("epoch", "global_step")


class CNNVizCallback(pl.Callback):
    """Logs what chosen layers make of fixed probe images at the end of training epochs (step = epoch).

    The data goes into the run of the trainer's first TensorBoardLogger, next to the user's scalars;
    without one, into `log_dir` (default: `<trainer.default_root_dir>/cnnviz`). An explicit
    `log_dir` always wins. Only the global-zero process logs; the others do no work at all.
    The LightningModule is the model: its forward must take the probe images, and layer names
    are its module names (e.g. "net.features.conv1").

    `step` numbers the logged steps by "epoch" (default) or by "global_step", the optimizer steps that
    self.log's scalars are plotted against, so both line up on one axis.
    `options` are the keyword options of `tb_cnnviz.CNNVizCallback` (layers, kinds, every_n_epochs,
    max_channels, probe_labels, input_mean, input_std...); unknown ones fail here, not at the first epoch.
    """

    def __init__(
        self, probe_images: torch.Tensor, *, log_dir: str | Path | None = None, step: str = "epoch", **options: Any
    ) -> None:
        inspect.signature(core.CNNVizCallback).bind(None, probe_images, **options)
        if "writer" in options:
            raise TypeError("writer is chosen from the trainer's loggers; pass log_dir to log elsewhere")
        if step not in STEP_SOURCES:
            raise ValueError(f"step {step!r} is unknown; choose one of {list(STEP_SOURCES)}")
        self.step = step
        self.probe_images = probe_images
        self.log_dir = log_dir
        self.options = options
        self.viz: core.CNNVizCallback | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Build the plain callback once the module exists and distributed ranks are known."""
        if stage != "fit" or not trainer.is_global_zero or self.viz is not None:
            return
        writer = None if self.log_dir is not None else _tensorboard_writer(trainer)
        log_dir = None if writer is not None else str(self.log_dir or Path(trainer.default_root_dir) / DEFAULT_SUBDIR)
        self.viz = core.CNNVizCallback(pl_module, self.probe_images, log_dir=log_dir, writer=writer, **self.options)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.viz is not None:
            step = trainer.global_step if self.step == "global_step" else trainer.current_epoch
            self.viz.on_epoch_end(trainer.current_epoch, step=step)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Flush; the logger's writer stays open for the logger, a writer of our own is closed. A later fit()
        builds a new plain callback (a closed one logs nothing)."""
        if stage == "fit" and self.viz is not None:
            self.viz.close()
            self.viz = None


def _tensorboard_writer(trainer: pl.Trainer):
    """The SummaryWriter of the trainer's first TensorBoardLogger, so both share one run; else None."""
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            return logger.experiment
    return None
