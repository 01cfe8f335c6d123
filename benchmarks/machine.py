"""The machine a benchmark ran on, described the same way by every script: figures mean little without it.

from machine import describe, summary    # benchmarks/ is on sys.path when a script there runs
print(summary())                          # one line for the console
figures["machine"] = describe()           # the same facts for a --json file
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

import torch

_VERSIONED = ("torch", "torchvision", "tensorboard")


def describe(**extra: object) -> dict[str, object]:
    """CPU model, cores this process may use, torch threads, GPU, versions and load; `extra` adds script facts."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": _cpu_model(),
        "usable_cores": usable,
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        **{name: _version(name) for name in _VERSIONED},
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "load_average": [round(value, 2) for value in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        **extra,
    }


def summary(**extra: object) -> str:
    """describe() as one line: "cpu: ...; usable_cores: 2; ..."."""
    return "; ".join(f"{name}: {value}" for name, value in describe(**extra).items())


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None
