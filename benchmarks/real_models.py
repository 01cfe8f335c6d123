"""The callback at the size people train: ResNet-18 on CIFAR-sized and ResNet-50 on ImageNet-sized images.

torchvision resnet18 (32 px, 10 probes, 10 classes) and resnet50 (224 px, 8 probes, 1000 classes),
weights=None, seeded. For each kind alone and for the callback's defaults as a whole (every kind on,
each at its own options and cadence), with the callback's default layers: the first log (it fixes the
layers, channels and classes), one log (mean of the logs after it, until everything is written), the
time the training thread is blocked (what log() itself takes), bytes per logged step (growth of the
event files) and the share of an epoch (CIFAR: 391 steps of 128; ImageNet: 5005 steps of 256), the
epoch estimated from timed training steps (from a smaller batch, scaled, where the full one is too big).

On CUDA the training steps use bf16 autocast and channels_last, as people train there, and two
method targets are measured too: 64 filter images of resnet50 `layer3.5.conv3` at 224 px, 64 steps,
and deconvnet's speed-up per projection over one full forward and backward (deconv_speed.measure).

    python benchmarks/real_models.py                                  # CPU, resnet18 and resnet50
    python benchmarks/real_models.py --models resnet18 --json out.json
    python benchmarks/real_models.py --device cuda --json cuda.json   # one unattended run on a GPU
    python benchmarks/real_models.py --quick --json quick.json        # CI-sized: resnet18, 3 probes, 1 log

--quick also logs only two layers, 8 channels each (--layers, --max-channels), so it checks the script
and the callback's paths in seconds; its figures are no benchmark.

Every figure is also written to --json (with machine.py's description) after each measurement, so a
run stopped early keeps what it measured. --time-limit stops starting new measurements after that many
seconds (default 480 on CUDA, so the whole run fits one 10-minute command); what was left is listed.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import statistics
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

import deconv_speed
from machine import describe

from tb_cnnviz import (
    ClassVisualization,
    CNNVizCallback,
    Deconv,
    Dynamics,
    FeatureMaps,
    Filters,
    Fooling,
    GradCam,
    Saliency,
    maximize_filters,
)

KINDS = {
    "feature_maps": FeatureMaps,
    "filters": Filters,
    "deconv": Deconv,
    "dynamics": Dynamics,
    "saliency": Saliency,
    "grad_cam": GradCam,
    "class_visualization": ClassVisualization,
    "fooling": Fooling,
}
ALL = "all"  # the callback's defaults as a whole: every kind on, each at its own options and cadence
ALL_DUE = "all_due"  # every kind on and due at every log (every=1): the heaviest log the defaults make
CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
FILTER_TARGET = {"model": "resnet50", "layer": "layer3.5.conv3", "channels": 64, "size": 224, "steps": 64}
QUICK_LAYERS, QUICK_CHANNELS = ["conv1", "layer2.0.conv1"], 8  # --quick: filter images of 20 layers take minutes
MAX_CYCLE = 12  # logs measured at most to average the defaults over their cadences
MB = 1e6


@dataclass(frozen=True)
class Setup:
    """One model as people train it: input size, probes, classes and the epoch it is compared with."""

    model: str
    size: int
    probes: int
    classes: int
    batch: int
    epoch_steps: int
    epoch: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


SETUPS = {
    "resnet18": Setup("resnet18", 32, 10, 10, 128, 391, "CIFAR-10", CIFAR_MEAN, CIFAR_STD),
    "resnet50": Setup("resnet50", 224, 8, 1000, 256, 5005, "ImageNet", IMAGENET_MEAN, IMAGENET_STD),
}


@dataclass
class Plan:
    """How much to measure: logs after the first, training steps, and what to leave out."""

    device: torch.device
    amp: bool  # bf16 autocast + channels_last training steps (and a channels_last model)
    logs: int
    train_steps: int
    warmup_steps: int
    train_batch: dict[str, int]
    probes: int | None
    kinds: list[str]
    layers: list[str] | None
    max_channels: int | None
    blocking: bool
    deadline: float | None
    kind_seconds: float  # stop taking more logs of one measurement once it has spent this long
    max_cycle: int  # logs at most to average the defaults as a whole over their cadences


class Run:
    """The figures so far, written to --json after each measurement; errors are kept, shown and counted."""

    def __init__(self, path: Path | None, figures: dict) -> None:
        self.path = path
        self.figures = figures
        self.errors: list[str] = figures.setdefault("errors", [])
        self.left_out: list[str] = figures.setdefault("left_out", [])

    def save(self) -> None:
        if self.path is not None:
            self.path.write_text(json.dumps(self.figures, indent=2, default=str))

    def attempt(self, what: str, plan: Plan, function: Callable[[], object]) -> object | None:
        """function() unless the time limit has passed; an error is recorded and the run goes on."""
        if plan.deadline is not None and time.monotonic() > plan.deadline:
            self.left_out.append(f"{what} (time limit)")
            print(f"  {what}: left out, the time limit has passed", flush=True)
            return None
        try:
            return function()
        except Exception as error:  # noqa: BLE001 - one broken measurement must not end an unattended run
            traceback.print_exc()
            self.errors.append(f"{what}: {type(error).__name__}: {error}")
            if plan.device.type == "cuda":
                torch.cuda.empty_cache()
            return None
        finally:
            self.save()


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build_model(setup: Setup, plan: Plan) -> nn.Module:
    torch.manual_seed(0)
    model = getattr(torchvision.models, setup.model)(weights=None, num_classes=setup.classes)
    if plan.amp:
        return model.to(plan.device, memory_format=torch.channels_last)
    return model.to(plan.device)


def probe_images(setup: Setup, count: int) -> torch.Tensor:
    """`count` seeded images in the model's input space (normalized), on the CPU as a user passes them."""
    generator = torch.Generator().manual_seed(1)
    pictures = torch.rand(count, 3, setup.size, setup.size, generator=generator)
    return (pictures - torch.tensor(setup.mean).view(1, 3, 1, 1)) / torch.tensor(setup.std).view(1, 3, 1, 1)


def time_training(model: nn.Module, setup: Setup, plan: Plan) -> dict[str, object]:
    """Seconds per training step of setup.batch (SGD with momentum, cross-entropy), timed on a batch that fits.

    Timed on plan.train_batch[model] images (the full batch unless set smaller) and scaled by the batch
    ratio when smaller; the model keeps the steps' weights and BatchNorm statistics for the logs after.
    """
    batch = plan.train_batch.get(setup.model, setup.batch)
    generator = torch.Generator().manual_seed(2)
    images = torch.randn(batch, 3, setup.size, setup.size, generator=generator).to(plan.device)
    labels = torch.randint(setup.classes, (batch,), generator=generator).to(plan.device)
    if plan.amp:
        images = images.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    model.train()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(plan.device.type, dtype=torch.bfloat16, enabled=plan.amp):
            loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()

    for _ in range(plan.warmup_steps):
        step()
    synchronize(plan.device)
    seconds = []
    for _ in range(plan.train_steps):
        started = time.perf_counter()
        step()
        synchronize(plan.device)
        seconds.append(time.perf_counter() - started)
    per_step = statistics.median(seconds) * setup.batch / batch
    return {
        "timed_batch": batch,
        "batch": setup.batch,
        "estimated_from_smaller_batch": batch != setup.batch,
        "timed_steps": len(seconds),
        "warmup_steps": plan.warmup_steps,
        "timed_seconds_per_step": statistics.median(seconds),
        "seconds_per_step": per_step,
        "epoch_steps": setup.epoch_steps,
        "epoch_seconds": per_step * setup.epoch_steps,
        "recipe": "bf16 autocast, channels_last" if plan.amp else "fp32",
    }


def callback_options() -> dict[str, object]:
    """What the installed callback offers: the background writer (`blocking=`) and a flush that drains it."""
    parameters = inspect.signature(CNNVizCallback).parameters
    blocking = parameters.get("blocking")
    return {
        "has_blocking": blocking is not None,
        "blocking_default": None if blocking is None else blocking.default,
        "has_flush": callable(getattr(CNNVizCallback, "flush", None)),
    }


def event_bytes(logdir: Path) -> int:
    return sum(path.stat().st_size for path in logdir.rglob("events.out.tfevents.*") if path.is_file())


def measure_logs(
    model: nn.Module, setup: Setup, plan: Plan, probes: torch.Tensor, kinds: list, logs: int
) -> dict[str, object]:
    """The first log, then up to `logs` more, each timed as blocked (log() alone) and whole (until written).

    Whole = log() then the callback's flush() where it has one (the background writer drains there);
    without a flush, log() returns only once written unless there is a background writer, and then the
    logs after the first are timed together up to close() and averaged.
    """
    offered = callback_options()
    background = offered["has_blocking"] and not plan.blocking
    drains = offered["has_flush"]
    options: dict[str, object] = {"input_mean": setup.mean, "input_std": setup.std, "kinds": kinds, "seed": 0}
    if plan.layers is not None:
        options["layers"] = plan.layers
    if plan.max_channels is not None:
        options["max_channels"] = plan.max_channels
    if offered["has_blocking"]:
        options["blocking"] = plan.blocking
    with tempfile.TemporaryDirectory() as logdir, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        callback = CNNVizCallback(model, probes, log_dir=logdir, **options)
        layers = list(getattr(callback, "layers", None) or [])
        sizes, blocked, whole = [event_bytes(Path(logdir))], [], []
        started_measurement = time.perf_counter()
        for step in range(1 + logs):
            if step >= 2 and time.perf_counter() - started_measurement > plan.kind_seconds:
                break  # the first log and one more are always measured
            synchronize(plan.device)
            started = time.perf_counter()
            callback.log(step)
            synchronize(plan.device)
            blocked.append(time.perf_counter() - started)
            if drains:
                callback.flush()
                synchronize(plan.device)
            whole.append(time.perf_counter() - started)
            sizes.append(event_bytes(Path(logdir)))
            layers = list(getattr(callback, "layers", None) or layers)
        started = time.perf_counter()
        callback.close()
        close_seconds = time.perf_counter() - started
        sizes[-1] = event_bytes(Path(logdir))  # what close() still wrote belongs to the last log
        if background and not drains:  # one log = everything from the second log's start to close()
            whole = whole[:1] + [(sum(whole[1:]) + close_seconds) / max(1, len(whole) - 1)] * (len(whole) - 1)
    measured = len(blocked) - 1
    one_log = statistics.mean(whole[1:]) if measured else whole[0]
    per_step = (sizes[-1] - sizes[1]) / measured if measured else sizes[1] - sizes[0]
    messages = sorted({str(warning.message) for warning in caught})
    return {
        "layers": layers,
        "logs_measured": measured,
        "first_log_seconds": whole[0],
        "first_log_blocked_seconds": blocked[0],
        "first_log_bytes": sizes[1] - sizes[0],
        "one_log_seconds": one_log,
        "blocked_seconds": statistics.mean(blocked[1:]) if measured else blocked[0],
        "log_seconds": whole[1:],
        "blocked_log_seconds": blocked[1:],
        "close_seconds": close_seconds,
        "bytes_per_step": per_step,
        "writer": "background" if background else "synchronous",
        "one_log_timed": "log + flush" if drains or not background else "logs to close, averaged",
        "warnings": messages,
    }


def kind_options(name: str, every_one: bool) -> object:
    """A kind at the callback's defaults; every_one makes it due at every log (its options otherwise default)."""
    return KINDS[name](every=1) if every_one else KINDS[name]()


def default_cycle(names: list[str], most: int) -> int:
    """Logs after which the default cadences repeat (their least common multiple), at most `most`."""
    return min(most, math.lcm(*(KINDS[name]().every for name in names)))


def measure_model(setup: Setup, plan: Plan, run: Run) -> None:
    figures = run.figures["models"].setdefault(setup.model, {"setup": asdict(setup)})
    probes_count = plan.probes or setup.probes
    figures["setup"]["probes"] = probes_count
    print(f"\n{setup.model}, {setup.size} px, {probes_count} probes, {setup.classes} classes", flush=True)
    model = build_model(setup, plan)
    training = run.attempt(f"{setup.model} training steps", plan, lambda: time_training(model, setup, plan))
    if training is not None:
        figures["training"] = training
        print(
            f"  training: {training['seconds_per_step']:.3f} s per step of {setup.batch} "
            f"(timed on {training['timed_batch']}), epoch {training['epoch_seconds']:.1f} s",
            flush=True,
        )
    probes = probe_images(setup, probes_count)
    rows = figures.setdefault("kinds", {})
    for name in plan.kinds:
        every = KINDS[name]().every
        result = run.attempt(
            f"{setup.model} {name}",
            plan,
            lambda name=name: measure_logs(model, setup, plan, probes, [kind_options(name, True)], plan.logs),
        )
        if result is not None:
            rows[name] = {"default_every": every, **result}
            show_row(name, rows[name], figures)
    cycle = default_cycle(plan.kinds, plan.max_cycle)
    due = [kind_options(name, True) for name in plan.kinds]
    result = run.attempt(
        f"{setup.model} all kinds",
        plan,
        lambda: measure_logs(model, setup, plan, probes, [kind_options(name, False) for name in plan.kinds],
                             max(plan.logs, cycle)),
    )  # fmt: skip
    if result is not None:
        figures[ALL] = {"default_cycle": cycle, **result}
        show_row(ALL, figures[ALL], figures)
    if cycle > 1:  # with cadences, the logs where everything is due are the heaviest: measured apart
        result = run.attempt(
            f"{setup.model} all kinds due", plan, lambda: measure_logs(model, setup, plan, probes, due, plan.logs)
        )
        if result is not None:
            figures[ALL_DUE] = result
            show_row(ALL_DUE, figures[ALL_DUE], figures)
    add_shares(figures)
    run.save()


def add_shares(figures: dict) -> None:
    """Share of an epoch of one log and of the blocked time; per kind also at its default cadence."""
    epoch = figures.get("training", {}).get("epoch_seconds")
    if not epoch:
        return
    rows = [*figures.get("kinds", {}).values(), *(figures[key] for key in (ALL, ALL_DUE) if key in figures)]
    for row in rows:
        row["epoch_share"] = row["one_log_seconds"] / epoch
        row["blocked_epoch_share"] = row["blocked_seconds"] / epoch
        if "default_every" in row:  # logged every n-th log (the callback logs once an epoch by default)
            row["epoch_share_at_default_cadence"] = row["epoch_share"] / row["default_every"]


def show_row(name: str, row: dict, figures: dict) -> None:
    epoch = figures.get("training", {}).get("epoch_seconds")
    share = f"{row['one_log_seconds'] / epoch:7.1%}" if epoch else "      -"
    print(
        f"  {name:<20} first {row['first_log_seconds']:7.2f} s  one log {row['one_log_seconds']:7.2f} s  "
        f"blocked {row['blocked_seconds']:7.2f} s  {row['bytes_per_step'] / MB:7.2f} MB/step  {share} of an epoch"
        f"  ({row['logs_measured']} logs, {len(row['layers'])} layers)",
        flush=True,
    )
    for message in row["warnings"]:
        print(f"    warning: {message}", flush=True)


def measure_filters(plan: Plan, quick: bool) -> dict[str, object]:
    """FILTER_TARGET with maximize_filters' defaults otherwise: a first call, then the median of two."""
    target = dict(FILTER_TARGET)
    if quick:
        target.update(channels=4, size=64, steps=4)
    setup = SETUPS[target["model"]]
    model = build_model(setup, plan).eval()
    options = {
        "size": target["size"],
        "steps": target["steps"],
        "seed": 0,
        "input_mean": setup.mean,
        "input_std": setup.std,
    }
    channels = list(range(target["channels"]))
    seconds, result = [], None
    for _ in range(3):
        synchronize(plan.device)
        started = time.perf_counter()
        result = maximize_filters(model, target["layer"], channels, **options)
        synchronize(plan.device)
        seconds.append(time.perf_counter() - started)
    activations = [float(value) for value in result.activations]
    return {
        **target,
        "model_state": "weights=None, torch.manual_seed(0), untrained, eval" + (", channels_last" if plan.amp else ""),
        "first_call_seconds": seconds[0],
        "seconds": statistics.median(seconds[1:]),
        "activations": activations,
        "mean_activation": statistics.mean(activations),
        "positive_activations": sum(value > 0 for value in activations),
    }


def measure_methods(plan: Plan, run: Run, quick: bool) -> None:
    methods = run.figures.setdefault("methods", {})
    print("\nmethod targets", flush=True)
    filters = run.attempt("filter images target", plan, lambda: measure_filters(plan, quick))
    if filters is not None:
        methods["filters"] = filters
        print(
            f"  {filters['channels']} filter images of {filters['model']} {filters['layer']} at {filters['size']} px, "
            f"{filters['steps']} steps: {filters['seconds']:.2f} s (first call {filters['first_call_seconds']:.2f} s), "
            f"mean activation {filters['mean_activation']:.3f}, {filters['positive_activations']} positive",
            flush=True,
        )
    options = {"reference_count": 32, "repeats": 5}
    if quick:
        options = {"reference_count": 2, "repeats": 1, "channels": list(range(4)), "probes": 2, "size": 64}
    deconv = run.attempt(
        "deconvnet target",
        plan,
        lambda: deconv_speed.measure(device=plan.device, uncropped=plan.device.type == "cuda", **options),
    )
    if deconv is not None:
        methods["deconv"] = deconv
        print(
            f"  deconvnet vgg11 {deconv['layer']}, {deconv['projections']} projections: "
            f"{deconv['ours_seconds_per_projection'] * 1000:.2f} ms per projection, usual way "
            f"{deconv['usual_seconds_per_projection'] * 1000:.2f} ms: {deconv['speedup']:.1f}x",
            flush=True,
        )
    run.save()


def print_table(figures: dict) -> None:
    print()
    for name, model in figures["models"].items():
        setup, training = model["setup"], model.get("training")
        epoch = "epoch not measured"
        if training:
            epoch = (
                f"epoch ({setup['epoch']}: {setup['epoch_steps']} steps of {setup['batch']}) "
                f"{training['epoch_seconds']:.1f} s, {training['recipe']}"
            )
            if training["estimated_from_smaller_batch"]:
                epoch += f", estimated from batches of {training['timed_batch']}"
        layer_counts = {len(row["layers"]) for row in model.get("kinds", {}).values()}
        print(f"{name}, {setup['size']} px, {setup['probes']} probes; {epoch}; layers logged: {sorted(layer_counts)}")
        header = (
            f"| {'kind':<20} | every   | first log | one log | blocked | MB per step | share of epoch "
            "| at its cadence | blocked share |"
        )
        print(header)
        print("|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|")
        rows = [*model.get("kinds", {}).items(), *((key, model[key]) for key in (ALL, ALL_DUE) if key in model)]
        for kind, row in rows:
            every = row.get("default_every", "-" if kind != ALL else f"cycle {row['default_cycle']}")
            share = f"{row['epoch_share']:.1%}" if "epoch_share" in row else "-"
            cadence = f"{row['epoch_share_at_default_cadence']:.1%}" if "epoch_share_at_default_cadence" in row else "-"
            blocked = f"{row['blocked_epoch_share']:.1%}" if "blocked_epoch_share" in row else "-"
            print(
                f"| {kind:<20} | {every!s:>7} | {row['first_log_seconds']:>7.2f} s | {row['one_log_seconds']:>5.2f} s "
                f"| {row['blocked_seconds']:>5.2f} s | {row['bytes_per_step'] / MB:>11.2f} | {share:>14} "
                f"| {cadence:>14} | {blocked:>13} |"
            )
        print()
    print(f"all: every kind at its defaults, mean over the cadences' cycle (at most {MAX_CYCLE} logs) after the first;")
    print("all_due: every kind due at every log. one log: until written; blocked: log() on the training thread.")
    for line in figures["errors"]:
        print(f"ERROR {line}")
    for line in figures["left_out"]:
        print(f"left out: {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument(
        "--quick", action="store_true", help="CI-sized: resnet18, 3 probes, 2 layers, 1 log after the first"
    )
    parser.add_argument("--models", nargs="+", choices=list(SETUPS), help="default: both (quick: resnet18)")
    parser.add_argument("--kinds", nargs="+", choices=list(KINDS), default=list(KINDS), help="default: all eight")
    parser.add_argument("--logs", type=int, help="logs timed after the first (default 3, quick 1)")
    parser.add_argument("--probes", type=int, help="probe images (default 10 / 8, quick 3)")
    parser.add_argument("--train-steps", type=int, help="timed training steps (default 10 on CPU, 20 on CUDA)")
    parser.add_argument(
        "--train-batch", type=int, nargs="+", metavar="MODEL=N",
        help="time training steps on N images and scale (default on CPU: resnet50=16; quick: resnet18=32)",
    )  # fmt: skip
    parser.add_argument("--layers", nargs="+", help="layers to log (default: the callback's choice)")
    parser.add_argument("--max-channels", type=int, help="channels per layer (default: the callback's)")
    parser.add_argument("--blocking", action="store_true", help="blocking=True where the callback has it")
    parser.add_argument("--amp", action=argparse.BooleanOptionalAction, help="bf16 + channels_last (CUDA default)")
    parser.add_argument("--methods", action=argparse.BooleanOptionalAction, help="method targets (CUDA default)")
    parser.add_argument("--time-limit", type=float, help="seconds; no new measurement after (CUDA default 480)")
    parser.add_argument("--kind-seconds", type=float, default=120.0, help="no more logs of one measurement after")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda, but torch sees no GPU")
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True  # as people train on a GPU
    train_batch = {} if cuda else {"resnet50": 16}
    if args.quick:
        train_batch["resnet18"] = 32
        train_batch["resnet50"] = 2
    for pair in args.train_batch or []:
        model_name, _, count = pair.partition("=")
        if model_name not in SETUPS or not count.isdigit():
            parser.error(f"--train-batch takes MODEL=N with MODEL one of {list(SETUPS)}, got {pair!r}")
        train_batch[model_name] = int(count)
    time_limit = args.time_limit if args.time_limit is not None else (480.0 if cuda else None)
    plan = Plan(
        device=device,
        amp=args.amp if args.amp is not None else cuda,
        logs=args.logs if args.logs is not None else (1 if args.quick else 3),
        train_steps=args.train_steps or (2 if args.quick else 20 if cuda else 10),
        warmup_steps=1 if args.quick else 5 if cuda else 2,
        train_batch=train_batch,
        probes=args.probes or (3 if args.quick else None),
        kinds=args.kinds,
        layers=args.layers or (QUICK_LAYERS if args.quick else None),
        max_channels=args.max_channels or (QUICK_CHANNELS if args.quick else None),
        blocking=args.blocking,
        deadline=None if time_limit is None else time.monotonic() + time_limit,
        kind_seconds=args.kind_seconds,
        max_cycle=1 if args.quick else MAX_CYCLE,
    )
    models = args.models or (["resnet18"] if args.quick else list(SETUPS))
    methods = args.methods if args.methods is not None else cuda

    machine = describe(device=str(device))
    print("machine:", json.dumps(machine), flush=True)
    figures = {
        "machine": machine,
        "quick": args.quick,
        "device": str(device),
        "callback": {**callback_options(), "blocking": args.blocking, "layers": plan.layers or "callback's default",
                     "max_channels": plan.max_channels or "callback's default"},
        "plan": {key: value for key, value in asdict(plan).items() if key not in ("device", "deadline")},
        "time_limit_seconds": time_limit,
        "models": {},
    }  # fmt: skip
    run = Run(args.json, figures)
    run.save()
    started = time.perf_counter()
    for index, name in enumerate(models):
        measure_model(SETUPS[name], plan, run)
        if cuda:
            torch.cuda.empty_cache()  # the model measured is gone: its cached blocks go back before the next
        if methods and index == 0:  # the method targets before the slowest model, so a time limit spares them
            measure_methods(plan, run, args.quick)
    figures["seconds"] = time.perf_counter() - started
    figures["load_average_at_end"] = describe()["load_average"]
    run.save()
    print_table(figures)
    return 1 if figures["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
