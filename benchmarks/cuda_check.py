"""One command for a session with a GPU: every method's CPU/CUDA parity, then the real-model benchmark, in one JSON.

    python benchmarks/cuda_check.py --json cuda_check.json                    # on a machine with CUDA
    python benchmarks/cuda_check.py --device cpu --quick --json check.json    # the same path on a CPU

Runs tests/test_device_parity.py under pytest, which writes its figures (two CPU runs, CPU float32 vs
float64, CUDA vs CPU with TF32 off and on) to CNNVIZ_PARITY_JSON, and records each test's outcome
(passed, failed with its message, skipped with its reason); then benchmarks/real_models.py --device
DEVICE --json (--quick, --threads and --time-limit passed on; on CUDA the time limit defaults to 360 s,
so the whole check fits one 10-minute command). The JSON: {"machine", "device",
"parity": {"outcomes", "figures", "returncode"}, "real_models": {its figures..., "returncode"}, "ok"}.
`ok` (and exit status 0) only when no parity test failed, on CUDA none was skipped either, and
real_models.py exited 0. --device cuda on a machine without CUDA stops at once with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))  # machine.py beside this script

from machine import describe, summary  # noqa: E402

PARITY_TESTS = "tests/test_device_parity.py"
CUDA_TIME_LIMIT = 360.0  # real_models.py's measurements on CUDA: with the parity tests, one 10-minute command


def run_parity(env: dict[str, str], workdir: Path) -> dict:
    """pytest on the parity tests: each test's outcome, the figures they measured, pytest's exit status."""
    figures_path, report = workdir / "parity.json", workdir / "parity.xml"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-rs",
        PARITY_TESTS,
        f"--junitxml={report}",
        "-p",
        "no:cacheprovider",
    ]
    finished = subprocess.run(
        command, cwd=REPO, env={**env, "CNNVIZ_PARITY_JSON": str(figures_path)}, capture_output=True, text=True
    )
    print(finished.stdout[-2000:], finished.stderr[-2000:], sep="\n", flush=True)
    outcomes = junit_outcomes(report) if report.exists() else {}
    figures = json.loads(figures_path.read_text()) if figures_path.exists() else {}
    return {"outcomes": outcomes, "figures": figures, "returncode": finished.returncode}


def junit_outcomes(report: Path) -> dict[str, dict[str, str]]:
    """{test name: {"outcome": passed | failed | skipped, "message": why}} from pytest's JUnit XML."""
    outcomes = {}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for tag, name in (("failure", "failed"), ("error", "failed"), ("skipped", "skipped")):
            found = case.find(tag)
            if found is not None:
                outcome, message = name, found.get("message", "")
                break
        outcomes[case.get("name")] = {"outcome": outcome, "message": message}
    return outcomes


def run_real_models(args: argparse.Namespace, env: dict[str, str], workdir: Path) -> dict:
    """benchmarks/real_models.py on the device: its figures and exit status."""
    out = workdir / "real_models.json"
    command = [sys.executable, "benchmarks/real_models.py", "--device", args.device, "--json", str(out)]
    command += ["--quick"] if args.quick else []
    command += ["--threads", str(args.threads)] if args.threads else []
    time_limit = args.time_limit or (CUDA_TIME_LIMIT if args.device == "cuda" else None)
    command += ["--time-limit", str(time_limit)] if time_limit else []
    finished = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    print(finished.stdout[-2000:], finished.stderr[-2000:], sep="\n", flush=True)
    figures = json.loads(out.read_text()) if out.exists() else {}
    return {**figures, "returncode": finished.returncode}


def verdict(device: str, parity: dict, real_models: dict) -> bool:
    """Whether everything held: parity ran, none failed, none skipped on CUDA, the benchmark finished."""
    outcomes = [row["outcome"] for row in parity["outcomes"].values()]
    skipped_is_failure = device == "cuda" and "skipped" in outcomes
    parity_ok = bool(outcomes) and "failed" not in outcomes and not skipped_is_failure
    return parity_ok and real_models["returncode"] == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"], help="cuda (default) or cpu")
    parser.add_argument("--quick", action="store_true", help="real_models.py --quick (seconds, no benchmark)")
    parser.add_argument("--threads", type=int, help="torch CPU threads for both (OMP_NUM_THREADS too)")
    parser.add_argument(
        "--time-limit", type=float, help=f"real_models.py --time-limit (CUDA default {CUDA_TIME_LIMIT:g})"
    )
    parser.add_argument("--json", type=Path, required=True, help="write everything here")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("--device cuda: torch sees no CUDA device here; use --device cpu for the CPU path", file=sys.stderr)
        return 2
    print(summary(), flush=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    with tempfile.TemporaryDirectory() as scratch:
        parity = run_parity(env, Path(scratch))
        result = {"machine": describe(), "device": args.device, "parity": parity}
        args.json.write_text(json.dumps(result, indent=2))  # kept if the benchmark is stopped
        result["real_models"] = run_real_models(args, env, Path(scratch))
    result["ok"] = verdict(args.device, parity, result["real_models"])
    args.json.write_text(json.dumps(result, indent=2))
    print(f"parity: {parity['outcomes']}\nok: {result['ok']}; figures in {args.json}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
