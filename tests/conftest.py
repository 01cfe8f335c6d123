"""Shared test parts: small real models, a logdir written by the real callback, a real TensorBoard."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn

TENSORBOARD = str(Path(sys.executable).with_name("tensorboard"))


def small_cnn(in_channels: int = 1) -> nn.Sequential:
    """Conv-BN-ReLU-Pool-Conv-ReLU-Dropout-Linear: every kind of module a callback must leave alone."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Dropout(0.3),
        nn.Flatten(),
        nn.Linear(16 * 14 * 14, 10),
    )


def five_class_cnn(seed: int) -> nn.Sequential:
    """A small 5-class CNN with its initial random weights (seeded): it separates classes only weakly."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(16 * 7 * 7, 5),
        )  # fmt: skip


def write_training_logdir(
    run_dir: Path,
    steps: int,
    probes: int = 3,
    kinds: tuple[str, ...] = ("feature_maps",),
    model: nn.Module | None = None,
    labels: list[str] | None = None,
    class_names: list[str] | None = None,
) -> None:
    """A run as a training loop leaves it: the real callback logging `steps` steps while weights change.

    Filter images, when among `kinds`, take 8 optimization steps: enough to differ between steps, cheap.
    Deconv, when among `kinds`, also logs the top 9 of 64 random images every 2 steps ("deconv_top").
    Every kind logs at every step (filter images and deconvnet default to every 10th / 2nd log).
    Model-level kinds run cheaply too: class images take 8 steps, fooling at most 20.
    `model` (default small_cnn()) takes 1-channel 28x28 images; `labels` name the probes, `class_names`
    the model's outputs.
    """
    from tb_cnnviz import ClassVisualization, CNNVizCallback, Deconv, Filters, Fooling

    generator = torch.Generator().manual_seed(0)
    if model is None:
        # Seeded by the run's name: the same data whatever ran before, different runs differ.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(zlib.crc32(run_dir.name.encode()))
            model = small_cnn()
    images = torch.rand(probes, 1, 28, 28, generator=generator)
    labels = [f"probe {index}" for index in range(probes)] if labels is None else labels
    cheap = {
        "filters": Filters(steps=8, every=1),
        "class_visualization": ClassVisualization(steps=8),
        "fooling": Fooling(max_steps=20),
    }
    if "deconv" in kinds:
        cheap["deconv"] = Deconv(dataset=torch.rand(64, 1, 28, 28, generator=generator), dataset_every=2, every=1)
    with CNNVizCallback(
        model,
        images,
        log_dir=str(run_dir),
        probe_labels=labels,
        kinds=[cheap.get(kind, kind) for kind in kinds],
        class_names=class_names,
    ) as viz:
        for epoch in range(steps):
            with torch.no_grad():
                for parameter in model.parameters():
                    parameter.add_(0.1 * torch.randn(parameter.shape, generator=generator))
            viz.on_epoch_end(epoch)


@pytest.fixture(scope="session")
def logdir_30_steps(tmp_path_factory) -> Path:
    logdir = tmp_path_factory.mktemp("logdir30")
    write_training_logdir(logdir / "run_a", steps=30)
    return logdir


def plugin_url(base: str, route: str, **params) -> str:
    """URL of the plugin's `route` with query `params`, under TensorBoard's `base` URL."""
    return f"{base}/data/plugin/cnnviz/{route}?{urllib.parse.urlencode(params)}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def tensorboard_server(logdir: Path, *args: str, path_prefix: str = "", env: dict | None = None) -> Iterator[str]:
    """Start the real `tensorboard` command on a free port; yield its base URL once the plugin answers."""
    port = free_port()
    command = [TENSORBOARD, "--logdir", str(logdir), "--host", "127.0.0.1", "--port", str(port), *args]
    if path_prefix:
        command += ["--path_prefix", path_prefix]
    log = open(logdir / f"tensorboard-{port}.log", "w+")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    base = f"http://127.0.0.1:{port}{path_prefix}"
    try:
        _wait_for_runs(base, process, log)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def _wait_for_runs(base: str, process: subprocess.Popen, log) -> None:
    """Block until the plugin lists at least one run (the loaders read the logdir asynchronously)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"tensorboard exited with {process.returncode}:\n{log.read()}")
        with contextlib.suppress(urllib.error.URLError, ConnectionError):
            if fetch_json(plugin_url(base, "runs"))["runs"]:
                return
        time.sleep(0.3)
    log.seek(0)
    raise TimeoutError(f"tensorboard at {base} showed no cnnviz run within 60 s:\n{log.read()}")


def fetch(url: str) -> tuple[int, dict, bytes]:
    """(status, headers, body) of a GET, also for 4xx/5xx answers."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def fetch_json(url: str):
    status, _, body = fetch(url)
    if status != 200:
        raise urllib.error.URLError(f"{url} answered {status}: {body[:200]!r}")
    return json.loads(body)


def poll(read, until, timeout: float = 60.0):
    """Call `read()` until `until(value)` holds (TensorBoard loads event files in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if until(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


def read_cnnviz_events(run_dir: Path) -> dict[str, dict[int, list[bytes]]]:
    """{tag: {step: blobs}} of every cnnviz summary in a run's event files, read as TensorBoard reads them."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.util import tensor_util

    found: dict[str, dict[int, list[bytes]]] = {}
    for path in sorted(run_dir.glob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "cnnviz":
                    assert value.metadata.data_class == 3, "blob sequences must say so (DATA_CLASS_BLOB_SEQUENCE)"
                    blobs = list(tensor_util.make_ndarray(value.tensor))
                    found.setdefault(value.tag, {})[event.step] = blobs
    return found
