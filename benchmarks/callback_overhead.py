"""Epoch time of the demo training with the CNN Viz callback over epoch time without it.

Both arms run in one process on the same model, alternating (without/with, then with/without, ...)
so drift in machine load hits both; each pair trains on the same shuffled batches. The callback's
own time is also measured directly, which gives a second, less noisy estimate of the ratio:
1 + callback time / epoch time without.

    python benchmarks/callback_overhead.py                 # full epochs (469 batches), 3 pairs
    python benchmarks/callback_overhead.py --batches 100   # quicker, but a larger ratio
    python benchmarks/callback_overhead.py --kinds feature_maps filters   # the cost of filter images
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout: demo_training is not installed

from machine import summary

from demo_training.data import Split, batch_count, load_split
from demo_training.train import DEFAULT_BATCH_SIZE, demo_callback, make_model, make_optimizer, train_epoch
from tb_cnnviz import CNNVizCallback

TARGET_RATIO = 1.03
FILTERS_TARGET_RATIO = 1.10  # issue 3: default filter images cost at most 10% of an epoch
WARMUP_BATCHES = 20


class TimedCallback:
    """Passes on_epoch_end on to the real callback and records how long each call took."""

    def __init__(self, callback: CNNVizCallback) -> None:
        self.callback = callback
        self.seconds: list[float] = []

    def on_epoch_end(self, epoch: int) -> None:
        started = time.perf_counter()
        self.callback.on_epoch_end(epoch)
        self.seconds.append(time.perf_counter() - started)


def measure(
    train: Split, test: Split, pairs: int, batches: int | None, batch_size: int, seed: int, kinds: list[str]
) -> list[tuple[float, float, float]]:
    """(epoch seconds without, epoch seconds with, callback seconds) for each pair of epochs."""
    model = make_model(seed)
    optimizer, scheduler = make_optimizer(model, WARMUP_BATCHES + 2 * pairs * batch_count(train, batch_size, batches))

    def timed_epoch(epoch: int, viz: TimedCallback | None) -> float:
        started = time.perf_counter()
        train_epoch(
            model,
            train,
            optimizer,
            scheduler,
            epoch=epoch,
            batch_size=batch_size,
            seed=seed,
            viz=viz,
            max_batches=batches,
            progress=False,
        )
        return time.perf_counter() - started

    results = []
    with (
        tempfile.TemporaryDirectory() as logdir,
        demo_callback(model, test, kinds, log_dir=logdir) as callback,
    ):
        viz = TimedCallback(callback)
        train_epoch(  # warm-up: kernel selection and caches, not timed
            model,
            train,
            optimizer,
            scheduler,
            epoch=0,
            batch_size=batch_size,
            seed=seed,
            max_batches=20,
            progress=False,
        )
        for pair in range(pairs):
            if pair % 2 == 0:
                without = timed_epoch(pair, None)
                with_viz = timed_epoch(pair, viz)
            else:
                with_viz = timed_epoch(pair, viz)
                without = timed_epoch(pair, None)
            results.append((without, with_viz, viz.seconds[-1]))
            print(f"pair {pair + 1}/{pairs}: without {without:.2f} s, with {with_viz:.2f} s", flush=True)
    return results


def report(results: list[tuple[float, float, float]], batches: int, batch_size: int, kinds: list[str]) -> None:
    """A table per pair, then the median ratio with its range and the direct estimate."""
    print(f"\n{'pair':>4}  {'without (s)':>11}  {'with (s)':>9}  {'callback (s)':>12}  {'ratio':>6}")
    for index, (without, with_viz, callback) in enumerate(results, start=1):
        print(f"{index:>4}  {without:>11.2f}  {with_viz:>9.2f}  {callback:>12.3f}  {with_viz / without:>6.3f}")
    ratios = [with_viz / without for without, with_viz, _ in results]
    median_without = statistics.median(without for without, _, _ in results)
    median_callback = statistics.median(callback for _, _, callback in results)
    direct = 1 + median_callback / median_without
    print(
        f"\nEpoch = {batches} batches of {batch_size}; callback logs {', '.join(kinds)} of every conv layer each epoch."
    )
    print(
        f"Measured ratio with/without: median {statistics.median(ratios):.3f}, "
        f"range {min(ratios):.3f}..{max(ratios):.3f}"
    )
    print(
        f"Direct ratio 1 + callback/epoch: {direct:.4f} (callback median {median_callback * 1000:.0f} ms, "
        f"epoch without median {median_without:.2f} s)"
    )
    print(f"Callback share of an epoch: {median_callback / median_without:.1%}")
    target = TARGET_RATIO if kinds == ["feature_maps"] else FILTERS_TARGET_RATIO
    verdict = "meets" if direct <= target else "MISSES"
    print(f"Target <= {target} ({'feature maps' if kinds == ['feature_maps'] else 'with filter images'}): {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3, help="with/without epoch pairs (default 3)")
    parser.add_argument("--batches", type=int, default=None, help="batches per epoch (default: a full epoch)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--kinds", nargs="+", default=["feature_maps"], help="what the callback logs (default: feature_maps)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(summary(), flush=True)
    train, test = load_split("train"), load_split("test")
    results = measure(train, test, args.pairs, args.batches, args.batch_size, args.seed, args.kinds)
    report(results, batch_count(train, args.batch_size, args.batches), args.batch_size, args.kinds)


if __name__ == "__main__":
    main()
