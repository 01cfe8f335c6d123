"""Train the demo CNN on Fashion-MNIST; log scalars and CNN Viz (feature maps, filter images, deconvnet).

python -m demo_training.train            # then: tensorboard --logdir runs
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from demo_training.data import (
    CLASS_NAMES,
    PIXEL_MEAN,
    PIXEL_STD,
    Split,
    batch_count,
    load_split,
    probe_batch,
    shuffled_batches,
)
from demo_training.model import FashionCNN
from tb_cnnviz import CNNVizCallback, Deconv, Filters

DEFAULT_EPOCHS = 5
DEFAULT_BATCH_SIZE = 128
MAX_LEARNING_RATE = 3e-3
ALL_KINDS = ("feature_maps", "filters", "deconv", "dynamics", "saliency", "grad_cam", "class_visualization", "fooling")
DECONV_DATASET_SIZE = 1000


class EpochEndCallback(Protocol):
    """What train_epoch calls after each epoch: CNNVizCallback, or a wrapper of it (benchmarks)."""

    def on_epoch_end(self, epoch: int) -> None: ...


def make_model(seed: int) -> FashionCNN:
    """The CNN with seeded weights, in channels-last layout (about 1.4x faster on CPU here)."""
    torch.manual_seed(seed)
    return FashionCNN().to(memory_format=torch.channels_last)


DEMO_KINDS = {
    "filters": lambda test: Filters(every=1),
    "deconv": lambda test: Deconv(dataset=test.images[-DECONV_DATASET_SIZE:], dataset_every=2, every=1),
}


def demo_callback(model: nn.Module, test: Split, kinds: Sequence[str], **destination) -> CNNVizCallback:
    """The demo's CNN Viz: class-ordered probes, class names, and `destination` (writer= or log_dir=)."""
    return CNNVizCallback(
        model,
        probe_batch(test),
        probe_labels=CLASS_NAMES,  # probe i is the first test image of class i
        class_names=CLASS_NAMES,
        input_mean=[PIXEL_MEAN],
        input_std=[PIXEL_STD],
        # Deconv also shows Zeiler & Fergus's top-9 patches per channel, from test images that are not probes.
        # A small model (3 convs at 28 px) affords filter images and deconvnet at every epoch (their defaults
        # log them at every 10th / 2nd log, sized for models like resnet18).
        kinds=[DEMO_KINDS[kind](test) if kind in DEMO_KINDS else kind for kind in kinds],
        **destination,
    )


def make_optimizer(
    model: nn.Module, total_steps: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """AdamW with a one-cycle schedule over `total_steps` batches: ~90% test accuracy in a few epochs."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=MAX_LEARNING_RATE, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=MAX_LEARNING_RATE, total_steps=total_steps)
    return optimizer, scheduler


def train_epoch(
    model: nn.Module,
    train: Split,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    *,
    epoch: int,
    batch_size: int,
    seed: int,
    viz: EpochEndCallback | None = None,
    max_batches: int | None = None,
    progress: bool = True,
) -> float:
    """One pass over the (seed, epoch)-shuffled training set, then `viz.on_epoch_end(epoch)` if given.

    Returns the mean training loss. `max_batches` cuts the epoch short for tests and benchmarks.
    """
    model.train()
    batches = shuffled_batches(train, batch_size, seed=seed * 1000 + epoch, max_batches=max_batches)
    bar = tqdm(
        batches,
        total=batch_count(train, batch_size, max_batches),
        desc=f"epoch {epoch}",
        unit="batch",
        disable=not progress,
    )
    loss_sum = torch.zeros(())
    for step, (images, labels) in enumerate(bar, start=1):
        loss = F.cross_entropy(model(images.contiguous(memory_format=torch.channels_last)), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        loss_sum += loss.detach()
        if step % 50 == 0:
            bar.set_postfix(loss=f"{loss_sum.item() / step:.3f}")
    bar.close()
    if viz is not None:
        viz.on_epoch_end(epoch)
    return loss_sum.item() / step


@torch.inference_mode()
def evaluate(model: nn.Module, split: Split, batch_size: int = 1000) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over `split`, in eval mode (BatchNorm running statistics)."""
    was_training = model.training
    model.eval()
    loss_sum, correct = 0.0, 0
    for start in range(0, len(split), batch_size):
        images = split.images[start : start + batch_size].contiguous(memory_format=torch.channels_last)
        labels = split.labels[start : start + batch_size]
        logits = model(images)
        loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
        correct += int((logits.argmax(1) == labels).sum())
    model.train(was_training)
    return loss_sum / len(split), correct / len(split)


def save_checkpoint(model: nn.Module, epoch: int, directory: Path) -> Path:
    """Weights after `epoch`, so later tools (e.g. filter images) can reload any epoch."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"epoch_{epoch:03d}.pt"
    torch.save({"epoch": epoch, "model": model.state_dict()}, path)
    return path


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--logdir", default="runs", help="TensorBoard log directory (default: runs)")
    parser.add_argument("--run-name", default=None, help="run directory name (default: time-stamped)")
    parser.add_argument("--data-dir", default=None, help="where to find or download Fashion-MNIST")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--train-subset", type=int, default=None, help="train on the first N images only")
    parser.add_argument(
        "--kinds", nargs="+", default=list(ALL_KINDS), choices=ALL_KINDS, help="what CNN Viz logs (default: all)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=6006,
        help="the port the closing message tells you to open (scripts/demo.sh passes the one it serves)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> float:
    """Run the demo; returns the final test accuracy."""
    args = parse_args(argv)
    if args.epochs < 1:
        raise SystemExit("--epochs must be at least 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    run_name = args.run_name or time.strftime("fashion-cnn-%Y%m%d-%H%M%S")
    run_dir = Path(args.logdir) / run_name

    train, test = load_split("train", args.data_dir), load_split("test", args.data_dir)
    if args.train_subset:
        train = train.subset(args.train_subset)
    model = make_model(args.seed)
    optimizer, scheduler = make_optimizer(model, args.epochs * batch_count(train, args.batch_size))

    started = time.perf_counter()
    with (
        SummaryWriter(run_dir) as writer,
        demo_callback(model, test, args.kinds, writer=writer) as viz,
    ):
        for epoch in range(args.epochs):
            train_loss = train_epoch(
                model,
                train,
                optimizer,
                scheduler,
                epoch=epoch,
                batch_size=args.batch_size,
                seed=args.seed,
                viz=viz,
            )
            test_loss, test_accuracy = evaluate(model, test)
            writer.add_scalar("loss/train", train_loss, epoch)
            writer.add_scalar("loss/test", test_loss, epoch)
            writer.add_scalar("accuracy/test", test_accuracy, epoch)
            save_checkpoint(model, epoch, run_dir / "checkpoints")
            tqdm.write(
                f"epoch {epoch}: train loss {train_loss:.4f}  test loss {test_loss:.4f}  "
                f"test accuracy {test_accuracy:.2%}"
            )
    minutes, seconds = divmod(time.perf_counter() - started, 60)
    print(f"\nTest accuracy: {test_accuracy:.2%} after {args.epochs} epochs ({minutes:.0f} min {seconds:.0f} s).")
    print(f"Logs in {run_dir}. To browse them in the CNN Viz tab:")
    print(f"    tensorboard --logdir {args.logdir} --port {args.port}")
    print(f"and open http://localhost:{args.port}/#cnnviz")
    return test_accuracy


if __name__ == "__main__":
    main()
