"""What the kinds of one step share, each computed once and only when a kind asks for it."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from tb_cnnviz import contract
from tb_cnnviz.methods.capture import each_feature_map
from tb_cnnviz.methods.class_scores import softmax_table
from tb_cnnviz.methods.layers import unwrap_model
from tb_cnnviz.writer.probes import Probes
from tb_cnnviz.writer.reporting import AlreadyReported, warn


class StepContext:
    """One log of the callback: the model as it is now, the fixed probes and layers, shared inputs.

    A shared input that fails is warned about once ("feature maps not logged: ..."); every kind that
    needs it then logs nothing this step.
    """

    def __init__(
        self, model: nn.Module, probes: Probes, step: int, layers: dict[str, nn.Module], seed: int, max_tile_size: int
    ) -> None:
        self.model = model
        self.probes = probes
        self.step = step
        self.layers = layers
        self.seed = seed  # generated images (filter, class images) start from noise seeded by it
        self.max_tile_size = max_tile_size
        self._shared: dict[str, object] = {}

    @property
    def feature_maps(self) -> dict[str, torch.Tensor]:
        """{layer: output (N, C, H, W)} of the chosen layers for the probes, from one eval-mode forward.

        A layer that cannot give one (replaced in the model, never called, not a 4-D tensor) is warned
        about by name and left out of the chosen layers from now on; the others log as before.
        """
        return self._shared_input("feature maps", self._layer_outputs)

    def _layer_outputs(self) -> dict[str, torch.Tensor]:
        present = {id(module) for module in unwrap_model(self.model).modules()}
        for name in [name for name, module in self.layers.items() if id(module) not in present]:
            self._drop(name, "its module is no longer part of the model (replaced after the callback was made?)")
        outputs, problems = each_feature_map(self.model, self.probes.images, self.layers)
        for name, problem in problems.items():
            self._drop(name, problem)
        for name, maps in list(outputs.items()):
            if maps.dim() != 4:
                del outputs[name]
                self._drop(
                    name,
                    f"outputs shape {tuple(maps.shape)}, not (N, C, H, W); feature maps need a convolutional "
                    "layer's output",
                )
        return outputs

    def _drop(self, name: str, why: str) -> None:
        del self.layers[name]  # the callback's own dict: left out at every later step too
        warn(f"layer {name!r} not logged: {why}; it is left out from now on, the other layers still log")

    @property
    def probabilities(self) -> torch.Tensor:
        """(N, classes) softmax of the probes; at the first call, class_names are checked against the model."""
        table = self._shared_input("class predictions", lambda: softmax_table(self.model, self.probes.images))
        self.probes.check_class_count(table.shape[1])
        return table

    def tag(self, record_kind: str) -> str:
        """The tag a record of `record_kind` goes under: "model/<kind>" here, "<layer>/<kind>" for a layer."""
        return contract.model_tag(record_kind)

    @property
    def content(self) -> dict:
        """The summary metadata (contract.Content keys) of the tags this context writes."""
        return {"scope": contract.MODEL_SCOPE}

    def _shared_input(self, what: str, compute: Callable[[], object]):
        if what not in self._shared:
            try:
                self._shared[what] = compute()
            except Exception as error:  # noqa: BLE001 - reported once; the kinds that need it skip
                warn(f"{what} not logged: {error}")
                self._shared[what] = AlreadyReported(what)
        value = self._shared[what]
        if isinstance(value, AlreadyReported):
            raise value
        return value


class LayerContext(StepContext):
    """The step seen from one layer: its name, module, output and the channels fixed for it at the first log."""

    def __init__(self, step_context: StepContext, layer: str, maps: torch.Tensor, channels: list[int]) -> None:
        self.__dict__.update(step_context.__dict__)  # the same model, probes and shared inputs (one cache)
        self.layer = layer
        self.module = self.layers[layer]
        self.maps = maps
        self.channels = channels

    def tag(self, record_kind: str) -> str:
        return contract.layer_tag(self.layer, record_kind)

    @property
    def content(self) -> dict:
        return {
            "layer": self.layer,
            "layer_index": list(self.layers).index(self.layer),
            "layer_type": type(self.module).__name__,
            "shape": list(self.maps.shape[1:]),
        }
