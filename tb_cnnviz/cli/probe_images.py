"""Probe images for the command line: a folder of image files, a .npy/.pt tensor, or Fashion-MNIST's.

The result is what CNNVizCallback takes: a float tensor (N, C, H, W) exactly as the model takes it,
plus the normalization used (so the tab shows the images as they looked) and labels if known.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from tb_cnnviz.cli import fashion_mnist
from tb_cnnviz.methods.layers import first_conv
from tb_cnnviz.methods.model_state import evaluation_mode, model_device

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
TENSOR_SUFFIXES = (".npy", ".pt", ".pth")
_PIL_MODES = {1: "L", 3: "RGB"}
_SOURCES = (
    f"give a folder of image files ({', '.join(IMAGE_SUFFIXES)}), a .npy/.pt tensor, "
    f"or {fashion_mnist.NAME!r} (one test image per class)"
)


class ProbeImageError(ValueError):
    """Probe images that cannot be found or read, or have the wrong shape; the message says which."""


@dataclass
class ProbeImages:
    images: torch.Tensor
    labels: list[str] | None = None
    input_mean: list[float] | None = None
    input_std: list[float] | None = None


def load_probe_images(
    source: str,
    channels: int,
    *,
    size: tuple[int, int] | None = None,
    input_mean: Sequence[float] | None = None,
    input_std: Sequence[float] | None = None,
) -> ProbeImages:
    """Read probe images from `source` for a model taking `channels` input channels.

    Pixels (image files, uint8 arrays) become [0, 1] floats normalized by `input_mean`/`input_std`;
    float arrays are taken as already normalized. `size` (H, W) resizes image files.
    """
    if source == fashion_mnist.NAME:
        return ProbeImages(
            fashion_mnist.probe_images(),
            list(fashion_mnist.CLASS_NAMES),
            [fashion_mnist.PIXEL_MEAN],
            [fashion_mnist.PIXEL_STD],
        )
    path = Path(source)
    if path.is_dir():
        images, labels = _read_folder(path, channels, size)
    elif path.is_file() and path.suffix.lower() in TENSOR_SUFFIXES:
        images, labels = _read_tensor_file(path), None
    elif path.is_file():
        raise ProbeImageError(
            f"{path}: cannot read probe images from a {path.suffix or 'suffix-less'} file; {_SOURCES}"
        )
    else:
        raise ProbeImageError(f"{path}: no such file or folder; {_SOURCES}")
    if images.dim() != 4:
        raise ProbeImageError(
            f"{path} holds shape {tuple(images.shape)}; probe images must be (N, C, H, W), e.g. "
            f"(N, {channels}, H, W) for this model (add a channel axis to grayscale images: x[:, None])"
        )
    if images.shape[1] != channels:
        raise ProbeImageError(
            f"{path} holds images with {images.shape[1]} channels, shape {tuple(images.shape)}; "
            f"the model takes {channels}"
        )
    for name, values in (("input-mean", input_mean), ("input-std", input_std)):
        if values is not None and len(values) not in (1, channels):
            raise ProbeImageError(f"--{name} has {len(values)} values; give 1 or one per channel ({channels})")
    if images.dtype == torch.uint8:
        images = _normalized(images.float() / 255, input_mean, input_std)
    elif images.is_floating_point():
        images = images.float()
    else:
        raise ProbeImageError(f"{path} holds {images.dtype} values; use float (normalized input) or uint8 (pixels)")
    non_finite = (~torch.isfinite(images)).flatten(1).sum(1)
    if non_finite.any():
        which = ", ".join(str(index) for index in non_finite.nonzero().flatten().tolist()[:8])
        raise ProbeImageError(
            f"{path} holds {int(non_finite.sum())} NaN or Inf values (in probe images {which}); "
            "probe images must be finite numbers"
        )
    return ProbeImages(images, labels, _per_channel(input_mean, channels), _per_channel(input_std, channels))


def _read_folder(folder: Path, channels: int, size: tuple[int, int] | None) -> tuple[torch.Tensor, list[str]]:
    files = sorted(path for path in folder.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ProbeImageError(f"{folder} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
    if channels not in _PIL_MODES:
        raise ProbeImageError(
            f"the model takes {channels} input channels; image files give 1 or 3, so pass a .npy/.pt tensor"
        )
    arrays = [_read_image(path, _PIL_MODES[channels], size) for path in files]
    sizes = {array.shape[:2]: path for array, path in zip(arrays, files, strict=True)}
    if len(sizes) > 1:
        described = "; ".join(f"{path.name} is {h}x{w}" for (h, w), path in sizes.items())
        raise ProbeImageError(
            f"the images in {folder} differ in size ({described}); pass --image-size H W to resize them"
        )
    pixels = torch.from_numpy(np.stack(arrays))
    pixels = pixels.unsqueeze(1) if pixels.dim() == 3 else pixels.permute(0, 3, 1, 2)
    return pixels.contiguous(), [path.stem for path in files]


def _read_image(path: Path, mode: str, size: tuple[int, int] | None) -> np.ndarray:
    """One image file's pixels; an image over Pillow's size limit (a decompression bomb) is refused unread."""
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its limit and twice it; both mean gigabytes for a probe image.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image = image.convert(mode)
                if size is not None:
                    image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
                return np.asarray(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ProbeImageError(
            f"{path} is too large to be a probe image: {error} Give images of the size the model takes."
        ) from error
    except OSError as error:
        raise ProbeImageError(f"cannot read {path} as an image: {error}") from error


def _read_tensor_file(path: Path) -> torch.Tensor:
    try:
        if path.suffix.lower() == ".npy":
            return torch.from_numpy(np.load(path, allow_pickle=False))
        contents = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ProbeImageError(f"cannot read {path}: {error}") from error
    if not isinstance(contents, torch.Tensor):
        raise ProbeImageError(f"{path} holds a {type(contents).__name__}; save the probe images as one tensor")
    return contents


def _normalized(images: torch.Tensor, mean: Sequence[float] | None, std: Sequence[float] | None) -> torch.Tensor:
    shape = (1, -1, 1, 1)
    if mean is not None:
        images = images - torch.tensor(mean, dtype=images.dtype).view(shape)
    if std is not None:
        images = images / torch.tensor(std, dtype=images.dtype).view(shape)
    return images


def _per_channel(values: Sequence[float] | None, channels: int) -> list[float] | None:
    """One value per channel: a single value given on the command line holds for every channel."""
    if values is None:
        return None
    return [float(value) for value in values] * (channels if len(values) == 1 else 1)


def model_input_channels(model: nn.Module) -> int:
    """Channels of the model's first Conv2d (3 if it has none), so image files load in the right mode."""
    conv = first_conv(model)
    return conv.in_channels if conv is not None else 3


def check_model_takes(model: nn.Module, images: torch.Tensor, source: str, what: str = "probe images") -> None:
    """One forward pass on an image, so images of the wrong size fail with their shape named."""
    try:
        with evaluation_mode(model), torch.no_grad():
            model(images[:1].to(model_device(model)))
    except Exception as error:
        raise ProbeImageError(
            f"the model cannot run on the {what} from {source} (shape {tuple(images.shape)}): {error}; "
            "give images of the size the model was trained on (--image-size H W resizes a folder's images)"
        ) from error


def probes_for(model: nn.Module, arguments: argparse.Namespace) -> ProbeImages:
    """The --probe-images (with --image-size, --input-mean/std) as `model` takes them, checked with one forward."""
    probes = load_probe_images(
        arguments.probe_images,
        model_input_channels(model),
        size=arguments.image_size,
        input_mean=arguments.input_mean,
        input_std=arguments.input_std,
    )
    check_model_takes(model, probes.images, arguments.probe_images)
    return probes
