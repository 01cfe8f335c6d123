"""Deconvnet projections of vgg11 `features.8` (64 channels x 4 probes of 128 px): ours vs the usual way.

The usual way (attribution libraries): one forward and backward pass of the whole model per projection,
the ReLU rule put on the model's nn.ReLU modules. Ours: every projection of the layer in one batch, the
forward stopped at the layer, each projection computed on the crop under its unit's receptive field.
Also shown: ours without crops, and our first call, which measures the receptive field once.
The results are compared with the usual way's full-image projections.

    python benchmarks/deconv_speed.py            # 32 reference projections, 5 repeats
    python benchmarks/deconv_speed.py --quick    # 8 reference projections, 2 repeats
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import torch
import torchvision
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from machine import summary

from tb_cnnviz import deconvnet

LAYER = "features.8"
CHANNELS = list(range(64))
PROBES, SIZE = 4, 128
TARGET_SPEEDUP = 20.0


class _DeconvReLU(nn.Module):
    """The usual way's ReLU: forward relu, backward relu(grad_output)."""

    class _Rule(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.clamp(min=0)

        @staticmethod
        def backward(ctx, grad_output):
            return grad_output.clamp(min=0)

    def forward(self, x):
        return self._Rule.apply(x)


def usual_model(model: nn.Module) -> nn.Module:
    """A copy of `model` with each nn.ReLU module replaced by the deconvnet rule (as module hooks would)."""
    copied = copy.deepcopy(model).eval()
    for module in list(copied.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.ReLU):
                setattr(module, name, _DeconvReLU())
    return copied


def usual_projection(model: nn.Module, image: torch.Tensor, channel: int) -> torch.Tensor:
    """One projection: the whole model forward, then backward from the channel's strongest unit."""
    captured = []
    handle = model.get_submodule(LAYER).register_forward_hook(lambda _m, _i, output: captured.append(output))
    try:
        inputs = image.clone().requires_grad_(True)
        model(inputs)
    finally:
        handle.remove()
    units = captured[0][0, channel].flatten()
    strongest = units.argmax()
    # From the unit's magnitude, as deconvnet does: a projection shows what drives the unit up, whatever its sign.
    (projection,) = torch.autograd.grad(units[strongest], inputs, grad_outputs=units[strongest].detach().abs())
    return projection[0]


def timed(function):
    """(seconds, result) of function(); on CUDA the queued GPU work is waited for before and after."""
    _synchronize()
    started = time.perf_counter()
    result = function()
    _synchronize()
    return time.perf_counter() - started, result


def _synchronize() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def measure(
    reference_count: int,
    repeats: int,
    device: torch.device | str = "cpu",
    channels: list[int] = CHANNELS,
    probes: int = PROBES,
    size: int = SIZE,
    uncropped: bool = True,
) -> dict[str, object]:
    """Times the usual way (median of `reference_count` projections) and ours (median of `repeats` calls).

    vgg11(weights=None) seeded with 0, `probes` images of `size` px from the same seed, on `device`.
    Returns seconds per projection of each method, the speed-up of ours and its largest difference.
    `uncropped=False` leaves out ours without crops (slow on a CPU, and no target depends on it).
    """
    device = torch.device(device)
    torch.manual_seed(0)
    model = torchvision.models.vgg11(weights=None).eval().to(device)
    images = torch.rand(probes, 3, size, size).to(device)
    projections = probes * len(channels)

    usual = usual_model(model)
    pairs = [(index % probes, channels[(index * 7) % len(channels)]) for index in range(reference_count)]
    usual_projection(usual, images[:1], channels[0])  # warm-up
    usual_seconds, references = [], []
    for probe, channel in pairs:
        seconds, projection = timed(
            lambda probe=probe, channel=channel: usual_projection(usual, images[probe : probe + 1], channel)
        )
        usual_seconds.append(seconds)
        references.append(projection)
    usual_per = statistics.median(usual_seconds)

    cold_seconds, ours = timed(lambda: deconvnet(model, images, LAYER, channels=channels))  # measures the field
    warm = statistics.median(
        timed(lambda: deconvnet(model, images, LAYER, channels=channels))[0] for _ in range(repeats)
    )
    uncropped_seconds = None
    if uncropped:
        uncropped_seconds = statistics.median(
            timed(lambda: deconvnet(model, images, LAYER, channels=channels, crop=False))[0]
            for _ in range(max(1, repeats // 2))
        )

    worst = 0.0
    for (probe, channel), reference in zip(pairs, references, strict=True):
        ours_projection = ours.projections[probe, channels.index(channel)]
        worst = max(worst, float((ours_projection - reference).abs().max() / reference.abs().max().clamp(min=1e-30)))
    return {
        "model": "vgg11(weights=None), torch.manual_seed(0)",
        "layer": LAYER,
        "device": str(device),
        "channels": len(channels),
        "probes": probes,
        "size": size,
        "projections": projections,
        "reference_projections_timed": reference_count,
        "repeats": repeats,
        "usual_seconds_per_projection": usual_per,
        "ours_first_call_seconds": cold_seconds,
        "ours_uncropped_seconds": uncropped_seconds,
        "ours_seconds": warm,
        "ours_seconds_per_projection": warm / projections,
        "speedup": usual_per * projections / warm,
        "largest_difference": worst,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer reference projections and repeats")
    parser.add_argument("--reference", type=int, help="reference projections to time (default 32, quick 8)")
    parser.add_argument("--repeats", type=int, help="timed calls of ours (default 5, quick 2)")
    args = parser.parse_args()
    reference_count = args.reference or (8 if args.quick else 32)
    repeats = args.repeats or (2 if args.quick else 5)

    print(summary())
    projections = PROBES * len(CHANNELS)
    print(f"vgg11 {LAYER}: {len(CHANNELS)} channels x {PROBES} probes of {SIZE} px = {projections} projections\n")
    figures = measure(reference_count, repeats)
    usual_per = figures["usual_seconds_per_projection"]
    rows = [
        ("usual: whole model per projection", usual_per * projections),
        ("ours, first call (measures the field)", figures["ours_first_call_seconds"]),
        ("ours, batched, stop at layer, no crops", figures["ours_uncropped_seconds"]),
        ("ours, batched + receptive-field crops", figures["ours_seconds"]),
    ]
    print(f"{'method':<42}{'all (s)':>10}{'per projection (ms)':>22}{'speed-up':>10}")
    for name, total in rows:
        per = total / projections
        print(f"{name:<42}{total:>10.2f}{per * 1000:>22.2f}{usual_per / per:>9.1f}x")
    print(f"\n(usual way: median of {reference_count} projections, times {projections}; ours: median of {repeats})")
    print(
        f"largest difference from the usual way's full-image projections: {figures['largest_difference']:.1e} "
        "of the projection's range"
    )
    speedup = figures["speedup"]
    verdict = "meets" if speedup >= TARGET_SPEEDUP else "misses"
    print(f"speed-up {speedup:.1f}x {verdict} the target of {TARGET_SPEEDUP:.0f}x")


if __name__ == "__main__":
    main()
