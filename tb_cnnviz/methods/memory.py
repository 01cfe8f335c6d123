"""What a forward pass keeps for its backward, counted: how chunk sizes are chosen to fit memory."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TypeVar

import torch

Result = TypeVar("Result")


def saved_bytes(forward: Callable[[], Result], excluded: Collection[int] = ()) -> tuple[int, Result]:
    """(bytes of the distinct storages autograd saves while `forward()` runs, its result).

    Storages whose data_ptr is in `excluded` (e.g. the weights, which do not grow with the batch) are
    not counted.
    """
    seen: set[int] = set(excluded)
    total = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal total
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in seen:
            seen.add(storage.data_ptr())
            total += storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        result = forward()
    return total, result
