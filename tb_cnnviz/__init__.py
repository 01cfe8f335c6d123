"""tb-cnnviz: see what each layer of a convolutional network learns, step by step, in TensorBoard.

The public names load lazily: TensorBoard imports `tb_cnnviz.tensorboard.plugin` on machines without torch,
and importing this package must not pull torch in.
"""

from __future__ import annotations

import importlib

_PUBLIC = {
    "ActivationMaps": "tb_cnnviz.methods.activation_map",
    "CNNVizCallback": "tb_cnnviz.writer.callback",
    "CNNVizWarning": "tb_cnnviz.writer.callback",
    "ClassImages": "tb_cnnviz.methods.class_visualization",
    "ClassVisualization": "tb_cnnviz.writer.kinds.class_visualization",
    "Deconv": "tb_cnnviz.writer.kinds.deconv",
    "DefaultLayersWarning": "tb_cnnviz.writer.callback",
    "Dynamics": "tb_cnnviz.writer.kinds.dynamics",
    "FeatureMaps": "tb_cnnviz.writer.kinds.feature_maps",
    "FilterImages": "tb_cnnviz.methods.maximize",
    "Filters": "tb_cnnviz.writer.kinds.filters",
    "Fooling": "tb_cnnviz.writer.kinds.fooling",
    "FoolingImages": "tb_cnnviz.methods.fooling",
    "GradCam": "tb_cnnviz.writer.kinds.grad_cam",
    "Projections": "tb_cnnviz.methods.deconv",
    "ReceptiveField": "tb_cnnviz.methods.receptive_field",
    "Saliency": "tb_cnnviz.writer.kinds.saliency",
    "TopActivations": "tb_cnnviz.methods.top_activations",
    "activation_map": "tb_cnnviz.methods.activation_map",
    "class_visualization": "tb_cnnviz.methods.class_visualization",
    "deconvnet": "tb_cnnviz.methods.deconv",
    "feature_maps": "tb_cnnviz.methods.capture",
    "fooling_images": "tb_cnnviz.methods.fooling",
    "grad_cam": "tb_cnnviz.methods.grad_cam",
    "linear_cka": "tb_cnnviz.methods.dynamics",
    "maximize_filters": "tb_cnnviz.methods.maximize",
    "overlay": "tb_cnnviz.methods.overlays",
    "receptive_field": "tb_cnnviz.methods.receptive_field",
    "resolve_layers": "tb_cnnviz.methods.layers",
    "saliency": "tb_cnnviz.methods.saliency",
    "top_activations": "tb_cnnviz.methods.top_activations",
}

__all__ = list(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'tb_cnnviz' has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
