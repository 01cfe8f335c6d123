"""One check for indices a user names (channels, classes): every one must exist, or a clear error."""

from __future__ import annotations

from collections.abc import Iterable


def checked_indices(indices: Iterable[int], count: int, what: str, owner: str) -> list[int]:
    """`indices` as a list of ints, each in 0..count-1; else a ValueError naming the bad ones and the valid range.

    `what` names the indices ("channels", "classes"), `owner` what has `count` of them ("layer 'conv1'").
    """
    chosen = [int(index) for index in indices]
    bad = sorted({index for index in chosen if not 0 <= index < count})
    if bad:
        raise ValueError(f"{what} {bad} are out of range: {owner} has {count}, numbered 0..{count - 1}")
    return chosen
