"""benchmarks/real_models.py --quick runs to the end and measures every kind: the CI-sized run of the benchmark.

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

REPO = Path(__file__).resolve().parents[1]
KINDS = ["feature_maps", "filters", "deconv", "saliency", "grad_cam", "class_visualization", "fooling"]


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
