"""Tensors -> uint8 pictures people look at: tiles stretched to their range, probes in display space,
signed signals around mid-grey, crops, and RGB upscaling for the model-level views.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from tb_cnnviz.methods.input_space import to_display
from tb_cnnviz.methods.overlays import as_rgb

MODEL_TILE_MIN_SIZE = 96  # pixels of a model-level tile's longer side: colour over a 28 px probe is unreadable


def fit_tiles(maps: torch.Tensor, max_tile_size: int) -> torch.Tensor:
    """Average-pool (N, K, H, W) maps down so neither side exceeds `max_tile_size`."""
    height, width = maps.shape[-2:]
    scale = max_tile_size / max(height, width)
    if scale >= 1:
        return maps
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    return F.adaptive_avg_pool2d(maps, size)


def quantize(tiles: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Stretch each (N, K) tile of float values to uint8; returns (pixels, ranges (N, K, 2)).

    Each tile gets its own 0..255 range, so weak channels stay visible; the float range travels in the
    info, so the browser can also show a layer-wide normalization. Non-finite values are drawn as the
    tile's minimum; a constant tile is drawn black.
    """
    values = tiles.detach().float().cpu()
    finite = torch.isfinite(values)
    flat = values.flatten(2)
    big = torch.finfo(torch.float32).max
    low = torch.where(finite.flatten(2), flat, torch.full_like(flat, big)).amin(dim=2)
    high = torch.where(finite.flatten(2), flat, torch.full_like(flat, -big)).amax(dim=2)
    empty = low > high
    low[empty], high[empty] = 0.0, 0.0
    span = (high - low).clamp_min(1e-12)[..., None, None]
    scaled = ((values - low[..., None, None]) / span * 255).nan_to_num(0.0, posinf=0.0, neginf=0.0)
    pixels = scaled.round().clamp(0, 255).to(torch.uint8).numpy()
    return pixels, torch.stack([low, high], dim=-1).numpy()


def crop_patches(images: torch.Tensor, starts: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(..., C, H, W) images -> (..., C, *size) crops at `starts` (..., 2); zeros where a crop leaves the image."""
    height, width = size
    flat = F.pad(images.flatten(0, -4), (width, width, height, height))
    corners = (starts.reshape(-1, 2) + torch.tensor([height, width])).tolist()
    crops = [flat[i, :, top : top + height, left : left + width] for i, (top, left) in enumerate(corners)]
    return torch.stack(crops).reshape(*images.shape[:-3], images.shape[-3], height, width)


def unit_range_pictures(images: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) floats already in display space [0, 1] (filter and class images) -> uint8 pictures."""
    return _pixels(images.detach().float().cpu().clamp(0, 1))


def display_images(images: torch.Tensor, mean=None, std=None) -> np.ndarray:
    """Model inputs (N, C, H, W) -> uint8 pictures (N, H, W) or (N, H, W, 3) for people.

    With the model's normalization `mean`/`std` the inputs are undone exactly; without it each image
    is stretched to its own range. Channel counts other than 1 and 3 show their first channel.
    """
    values = images.detach().float().cpu()
    if mean is not None or std is not None:
        return _pixels(to_display(values, mean, std).clamp(0, 1))
    low = values.amin(dim=(1, 2, 3), keepdim=True)
    high = values.amax(dim=(1, 2, 3), keepdim=True)
    return _pixels((values - low) / (high - low).clamp_min(1e-12))


def _pixels(values: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) in [0, 1] -> (N, H, W, 3) uint8 for 3 channels, else (N, H, W) of the first channel."""
    pixels = (values * 255).round().to(torch.uint8)
    if values.shape[1] == 3:
        return pixels.permute(0, 2, 3, 1).numpy()
    return pixels[:, 0].numpy()


def signed_pictures(signal: torch.Tensor) -> np.ndarray:
    """(N, C, h, w) signed signals -> uint8 pictures, zero at mid-grey, each scaled by its own max |value|."""
    scale = signal.abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12)
    return unit_range_pictures(0.5 + signal / (2 * scale))


def probe_pictures(images: torch.Tensor, mean=None, std=None) -> torch.Tensor:
    """Model inputs (N, C, H, W) -> display-space float pictures (N, 1 or 3, H, W) in [0, 1], as display_images."""
    pixels = torch.from_numpy(display_images(images, mean, std)).float() / 255
    return pixels[:, None] if pixels.dim() == 3 else pixels.permute(0, 3, 1, 2)


def display_scale(height: int, width: int) -> int:
    """Integer upscale that brings an image's longer side to at least MODEL_TILE_MIN_SIZE pixels."""
    return max(1, math.ceil(MODEL_TILE_MIN_SIZE / max(height, width)))


def upscaled(pictures: torch.Tensor, scale: int) -> torch.Tensor:
    """(N, C, H, W) pictures enlarged `scale` times with nearest pixels, so pixels stay crisp."""
    return F.interpolate(pictures, scale_factor=scale, mode="nearest") if scale > 1 else pictures


def rgb_pixels(pictures: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) display-space floats in [0, 1] -> (N, H, W, 3) uint8."""
    return (as_rgb(pictures) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
