"""Small HTML pieces every section uses; every text from the logs passes through html.escape here."""

from __future__ import annotations

import html

from tb_cnnviz.report.tiles import Tile, display_scale


def text(value: object) -> str:
    return html.escape(str(value), quote=True)


def missing(message: str) -> str:
    """A piece left out of the report, and why, on one line."""
    return f'<p class="missing">{text(message)}</p>'


def picture(tile: Tile, alt: str, **data: object) -> str:
    """An <img> of a tile, zoomed by a whole number (pixelated); `data` become data-* attributes."""
    scale = display_scale(tile)
    attributes = "".join(f' data-{key.replace("_", "-")}="{text(value)}"' for key, value in data.items())
    return (
        f'<img class="tile" src="{tile.uri}" width="{tile.width * scale}" height="{tile.height * scale}" '
        f'alt="{text(alt)}"{attributes}>'
    )


def absent(message: str, **data: object) -> str:
    """A frame without a picture, saying why (not logged at that step, or unreadable)."""
    attributes = "".join(f' data-{key.replace("_", "-")}="{text(value)}"' for key, value in data.items())
    return f'<span class="absent"{attributes}>{text(message)}</span>'
