"""Fashion-MNIST as in-memory tensors: 70,000 images fit in memory, so no DataLoader is needed."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

SYSTEM_DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASS_NAMES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
# Mean and standard deviation of the training pixels in [0, 1]; the callback needs them
# to show the probe images as they were before normalization.
PIXEL_MEAN = 0.2860
PIXEL_STD = 0.3530

_IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


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


def _read_idx(path: Path) -> np.ndarray:
    """Read a gzipped idx file (magic: 0, 0, dtype code 0x08 = uint8, number of dimensions)."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if raw[0:2] != b"\x00\x00" or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte idx file")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _find_idx_dir(data_dir: Path | None) -> Path:
    """The directory holding the idx files: the system copy, else torchvision's download."""
    candidates = [SYSTEM_DATA_DIR]
    if data_dir is not None:
        candidates[:0] = [data_dir, data_dir / "FashionMNIST" / "raw"]
    for candidate in candidates:
        if all((candidate / name).exists() for pair in _IDX_FILES.values() for name in pair):
            return candidate
    from torchvision.datasets import FashionMNIST

    download_root = Path(data_dir or "data")
    FashionMNIST(download_root, train=True, download=True)
    FashionMNIST(download_root, train=False, download=True)
    return download_root / "FashionMNIST" / "raw"


def normalize(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 pixels (N, 28, 28) -> the normalized float input (N, 1, 28, 28) the model takes."""
    return ((pixels.float() / 255.0 - PIXEL_MEAN) / PIXEL_STD).unsqueeze(1)


def load_split(split: str, data_dir: str | Path | None = None) -> Split:
    """Load "train" or "test", from `data_dir` or the system copy, downloading only if neither has it."""
    idx_dir = _find_idx_dir(Path(data_dir) if data_dir is not None else None)
    image_file, label_file = _IDX_FILES[split]
    pixels = torch.from_numpy(_read_idx(idx_dir / image_file).copy())
    labels = torch.from_numpy(_read_idx(idx_dir / label_file).astype(np.int64))
    return Split(normalize(pixels), labels)


def probe_batch(test: Split) -> torch.Tensor:
    """The first test image of each class, in class order: fixed, so logged steps are comparable."""
    first_of_class = [int(torch.nonzero(test.labels == c)[0]) for c in range(len(CLASS_NAMES))]
    return test.images[first_of_class].clone()


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
