"""Every method gives the same pictures on CPU and CUDA: the same inputs, the same checks.

The methods (feature maps, filter images, deconvnet and guided backprop, saliency, Grad-CAM, class images,
fooling images, dataset top activations) run on a small seeded RGB CNN (BatchNorm with running statistics,
in-place ReLUs, max pooling) and random inputs. `agreement` measures how far two runs are apart, one figure
per check, and TOLERANCES says how far they may be: projections and maps cosine >= 0.999, feature maps
within 1e-4 of their largest value, optimized images' reached activations and scores within 2%, the same
classes predicted and fooled.

CPU half (always): two CPU runs are identical, and CPU float32 agrees with CPU float64 to TOLERANCES, the
same numerical check the CUDA comparison makes. CUDA half (when torch.cuda.is_available()): CUDA float32
agrees with CPU float32 to TOLERANCES, with TF32 off, and with TF32 on (PyTorch's default for cuDNN
convolutions) to TF32_TOLERANCES. Without a CUDA device the CUDA half is reported as skipped, never passed.
With CNNVIZ_PARITY_JSON set, every measured figure is also written there (benchmarks/cuda_check.py).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import tb_cnnviz as viz

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
NORMALIZATION = {"input_mean": MEAN, "input_std": STD}
LAYER = "4"  # the second conv: after a max pool, so deconvnet unpools through switches
CHANNELS = list(range(8))
NO_CUDA = "no CUDA device: CPU half ran, CUDA half not run"

# Each check's figure and the worst it may be: ("min", x) a figure that must be >= x, ("max", x) <= x.
TOLERANCES = {
    "feature_maps.max_diff_of_max": ("max", 1e-4),
    "filters.activation_rel_diff": ("max", 0.02),
    "filters.image_cosine": ("min", 0.99),
    "deconvnet.cosine": ("min", 0.999),
    "deconvnet.positions_differ": ("max", 0),
    "guided.cosine": ("min", 0.999),
    "saliency.cosine": ("min", 0.999),
    "grad_cam.cosine": ("min", 0.999),
    "class_images.score_rel_diff": ("max", 0.02),
    "class_images.predicted_differ": ("max", 0),
    "fooling.succeeded_differ": ("max", 0),
    "fooling.steps_diff": ("max", 1),
    "fooling.image_cosine": ("min", 0.999),
    "top_activations.value_rel_diff": ("max", 1e-4),
    "top_activations.indices_differ": ("max", 0),
    "top_activations.projection_cosine": ("min", 0.999),
}
# TF32 rounds convolution inputs to 10 mantissa bits: values move by about 1e-3 of their range.
TF32_TOLERANCES = {**TOLERANCES, "feature_maps.max_diff_of_max": ("max", 1e-2)}


def parity_cnn() -> nn.Sequential:
    """A small RGB CNN with seeded weights and BatchNorm running statistics that are not the identity."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 5),
        )  # fmt: skip
        model[1].running_mean.uniform_(-0.2, 0.2)
        model[1].running_var.uniform_(0.5, 2.0)
    return model.eval()


def parity_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    """(4 probe images, 32 data set images), normalized model inputs of 32x32 px."""
    generator = torch.Generator().manual_seed(0)
    probes, dataset = torch.rand(4, 3, 32, 32, generator=generator), torch.rand(32, 3, 32, 32, generator=generator)
    mean, std = torch.tensor(MEAN)[:, None, None], torch.tensor(STD)[:, None, None]
    return (probes - mean) / std, (dataset - mean) / std


def run_methods(device: str, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Every method on `device` in `dtype`, from the same model and inputs; results as float64 on the CPU."""
    model = copy.deepcopy(parity_cnn()).to(device=device, dtype=dtype)
    probes, dataset = (x.to(device=device, dtype=dtype) for x in parity_inputs())
    out: dict[str, torch.Tensor] = {}
    for name, maps in viz.feature_maps(model, probes, ["0", "4", "7"]).items():
        out[f"feature_maps.{name}"] = maps
    filters = viz.maximize_filters(model, LAYER, channels=CHANNELS, size=32, steps=32, **NORMALIZATION)
    out["filters.images"], out["filters.activations"] = filters.images, filters.activations
    for rule in ("deconvnet", "guided"):
        projections = viz.deconvnet(model, probes, LAYER, channels=CHANNELS, rule=rule)
        out[f"{rule}.projections"], out[f"{rule}.positions"] = projections.projections, projections.positions
    out["saliency"] = viz.saliency(model, probes)
    out["grad_cam"] = viz.grad_cam(model, probes)
    classes = viz.class_visualization(model, None, size=32, steps=32, **NORMALIZATION)
    out["class_images.scores"], out["class_images.predicted"] = classes.scores, classes.predicted
    with torch.no_grad():
        second = model(probes).topk(2, dim=1).indices[:, 1]
    fooled = viz.fooling_images(model, probes, second, max_steps=40, step_size=0.05, **NORMALIZATION)
    out["fooling.images"], out["fooling.steps"], out["fooling.succeeded"] = (
        fooled.images,
        fooled.steps,
        fooled.succeeded,
    )
    top = viz.top_activations(model, dataset, LAYER, channels=CHANNELS, k=3, project="deconvnet", progress=False)
    out["top_activations.values"], out["top_activations.indices"] = top.values, top.indices
    out["top_activations.projections"] = top.projections
    return {name: value.detach().to(device="cpu", dtype=torch.float64) for name, value in out.items()}


def _cosines(a: torch.Tensor, b: torch.Tensor, dims: int) -> torch.Tensor:
    """Cosine similarity of each of the leading `dims` dimensions' entries; 1 where both are zero."""
    a, b = a.flatten(dims), b.flatten(dims)
    both_zero = (a.norm(dim=-1) == 0) & (b.norm(dim=-1) == 0)
    return torch.where(both_zero, torch.ones(()), F.cosine_similarity(a, b, dim=-1, eps=1e-30))


def _rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest |a - b| relative to |b|, with |b| floored at 1% of b's largest value (near-zero entries)."""
    floor = 0.01 * float(b.abs().max().clamp(min=1e-12))
    return float(((a - b).abs() / b.abs().clamp(min=floor)).max())


def agreement(run: dict[str, torch.Tensor], reference: dict[str, torch.Tensor]) -> dict[str, float]:
    """One figure per check of TOLERANCES: how far `run` is from `reference` (the worst entry)."""
    maps = [name for name in reference if name.startswith("feature_maps.")]
    diff = max(float((run[n] - reference[n]).abs().max() / reference[n].abs().max()) for n in maps)
    figures = {"feature_maps.max_diff_of_max": diff}
    figures["filters.activation_rel_diff"] = _rel_diff(run["filters.activations"], reference["filters.activations"])
    figures["filters.image_cosine"] = float(
        _cosines(run["filters.images"] - 0.5, reference["filters.images"] - 0.5, 1).min()
    )
    for rule in ("deconvnet", "guided"):
        figures[f"{rule}.cosine"] = float(
            _cosines(run[f"{rule}.projections"], reference[f"{rule}.projections"], 2).min()
        )
    differ = (run["deconvnet.positions"] != reference["deconvnet.positions"]).any(dim=-1).sum()
    figures["deconvnet.positions_differ"] = int(differ)
    figures["saliency.cosine"] = float(_cosines(run["saliency"], reference["saliency"], 1).min())
    figures["grad_cam.cosine"] = float(_cosines(run["grad_cam"], reference["grad_cam"], 1).min())
    figures["class_images.score_rel_diff"] = _rel_diff(run["class_images.scores"], reference["class_images.scores"])
    figures["class_images.predicted_differ"] = int(
        (run["class_images.predicted"] != reference["class_images.predicted"]).sum()
    )
    figures["fooling.succeeded_differ"] = int((run["fooling.succeeded"] != reference["fooling.succeeded"]).sum())
    figures["fooling.steps_diff"] = int((run["fooling.steps"] - reference["fooling.steps"]).abs().max())
    cosine = _cosines(run["fooling.images"] - 0.5, reference["fooling.images"] - 0.5, 1)
    figures["fooling.image_cosine"] = float(cosine.min())
    values = run["top_activations.values"], reference["top_activations.values"]
    figures["top_activations.value_rel_diff"] = _rel_diff(*values)
    figures["top_activations.indices_differ"] = int(
        (run["top_activations.indices"] != reference["top_activations.indices"]).sum()
    )
    projections = run["top_activations.projections"], reference["top_activations.projections"]
    figures["top_activations.projection_cosine"] = float(_cosines(*projections, 2).min())
    return figures


def out_of_tolerance(figures: dict[str, float], tolerances: dict[str, tuple[str, float]]) -> dict[str, str]:
    """The checks whose figure is worse than its tolerance, each with what it is and what it may be."""
    bad = {}
    for name, (bound, limit) in tolerances.items():
        value = figures[name]
        if (bound == "min" and not value >= limit) or (bound == "max" and not value <= limit):
            bad[name] = f"{value:.6g} ({'at least' if bound == 'min' else 'at most'} {limit})"
    return bad


def record(comparison: str, figures: dict[str, float]) -> None:
    """Add `figures` under `comparison` to the JSON file CNNVIZ_PARITY_JSON names, if it does."""
    path = os.environ.get("CNNVIZ_PARITY_JSON")
    if not path:
        return
    target = Path(path)
    recorded = json.loads(target.read_text()) if target.exists() else {}
    recorded[comparison] = figures
    target.write_text(json.dumps(recorded, indent=2))


@pytest.fixture(scope="module")
def cpu_float32() -> dict[str, torch.Tensor]:
    return run_methods("cpu", torch.float32)


def test_two_cpu_runs_are_identical(cpu_float32):
    again = run_methods("cpu", torch.float32)
    assert set(again) == set(cpu_float32)
    differ = [name for name in cpu_float32 if not torch.equal(again[name], cpu_float32[name])]
    record("cpu_repeat", {"results_differ": len(differ)})
    assert not differ, f"a second CPU run changed {differ}"


def test_cpu_float32_agrees_with_float64(cpu_float32):
    """The numerical check of the CUDA half, on the CPU: float32's rounding moves no picture beyond TOLERANCES."""
    figures = agreement(cpu_float32, run_methods("cpu", torch.float64))
    record("cpu_float32_vs_float64", figures)
    assert not out_of_tolerance(figures, TOLERANCES), figures


@contextlib.contextmanager
def tf32(enabled: bool):
    """TF32 for cuDNN convolutions and CUDA matmuls on or off, restored afterwards."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@pytest.mark.parametrize("tf32_on", [False, True], ids=["tf32-off", "tf32-on"])
def test_cuda_agrees_with_cpu(cpu_float32, tf32_on):
    if not torch.cuda.is_available():
        pytest.skip(NO_CUDA)
    with tf32(tf32_on):
        figures = agreement(run_methods("cuda", torch.float32), cpu_float32)
    record(f"cuda_vs_cpu_tf32_{'on' if tf32_on else 'off'}", figures)
    assert not out_of_tolerance(figures, TF32_TOLERANCES if tf32_on else TOLERANCES), figures


def test_a_picture_out_of_tolerance_is_caught(cpu_float32):
    """The comparison can fail: one projection turned around, or one class image lost, is reported."""
    changed = dict(cpu_float32)
    changed["deconvnet.projections"] = cpu_float32["deconvnet.projections"].clone()
    changed["deconvnet.projections"][0, 0] *= -1
    changed["class_images.predicted"] = (cpu_float32["class_images.predicted"] + 1) % 5
    bad = out_of_tolerance(agreement(changed, cpu_float32), TOLERANCES)
    assert set(bad) == {"deconvnet.cosine", "class_images.predicted_differ"}, bad
