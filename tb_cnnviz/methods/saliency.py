"""Saliency maps (Simonyan et al. 2014): which pixels would change a class score most.

One forward and one backward for the whole batch: in eval mode images do not interact, so the
gradient of the sum of each image's own class score is each image's own gradient.
"""

from __future__ import annotations

import torch
from torch import nn

from tb_cnnviz.methods.class_scores import Target, class_logits, resolve_targets
from tb_cnnviz.methods.layers import unwrap_model
from tb_cnnviz.methods.model_state import evaluation_mode, model_device, model_dtype


def saliency(model: nn.Module, images: torch.Tensor, target: Target = None) -> torch.Tensor:
    """|d score_target / d input| for `images` (N, C, H, W), max over input channels: (N, H, W) float32.

    `images` are model inputs (already normalized); the score is the class logit (before softmax).
    `target`: None for each image's predicted class, an int for one class for all, or one per image.
    The model is left as found (modes, requires_grad, gradients); results are on the model's device.
    """
    network = unwrap_model(model)
    inputs = images.detach().to(device=model_device(network), dtype=model_dtype(network)).requires_grad_(True)
    with evaluation_mode(network, freeze_parameters=True), torch.enable_grad():
        logits = class_logits(network, inputs)
        classes = resolve_targets(target, logits)
        (gradient,) = torch.autograd.grad(logits.gather(1, classes[:, None]).sum(), inputs)
    return gradient.abs().amax(dim=1).float()
