"""Tiles cut from the plugin's atlases exactly as the tab cuts them (atlas.js tileBox), as PNG data: URIs.

Pictures are inlined as data: URIs rather than files beside index.html: the report is then one file that
can be moved, mailed or attached whole, a browser loads nothing but the page (a CSP of img-src data: holds
it to that), and tiles are small (a few hundred bytes to a few KB each).

The pixels are the atlas's, unchanged: the tab draws feature maps with its defaults (per-channel
normalization, whose table is the identity on the atlas's values, and the grey colormap, which writes a value
v as (v, v, v)), and model-level pictures as logged, so a tile's PNG decodes to what the tab's canvas holds.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass

from PIL import Image

from tb_cnnviz.tensorboard.strips import check_picture


@dataclass(frozen=True)
class Tile:
    """A picture for the page: its PNG as a data: URI and its size in pixels."""

    uri: str
    width: int
    height: int


def cut_tile(atlas: bytes, tile: list[int], grid: list[int], position: int) -> Tile:
    """Tile `position` (row-major) of an atlas of `grid` ([rows, columns]) tiles of `tile` ([height, width]) pixels.

    ValueError (or Pillow's error) when the atlas is no PNG or too small for the tile.
    """
    check_picture(atlas)
    picture = Image.open(io.BytesIO(atlas), formats=["PNG"])
    (height, width), columns = tile, grid[1]
    row, column = divmod(position, columns)
    box = (column * width, row * height, (column + 1) * width, (row + 1) * height)
    if box[2] > picture.width or box[3] > picture.height:
        raise ValueError(f"the atlas is {picture.width}x{picture.height} pixels, too small for tile {position}")
    return encode(picture.crop(box))


def encode(picture: Image.Image) -> Tile:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    return Tile(uri, picture.width, picture.height)


def display_scale(tile: Tile, target: int = 56) -> int:
    """A whole-number zoom that draws small tiles near `target` pixels high (pixelated, never blurred)."""
    return max(1, math.floor(target / max(1, tile.height)))
