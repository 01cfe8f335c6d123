"""Transformation robustness for activation maximization, in plain torch.

Without random transforms, gradient ascent finds high-frequency adversarial patterns; asking the image
to excite the unit under small random shifts, scalings and rotations (Olah et al. 2017) leaves only
patterns the unit really responds to. Pad, jitter, scale and rotate are folded into one affine warp
(one `grid_sample` per step for the whole batch, each image with its own parameters), and the grey
padding is exact: outside the image every pixel is 0.5, as Lucid's constant padding.

Randomness comes only from per-image `torch.Generator`s drawn up front, never from the global RNG,
so a seed fixes every transform and the training run's random stream is untouched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

_REFERENCE_SIZE = 128  # Lucid's pixel amounts (pad 12, jitter 8) are for images of this size.


@dataclass(frozen=True)
class RobustnessTransforms:
    """Random pad/jitter/scale/rotate settings; pixel amounts are for a 128-px image and scale with the size.

    pad: grey border (pixels) added around the image, so its edges can move inward;
    jitter: largest random shift in pixels, each axis;
    scale: range of the random zoom factor; degrees: largest random rotation either way.
    """

    pad: float = 4.0
    jitter: float = 8.0
    scale: tuple[float, float] = (0.9, 1.1)
    degrees: float = 10.0

    def pixels(self, amount: float, size: int) -> float:
        return amount * size / _REFERENCE_SIZE


def draw_transform_params(generator: torch.Generator, steps: int) -> torch.Tensor:
    """Uniform [0, 1) numbers (steps, 4) for one image: x shift, y shift, scale, angle at every step."""
    return torch.rand((steps, 4), generator=generator, dtype=torch.float64)


def apply_transforms(
    images: torch.Tensor,
    uniforms: torch.Tensor,
    settings: RobustnessTransforms,
    reference_size: int,
) -> torch.Tensor:
    """Warp each image of (K, C, H, W) by its own random pad/jitter/scale/rotate; out (K, C, H+2p, W+2p).

    `uniforms` (K, 4) in [0, 1) picks each image's shift, scale and angle. Pixel amounts are sized for
    `reference_size` (the final image size), so a coarse stage sees the same pixel-scale shifts.
    """
    count, _, height, width = images.shape
    pad = round(settings.pixels(settings.pad, reference_size))
    out_h, out_w = height + 2 * pad, width + 2 * pad
    uniforms = uniforms.to(device=images.device, dtype=torch.float32)
    jitter = settings.pixels(settings.jitter, reference_size)
    shift = (uniforms[:, :2] * 2 - 1) * jitter  # pixels, (K, 2) as (x, y)
    low, high = settings.scale
    zoom = low + uniforms[:, 2] * (high - low)
    angle = (uniforms[:, 3] * 2 - 1) * math.radians(settings.degrees)
    # Output pixel u (pixels from the canvas centre) samples the image at v = R(-angle) (u - shift) / zoom.
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    inverse = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2)  # (K, 2, 2)
    half_out = torch.tensor([out_w / 2, out_h / 2], device=images.device)
    half_in = torch.tensor([width / 2, height / 2], device=images.device)
    # In grid_sample's normalized coordinates: v_n = diag(1/half_in) M (diag(half_out) u_n - shift).
    linear = inverse * half_out[None, None, :] / half_in[None, :, None]
    offset = -(inverse @ shift[:, :, None])[:, :, 0] / half_in[None, :]
    theta = torch.cat([linear, offset[:, :, None]], dim=2).to(images.dtype)
    grid = F.affine_grid(theta, [count, images.shape[1], out_h, out_w], align_corners=False)
    warped = F.grid_sample(images - 0.5, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return warped + 0.5


def resolve_transforms(transforms: bool | RobustnessTransforms | None) -> RobustnessTransforms | None:
    """True means the defaults, False/None none, an instance itself."""
    if transforms is True:
        return RobustnessTransforms()
    if transforms is None or transforms is False:
        return None
    if isinstance(transforms, RobustnessTransforms):
        return transforms
    raise TypeError(f"transforms must be a bool or RobustnessTransforms, got {type(transforms).__name__}")
