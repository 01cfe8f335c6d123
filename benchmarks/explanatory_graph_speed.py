"""The explanatory graph of four vgg11 conv layers over a few hundred 128 px images: time and peak memory.

vgg11(weights=None) seeded with 0 (no download; an untrained net times the same work as a trained one);
the images are the known-parts faces of tests/synthetic_parts.py (a face and three distractors each),
scaled to `--size` px and repeated over RGB, so that peaks recur and relations form. Peak memory is the
growth of the process's maximum resident set size during the call (the model, the images and a
warm-up forward are in place before), so it counts torch's own allocations too. CPU time is given with
wall time: on a shared machine it is the steadier figure.

    python benchmarks/explanatory_graph_speed.py            # 300 images of 128 px
    python benchmarks/explanatory_graph_speed.py --quick    # 32 images of 64 px, 2 patterns a filter (CI)
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the synthetic known-parts images

from machine import describe, summary
from synthetic_parts import make_part_images

from tb_cnnviz.methods.explanatory_graph import explanatory_graph

LAYERS = ["features.8", "features.11", "features.13", "features.16"]


def _max_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def measure(images: int, size: int, patterns_per_filter: int = 4, min_support: float = 0.1) -> dict[str, object]:
    """Builds the graph once and returns its time, peak memory growth and what it found per layer."""
    torch.manual_seed(0)
    model = torchvision.models.vgg11(weights=None).eval()
    faces = make_part_images(images, seed=1, face_share=1.0).images
    inputs = F.interpolate(faces, size=(size, size), mode="bilinear", align_corners=False).expand(-1, 3, -1, -1)
    inputs = inputs.contiguous()
    with torch.no_grad():
        model.features[:17](inputs[:8])  # warm-up: allocator and kernels
    rss_before = _max_rss_bytes()
    started, cpu_started = time.perf_counter(), time.process_time()
    graph = explanatory_graph(model, inputs, LAYERS, patterns_per_filter, min_support=min_support, batch_size=32)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    peak_growth = _max_rss_bytes() - rss_before
    per_layer = {}
    for layer in graph.layers:
        nodes = [node for node in graph.nodes if node.layer == layer]
        stable = [node.instability for node in nodes if not math.isnan(node.instability)]
        per_layer[layer] = {
            "patterns": len(nodes),
            "channels_with_patterns": len({node.channel for node in nodes}),
            "mean_instability": sum(stable) / len(stable) if stable else None,
            "receptive_field": list(graph.receptive_fields[layer]),
        }
    patch_bytes = sum(node.patches.numel() * node.patches.element_size() for node in graph.nodes)
    return {
        "model": "vgg11(weights=None), torch.manual_seed(0)",
        "layers": LAYERS,
        "images": images,
        "size": size,
        "patterns_per_filter": patterns_per_filter,
        "min_support": min_support,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "peak_memory_growth_bytes": peak_growth,
        "input_bytes": inputs.numel() * inputs.element_size(),
        "patch_bytes": patch_bytes,
        "nodes": len(graph.nodes),
        "edges": sum(len(node.parents) for node in graph.nodes),
        "per_layer": per_layer,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="32 images of 64 px, 2 patterns a filter")
    parser.add_argument("--images", type=int, help="held-out images (default 300, quick 32)")
    parser.add_argument("--size", type=int, help="image side in px (default 128, quick 64)")
    parser.add_argument("--patterns", type=int, help="patterns_per_filter (default 4, quick 2)")
    parser.add_argument("--min-support", type=float, help="min_support (default 0.1, quick 0.25)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    images = args.images or (32 if args.quick else 300)
    size = args.size or (64 if args.quick else 128)
    patterns = args.patterns or (2 if args.quick else 4)
    min_support = args.min_support or (0.25 if args.quick else 0.1)
    print(summary())
    print(f"vgg11 {', '.join(LAYERS)}: {images} images of {size} px, {patterns} patterns a filter\n")
    figures = measure(images, size, patterns, min_support)
    mib = {key: figures[key] / 2**20 for key in ("peak_memory_growth_bytes", "input_bytes", "patch_bytes")}
    print(f"time {figures['seconds']:.1f} s (CPU {figures['cpu_seconds']:.1f} s), "
          f"peak memory growth {mib['peak_memory_growth_bytes']:.0f} MiB "
          f"(inputs {mib['input_bytes']:.0f} MiB, patches kept {mib['patch_bytes']:.1f} MiB)")  # fmt: skip
    print(f"{figures['nodes']} patterns, {figures['edges']} edges")
    for layer, row in figures["per_layer"].items():
        instability = row["mean_instability"]
        shown = "-" if instability is None else f"{instability:.4f}"
        print(f"  {layer:<12} {row['patterns']:>5} patterns on {row['channels_with_patterns']:>4} channels, "
              f"mean instability {shown}, field {row['receptive_field']}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"machine": describe(), "quick": args.quick, **figures}, indent=2))


if __name__ == "__main__":
    main()
