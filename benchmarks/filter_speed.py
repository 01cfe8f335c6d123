"""Filter-maximizing images: time per channel of `maximize_filters` against the usual approach.

The usual approach (Lucid/Lucent defaults): one channel at a time, the whole model run every step,
decorrelated Fourier image + sigmoid, Lucent's standard transforms (pad 12, jitter 8, scale 0.9..1.1,
rotate -10..10 deg, jitter 4), Adam lr 0.05, 512 steps, 128 px. Ours: `maximize_filters` on a batch
of channels with its defaults. Both reached activations are measured the same way, on the final
128-px image without transforms (the layer's own, pre-ReLU output, channel mean).

Model: torchvision vgg11(weights=None), layer features.8 (a 256-channel conv at 32x32 for 128 px),
fixed weights from torch.manual_seed(0).

Run:  .venv/bin/python benchmarks/filter_speed.py            (full: about 10-30 min on 2 CPU cores)
      .venv/bin/python benchmarks/filter_speed.py --quick    (short: baseline cut to 64 steps)
Options: --baseline-channels, --channels (batch size for ours), --steps, --threads, --json PATH.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from machine import describe

from tb_cnnviz.methods.image_param import FourierParam
from tb_cnnviz.methods.maximize import maximize_filters

LAYER = "features.8"
SIZE = 128
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def build_model() -> nn.Module:
    torch.manual_seed(0)
    model = torchvision.models.vgg11(weights=None).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def normalize(images: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (images - mean) / std


class LucentTransforms:
    """Lucent's standard_transforms, step by step as lucent/optvis/transform.py writes them."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def jitter(self, image: torch.Tensor, d: int) -> torch.Tensor:
        dx, dy = self.rng.randrange(d), self.rng.randrange(d)
        width, height = image.shape[-2:]
        return image[:, :, dx : dx + width - d, dy : dy + height - d]

    def scale(self, image: torch.Tensor) -> torch.Tensor:
        factor = self.rng.choice([1 + (i - 5) / 50.0 for i in range(11)])
        shape = image.shape[2:]
        scaled = [int(-(-factor * d // 1)) for d in shape]  # round up, as Lucent's _roundup
        pad_x = max(0, int(-(-(shape[1] - scaled[1]) / 2 // 1)))
        pad_y = max(0, int(-(-(shape[0] - scaled[0]) / 2 // 1)))
        upsampled = F.interpolate(image, size=scaled, mode="bilinear", align_corners=True)
        return F.pad(upsampled, [pad_y, pad_x] * 2)

    def rotate(self, image: torch.Tensor) -> torch.Tensor:
        angle = torch.tensor(self.rng.choice(list(range(-10, 11)) + 5 * [0]) * torch.pi / 180)
        cos, sin = torch.cos(angle), torch.sin(angle)
        theta = torch.tensor([[[cos, -sin, 0.0], [sin, cos, 0.0]]])
        grid = F.affine_grid(theta, list(image.shape), align_corners=False)
        return F.grid_sample(image, grid, align_corners=False)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        image = F.pad(image, [12] * 4, mode="constant", value=0.5)
        image = self.jitter(image, 8)
        image = self.scale(image)
        image = self.rotate(image)
        return self.jitter(image, 4)


class LayerOutput:
    """Keeps a copy of the layer's output (pre-ReLU: the next ReLU is in place) while the whole model runs."""

    def __init__(self, module: nn.Module) -> None:
        self.output: torch.Tensor | None = None
        self.handle = module.register_forward_hook(self.keep)

    def keep(self, _module: nn.Module, _args: tuple, output: torch.Tensor) -> None:
        self.output = output.clone()


def lucent_image(param: FourierParam, values: torch.Tensor) -> torch.Tensor:
    """Lucent's pixels: a sigmoid of the decorrelated image (ours clip it instead, see image_param.py)."""
    return torch.sigmoid(param.decorrelated(values))


def baseline(model: nn.Module, channel: int, steps: int, seed: int, size: int = SIZE) -> tuple[torch.Tensor, float]:
    """Lucent's render_vis for one channel objective: whole model every step, Adam lr 0.05."""
    generator = torch.Generator().manual_seed(seed)
    param = FourierParam(3, size, size, decorrelate=True)
    values = param.init([generator], torch.device("cpu")).requires_grad_(True)
    transforms = LucentTransforms(random.Random(seed))
    optimizer = torch.optim.Adam([values], lr=0.05)
    hook = LayerOutput(dict(model.named_modules())[LAYER])
    try:
        for _ in range(steps):
            optimizer.zero_grad()
            model(normalize(transforms(lucent_image(param, values))))
            loss = -hook.output[:, channel].mean()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            image = lucent_image(param, values)
            model(normalize(image))
            reached = float(hook.output[0, channel].mean())
    finally:
        hook.handle.remove()
    return image, reached


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short run: baseline 64 steps, 8 channels batched")
    parser.add_argument("--baseline-channels", type=int, default=None, help="channels run one at a time (default 3)")
    parser.add_argument("--baseline-steps", type=int, default=None, help="default 512 (64 with --quick)")
    parser.add_argument("--channels", type=int, default=None, help="channels in our batch (default 32)")
    parser.add_argument(
        "--steps", type=int, nargs="+", default=None,
        help="our step counts to try, smallest first; stops at the first that reaches the baseline "
        "on every compared channel (default 64 96 128 256; 16 32 64 with --quick)",
    )  # fmt: skip
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    baseline_channels = args.baseline_channels or (1 if args.quick else 3)
    baseline_steps = args.baseline_steps or (64 if args.quick else 512)
    batch = args.channels or (8 if args.quick else 32)
    ladder = args.steps or ([16, 32, 64] if args.quick else [64, 96, 128, 256])
    if batch < baseline_channels:
        parser.error("--channels must be at least --baseline-channels: the same channels are compared")

    model = build_model()
    info = describe()
    print("machine:", json.dumps(info))

    base_times, base_reached = [], []
    for channel in range(baseline_channels):
        start = time.perf_counter()
        _, reached = baseline(model, channel, baseline_steps, seed=channel)
        base_times.append(time.perf_counter() - start)
        base_reached.append(reached)
        print(f"baseline channel {channel}: {base_times[-1]:.1f} s, activation {reached:.3f}", flush=True)

    base_per_channel = sum(base_times) / len(base_times)
    mean_base = sum(base_reached) / len(base_reached)
    rows = []
    for steps in ladder:
        start = time.perf_counter()
        result = maximize_filters(
            model, LAYER, list(range(batch)), size=SIZE, steps=steps, seed=0,
            input_mean=IMAGENET_MEAN, input_std=IMAGENET_STD,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        reached = result.activations.tolist()
        compared = reached[:baseline_channels]
        row = {
            "steps": steps,
            "channels_per_batch": batch,
            "seconds_total": seconds,
            "seconds_per_channel": seconds / batch,
            "activations_compared": compared,
            "mean_activation_all_channels": sum(reached) / len(reached),
            "channels_reaching_baseline": sum(o >= b for b, o in zip(base_reached, compared, strict=True)),
            "min_ratio_to_baseline": min(
                o / b if b > 0 else float("inf") for b, o in zip(base_reached, compared, strict=True)
            ),
            "speedup_per_channel": base_per_channel / (seconds / batch),
        }
        rows.append(row)
        print(f"ours {steps} steps: {seconds:.1f} s for {batch} channels, compared {[round(x, 3) for x in compared]}",
              flush=True)  # fmt: skip
        if row["channels_reaching_baseline"] == baseline_channels:
            break

    print()
    print(f"vgg11(weights=None) {LAYER}, {SIZE} px, {info['cpu']}, {info['usable_cores']} cores, "
          f"{info['torch_threads']} torch threads, load average at start {info['load_average']}")  # fmt: skip
    header = f"{'method':<40}{'s/channel':>10}{'mean act.':>11}{'reached':>9}{'min ratio':>10}{'speedup':>9}"
    print(header)
    print("-" * len(header))
    base_label = f"baseline: 1 channel/run, {baseline_steps} steps"
    print(f"{base_label:<40}{base_per_channel:>10.2f}{mean_base:>11.3f}{'':>9}{'':>10}{'1.0x':>9}")
    for row in rows:
        label = f"ours: {batch} channels/batch, {row['steps']} steps"
        mean_ours = sum(row["activations_compared"]) / baseline_channels
        reached_label = f"{row['channels_reaching_baseline']}/{baseline_channels}"
        print(f"{label:<40}{row['seconds_per_channel']:>10.2f}{mean_ours:>11.3f}{reached_label:>9}"
              f"{row['min_ratio_to_baseline']:>10.2f}{row['speedup_per_channel']:>8.1f}x")  # fmt: skip
    print("mean act.: mean over the compared channels (the first --baseline-channels channels) of the reached")
    print("activation on the final image; reached: channels where ours >= baseline.")
    figures = {
        "machine": info,
        "layer": LAYER,
        "size": SIZE,
        "baseline": {
            "steps": baseline_steps,
            "channels": baseline_channels,
            "seconds_per_channel": base_per_channel,
            "seconds": base_times,
            "activations": base_reached,
        },
        "ours": rows,
    }
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
