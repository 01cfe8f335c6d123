"""One channel's tile at every step, side by side: a filmstrip in one PNG instead of one atlas per step.

Pillow only, no torch: the plugin serves this. A step whose picture cannot be cut (not a PNG, corrupt,
too large, smaller than its layout says) is left blank and reported, never failing the others.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

from PIL import Image

MAX_ATLAS_PIXELS = 1 << 25  # an atlas larger than this is refused unread (a logged one is < 1% of it)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# What Pillow raises for a picture it cannot read: bad header, bad chunk, truncated or bomb-sized data.
PICTURE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    struct.error,
    zlib.error,
    Image.DecompressionBombError,
)


@dataclass(frozen=True)
class Frame:
    """One step's part of a strip: the atlas, where the channel's tile sits in it, and the atlas's layout."""

    atlas: bytes
    position: int
    grid: list[int] | None
    tile: list[int] | None


def tile_position(channels: list, channel: int, probe: int) -> int | None:
    """Where `channel` sits in an atlas: `channels` is one list (fixed channels) or one list per probe."""
    per_probe = bool(channels) and isinstance(channels[0], list)
    if per_probe and not 0 <= probe < len(channels):
        return None
    row = channels[probe] if per_probe else channels
    return row.index(channel) if channel in row else None


def check_picture(picture: bytes) -> None:
    """ValueError unless `picture` is a PNG whose header claims at most MAX_ATLAS_PIXELS (read from its
    header alone, so a decompression bomb is refused before anything decodes it)."""
    if not picture.startswith(_PNG_SIGNATURE) or picture[12:16] != b"IHDR" or len(picture) < 24:
        raise ValueError("it is not a PNG")
    width, height = struct.unpack(">II", picture[16:24])
    if width * height > MAX_ATLAS_PIXELS:
        raise ValueError(f"it is {width}x{height} pixels, over the {MAX_ATLAS_PIXELS} an atlas may have")


def channel_strip(frames: list[Frame | None]) -> tuple[bytes | None, dict[int, str]]:
    """(PNG of every frame's tile left to right, {frame index: why it is blank}) for the steps' `frames`.

    A step without the channel (None) or whose tile cannot be cut is left transparent, so the browser
    can tell it apart from a black tile. Tiles are as large as the last one cut; a tile of another size
    is blank too. No PNG (None) when no tile could be cut at all.
    """
    tiles: list[Image.Image | None] = [None] * len(frames)
    blank: dict[int, str] = {}
    for index, frame in enumerate(frames):
        if frame is not None:
            try:
                tiles[index] = _cut(frame)
            except PICTURE_ERRORS as error:
                blank[index] = f"its picture cannot be cut: {error}"
    cut = [tile for tile in tiles if tile is not None]
    if not cut:
        return None, blank
    size = cut[-1].size
    for index, tile in enumerate(tiles):
        if tile is not None and tile.size != size:
            tiles[index], blank[index] = None, f"its tile is {tile.size[1]}x{tile.size[0]}, not {size[1]}x{size[0]}"
    modes = {tile.mode for tile in tiles if tile is not None}
    mode = "RGBA" if None in tiles or len(modes) > 1 else modes.pop()
    strip = Image.new(mode, (size[0] * len(frames), size[1]))
    for index, tile in enumerate(tiles):
        if tile is not None:
            strip.paste(tile.convert(mode), (index * size[0], 0))
    buffer = io.BytesIO()
    strip.save(buffer, format="PNG", compress_level=1)  # built per request: fast beats small
    return buffer.getvalue(), blank


def _cut(frame: Frame) -> Image.Image:
    """The frame's tile; ValueError or Pillow's error when its picture or layout does not hold it."""
    if frame.grid is None or frame.tile is None:
        raise ValueError("its info gives no tile and grid")
    check_picture(frame.atlas)
    picture = Image.open(io.BytesIO(frame.atlas), formats=["PNG"])  # reads the header only
    (height, width), columns = frame.tile, frame.grid[1]
    row, col = divmod(frame.position, columns)
    box = (col * width, row * height, (col + 1) * width, (row + 1) * height)
    if box[2] > picture.width or box[3] > picture.height:
        raise ValueError(f"it is {picture.width}x{picture.height} pixels, too small for tile {frame.position}")
    return picture.crop(box)
