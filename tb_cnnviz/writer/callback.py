"""CNNVizCallback: attach to a training loop, log what chosen layers see at fixed probe images."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import torch
from torch import nn
from torch.utils.tensorboard import SummaryWriter

from tb_cnnviz import contract
from tb_cnnviz.methods.indices import checked_indices
from tb_cnnviz.methods.layers import LayerSpec
from tb_cnnviz.methods.model_state import model_device
from tb_cnnviz.writer.arguments import check_counts
from tb_cnnviz.writer.background import BackgroundWriter
from tb_cnnviz.writer.context import LayerContext, StepContext
from tb_cnnviz.writer.kinds import DEFAULT_KINDS, Kind, resolve_kinds
from tb_cnnviz.writer.kinds.base import LAYER_SCOPE
from tb_cnnviz.writer.layer_choice import chosen_layers
from tb_cnnviz.writer.legacy import with_deprecated_arguments
from tb_cnnviz.writer.probes import Probes
from tb_cnnviz.writer.reporting import AlreadyReported, CNNVizWarning, DefaultLayersWarning, guarded, warn

__all__ = ["CNNVizCallback", "CNNVizWarning", "DefaultLayersWarning"]

ChannelSpec = Sequence[int] | dict[str, Sequence[int]] | None


class CNNVizCallback:
    """Logs what chosen layers learn into TensorBoard event files, for the CNN Viz tab.

    `kinds` names what is logged ("feature_maps" and "dynamics" by default; see writer/kinds/) or configures
    it: kinds=[Filters(steps=64, every=5), GradCam(layer="features.8")]. Layer kinds are logged for
    every chosen layer, model kinds (saliency, class images...) once; `class_names` name the model's
    outputs in the tab. Layers, probes, channels, classes, targets and seeds are fixed at the first log
    and reused at every step, so steps compare. Logging never changes training: the model runs in eval
    mode, modes, gradients, requires_grad and the RNG state come back as found, and problems become
    CNNVizWarning. `layers=None` logs every Conv2d of a model with at most 6 of them, and a representative
    few of a bigger one (the first conv and the last before each change of spatial resolution, see
    methods/default_layers.py), named once in a DefaultLayersWarning; `layers="all"` logs every Conv2d.
    log() runs the model; a background thread encodes and writes (close() waits for it), unless
    blocking=True. The arguments after class_names are release 1's kind options, deprecated (legacy.py).
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
        kinds: Sequence[str | Kind] = DEFAULT_KINDS,
        seed: int = 0,
        blocking: bool = False,
        class_names: Sequence[str] | None = None,
        filter_options: dict | None = None,
        class_options: dict | None = None,
        fooling_options: dict | None = None,
        deconv_rule: str | None = None,
        deconv_top_channels: int | None = None,
        deconv_channels: Sequence[int] | None = None,
        deconv_dataset: torch.Tensor | Iterable | None = None,
        deconv_dataset_every: int | None = None,
        grad_cam_layer: str | nn.Module | None = None,
    ) -> None:
        if log_dir is not None and writer is not None:
            raise ValueError("pass log_dir or writer, not both: the writer already has a log dir")
        check_counts(every_n_epochs=every_n_epochs, max_channels=max_channels, max_tile_size=max_tile_size)
        self.model = model
        self.probes = Probes(model, probe_images, probe_labels, input_mean, input_std, class_names)
        self.kinds = resolve_kinds(with_deprecated_arguments(kinds, locals()))
        for kind in self.kinds:
            kind.attach(model, self.probes)
        self.layers = chosen_layers(model, layers, self.probes.images)
        self.every_n_epochs = every_n_epochs
        self.max_channels = max_channels
        self.max_tile_size = max_tile_size
        self.seed = seed
        self._channel_spec = channels
        self._channels: dict[str, list[int]] = {}  # fixed at the first log
        self._fixed: set[str] = set()  # kinds whose first-log choices are made
        self._log_count = 0
        self._owns_writer = writer is None
        # Under torch.distributed only rank 0 logs: other ranks open no file and run no forward
        # (create the callback after init_process_group, or every rank opens an event file).
        self.writer, self._sink = None, None
        if _is_rank_zero():
            self._sink = BackgroundWriter.open(writer, log_dir, blocking=blocking)
            self.writer = self._sink.writer
        self._probes_logged = False
        self._closed = self._said_closed = False  # close() called / a log() after it reported (once)

    def on_epoch_end(self, epoch: int, step: int | None = None) -> None:
        """Log at `step` (default: `epoch`) when `epoch` is due under `every_n_epochs`."""
        if (epoch + 1) % self.every_n_epochs == 0:
            self.log(epoch if step is None else step)

    def log(self, step: int) -> None:
        """Log every due kind now, as `step` (on rank 0 only under torch.distributed)."""
        if self.writer is None or not _is_rank_zero():
            return
        if self._closed:
            if not self._said_closed:
                self._said_closed = True
                warn(f"log({step}) after close() is ignored: the callback writes nothing once closed")
            return
        self._sink.report()
        if not self._probes_logged:
            guarded("probe images", self._log_probes, step)
            self._probes_logged = True
        due = [kind for kind in self.kinds if kind.is_due(self._log_count)]
        self._log_count += 1
        with _rng_preserved(self.model):
            context = StepContext(self.model, self.probes, step, self.layers, self.seed, self.max_tile_size)
            layer_kinds = [kind for kind in due if kind.scope == LAYER_SCOPE]
            if layer_kinds and self.layers:
                for layer in self._layer_contexts(context):
                    for kind in layer_kinds:
                        guarded(f"{kind.title} of {layer.layer!r}", self._log_kind, kind, layer)
            for kind in due:
                if kind.scope == contract.MODEL_SCOPE:
                    guarded(kind.title, self._log_kind, kind, context)
        self._sink.end_step()

    def close(self) -> None:
        """Write what is queued and flush the event file; close the writer if this callback created it."""
        if self._sink is not None and not self._closed:
            self._closed = True
            self._sink.close(close_writer=self._owns_writer)

    def __enter__(self) -> CNNVizCallback:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _log_probes(self, step: int) -> None:
        self._sink.write(contract.PROBES_TAG, self.probes.record(), step, self.probes.content, keep=True)

    def _layer_contexts(self, context: StepContext) -> Iterator[LayerContext]:
        """Each chosen layer with its output and fixed channels (a layer without output is dropped, see context)."""
        try:
            outputs = context.feature_maps
        except AlreadyReported:
            return
        for name, maps in outputs.items():
            channels = guarded(f"layer {name!r}", self._fixed_channels, name, maps.shape[1])
            if channels is not None:
                yield LayerContext(context, name, maps, channels)

    def _fixed_channels(self, name: str, count: int) -> list[int]:
        """The channels shown for layer `name`, chosen at its first log: `channels`, or the first max_channels."""
        if name not in self._channels:
            spec = self._channel_spec.get(name) if isinstance(self._channel_spec, dict) else self._channel_spec
            chosen = list(range(min(count, self.max_channels))) if spec is None else spec
            self._channels[name] = checked_indices(chosen, count, "channels", f"layer {name!r}")
        return self._channels[name]

    def _log_kind(self, kind: Kind, context: StepContext) -> None:
        if kind.name not in self._fixed:
            kind.fix(context)
            self._fixed.add(kind.name)
        for record in kind.records(context):
            self._sink.write(context.tag(record.kind), record, context.step, context.content)


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
