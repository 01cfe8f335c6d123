"""CNNVizCallback: attach to a training loop, log what chosen layers see at fixed probe images."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.tensorboard import SummaryWriter

from tb_cnnviz import metadata, render
from tb_cnnviz.methods.capture import feature_maps
from tb_cnnviz.methods.layers import LayerSpec, resolve_layers, unwrap_model
from tb_cnnviz.methods.model_state import model_device
from tb_cnnviz.summary import write_blob_sequence


class CNNVizWarning(UserWarning):
    """A visualization problem reported instead of crashing the training run."""


ChannelSpec = Sequence[int] | dict[str, Sequence[int]] | None


class CNNVizCallback:
    """Logs feature maps of fixed probe images for chosen layers into TensorBoard event files.

    Layers, probes and channels are fixed at the first log and reused at every step, so steps
    compare. Logging never changes training: it runs in eval mode under no_grad, restores every
    module's mode and the RNG state, and reports problems as CNNVizWarning instead of raising.
    """

    def __init__(
        self,
        model: nn.Module,
        probe_images: torch.Tensor,
        *,
        log_dir: str | None = None,
        writer: SummaryWriter | None = None,
        layers: LayerSpec = None,
        every_n_epochs: int = 1,
        max_channels: int = 64,
        channels: ChannelSpec = None,
        max_tile_size: int = 64,
        probe_labels: Sequence[str] | None = None,
        input_mean: Sequence[float] | None = None,
        input_std: Sequence[float] | None = None,
    ) -> None:
        if log_dir is not None and writer is not None:
            raise ValueError("pass log_dir or writer, not both: the writer already has a log dir")
        if every_n_epochs < 1 or max_channels < 1 or max_tile_size < 1:
            raise ValueError(
                "every_n_epochs, max_channels and max_tile_size must be >= 1, got "
                f"{every_n_epochs}, {max_channels}, {max_tile_size}"
            )
        self.model = model
        self.probe_images = _checked_probes(model, probe_images)
        if probe_labels is not None and len(probe_labels) != len(self.probe_images):
            raise ValueError(f"probe_labels has {len(probe_labels)} names for {len(self.probe_images)} probe images")
        self.probe_labels = [str(label) for label in probe_labels] if probe_labels is not None else None
        self.layers = resolve_layers(model, layers)
        self.every_n_epochs = every_n_epochs
        self.max_channels = max_channels
        self.max_tile_size = max_tile_size
        self.input_mean, self.input_std = input_mean, input_std
        self._channel_spec = channels
        self._channels: dict[str, list[int]] = {}  # fixed at the first log
        self._owns_writer = writer is None
        # Under torch.distributed only rank 0 logs: other ranks open no file and run no forward.
        self.is_logging_rank = _is_rank_zero()
        self.writer = None
        if self.is_logging_rank:
            self.writer = writer if writer is not None else SummaryWriter(log_dir=log_dir)
        self._probes_logged = False

    def on_epoch_end(self, epoch: int, step: int | None = None) -> None:
        """Log at `step` (default: `epoch`) when `epoch` is due under `every_n_epochs`."""
        if (epoch + 1) % self.every_n_epochs == 0:
            self.log(epoch if step is None else step)

    def log(self, step: int) -> None:
        """Log every selected layer now, as `step` (on rank 0 only under torch.distributed)."""
        if self.writer is None:
            return
        if not self._probes_logged:
            self._guarded("probe images", self._log_probes, step)
            self._probes_logged = True
        if not self.layers:
            return
        with _rng_preserved(self.model):
            modules = list(self.layers.values())
            maps = self._guarded("feature maps", feature_maps, self.model, self.probe_images, modules)
        for name, output in (maps or {}).items():
            self._guarded(f"layer {name!r}", self._log_feature_maps, name, output, step)
        self.writer.flush()

    def close(self) -> None:
        """Flush the event file; close the writer if this callback created it."""
        if self.writer is None:
            return
        if self._owns_writer:
            self.writer.close()
        else:
            self.writer.flush()

    def __enter__(self) -> CNNVizCallback:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _log_probes(self, step: int) -> None:
        info, blobs = render.render_probes(self.probe_images, self.probe_labels, self.input_mean, self.input_std)
        write_blob_sequence(
            self.writer, metadata.PROBES_TAG, info, blobs, step, count=info["count"], labels=info["labels"]
        )

    def _log_feature_maps(self, name: str, output: torch.Tensor, step: int) -> None:
        if output.dim() != 4:
            del self.layers[name]
            raise ValueError(
                f"outputs shape {tuple(output.shape)}, not (N, C, H, W); feature maps need a "
                "convolutional layer's output, so this layer is left out from now on"
            )
        channels = self._channels.setdefault(name, self._choose_channels(name, output.shape[1]))
        info, blobs = render.render_feature_maps(name, output, channels, self.max_tile_size)
        if "nonfinite" in info:
            warnings.warn(
                f"tb_cnnviz: layer {name!r} has non-finite activations at step {step}; they are drawn "
                "as the tile's minimum and left out of the statistics",
                CNNVizWarning,
                stacklevel=3,
            )
        write_blob_sequence(
            self.writer,
            metadata.layer_tag(name, metadata.FEATURE_MAPS),
            info,
            blobs,
            step,
            layer=name,
            layer_index=list(self.layers).index(name),
            layer_type=type(self.layers[name]).__name__,
            shape=list(output.shape[1:]),
        )

    def _choose_channels(self, name: str, count: int) -> list[int]:
        spec = self._channel_spec
        if isinstance(spec, dict):
            spec = spec.get(name)
        if spec is None:
            return list(range(min(count, self.max_channels)))
        chosen = [int(channel) for channel in spec]
        invalid = [channel for channel in chosen if not 0 <= channel < count]
        if invalid:
            raise ValueError(f"channels {invalid} do not exist; the layer has channels 0..{count - 1}")
        return chosen

    def _guarded(self, what: str, function, *args):
        """Call `function`; a failure becomes a CNNVizWarning so training goes on."""
        try:
            return function(*args)
        except Exception as error:  # noqa: BLE001 - reporting, not hiding: the run must not crash
            warnings.warn(f"tb_cnnviz: {what} not logged: {error}", CNNVizWarning, stacklevel=3)
            return None


def _checked_probes(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """A private CPU copy of the probe images, after checking they fit the model's first conv."""
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or not images.is_floating_point():
        described = (
            f"a {images.dtype} tensor of shape {tuple(images.shape)}"
            if isinstance(images, torch.Tensor)
            else type(images).__name__
        )
        raise ValueError(f"probe_images must be a float tensor (N, C, H, W) as the model takes it, got {described}")
    if len(images) == 0:
        raise ValueError("probe_images is empty; pass at least one image (N >= 1)")
    first_conv = next((m for m in unwrap_model(model).modules() if isinstance(m, nn.Conv2d)), None)
    if first_conv is not None and first_conv.in_channels != images.shape[1]:
        raise ValueError(
            f"probe_images have {images.shape[1]} channels (shape {tuple(images.shape)}) but the model's "
            f"first Conv2d takes {first_conv.in_channels}; pass images shaped (N, {first_conv.in_channels}, H, W)"
        )
    return images.detach().to("cpu", copy=True)


def _is_rank_zero() -> bool:
    """True outside torch.distributed and on its rank 0 (get_rank is local: no collective)."""
    distributed = torch.distributed
    return not (distributed.is_available() and distributed.is_initialized()) or distributed.get_rank() == 0


def _rng_preserved(model: nn.Module):
    """Fork the RNG streams of the model's device, so logging draws nothing from training's."""
    device = model_device(model)
    if device.type == "cpu":
        return torch.random.fork_rng(devices=[])
    return torch.random.fork_rng(devices=[device], device_type=device.type)
