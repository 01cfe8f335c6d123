"""Class scores: the model's logits, and the class each image's explanation is about."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from tb_cnnviz.methods.layers import unwrap_model
from tb_cnnviz.methods.model_state import evaluation_mode, model_device, model_dtype

Target = int | Sequence[int] | torch.Tensor | None


def class_logits(network: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """The (N, classes) output of `network`; a clear error for models whose output is not that."""
    logits = network(inputs)
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        shape = f" of shape {tuple(logits.shape)}" if isinstance(logits, torch.Tensor) else ""
        raise ValueError(
            f"{type(network).__name__} returns {type(logits).__name__}{shape}; class views need a classifier "
            "whose output is (N, classes) scores"
        )
    return logits


def resolve_targets(target: Target, logits: torch.Tensor) -> torch.Tensor:
    """(N,) class indices: each image's predicted class for None, one class for all, or one per image."""
    count, classes = logits.shape
    if target is None:
        return logits.detach().argmax(dim=1)
    chosen = torch.as_tensor(target, dtype=torch.long, device=logits.device).reshape(-1)
    if chosen.numel() == 1:
        chosen = chosen.expand(count)
    if chosen.numel() != count:
        raise ValueError(f"target has {chosen.numel()} classes for {count} images; give one, or one per image")
    if bool(((chosen < 0) | (chosen >= classes)).any()):
        raise ValueError(f"target classes {chosen.tolist()} are out of range for a model with {classes} classes")
    return chosen


def class_probabilities(logits: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """Softmax probability of class classes[i] for image i, float32."""
    return logits.detach().float().softmax(dim=1).gather(1, classes[:, None])[:, 0]


def softmax_table(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """(N, classes) softmax probabilities of `images` in eval mode, float32 on the CPU; model left as found."""
    network = unwrap_model(model)
    inputs = images.detach().to(device=model_device(network), dtype=model_dtype(network))
    with evaluation_mode(network), torch.no_grad():
        return class_logits(network, inputs).float().softmax(dim=1).cpu()
