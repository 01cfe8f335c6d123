"""Tiles -> atlases: one near-square grid of uint8 tiles per picture, and the one place that encodes PNG.

One atlas per (layer, probe, step) holds every shown channel, so the browser makes one request and
crops tiles itself; the info's `tile` and `grid` say where each tile is.
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image


def grid_shape(count: int) -> tuple[int, int]:
    """(rows, cols) of a near-square grid holding `count` tiles."""
    cols = max(1, math.ceil(math.sqrt(count)))
    return math.ceil(count / cols), cols


def pack_atlas(tiles: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """(K, h, w) grey or (K, h, w, 3) RGB uint8 tiles -> one image of rows*h by cols*w, row-major."""
    count, height, width = tiles.shape[:3]
    rows, cols = grid
    atlas = np.zeros((rows * height, cols * width, *tiles.shape[3:]), dtype=np.uint8)
    for index in range(count):
        row, col = divmod(index, cols)
        atlas[row * height : (row + 1) * height, col * width : (col + 1) * width] = tiles[index]
    return atlas


def single_atlas(tiles: np.ndarray) -> tuple[dict, np.ndarray]:
    """The layout ({"tile", "grid"}) and the picture of one near-square atlas of (K, h, w[, 3]) tiles."""
    grid = grid_shape(len(tiles))
    return {"tile": list(tiles.shape[1:3]), "grid": list(grid)}, pack_atlas(tiles, grid)


def png_bytes(pixels: np.ndarray) -> bytes:
    """Encode an (H, W) grey or (H, W, 3) RGB uint8 array as PNG."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()
