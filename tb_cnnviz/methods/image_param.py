"""Image parameterizations for activation maximization: what the optimizer moves, and how it becomes pixels.

Following Olah et al. 2017 ("Feature Visualization") and Lucid/Lucent: optimizing a spectrum scaled by
1/frequency, with decorrelated colours and a sigmoid, gives gradient ascent a well-conditioned problem
(all frequencies move at similar speed in image space), so images are cleaner and converge in fewer
steps than raw pixels. A plain pixel parameterization is kept for comparison and for tiny images.

Both keep a "linear image" stage (before colour decorrelation and sigmoid) that can be rebuilt into
parameters exactly; that is what coarse-to-fine optimization uses to move a small image to a larger one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

# Square root of the colour correlation of natural images (ImageNet), as Lucid/Lucent use it.
_COLOR_CORRELATION_SVD_SQRT = torch.tensor(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=torch.float64
)
_COLOR_MATRIX = _COLOR_CORRELATION_SVD_SQRT / _COLOR_CORRELATION_SVD_SQRT.norm(dim=0).max()

# Lucid divides the irfft output by this constant so the starting noise is small after the sigmoid.
_FOURIER_DAMPING = 4.0


def _draw_normal(generators: Sequence[torch.Generator], shape: Sequence[int]) -> torch.Tensor:
    """One standard-normal tensor per generator, stacked: image i depends only on generator i."""
    return torch.stack([torch.randn(tuple(shape), generator=generator) for generator in generators])


class ImageParam:
    """Maps an optimizable tensor (K, ...) to K images (K, C, H, W) in [0, 1]."""

    def __init__(self, channels: int, height: int, width: int, decorrelate: bool = True) -> None:
        self.channels, self.height, self.width = channels, height, width
        # Colour decorrelation is defined for RGB only; any other channel count is left as is.
        self.decorrelate = decorrelate and channels == 3

    def init(self, generators: Sequence[torch.Generator], device: torch.device, sd: float = 0.01) -> torch.Tensor:
        """Small random starting parameters, drawn on the CPU from the given generators (device independent)."""
        raise NotImplementedError

    def to_linear(self, params: torch.Tensor) -> torch.Tensor:
        """The image before colour decorrelation and sigmoid, (K, C, H, W)."""
        raise NotImplementedError

    def from_linear(self, linear: torch.Tensor) -> torch.Tensor:
        """Parameters whose `to_linear` is exactly `linear` (the inverse of `to_linear`)."""
        raise NotImplementedError

    def to_image(self, params: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] display space, (K, C, H, W)."""
        linear = self.to_linear(params)
        if self.decorrelate:
            matrix = _COLOR_MATRIX.to(device=linear.device, dtype=linear.dtype)
            linear = torch.einsum("ij,kjhw->kihw", matrix, linear)
        return torch.sigmoid(linear)

    def resized(self, height: int, width: int) -> ImageParam:
        """The same parameterization for another image size."""
        return type(self)(self.channels, height, width, self.decorrelate)


class PixelParam(ImageParam):
    """One free value per pixel and channel (before decorrelation and sigmoid)."""

    def init(self, generators: Sequence[torch.Generator], device: torch.device, sd: float = 0.01) -> torch.Tensor:
        noise = _draw_normal(generators, (self.channels, self.height, self.width)) * sd
        return noise.to(device)

    def to_linear(self, params: torch.Tensor) -> torch.Tensor:
        return params

    def from_linear(self, linear: torch.Tensor) -> torch.Tensor:
        return linear


class FourierParam(ImageParam):
    """A real spectrum (K, C, H, W//2+1, 2), scaled by 1/max(freq, 1/max(H, W)), through an orthonormal irfft."""

    def __init__(self, channels: int, height: int, width: int, decorrelate: bool = True) -> None:
        super().__init__(channels, height, width, decorrelate)
        fy = torch.fft.fftfreq(height, dtype=torch.float64)[:, None]
        fx = torch.fft.rfftfreq(width, dtype=torch.float64)[None, :]
        frequencies = torch.sqrt(fx * fx + fy * fy)
        self._scale = (1.0 / torch.clamp(frequencies, min=1.0 / max(height, width))).float()

    def init(self, generators: Sequence[torch.Generator], device: torch.device, sd: float = 0.01) -> torch.Tensor:
        shape = (self.channels, self.height, self.width // 2 + 1, 2)
        return (_draw_normal(generators, shape) * sd).to(device)

    def to_linear(self, params: torch.Tensor) -> torch.Tensor:
        scale = self._scale.to(params.device)
        spectrum = torch.view_as_complex(params.contiguous()) * scale
        image = torch.fft.irfft2(spectrum, s=(self.height, self.width), norm="ortho")
        return image / _FOURIER_DAMPING

    def from_linear(self, linear: torch.Tensor) -> torch.Tensor:
        spectrum = torch.fft.rfft2(linear * _FOURIER_DAMPING, norm="ortho") / self._scale.to(linear.device)
        return torch.view_as_real(spectrum).contiguous()


PARAMETERIZATIONS: dict[str, type[ImageParam]] = {"fourier": FourierParam, "pixel": PixelParam}


def make_param(kind: str, channels: int, height: int, width: int, decorrelate: bool = True) -> ImageParam:
    """The parameterization named `kind` ("fourier" or "pixel")."""
    if kind not in PARAMETERIZATIONS:
        raise ValueError(f"unknown image parameterization {kind!r}; choose one of {sorted(PARAMETERIZATIONS)}")
    return PARAMETERIZATIONS[kind](channels, height, width, decorrelate)


def tile_to(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Repeat a (K, C, h, w) image periodically and crop it to (height, width).

    Coarse-to-fine uses this, not interpolation: the objective is a spatial mean, so a small optimized
    texture repeated keeps its pattern at the same pixel scale the layer responds to, and a Fourier image
    is periodic, so the repetition has no seams.
    """
    reps_y = math.ceil(height / image.shape[-2])
    reps_x = math.ceil(width / image.shape[-1])
    return image.repeat(1, 1, reps_y, reps_x)[..., :height, :width]
