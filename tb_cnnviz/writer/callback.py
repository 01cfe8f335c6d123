"""CNNVizCallback: attach to a training loop, log what chosen layers see at fixed probe images."""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable, Iterable, Sequence

import torch
from torch import nn
from torch.utils.tensorboard import SummaryWriter

from tb_cnnviz import contract
from tb_cnnviz.methods.capture import feature_maps
from tb_cnnviz.methods.class_scores import softmax_table
from tb_cnnviz.methods.class_visualization import class_visualization
from tb_cnnviz.methods.deconv import deconvnet
from tb_cnnviz.methods.fooling import fooling_images
from tb_cnnviz.methods.grad_cam import grad_cam, last_conv
from tb_cnnviz.methods.indices import checked_indices
from tb_cnnviz.methods.input_space import normalization_columns
from tb_cnnviz.methods.layers import LayerSpec, first_conv, resolve_layers, single_layer
from tb_cnnviz.methods.maximize import CHEAP_SETTINGS, maximize_filters
from tb_cnnviz.methods.model_state import model_device
from tb_cnnviz.methods.overlays import normalize_heatmap
from tb_cnnviz.methods.relu_rules import RULES
from tb_cnnviz.methods.saliency import saliency
from tb_cnnviz.methods.top_activations import top_activations
from tb_cnnviz.writer import render
from tb_cnnviz.writer.summary import write_blob_sequence


class CNNVizWarning(UserWarning):
    """A visualization problem reported instead of crashing the training run."""


ChannelSpec = Sequence[int] | dict[str, Sequence[int]] | None

# Class images per log in the callback: 64 steps already show the class's strokes on small models.
CLASS_STEPS = 64
# With more classes than this (ImageNet), class images are made for the probes' predicted classes only.
MAX_CLASS_IMAGES = 16


class CNNVizCallback:
    """Logs what chosen layers learn into TensorBoard event files, for the CNN Viz tab.

    `kinds` picks what is logged per layer: "feature_maps" of the fixed probe images (default),
    "filters" (filter-maximizing images from seeded noise, `filter_options` go to
    maximize_filters) and "deconv" (deconvnet projections of each probe's strongest channels, plus
    the dataset's top-9 patches every `deconv_dataset_every` steps when `deconv_dataset` is given).
    Model-level kinds, each opt-in by name, explain the classifier's decision on the probes:
    "saliency", "grad_cam" (at `grad_cam_layer`, default the last Conv2d), "class_visualization"
    (`class_options` go to class_visualization; default: every class, or the probes' predicted
    classes when there are more than 16) and "fooling" (`fooling_options` go to fooling_images;
    default target: each probe's second most likely class at the first log). `class_names` name
    the model's outputs in the tab.
    Layers, probes, channels, classes, targets and seeds are fixed at the first log and reused at
    every step, so steps compare. Logging never changes training: the model runs in eval mode, modes, gradients,
    requires_grad and the RNG state come back as found, and problems become CNNVizWarning.
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
        kinds: Sequence[str] = (contract.FEATURE_MAPS,),
        filter_options: dict | None = None,
        seed: int = 0,
        deconv_rule: str = "deconvnet",
        deconv_top_channels: int = 8,
        deconv_channels: Sequence[int] | None = None,
        deconv_dataset: torch.Tensor | Iterable | None = None,
        deconv_dataset_every: int = 5,
        class_names: Sequence[str] | None = None,
        grad_cam_layer: str | nn.Module | None = None,
        class_options: dict | None = None,
        fooling_options: dict | None = None,
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
        loggable = contract.LAYER_KINDS + contract.MODEL_KINDS
        unknown = sorted(set(kinds) - set(loggable))
        if unknown or not kinds:
            raise ValueError(f"kinds {unknown or list(kinds)} are not loggable; choose from {list(loggable)}")
        self.kinds = tuple(kinds)
        size = tuple(self.probe_images.shape[-2:])
        # Filter images start from seeded noise: same seed and channels every step, so steps compare.
        self.filter_options = {**CHEAP_SETTINGS, "size": size, **_checked_options(maximize_filters, filter_options)}
        self.class_options = {
            "size": size, "steps": CLASS_STEPS, "l2": _default(class_visualization, "l2"),
            **_checked_options(class_visualization, class_options),
        }  # fmt: skip
        self.fooling_options = {
            "max_steps": _default(fooling_images, "max_steps"),
            **_checked_options(fooling_images, fooling_options),
        }
        self.class_names = [str(name) for name in class_names] if class_names is not None else None
        self.grad_cam_layer = None
        if contract.GRAD_CAM in self.kinds:
            chosen = single_layer(model, grad_cam_layer) if grad_cam_layer is not None else last_conv(model)
            self.grad_cam_layer = chosen
        self.seed = seed
        if deconv_rule not in RULES:
            raise ValueError(f"deconv_rule {deconv_rule!r} is unknown; choose one of {list(RULES)}")
        if deconv_top_channels < 0 or deconv_dataset_every < 1:
            raise ValueError(
                f"deconv_top_channels must be >= 0 and deconv_dataset_every >= 1, got {deconv_top_channels}, "
                f"{deconv_dataset_every}"
            )
        self.deconv_rule = deconv_rule
        self.deconv_top_channels = deconv_top_channels
        self.deconv_channels = [int(channel) for channel in deconv_channels or []]
        self.deconv_dataset = deconv_dataset
        self.deconv_dataset_every = deconv_dataset_every
        self.layers = resolve_layers(model, layers)
        self.every_n_epochs = every_n_epochs
        self.max_channels = max_channels
        self.max_tile_size = max_tile_size
        # Checked once here, so every view undoes the same normalization (or says now what is wrong).
        normalization_columns(input_mean, input_std, self.probe_images.shape[1], torch.device("cpu"))
        self.input_mean, self.input_std = input_mean, input_std
        self._channel_spec = channels
        self._channels: dict[str, list[int]] = {}  # fixed at the first log
        self._owns_writer = writer is None
        # Under torch.distributed only rank 0 logs: other ranks open no file and run no forward
        # (create the callback after init_process_group, or every rank opens an event file).
        self.is_logging_rank = _is_rank_zero()
        self.writer = None
        if self.is_logging_rank:
            self.writer = writer if writer is not None else SummaryWriter(log_dir=log_dir)
        self._probes_logged = False
        self._class_count: int | None = None  # the model's, checked against class_names at the first log
        self._classes: list[int] | None = None  # class images' classes, fixed at the first log
        self._fooling_targets: list[int] | None = None  # fixed at the first log

    def on_epoch_end(self, epoch: int, step: int | None = None) -> None:
        """Log at `step` (default: `epoch`) when `epoch` is due under `every_n_epochs`."""
        if (epoch + 1) % self.every_n_epochs == 0:
            self.log(epoch if step is None else step)

    def log(self, step: int) -> None:
        """Log every selected layer now, as `step` (on rank 0 only under torch.distributed)."""
        if self.writer is None or not _is_rank_zero():
            return
        if not self._probes_logged:
            self._guarded("probe images", self._log_probes, step)
            self._probes_logged = True
        with _rng_preserved(self.model):
            if self.layers and set(self.kinds) & set(contract.LAYER_KINDS):
                modules = list(self.layers.values())
                maps = self._guarded("feature maps", feature_maps, self.model, self.probe_images, modules)
                for name, output in (maps or {}).items():
                    self._guarded(f"layer {name!r}", self._log_layer, name, output, step)
            model_kinds = [kind for kind in self.kinds if kind in contract.MODEL_KINDS]
            probabilities = self._guarded("class predictions", self._probabilities) if model_kinds else None
            if probabilities is not None:
                for kind in model_kinds:
                    self._guarded(kind.replace("_", " "), getattr(self, f"_log_{kind}"), probabilities, step)
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
            self.writer, contract.PROBES_TAG, info, blobs, step, count=info["count"], labels=info["labels"]
        )

    def _probabilities(self) -> torch.Tensor:
        """(N, classes) softmax of the probes; at the first call, checks class_names against the model."""
        table = softmax_table(self.model, self.probe_images)
        if self._class_count is None:
            self._class_count = table.shape[1]
            if self.class_names is not None and len(self.class_names) != self._class_count:
                warnings.warn(
                    f"tb_cnnviz: class_names has {len(self.class_names)} names but the model outputs "
                    f"{self._class_count} classes; the tab shows class numbers instead (pass one name per output)",
                    CNNVizWarning,
                    stacklevel=4,
                )
                self.class_names = None
        return table

    def _write_model_view(self, kind: str, step: int, info: dict, blobs: list[bytes]) -> None:
        write_blob_sequence(self.writer, contract.model_tag(kind), info, blobs, step, scope=contract.MODEL_SCOPE)

    @functools.cached_property
    def _probe_pictures(self) -> torch.Tensor:
        """The probes in display space, made once: saliency and Grad-CAM draw over them at every step."""
        return render.probe_pictures(self.probe_images, self.input_mean, self.input_std)

    def _log_saliency(self, probabilities: torch.Tensor, step: int) -> None:
        predicted = probabilities.argmax(dim=1)
        heatmaps = normalize_heatmap(saliency(self.model, self.probe_images, predicted))
        self._write_explanations(contract.SALIENCY, heatmaps, probabilities, step)

    def _log_grad_cam(self, probabilities: torch.Tensor, step: int) -> None:
        name, module = self.grad_cam_layer
        heatmaps = grad_cam(self.model, self.probe_images, module, probabilities.argmax(dim=1))
        self._write_explanations(
            contract.GRAD_CAM, heatmaps, probabilities, step, layer=name, layer_size=list(heatmaps.shape[1:])
        )

    def _write_explanations(
        self, kind: str, heatmaps: torch.Tensor, probabilities: torch.Tensor, step: int, **extra
    ) -> None:
        confidence, predicted = probabilities.max(dim=1)
        info, blobs = render.render_explanations(
            kind, self._probe_pictures, heatmaps, predicted, confidence,
            class_names=self.class_names, labels=self.probe_labels, **extra,
        )  # fmt: skip
        self._write_model_view(kind, step, info, blobs)

    def _log_class_visualization(self, probabilities: torch.Tensor, step: int) -> None:
        if self._classes is None:
            self._classes = _default_classes(probabilities)
        options = {"classes": self._classes, **self.class_options}
        result = class_visualization(
            self.model, seed=self.seed, in_channels=self.probe_images.shape[1],
            input_mean=self.input_mean, input_std=self.input_std, **options,
        )  # fmt: skip
        info, blobs = render.render_class_images(
            result.images, result.classes, result.scores, result.probabilities,
            class_names=self.class_names, steps=options["steps"], l2=options["l2"],
        )  # fmt: skip
        self._write_model_view(contract.CLASS_VISUALIZATION, step, info, blobs)

    def _log_fooling(self, probabilities: torch.Tensor, step: int) -> None:
        if self._fooling_targets is None:
            self._fooling_targets = probabilities.topk(2, dim=1).indices[:, 1].tolist()
        options = {"target_classes": self._fooling_targets, **self.fooling_options}
        result = fooling_images(
            self.model, self.probe_images, input_mean=self.input_mean, input_std=self.input_std, **options
        )
        original_probabilities, original_classes = probabilities.max(dim=1)
        info, blobs = render.render_fooling(
            result.originals, result.images, class_names=self.class_names, labels=self.probe_labels,
            original_classes=original_classes, original_probabilities=original_probabilities,
            targets=result.targets, target_probabilities=result.probabilities, succeeded=result.succeeded,
            steps=result.steps, max_steps=options["max_steps"],
            max_change=result.max_change,
        )  # fmt: skip
        self._write_model_view(contract.FOOLING, step, info, blobs)

    def _log_layer(self, name: str, output: torch.Tensor, step: int) -> None:
        if output.dim() != 4:
            del self.layers[name]
            raise ValueError(
                f"outputs shape {tuple(output.shape)}, not (N, C, H, W); feature maps need a "
                "convolutional layer's output, so this layer is left out from now on"
            )
        channels = self._channels.setdefault(name, self._choose_channels(name, output.shape[1]))
        content = {
            "layer": name,
            "layer_index": list(self.layers).index(name),
            "layer_type": type(self.layers[name]).__name__,
            "shape": list(output.shape[1:]),
        }
        if contract.FEATURE_MAPS in self.kinds:
            self._log_feature_maps(name, output, channels, step, content)
        if contract.FILTERS in self.kinds:
            self._guarded(f"filter images of {name!r}", self._log_filters, name, channels, step, content)
        if contract.DECONV in self.kinds:
            self._guarded(f"deconvnet of {name!r}", self._log_deconv, name, output, step, content)
            if self.deconv_dataset is not None and step % self.deconv_dataset_every == 0:
                self._guarded(f"dataset top activations of {name!r}", self._log_top_activations, name, step, content)

    def _log_deconv(self, name: str, output: torch.Tensor, step: int, content: dict) -> None:
        """Project, for each probe, the fixed channels and the channels it excites most at this step."""
        count, channels = output.shape[:2]
        fixed = self.deconv_channels
        checked_indices(fixed, channels, "deconv_channels", f"layer {name!r}")
        strength = output.detach().float().amax(dim=(2, 3)).cpu()
        strength[:, fixed] = -torch.inf
        strongest = strength.topk(min(self.deconv_top_channels, channels - len(fixed)), dim=1).indices
        table = torch.cat([torch.tensor(fixed, dtype=torch.long).expand(count, -1), strongest], dim=1)
        result = deconvnet(self.model, self.probe_images, self.layers[name], table, rule=self.deconv_rule)
        field = result.receptive_field
        info, blobs = render.render_deconv(
            name, result.rule, result.projections, table, result.activations, result.boxes,
            field.patch_starts(result.positions.cpu()), field.patch_size,
        )  # fmt: skip
        write_blob_sequence(self.writer, contract.layer_tag(name, contract.DECONV), info, blobs, step, **content)

    def _log_top_activations(self, name: str, step: int, content: dict) -> None:
        """Zeiler & Fergus figure 2: per channel, the 9 strongest dataset patches and their projections."""
        top = top_activations(
            self.model, self.deconv_dataset, self.layers[name], self._channels[name], k=9,
            project=self.deconv_rule, progress=False,
        )  # fmt: skip
        info, blobs = render.render_top_activations(
            name, top.channels, top.values, top.indices, top.patches, top.projections, self.input_mean, self.input_std
        )
        write_blob_sequence(self.writer, contract.layer_tag(name, contract.DECONV_TOP), info, blobs, step, **content)

    def _log_filters(self, name: str, channels: list[int], step: int, content: dict) -> None:
        result = maximize_filters(
            self.model,
            self.layers[name],
            channels,
            seed=self.seed,
            max_channels=None,
            input_mean=self.input_mean,
            input_std=self.input_std,
            **self.filter_options,
        )
        info, blobs = render.render_filter_images(name, result.images, result.activations, result.channels)
        write_blob_sequence(self.writer, contract.layer_tag(name, contract.FILTERS), info, blobs, step, **content)

    def _log_feature_maps(self, name: str, output: torch.Tensor, channels: list[int], step: int, content: dict) -> None:
        info, blobs = render.render_feature_maps(name, output, channels, self.max_tile_size)
        if "nonfinite" in info:
            warnings.warn(
                f"tb_cnnviz: layer {name!r} has non-finite activations at step {step}; they are drawn "
                "as the tile's minimum and left out of the statistics",
                CNNVizWarning,
                stacklevel=3,
            )
        write_blob_sequence(self.writer, contract.layer_tag(name, contract.FEATURE_MAPS), info, blobs, step, **content)

    def _choose_channels(self, name: str, count: int) -> list[int]:
        spec = self._channel_spec
        if isinstance(spec, dict):
            spec = spec.get(name)
        if spec is None:
            return list(range(min(count, self.max_channels)))
        return checked_indices(spec, count, "channels", f"layer {name!r}")

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
    conv = first_conv(model)
    if conv is not None and conv.in_channels != images.shape[1]:
        raise ValueError(
            f"probe_images have {images.shape[1]} channels (shape {tuple(images.shape)}) but the model's "
            f"first Conv2d takes {conv.in_channels}; pass images shaped (N, {conv.in_channels}, H, W)"
        )
    return images.detach().to("cpu", copy=True)


def _checked_options(function: Callable, options: dict | None) -> dict:
    """`options` for `function`'s keyword arguments, or a ValueError naming the ones it does not take."""
    options = dict(options or {})
    accepted = [
        name for name, parameter in inspect.signature(function).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY or parameter.default is not inspect.Parameter.empty
    ]  # fmt: skip
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"{function.__name__} takes no option {unknown}; it takes {accepted}")
    return options


def _default(function: Callable, name: str):
    """The default value of `function`'s keyword argument `name`, for the info the tab shows."""
    return inspect.signature(function).parameters[name].default


def _default_classes(probabilities: torch.Tensor) -> list[int]:
    """Every class, or with more than MAX_CLASS_IMAGES classes the probes' predicted ones, in first-seen order."""
    if probabilities.shape[1] <= MAX_CLASS_IMAGES:
        return list(range(probabilities.shape[1]))
    return list(dict.fromkeys(probabilities.argmax(dim=1).tolist()))


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
