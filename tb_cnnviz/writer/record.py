"""What a kind hands over for one tag at one step: an info dict and uint8 pictures, encoded when written."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tb_cnnviz import contract


@dataclass
class Record:
    """One summary of one step: the info (blob INFO_BLOB, JSON) and the pictures (atlases) after it."""

    info: dict
    pictures: list[np.ndarray]

    @property
    def kind(self) -> str:
        return self.info["kind"]


def new_info(kind: str, **keys) -> dict:
    """An info dict of `kind` that says its contract version; `keys` are the kind's own and contract.Info's."""
    return {"version": contract.VERSION, "kind": kind, **keys}
