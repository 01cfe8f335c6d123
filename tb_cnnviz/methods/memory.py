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


def bytes_per_image(
    forward: Callable[[torch.Tensor], torch.Tensor], shape: tuple[int, ...], device: torch.device, dtype: torch.dtype
) -> tuple[int, torch.Tensor]:
    """The bytes one more input of `shape` costs in `forward` and its backward (tensors autograd saves,
    output, grads), and the output for a batch of one.

    Runs `forward` for batches of 1 and 2 and counts the storage autograd keeps for the backward pass;
    the difference is what each image adds (the weights, saved once, cancel out).
    """

    def measure(batch: int):
        inputs = torch.full((batch, *shape), 0.5, device=device, dtype=dtype, requires_grad=True)
        total, output = saved_bytes(lambda: forward(inputs))
        return total + (output.nbytes if isinstance(output, torch.Tensor) else 0), output

    one, output = measure(1)
    if not isinstance(output, torch.Tensor):
        return 0, output
    two, _ = measure(2)
    # Twice the saved tensors: the backward pass holds gradients of about the same size.
    return 2 * max(two - one, output[:1].nbytes), output


def images_per_chunk(per_image: int, shape: tuple[int, int, int], memory_budget: int) -> int:
    """How many images of `shape` one optimization batch holds under `memory_budget` bytes.

    `per_image` is the forward and backward cost (bytes_per_image); each image also keeps about
    8 float copies of itself (image, parameters, gradients, Adam state).
    """
    colours, height, width = shape
    return max(1, int(memory_budget // max(per_image + 8 * colours * height * width * 4, 1)))
