"""Fooling images (Szegedy et al. 2014; Simonyan's lecture exercise): how little change flips a decision.

Small gradient steps on the image raise the log-probability of a chosen wrong class until the model
predicts it. This starts from a real image and must stay close to it, so it moves plain pixels, not
the filter images' sigmoid Fourier parameterization, which is built to grow images from noise (and
whose sigmoid could not move the many pixels of real images that sit at exactly 0 or 1).
The steps are the filter images' NormalizedAscent without momentum: each moves the image by
`step_size` per pixel (root mean square) along its own gradient, so every image gets the same budget
whatever its gradient's scale; an image leaves the batch as soon as it is fooled, so later steps cost
only the images still resisting.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tb_cnnviz.methods.ascent import NormalizedAscent
from tb_cnnviz.methods.class_scores import Target, class_logits, class_probabilities, resolve_targets
from tb_cnnviz.methods.input_space import Normalization, normalizer, to_display
from tb_cnnviz.methods.layers import unwrap_model
from tb_cnnviz.methods.model_state import evaluation_mode, model_device, model_dtype


@dataclass(frozen=True)
class FoolingImages:
    """Result of `fooling_images`, for N images.

    images: (N, C, H, W) the changed images in display space [0, 1];
    originals: (N, C, H, W) the given images in display space, for showing beside them;
    targets: (N,) the class each image was pushed to;
    steps: (N,) gradient steps taken: until the model predicted the target, or all of `max_steps`;
    probabilities: (N,) the target's softmax probability on the changed image;
    succeeded: (N,) bool, whether the model predicts the target for the changed image;
    max_change: (N,) the largest absolute change of any pixel, in display units.
    """

    images: torch.Tensor
    originals: torch.Tensor
    targets: torch.Tensor
    steps: torch.Tensor
    probabilities: torch.Tensor
    succeeded: torch.Tensor
    max_change: torch.Tensor


def fooling_images(
    model: nn.Module,
    images: torch.Tensor,
    target_classes: Target,
    *,
    max_steps: int = 100,
    step_size: float = 0.01,
    input_mean: Normalization = None,
    input_std: Normalization = None,
) -> FoolingImages:
    """Change each of `images` (N, C, H, W, model inputs) until the model predicts its target class.

    `target_classes`: one class for all images or one per image. Steps run in display space
    (x * input_std + input_mean), where pixels are kept in [0, 1]; each moves an image by `step_size`
    per pixel (RMS). An image stops once the model predicts its target, and after `max_steps` at most.
    The model is left as found (modes, requires_grad, gradients); no randomness is used.
    """
    if target_classes is None:
        raise ValueError("target_classes is required: the class (or one class per image) to push the images to")
    if max_steps < 0 or step_size <= 0:
        raise ValueError(f"max_steps must be >= 0 and step_size > 0, got {max_steps} and {step_size}")
    network = unwrap_model(model)
    device, dtype = model_device(network), model_dtype(network)
    originals = to_display(images.to(device), input_mean, input_std)
    normalize = normalizer(input_mean, input_std, originals.shape[1], device, dtype)
    changed = originals.clone()
    count = len(originals)
    steps = torch.full((count,), max_steps, dtype=torch.long, device=device)
    with evaluation_mode(network, freeze_parameters=True), torch.enable_grad():
        with torch.no_grad():
            targets = resolve_targets(target_classes, class_logits(network, normalize(changed)))
        active = torch.arange(count, device=device)
        for step in range(max_steps + 1):
            pixels = changed[active].requires_grad_(True)
            log_probabilities = class_logits(network, normalize(pixels)).float().log_softmax(dim=1)
            fooled = log_probabilities.detach().argmax(dim=1) == targets[active]
            steps[active[fooled]] = step
            if step == max_steps or bool(fooled.all()):
                break
            ascent = NormalizedAscent(pixels, step_size, betas=(0.0, 0.0))
            # Fooled images' rows are left out of the sum: a zero gradient, so the step leaves them be.
            objective = log_probabilities[~fooled].gather(1, targets[active[~fooled]][:, None]).sum()
            (-objective).backward()
            ascent.step()
            active, pixels = active[~fooled], pixels.detach()[~fooled]
            changed[active] = pixels.clamp(0, 1)
        with torch.no_grad():
            logits = class_logits(network, normalize(changed))
    return FoolingImages(
        images=changed,
        originals=originals,
        targets=targets,
        steps=steps,
        probabilities=class_probabilities(logits, targets),
        succeeded=logits.argmax(dim=1) == targets,
        max_change=(changed - originals).abs().flatten(1).amax(dim=1),
    )
