"""Tensors -> what the tab shows: uint8 tiles packed into atlases, PNG bytes, info dicts.

One atlas per (layer, probe, step) holds every shown channel, so the browser makes one request
and crops tiles itself. Each tile is stretched to its own 0..255 range; the float range it came
from travels in the info dict, so the browser can also show a layer-wide normalization.
"""

from __future__ import annotations

import io
import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from tb_cnnviz import contract
from tb_cnnviz.methods.input_space import to_display
from tb_cnnviz.methods.overlays import as_rgb, overlay

MODEL_TILE_MIN_SIZE = 96  # pixels of a model-level tile's longer side: colour over a 28 px probe is unreadable
PANE_GAP = 4  # white pixel columns between the panes of a fooling tile


def grid_shape(count: int) -> tuple[int, int]:
    """(rows, cols) of a near-square grid holding `count` tiles."""
    cols = max(1, math.ceil(math.sqrt(count)))
    return math.ceil(count / cols), cols


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

    Non-finite values are drawn as the tile's minimum; a constant tile is drawn black.
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


def pack_atlas(tiles: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """(K, h, w) grey or (K, h, w, 3) RGB uint8 tiles -> one image of rows*h by cols*w, row-major."""
    count, height, width = tiles.shape[:3]
    rows, cols = grid
    atlas = np.zeros((rows * height, cols * width, *tiles.shape[3:]), dtype=np.uint8)
    for index in range(count):
        row, col = divmod(index, cols)
        atlas[row * height : (row + 1) * height, col * width : (col + 1) * width] = tiles[index]
    return atlas


def png_bytes(pixels: np.ndarray) -> bytes:
    """Encode an (H, W) grey or (H, W, 3) RGB uint8 array as PNG."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def single_atlas(tiles: np.ndarray) -> tuple[dict, bytes]:
    """The layout ({"tile", "grid"}) and PNG of one near-square atlas of (K, h, w) or (K, h, w, 3) tiles."""
    grid = grid_shape(len(tiles))
    return {"tile": list(tiles.shape[1:3]), "grid": list(grid)}, png_bytes(pack_atlas(tiles, grid))


def channel_statistics(maps: torch.Tensor) -> dict[str, np.ndarray]:
    """Per (probe, channel) mean, max and dead fraction (share of activations <= 0) at full size.

    Non-finite activations are left out of all three; `nonfinite` counts them.
    """
    values = maps.detach().float().flatten(2)
    finite = torch.isfinite(values)
    count = finite.sum(dim=2).float()  # 0 where nothing is finite: the statistics become NaN -> null
    mean = torch.where(finite, values, torch.zeros_like(values)).sum(dim=2) / count
    peak = torch.where(finite, values, torch.full_like(values, -torch.inf)).amax(dim=2)
    dead = (finite & (values <= 0)).sum(dim=2) / count
    return {
        "mean": mean.cpu().numpy(),
        "max": peak.cpu().numpy(),
        "dead": dead.cpu().numpy(),
        "nonfinite": (~finite).sum(dim=2).cpu().numpy(),
    }


def _rounded(array: np.ndarray) -> list:
    """Nested lists of floats with 5 significant digits; non-finite values become None (valid JSON)."""
    if array.ndim == 0:
        value = float(array)
        return float(f"{value:.5g}") if math.isfinite(value) else None
    return [_rounded(item) for item in array]


def render_feature_maps(
    layer: str, maps: torch.Tensor, channels: list[int], max_tile_size: int
) -> tuple[dict, list[bytes]]:
    """Info dict and one PNG atlas per probe for a layer's (N, C, H, W) output."""
    shown = maps[:, channels]
    stats = channel_statistics(shown)
    pixels, ranges = quantize(fit_tiles(shown.float(), max_tile_size))
    grid = grid_shape(len(channels))
    info = {
        "version": contract.VERSION,
        "kind": contract.FEATURE_MAPS,
        "layer": layer,
        "shape": list(maps.shape[1:]),
        "channels": list(channels),
        "tile": list(pixels.shape[-2:]),
        "grid": list(grid),
        "probes": len(maps),
        "tile_range": _rounded(ranges),
        "stats": {key: _rounded(stats[key]) for key in ("mean", "max", "dead")},
    }
    nonfinite = stats["nonfinite"]
    if nonfinite.any():
        info["nonfinite"] = nonfinite.tolist()
    return info, [png_bytes(pack_atlas(probe, grid)) for probe in pixels]


def render_filter_images(
    layer: str, images: torch.Tensor, activations: torch.Tensor, channels: list[int]
) -> tuple[dict, list[bytes]]:
    """Info dict and one atlas of the (K, C, S, S) filter-maximizing images, already in [0, 1]."""
    layout, atlas = single_atlas(display_images(images, mean=0.0, std=1.0))
    info = {
        "version": contract.VERSION,
        "kind": contract.FILTERS,
        "layer": layer,
        "channels": list(channels),
        **layout,
        "images": 1,
        "activations": _rounded(activations.detach().float().cpu().numpy()),
    }
    return info, [atlas]


def crop_patches(images: torch.Tensor, starts: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(..., C, H, W) images -> (..., C, *size) crops at `starts` (..., 2); zeros where a crop leaves the image."""
    height, width = size
    flat = F.pad(images.flatten(0, -4), (width, width, height, height))
    corners = (starts.reshape(-1, 2) + torch.tensor([height, width])).tolist()
    crops = [flat[i, :, top : top + height, left : left + width] for i, (top, left) in enumerate(corners)]
    return torch.stack(crops).reshape(*images.shape[:-3], images.shape[-3], height, width)


def signed_pictures(signal: torch.Tensor) -> np.ndarray:
    """(N, C, h, w) signed signals -> uint8 pictures, zero at mid-grey, each scaled by its own max |value|."""
    scale = signal.abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12)
    return display_images(0.5 + signal / (2 * scale), mean=0.0, std=1.0)


def render_deconv(
    layer: str,
    rule: str,
    projections: torch.Tensor,
    channels: torch.Tensor,
    activations: torch.Tensor,
    boxes: torch.Tensor,
    patch_starts: torch.Tensor,
    patch_size: tuple[int, int],
) -> tuple[dict, list[bytes]]:
    """Info dict and one atlas per probe of its (N, K, C, H, W) projections, cropped to the units' fields.

    Each tile is the projection under its unit's receptive field (`patch_starts`, `patch_size`, zeros
    outside the image), so the browser can show it beside the same crop of the probe image.
    """
    count, per_probe = projections.shape[:2]
    tiles = crop_patches(projections.detach().float().cpu(), patch_starts.cpu(), patch_size)
    pictures = signed_pictures(tiles.flatten(0, 1))
    pictures = pictures.reshape(count, per_probe, *pictures.shape[1:])
    grid = grid_shape(per_probe)
    info = {
        "version": contract.VERSION,
        "kind": contract.DECONV,
        "layer": layer,
        "rule": rule,
        "probes": count,
        "tile": list(patch_size),
        "grid": list(grid),
        "channels": channels.tolist(),
        "activations": _rounded(activations.detach().float().cpu().numpy()),
        "boxes": boxes.tolist(),
        "patch_starts": patch_starts.tolist(),
    }
    return info, [png_bytes(pack_atlas(probe, grid)) for probe in pictures]


def render_top_activations(
    layer: str,
    channels: list[int],
    values: torch.Tensor,
    indices: torch.Tensor,
    patches: torch.Tensor,
    projections: torch.Tensor,
    mean=None,
    std=None,
) -> tuple[dict, list[bytes]]:
    """Info dict and two atlases (input patches, their projections): one row per channel, k columns.

    `mean`/`std` undo the model's input normalization so patches look like the data set's images.
    """
    count, k = values.shape
    patch_pictures = display_images(patches.flatten(0, 1).detach().float().cpu(), mean, std)
    projection_pictures = signed_pictures(projections.detach().float().cpu().flatten(0, 1))
    info = {
        "version": contract.VERSION,
        "kind": contract.DECONV_TOP,
        "layer": layer,
        "channels": list(channels),
        "k": k,
        "tile": list(patches.shape[-2:]),
        "grid": [count, k],
        "values": _rounded(values.detach().float().cpu().numpy()),
        "indices": indices.tolist(),
    }
    blobs = [png_bytes(pack_atlas(pictures, (count, k))) for pictures in (patch_pictures, projection_pictures)]
    return info, blobs


def display_images(images: torch.Tensor, mean=None, std=None) -> np.ndarray:
    """Model inputs (N, C, H, W) -> uint8 pictures (N, H, W) or (N, H, W, 3) for people.

    With the model's normalization `mean`/`std` the inputs are undone exactly; without it each image
    is stretched to its own range. Channel counts other than 1 and 3 show their first channel.
    """
    values = images.detach().float().cpu()
    channels = values.shape[1]
    if mean is not None or std is not None:
        values = to_display(values, mean, std).clamp(0, 1)
    else:
        low = values.amin(dim=(1, 2, 3), keepdim=True)
        high = values.amax(dim=(1, 2, 3), keepdim=True)
        values = (values - low) / (high - low).clamp_min(1e-12)
    pixels = (values * 255).round().to(torch.uint8)
    if channels == 3:
        return pixels.permute(0, 2, 3, 1).numpy()
    return pixels[:, 0].numpy()


def render_probes(images: torch.Tensor, labels: list[str] | None, mean=None, std=None) -> tuple[dict, list[bytes]]:
    """Info dict and one PNG per probe image, in display space."""
    info = {
        "version": contract.VERSION,
        "kind": contract.PROBES_KIND,
        "count": len(images),
        "shape": list(images.shape[1:]),
        "labels": list(labels) if labels is not None else None,
    }
    return info, [png_bytes(picture) for picture in display_images(images, mean, std)]


def display_scale(height: int, width: int) -> int:
    """Integer upscale that brings an image's longer side to at least MODEL_TILE_MIN_SIZE pixels."""
    return max(1, math.ceil(MODEL_TILE_MIN_SIZE / max(height, width)))


def _upscaled(pictures: torch.Tensor, scale: int) -> torch.Tensor:
    """(N, C, H, W) pictures enlarged `scale` times with nearest pixels, so pixels stay crisp."""
    return F.interpolate(pictures, scale_factor=scale, mode="nearest") if scale > 1 else pictures


def _rgb_pixels(pictures: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) display-space floats in [0, 1] -> (N, H, W, 3) uint8."""
    return (as_rgb(pictures) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def probe_pictures(images: torch.Tensor, mean=None, std=None) -> torch.Tensor:
    """Model inputs (N, C, H, W) -> display-space float pictures (N, 1 or 3, H, W) in [0, 1], as display_images."""
    pixels = torch.from_numpy(display_images(images, mean, std)).float() / 255
    return pixels[:, None] if pixels.dim() == 3 else pixels.permute(0, 3, 1, 2)


def render_explanations(
    kind: str,
    pictures: torch.Tensor,
    heatmaps: torch.Tensor,
    predicted: torch.Tensor,
    probabilities: torch.Tensor,
    *,
    class_names: list[str] | None,
    labels: list[str] | None,
    **extra,
) -> tuple[dict, list[bytes]]:
    """Info dict and one RGB atlas of each probe with its heatmap (N, h, w) in [0, 1] over it in colour.

    `pictures` are the probes in display space (probe_pictures); `predicted` and `probabilities` the
    class each map explains and its softmax probability. `extra` (Grad-CAM's layer) goes into the info.
    A map at the images' own resolution (saliency) is drawn pixel for pixel at their size, the browser
    enlarges it crisply; a coarser one (Grad-CAM) is resized smoothly onto enlarged images, so it reads
    as the region it is.
    """
    scale = 1 if heatmaps.shape[-2:] == pictures.shape[-2:] else display_scale(*pictures.shape[-2:])
    tiles = _rgb_pixels(overlay(_upscaled(pictures.float().cpu(), scale), heatmaps.detach().float().cpu()))
    layout, atlas = single_atlas(tiles)
    info = {
        "version": contract.VERSION,
        "kind": kind,
        "probes": len(tiles),
        "channels": list(range(len(tiles))),
        **layout,
        "class_names": class_names,
        "labels": labels,
        "target": "predicted",
        "predicted": predicted.tolist(),
        "probabilities": _rounded(probabilities.detach().float().cpu().numpy()),
        **extra,
    }
    return info, [atlas]


def render_class_images(
    images: torch.Tensor,
    classes: list[int],
    scores: torch.Tensor,
    probabilities: torch.Tensor,
    *,
    class_names: list[str] | None,
    steps: int,
    l2: float,
) -> tuple[dict, list[bytes]]:
    """Info dict and one atlas of the (K, C, H, W) class images, already in [0, 1], one tile per class."""
    layout, atlas = single_atlas(display_images(images, mean=0.0, std=1.0))
    info = {
        "version": contract.VERSION,
        "kind": contract.CLASS_VISUALIZATION,
        "channels": list(classes),
        **layout,
        "class_names": class_names,
        "scores": _rounded(scores.detach().float().cpu().numpy()),
        "probabilities": _rounded(probabilities.detach().float().cpu().numpy()),
        "steps": steps,
        "l2": l2,
    }
    return info, [atlas]


def render_fooling(
    originals: torch.Tensor,
    changed: torch.Tensor,
    *,
    class_names: list[str] | None,
    labels: list[str] | None,
    **numbers,
) -> tuple[dict, list[bytes]]:
    """Info dict and one RGB atlas whose tile per probe is original | changed | magnified difference.

    `originals` and `changed` are display-space images in [0, 1]. The difference pane shows
    changed - original around mid-grey, multiplied so its largest |change| reaches black or white;
    the factor goes into the info as "magnification". `numbers` (targets, steps, probabilities...)
    are per-probe tensors or plain values copied into the info.
    """
    originals, changed = originals.detach().float().cpu(), changed.detach().float().cpu()
    difference = changed - originals
    largest = difference.abs().amax(dim=(1, 2, 3))
    magnification = torch.where(largest > 0, 0.5 / largest.clamp_min(1e-12), torch.ones_like(largest))
    panes = [originals, changed, 0.5 + difference * magnification.view(-1, 1, 1, 1)]
    scale = display_scale(*originals.shape[-2:])
    pictures = [_rgb_pixels(_upscaled(pane, scale)) for pane in panes]
    count, height, width = pictures[0].shape[:3]
    gap = np.full((count, height, PANE_GAP, 3), 255, dtype=np.uint8)
    layout, atlas = single_atlas(np.concatenate([pictures[0], gap, pictures[1], gap, pictures[2]], axis=2))
    info = {
        "version": contract.VERSION,
        "kind": contract.FOOLING,
        "probes": count,
        "channels": list(range(count)),
        **layout,
        "panes": ["original", "changed", "difference"],
        "pane_width": width,
        "pane_gap": PANE_GAP,
        "class_names": class_names,
        "labels": labels,
        "magnification": _rounded(magnification.numpy()),
        **{name: _plain(value) for name, value in numbers.items()},
    }
    return info, [atlas]


def _plain(value):
    """A tensor as JSON-ready lists (floats rounded), anything else as is."""
    if not isinstance(value, torch.Tensor):
        return value
    if value.is_floating_point():
        return _rounded(value.detach().float().cpu().numpy())
    return value.tolist()
