"""Image parameterizations for activation maximization: what the optimizer moves, and how it becomes pixels.

Following Olah et al. 2017 ("Feature Visualization") and Lucid/Lucent: optimizing a spectrum scaled by
1/frequency, with decorrelated colours, gives gradient ascent a well-conditioned problem (all
frequencies move at similar speed in image space), so images are cleaner and converge in fewer steps
than raw pixels. A plain pixel parameterization is kept for comparison and for tiny images.

Pixels come from a clip to [0, 1] whose gradient is redirected, not from Lucid's sigmoid: Adam moves
every Fourier coefficient by about lr per step whatever its gradient, so under a sigmoid the logits grow
to hundreds, the coefficients' gradients come from the few pixels still near 0.5, and pixels thrown to
the wrong tail (gradient e^-70) never return: a first-layer filter with a known optimum stopped at
71-86% of it for any step count. A clip keeps every pixel's gradient whole inside [0, 1]; outside it
passes only a gradient that points back in (as Lucid's redirected ReLU gradient), so a wrong pixel is
always pulled back and a right one stops pushing: the same filter reaches 100%.

Both keep a "linear image" stage (before colour decorrelation and the clip) that can be rebuilt into
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
# Pixels are 0.5 + slope * linear, clipped: the sigmoid's slope at 0, so the start is as Lucid's.
_SLOPE = 0.25


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
        """The image before colour decorrelation and the clip, (K, C, H, W)."""
        raise NotImplementedError

    def from_linear(self, linear: torch.Tensor) -> torch.Tensor:
        """Parameters whose `to_linear` is exactly `linear` (the inverse of `to_linear`)."""
        raise NotImplementedError

    def decorrelated(self, params: torch.Tensor) -> torch.Tensor:
        """The linear image with natural-image colour correlations (RGB), (K, C, H, W): what becomes pixels."""
        linear = self.to_linear(params)
        if not self.decorrelate:
            return linear
        matrix = _COLOR_MATRIX.to(device=linear.device, dtype=linear.dtype)
        return torch.einsum("ij,kjhw->kihw", matrix, linear)

    def to_image(self, params: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] display space, (K, C, H, W)."""
        return _RedirectedClip.apply(0.5 + _SLOPE * self.decorrelated(params))

    def blurred(self, params: torch.Tensor, blur: float) -> torch.Tensor:
        """`params` with each spatial frequency f (cycles per pixel) of the linear image scaled by exp(-blur (2f)^2).

        A Gaussian blur, as Yosinski et al. 2015 apply to the image every few steps: done at every step,
        it keeps only the high frequencies that the objective keeps asking for, which removes the
        one-pixel speckle that Adam's per-coefficient steps otherwise leave. blur 0.1 keeps 90% of the
        finest frequency per step.
        """
        spectrum = torch.fft.rfft2(self.to_linear(params)) * _gaussian(self.height, self.width, blur, params.device)
        return self.from_linear(torch.fft.irfft2(spectrum, s=(self.height, self.width)))

    def resized(self, height: int, width: int) -> ImageParam:
        """The same parameterization for another image size."""
        return type(self)(self.channels, height, width, self.decorrelate)


def _gaussian(height: int, width: int, blur: float, device: torch.device) -> torch.Tensor:
    """exp(-blur (2f)^2) on an rfft2 grid of (height, width): 1 at f = 0, exp(-blur) at the Nyquist frequency."""
    fy = torch.fft.fftfreq(height, device=device)[:, None]
    fx = torch.fft.rfftfreq(width, device=device)[None, :]
    return torch.exp(-blur * 4 * (fx * fx + fy * fy))


class _RedirectedClip(torch.autograd.Function):
    """clamp(x, 0, 1) whose gradient is kept where x is inside, or outside but the step would bring it in."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x.clamp(0.0, 1.0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        # Optimizers step against the gradient: above 1 a negative gradient pushes further out.
        outward = ((x > 1) & (grad < 0)) | ((x < 0) & (grad > 0))
        return grad.masked_fill(outward, 0.0)


class PixelParam(ImageParam):
    """One free value per pixel and channel (before decorrelation and the clip)."""

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

    def blurred(self, params: torch.Tensor, blur: float) -> torch.Tensor:
        return params * _gaussian(self.height, self.width, blur, params.device)[..., None]


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
