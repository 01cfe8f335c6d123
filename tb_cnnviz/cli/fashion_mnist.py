"""Fashion-MNIST for `--probe-images fashion-mnist`: the first test image of each class, as the demo model takes it.

In the library (not in the repository's demo_training, which imports it from here) so the command works
from an installed wheel. Read from Debian's dataset-fashion-mnist when installed, else torchvision
downloads it.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

NAME = "fashion-mnist"  # the value of --probe-images that picks these probes
SYSTEM_DATA_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
# Mean and standard deviation of the training pixels in [0, 1]: the demo model's input normalization,
# which the callback needs to show the probes as they were before it.
PIXEL_MEAN = 0.2860
PIXEL_STD = 0.3530
IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def load_pixels(split: str, data_dir: str | Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 pixels (N, 28, 28) and int64 labels (N,) of "train" or "test".

    From `data_dir` or the system copy, downloading into `data_dir` (default ./data) only if neither has it.
    """
    if split not in IDX_FILES:
        raise ValueError(f"Fashion-MNIST has no split {split!r}; use one of {sorted(IDX_FILES)}")
    idx_dir = _find_idx_dir(Path(data_dir) if data_dir is not None else None)
    image_file, label_file = IDX_FILES[split]
    pixels = torch.from_numpy(_read_idx(idx_dir / image_file).copy())
    labels = torch.from_numpy(_read_idx(idx_dir / label_file).astype(np.int64))
    return pixels, labels


def normalize(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 pixels (N, 28, 28) -> the normalized float input (N, 1, 28, 28) the demo model takes."""
    return ((pixels.float() / 255.0 - PIXEL_MEAN) / PIXEL_STD).unsqueeze(1)


def first_of_each_class(labels: torch.Tensor) -> list[int]:
    """Index of each class's first example, in class order: fixed probes, so logged steps compare."""
    return [int(torch.nonzero(labels == label)[0]) for label in range(len(CLASS_NAMES))]


def probe_images(data_dir: str | Path | None = None) -> torch.Tensor:
    """The first test image of each class, normalized: (10, 1, 28, 28) float, labelled by CLASS_NAMES."""
    pixels, labels = load_pixels("test", data_dir)
    return normalize(pixels[first_of_each_class(labels)])


def held_out_images(count: int, data_dir: str | Path | None = None) -> torch.Tensor:
    """The first `count` test images, normalized (N, 1, 28, 28): data the demo model never trained on."""
    pixels, _ = load_pixels("test", data_dir)
    return normalize(pixels[:count])


def _read_idx(path: Path) -> np.ndarray:
    """A gzipped idx file (magic: 0, 0, dtype code 0x08 = uint8, number of dimensions)."""
    with gzip.open(path, "rb") as file:
        raw = file.read()
    if raw[0:2] != b"\x00\x00" or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte idx file")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _find_idx_dir(data_dir: Path | None) -> Path:
    """The folder holding the idx files: `data_dir`, the system copy, else torchvision's download."""
    candidates = [SYSTEM_DATA_DIR]
    if data_dir is not None:
        candidates[:0] = [data_dir, data_dir / "FashionMNIST" / "raw"]
    for candidate in candidates:
        if all((candidate / name).exists() for pair in IDX_FILES.values() for name in pair):
            return candidate
    from torchvision.datasets import FashionMNIST

    download_root = Path(data_dir or "data")
    FashionMNIST(download_root, train=True, download=True)
    FashionMNIST(download_root, train=False, download=True)
    return download_root / "FashionMNIST" / "raw"
