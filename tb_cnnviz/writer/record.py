"""What a kind hands over for one tag at one step: an info dict, uint8 pictures (encoded when written) and scalars."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tb_cnnviz import contract


@dataclass
class Record:
    """One summary of one step: the info (blob INFO_BLOB, JSON) and the pictures (atlases) after it.

    `scalars` are also written as ordinary TensorBoard scalars (contract.scalar_tag), so they show in
    TensorBoard's Time Series next to the loss; the info carries the same numbers under "scalars".
    """

    info: dict
    pictures: list[np.ndarray]
    scalars: dict[str, float] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.info["kind"]


def new_info(kind: str, **keys) -> dict:
    """An info dict of `kind` that says its contract version; `keys` are the kind's own and contract.Info's."""
    return {"version": contract.VERSION, "kind": kind, **keys}


def numbers_of(scalars: dict[str, float | None]) -> dict[str, float]:
    """An info's `scalars` that are numbers: what a Record writes as TensorBoard scalars (a None is written as none)."""
    return {name: value for name, value in scalars.items() if value is not None}
