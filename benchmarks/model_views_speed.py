"""Model-level views: time per image of saliency and Grad-CAM, and class images batched vs one class at a time.

Models: the demo's FashionCNN (28 px grey, seeded weights) and torchvision vgg11(weights=None) at 128 px
(seeded weights; timing does not depend on training). Saliency and Grad-CAM run on a batch of images
(one forward and one backward for the batch); the time per image is the batch's median time divided
by its size. Class visualization makes one image per class: all classes in one call (one batch) against
one call per class, same steps, same images (each class's image depends only on the seed and the class).

Run:  .venv/bin/python benchmarks/model_views_speed.py            (full: about 10 min on 2 CPU cores)
      .venv/bin/python benchmarks/model_views_speed.py --quick    (short: about 1.5 min)
Options: --threads, --json PATH.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
import torchvision
from filter_speed import IMAGENET_MEAN, IMAGENET_STD
from machine import describe
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demo_training.data import PIXEL_MEAN, PIXEL_STD
from demo_training.model import FashionCNN
from tb_cnnviz.methods.class_visualization import class_visualization
from tb_cnnviz.methods.grad_cam import grad_cam
from tb_cnnviz.methods.saliency import saliency


def models() -> dict[str, tuple[nn.Module, int, int, dict]]:
    """name -> (model, channels, size, normalization)."""
    torch.manual_seed(0)
    demo = FashionCNN().eval()
    vgg = torchvision.models.vgg11(weights=None).eval()
    return {
        "demo FashionCNN 28px": (demo, 1, 28, {"input_mean": PIXEL_MEAN, "input_std": PIXEL_STD}),
        "vgg11 128px": (vgg, 3, 128, {"input_mean": IMAGENET_MEAN, "input_std": IMAGENET_STD}),
    }


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    run()  # warm-up: first-call allocations and kernel choices
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short run: 2 repeats, fewer images and steps")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats = 2 if args.quick else 5
    info = describe()
    print("machine:", json.dumps(info))

    rows = []
    for name, (model, channels, size, normalization) in models().items():
        batch = 10 if size < 64 else (4 if args.quick else 8)
        images = torch.randn(batch, channels, size, size, generator=torch.Generator().manual_seed(1))
        for view, method in (("saliency", saliency), ("grad_cam", grad_cam)):
            seconds = median_seconds(partial(method, model, images), repeats)
            rows.append({"model": name, "view": view, "batch": batch, "ms_per_image": 1000 * seconds / batch})
            print(f"{name:22} {view:10} batch {batch:3}: {1000 * seconds / batch:8.2f} ms per image", flush=True)

        classes = list(range(10 if size < 64 else (2 if args.quick else 4)))
        steps = (32 if size < 64 else 4) if args.quick else (128 if size < 64 else 32)
        settings = {"size": size, "steps": steps, **normalization}
        batched = median_seconds(lambda: class_visualization(model, classes, **settings), 1)  # noqa: B023
        single = median_seconds(lambda: [class_visualization(model, [c], **settings) for c in classes], 1)  # noqa: B023
        rows.append({
            "model": name, "view": "class_visualization", "classes": len(classes), "steps": steps,
            "s_per_class_batched": batched / len(classes), "s_per_class_one_at_a_time": single / len(classes),
        })  # fmt: skip
        print(
            f"{name:22} class images ({len(classes)} classes, {steps} steps): {batched / len(classes):.3f} s per class "
            f"batched, {single / len(classes):.3f} s one at a time ({single / batched:.1f}x)",
            flush=True,
        )

    print("\n| model | view | per image / class |")
    print("|---|---|---|")
    for row in rows:
        if row["view"] == "class_visualization":
            cost = (
                f"{row['s_per_class_batched']:.3f} s batched ({row['classes']} classes, {row['steps']} steps) vs "
                f"{row['s_per_class_one_at_a_time']:.3f} s one at a time"
            )
        else:
            cost = f"{row['ms_per_image']:.2f} ms (batch {row['batch']})"
        print(f"| {row['model']} | {row['view']} | {cost} |")
    print(f"\n{info['cpu']}, {info['usable_cores']} cores, torch {info['torch']}, {info['torch_threads']} threads, "
          f"load average {info['load_average']}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "quick": args.quick, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
