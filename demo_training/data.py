"""Fashion-MNIST as in-memory tensors: 70,000 images fit in memory, so no DataLoader is needed.

Reading the files and the class names live in the library (tb_cnnviz.cli.fashion_mnist), which the
command's `--probe-images fashion-mnist` uses too; the demo imports the library, never the reverse.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from tb_cnnviz.cli.fashion_mnist import CLASS_NAMES, PIXEL_MEAN, PIXEL_STD, first_of_each_class, load_pixels, normalize

# The class names and pixel statistics are the library's, read from here by train.py, tests and benchmarks.
__all__ = [
    "CLASS_NAMES",
    "PIXEL_MEAN",
    "PIXEL_STD",
    "Split",
    "batch_count",
    "load_split",
    "probe_batch",
    "shuffled_batches",
]


@dataclass
class Split:
    """Normalized images (N, 1, 28, 28) float32 and labels (N,) int64."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, count: int) -> Split:
        """The first `count` examples (for quick tests)."""
        return Split(self.images[:count], self.labels[:count])


def load_split(split: str, data_dir: str | Path | None = None) -> Split:
    """Load "train" or "test", from `data_dir` or the system copy, downloading only if neither has it."""
    pixels, labels = load_pixels(split, data_dir)
    return Split(normalize(pixels), labels)


def probe_batch(test: Split) -> torch.Tensor:
    """The first test image of each class, in class order: fixed, so logged steps are comparable."""
    return test.images[first_of_each_class(test.labels)].clone()


def batch_count(split: Split, batch_size: int, max_batches: int | None = None) -> int:
    """How many batches shuffled_batches yields (the last one may be smaller)."""
    return len(range(0, len(split), batch_size)[:max_batches])


def shuffled_batches(
    split: Split, batch_size: int, seed: int, max_batches: int | None = None
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Mini-batches in an order fixed by `seed`, so two runs (or benchmark arms) see the same data."""
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))
    batches = order.split(batch_size)
    for indices in batches[:max_batches]:
        yield split.images[indices], split.labels[indices]
