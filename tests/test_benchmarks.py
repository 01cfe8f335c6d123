"""benchmarks/real_models.py --quick runs to the end and measures every kind (the CI-sized run of the benchmark);
benchmarks/cuda_check.py, the one command a GPU session runs, works on its --device cpu path.

It runs the CUDA half's method targets on the CPU too (--methods: filter images and deconvnet, at quick
sizes), so a GPU run finds them working; its bf16 + channels_last training path (--amp) is left to a
manual `--quick --amp` run, as bf16 on a CPU without bf16 units takes seconds a step.
One torch thread: CI machines are shared, and threads that outnumber free cores make every figure
many times slower.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
KINDS = ["feature_maps", "filters", "deconv", "dynamics", "saliency", "grad_cam", "class_visualization", "fooling"]


def test_real_models_quick_measures_every_kind(tmp_path):
    out = tmp_path / "real_models.json"
    command = [sys.executable, "benchmarks/real_models.py", "--quick", "--methods", "--threads", "1"]
    finished = subprocess.run(
        [*command, "--json", str(out)], cwd=REPO, capture_output=True, text=True, timeout=600, check=False
    )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    figures = json.loads(out.read_text())

    assert figures["machine"]["usable_cores"] >= 1 and figures["quick"] is True
    assert figures["errors"] == [] and figures["left_out"] == []
    resnet18 = figures["models"]["resnet18"]
    assert resnet18["training"]["seconds_per_step"] > 0
    assert resnet18["training"]["epoch_seconds"] == resnet18["training"]["seconds_per_step"] * 391
    assert set(resnet18["kinds"]) == set(KINDS)
    for name, row in [*resnet18["kinds"].items(), ("all", resnet18["all"])]:
        assert row["layers"], name
        assert row["logs_measured"] >= 1, name
        for key in ("first_log_seconds", "one_log_seconds", "blocked_seconds", "bytes_per_step", "epoch_share"):
            assert row[key] > 0, (name, key, row[key])
        assert row["blocked_seconds"] <= row["one_log_seconds"], name
    filters, deconv = figures["methods"]["filters"], figures["methods"]["deconv"]
    assert filters["seconds"] > 0 and len(filters["activations"]) == filters["channels"]
    assert deconv["speedup"] > 0 and deconv["largest_difference"] < 1e-4


def test_cuda_check_runs_the_parity_tests_and_the_benchmark_and_reports_the_cuda_half_skipped(tmp_path):
    """benchmarks/cuda_check.py's CPU path: the one command a GPU session runs, checked here without a GPU."""
    out = tmp_path / "cuda_check.json"
    command = [sys.executable, "benchmarks/cuda_check.py", "--device", "cpu", "--quick", "--threads", "1"]
    finished = subprocess.run(
        [*command, "--json", str(out)], cwd=REPO, capture_output=True, text=True, timeout=600, check=False
    )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["device"] == "cpu" and result["ok"] is True
    outcomes = {name: row["outcome"] for name, row in result["parity"]["outcomes"].items()}
    assert outcomes["test_two_cpu_runs_are_identical"] == outcomes["test_cpu_float32_agrees_with_float64"] == "passed"
    cuda = [row for name, row in result["parity"]["outcomes"].items() if name.startswith("test_cuda_agrees_with_cpu")]
    assert len(cuda) == 2 and all(row["outcome"] == "skipped" for row in cuda), cuda
    assert all(row["message"] == "no CUDA device: CPU half ran, CUDA half not run" for row in cuda)
    figures = result["parity"]["figures"]
    assert figures["cpu_repeat"] == {"results_differ": 0}
    assert figures["cpu_float32_vs_float64"]["deconvnet.cosine"] >= 0.999
    assert result["real_models"]["returncode"] == 0 and result["real_models"]["errors"] == []
    assert set(result["real_models"]["models"]["resnet18"]["kinds"]) == set(KINDS)


def test_cuda_check_on_a_machine_without_cuda_says_so_instead_of_passing(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: cuda_check.py --device cuda runs there")
    command = [sys.executable, "benchmarks/cuda_check.py", "--json", str(tmp_path / "no.json")]
    refused = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert refused.returncode == 2 and "torch sees no CUDA device here" in refused.stderr
    assert not (tmp_path / "no.json").exists()
