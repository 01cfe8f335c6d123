"""One channel's tile at every step, side by side: a filmstrip in one PNG instead of one atlas per step.

Pillow only, no torch: the plugin serves this.
"""

from __future__ import annotations

import io

from PIL import Image


def tile_position(channels: list, channel: int, probe: int) -> int | None:
    """Where `channel` sits in an atlas: `channels` is one list (fixed channels) or one list per probe."""
    row = channels[probe] if channels and isinstance(channels[0], list) else channels
    return row.index(channel) if channel in row else None


def channel_strip(atlases: list[bytes | None], positions: list[int | None], grid: list[int], tile: list[int]) -> bytes:
    """PNG of tile `positions[s]` cut from `atlases[s]` for every step s, left to right.

    A step whose atlas does not hold the channel (position None) is left transparent, so the browser
    can tell it apart from a black tile.
    """
    height, width = tile
    columns = grid[1]
    pictures = [Image.open(io.BytesIO(atlas)) if atlas is not None else None for atlas in atlases]
    modes = {picture.mode for picture in pictures if picture is not None}
    transparent = None in positions or len(modes) > 1
    mode = "RGBA" if transparent else (modes.pop() if modes else "L")
    strip = Image.new(mode, (width * len(atlases), height))
    for step, (picture, position) in enumerate(zip(pictures, positions, strict=True)):
        if picture is None or position is None:
            continue
        row, col = divmod(position, columns)
        box = (col * width, row * height, (col + 1) * width, (row + 1) * height)
        strip.paste(picture.crop(box).convert(mode), (step * width, 0))
    buffer = io.BytesIO()
    strip.save(buffer, format="PNG", compress_level=1)  # built per request: fast beats small
    return buffer.getvalue()
