"""The probe images: checked once against the model, logged once, shared by every kind at every step."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
from torch import nn

from tb_cnnviz import contract
from tb_cnnviz.methods.input_space import normalization_columns
from tb_cnnviz.methods.layers import first_conv
from tb_cnnviz.writer.pictures import display_images, probe_pictures
from tb_cnnviz.writer.record import Record, new_info
from tb_cnnviz.writer.reporting import warn


class Probes:
    """Probe images (a private CPU copy), their labels, the model's input normalization and class names."""

    def __init__(
        self,
        model: nn.Module,
        images: torch.Tensor,
        labels: Sequence[str] | None,
        input_mean: Sequence[float] | None,
        input_std: Sequence[float] | None,
        class_names: Sequence[str] | None,
    ) -> None:
        self.images = _checked_images(model, images)
        if labels is not None and len(labels) != len(self.images):
            raise ValueError(f"probe_labels has {len(labels)} names for {len(self.images)} probe images")
        self.labels = [str(label) for label in labels] if labels is not None else None
        # Checked once here, so every view undoes the same normalization (or says now what is wrong).
        normalization_columns(input_mean, input_std, self.images.shape[1], torch.device("cpu"))
        self.input_mean, self.input_std = input_mean, input_std
        self.class_names = [str(name) for name in class_names] if class_names is not None else None
        self._class_count: int | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the probes: what the model takes, so generated images have it too."""
        return tuple(self.images.shape[-2:])

    @functools.cached_property
    def pictures(self) -> torch.Tensor:
        """The probes in display space (N, 1 or 3, H, W) in [0, 1], made once: views draw over them every step."""
        return probe_pictures(self.images, self.input_mean, self.input_std)

    def record(self) -> Record:
        """The probes tag's info and one picture per probe, in display space."""
        info = new_info(
            contract.PROBES_KIND, count=len(self.images), shape=list(self.images.shape[1:]), labels=self.labels
        )
        return Record(info, list(display_images(self.images, self.input_mean, self.input_std)))

    @property
    def content(self) -> dict:
        """The probes tag's summary metadata (contract.Content keys): the tab lists probes without reading blobs."""
        return {"count": len(self.images), "labels": self.labels}

    def check_class_count(self, count: int) -> None:
        """At the first class predictions: class_names must name every output, else the tab shows numbers."""
        if self._class_count is not None:
            return
        self._class_count = count
        if self.class_names is not None and len(self.class_names) != count:
            warn(
                f"class_names has {len(self.class_names)} names but the model outputs {count} classes; "
                "the tab shows class numbers instead (pass one name per output)"
            )
            self.class_names = None


def _checked_images(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
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
    if 0 in images.shape:
        raise ValueError(
            f"probe_images of shape {tuple(images.shape)} have an empty dimension; pass (N, C, H, W) with each >= 1"
        )
    nonfinite = (~torch.isfinite(images)).flatten(1).any(dim=1).nonzero().flatten().tolist()
    if nonfinite:
        raise ValueError(
            f"probe_images {nonfinite} (by index) hold NaN or Inf pixels; pass finite values, as training feeds"
        )
    conv = first_conv(model)
    if conv is not None and conv.in_channels != images.shape[1]:
        raise ValueError(
            f"probe_images have {images.shape[1]} channels (shape {tuple(images.shape)}) but the model's "
            f"first Conv2d takes {conv.in_channels}; pass images shaped (N, {conv.in_channels}, H, W)"
        )
    return images.detach().to("cpu", copy=True)
