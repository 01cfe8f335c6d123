"""Bytes the demo adds to its logdir per logged step: CNN Viz (per layer) apart from the scalars.

Reads the event files record by record, so the figures add up to the files' sizes exactly:
each record costs its serialized Event plus 16 bytes of TFRecord framing (length and two CRCs).

    python benchmarks/logdir_bytes.py                 # trains a short demo run in a temp dir
    python benchmarks/logdir_bytes.py runs/<run>      # measures an existing run
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
from tensorboard.compat.proto.event_pb2 import Event

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout: demo_training is not installed

from demo_training.train import main as train_demo
from tb_cnnviz import contract

TFRECORD_FRAMING_BYTES = 16
TARGET_BYTES_PER_STEP = 1_000_000
SCALARS = "scalars (all tags)"
OTHER = "file header and other events"


def bytes_by_series(run_dir: Path) -> tuple[dict[str, int], set[int], set[str]]:
    """Bytes per series (CNN Viz tag, or all scalars, or other), the steps seen, and the CNN Viz tags."""
    sizes: dict[str, int] = defaultdict(int)
    steps: set[int] = set()
    cnnviz_tags: set[str] = set()
    plugin_of_tag: dict[str, str] = {}  # only a tag's first event carries its metadata
    for path in sorted(run_dir.glob("events.out.tfevents.*")):
        for record in RawEventFileLoader(str(path)).Load():
            event = Event.FromString(record)
            overhead = len(record) + TFRECORD_FRAMING_BYTES - sum(value.ByteSize() for value in event.summary.value)
            if not event.summary.value:
                sizes[OTHER] += overhead
                continue
            steps.add(event.step)
            for index, value in enumerate(event.summary.value):
                if value.metadata.plugin_data.plugin_name:
                    plugin_of_tag.setdefault(value.tag, value.metadata.plugin_data.plugin_name)
                is_cnnviz = plugin_of_tag.get(value.tag) == contract.PLUGIN_NAME
                series = value.tag if is_cnnviz else SCALARS
                if is_cnnviz:
                    cnnviz_tags.add(value.tag)
                sizes[series] += value.ByteSize() + (overhead if index == 0 else 0)
    return sizes, steps, cnnviz_tags


def report(run_dir: Path) -> None:
    sizes, steps, cnnviz_tags = bytes_by_series(run_dir)
    count = len(steps)
    event_bytes = sum(path.stat().st_size for path in run_dir.glob("events.out.tfevents.*"))
    checkpoint_bytes = sum(path.stat().st_size for path in (run_dir / "checkpoints").glob("*.pt"))
    layer_tags = sorted(cnnviz_tags - {contract.PROBES_TAG})
    cnnviz_per_step = sum(sizes[tag] for tag in layer_tags) / count

    print(f"Run {run_dir}: {count} logged steps, event files {event_bytes:,} bytes")
    print(f"\n{'series':<40} {'bytes per step':>15} {'total bytes':>12}")
    for tag in layer_tags:
        print(f"{tag:<40} {sizes[tag] / count:>15,.0f} {sizes[tag]:>12,}")
    print(f"{'CNN Viz, all layers and kinds':<40} {cnnviz_per_step:>15,.0f} {cnnviz_per_step * count:>12,.0f}")
    print(f"{'probe images (logged once)':<40} {'':>15} {sizes[contract.PROBES_TAG]:>12,}")
    print(f"{SCALARS:<40} {sizes[SCALARS] / count:>15,.0f} {sizes[SCALARS]:>12,}")
    print(f"{OTHER:<40} {'':>15} {sizes[OTHER]:>12,}")
    accounted = sum(sizes.values())
    print(f"{'sum (equals the event files)':<40} {event_bytes / count:>15,.0f} {accounted:>12,}")
    if checkpoint_bytes:
        print(f"\nCheckpoints (the demo's, not CNN Viz's): {checkpoint_bytes / count:,.0f} bytes per epoch")
    verdict = "meets" if event_bytes / count <= TARGET_BYTES_PER_STEP else "MISSES"
    print(f"\nTarget <= {TARGET_BYTES_PER_STEP:,} bytes per step (event files, probes included): {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?", type=Path, help="an existing run (default: train a short one)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the short run (default 3)")
    parser.add_argument("--train-subset", type=int, default=10_000, help="training images of the short run")
    args = parser.parse_args()
    if args.run_dir is not None:
        report(args.run_dir)
        return
    with tempfile.TemporaryDirectory() as logdir:
        train_demo(
            [
                "--epochs", str(args.epochs),
                "--train-subset", str(args.train_subset),
                "--logdir", logdir,
                "--run-name", "bytes",
            ]
        )  # fmt: skip
        print()
        report(Path(logdir) / "bytes")


if __name__ == "__main__":
    main()
