"""Grad-CAM (Selvaraju et al. 2017): where in each probe a conv layer sees evidence for the predicted class."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from torch import nn

from tb_cnnviz.methods.grad_cam import grad_cam, last_conv
from tb_cnnviz.methods.layers import single_layer
from tb_cnnviz.writer.kinds.base import ModelKind
from tb_cnnviz.writer.kinds.saliency import ExplanationInfo, explanation_record
from tb_cnnviz.writer.record import Record

if TYPE_CHECKING:
    from tb_cnnviz.writer.context import StepContext
    from tb_cnnviz.writer.probes import Probes

NAME = "grad_cam"


class GradCamInfo(ExplanationInfo, total=False):
    """Saliency's keys plus the layer the maps come from."""

    layer: str
    layer_size: list[int]  # (h, w) of the layer's maps, before they are resized onto the probes


@dataclass
class GradCam(ModelKind):
    """Each probe's Grad-CAM at `layer` (a name or module; default the model's last Conv2d), over the probe."""

    name: ClassVar[str] = NAME
    layer: str | nn.Module | None = None
    _chosen: tuple[str, nn.Module] | None = field(default=None, init=False, repr=False)

    def attach(self, model: nn.Module, probes: Probes) -> None:
        self._chosen = single_layer(model, self.layer) if self.layer is not None else last_conv(model)

    def records(self, context: StepContext) -> Iterator[Record]:
        probabilities = context.probabilities
        name, module = self._chosen
        heatmaps = grad_cam(context.model, context.probes.images, module, probabilities.argmax(dim=1))
        yield explanation_record(
            NAME, context, heatmaps, probabilities, layer=name, layer_size=list(heatmaps.shape[1:])
        )
