"""Faults on the training side: a full or read-only log folder, layer names TensorBoard's data server cannot
take, a layer swapped out mid-run, bad arguments. Training goes on; each fault is one clear warning, or a
clear error when the callback is made.

Outages are injected into TensorBoard's file system for local event files (always), and, where this test
runs as root and may mount, also made real on a small tmpfs: filled up (ENOSPC) or remounted read-only (EROFS).
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import pytest
import torch
from conftest import fetch, fetch_json, plugin_url, poll, read_cnnviz_events, small_cnn, tensorboard_server
from tensorboard.compat.tensorflow_stub.io import gfile
from torch import nn
from torch.utils.tensorboard import SummaryWriter

from tb_cnnviz import CNNVizCallback, CNNVizWarning, Deconv, Filters, contract
from tb_cnnviz.methods.capture import each_feature_map

STEPS = 6
OUTAGE = (2, 4)  # the folder cannot be written from step 2 until step 4
LAYERS = ["0", "4"]
THREAD_DEATHS = "ignore::pytest.PytestUnhandledThreadExceptionWarning"  # TensorBoard's file writer thread dies


def _tmpfs_mounts() -> bool:
    """Whether this run may mount a real tmpfs (root, and the container lets it)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    with tempfile.TemporaryDirectory() as folder:
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", folder], capture_output=True).returncode:
            return False
        subprocess.run(["umount", folder], check=True)
    return True


TMPFS = ["tmpfs"] if _tmpfs_mounts() else []
PLACES = ["injected", *TMPFS]


class InjectedOutage:
    """TensorBoard's local file system (what its event file object writes through) failing with `error` while down."""

    def __init__(self, folder: Path, error: int, monkeypatch) -> None:
        self.down = False
        write = gfile.LocalFileSystem._write

        def failing(fs, filename, content, mode):
            if self.down:
                raise OSError(error, os.strerror(error), filename)
            return write(fs, filename, content, mode)

        monkeypatch.setattr(gfile.LocalFileSystem, "_write", failing)

    def start(self) -> None:
        self.down = True

    def end(self) -> None:
        self.down = False


class TmpfsOutage:
    """A real tmpfs as the log folder: filled up by a file (ENOSPC) or remounted read-only (EROFS)."""

    def __init__(self, folder: Path, error: int, size: str = "4m") -> None:
        self.folder, self.error = folder, error
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], check=True)

    def start(self) -> None:
        if self.error == errno.EROFS:
            self.remount("ro")
            return
        with open(self.folder / "filler", "wb", buffering=0) as filler:
            try:
                while True:
                    filler.write(bytes(4096))
            except OSError as error:
                assert error.errno == errno.ENOSPC

    def end(self) -> None:
        if self.error == errno.EROFS:
            self.remount("rw")
        else:
            (self.folder / "filler").unlink()

    def remount(self, options: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{options}", str(self.folder)], check=True)

    def unmount(self) -> None:
        subprocess.run(["umount", str(self.folder)], check=True)


@pytest.fixture
def outage_at(tmp_path, monkeypatch):
    """outage_at(place, error) -> (log folder, outage); a tmpfs is unmounted after the test."""
    mounted = []

    def make(place: str, error: int, size: str = "4m"):
        folder = tmp_path / "logs"
        folder.mkdir()
        if place == "injected":
            return folder, InjectedOutage(folder, error, monkeypatch)
        mounted.append(TmpfsOutage(folder, error, size))
        return folder, mounted[-1]

    yield make
    for tmpfs in mounted:
        tmpfs.unmount()


def train(viz_for, outage=None, start: int = OUTAGE[0], end: int = OUTAGE[1], steps: int = STEPS):
    """Train small_cnn for `steps` steps, logging each with the callback viz_for(model) makes (None: none), the
    folder down from `start` to `end`; (weights, CNNVizWarning messages)."""
    torch.manual_seed(0)
    model, data, labels = small_cnn(), torch.rand(8, 1, 28, 28), torch.randint(0, 10, (8,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    viz = viz_for(model) if viz_for else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step in range(steps):
            if viz is not None and step in (start, end):
                viz._sink._pipe.wait_for_steps(0)  # every step before this one is written (or failed): no race
                (outage.start if step == start else outage.end)()
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(data), labels).backward()
            optimizer.step()
            if viz is not None:
                viz.log(step)
        if viz is not None:
            viz.close()  # never raises
    messages = [str(warning.message) for warning in caught if issubclass(warning.category, CNNVizWarning)]
    return model.state_dict(), messages


def callback_maker(folder: Path, mode: str, users: list):
    """How the callback is made in `mode`: background (default), blocking, or into a SummaryWriter of the user's."""

    def make(model: nn.Module) -> CNNVizCallback:
        probes = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(1))
        if mode == "user_writer":
            users.append(SummaryWriter(str(folder)))
            return CNNVizCallback(model, probes, writer=users[-1], layers=LAYERS)
        return CNNVizCallback(model, probes, log_dir=str(folder), layers=LAYERS, blocking=mode == "blocking")

    return make


def assert_one_outage_and_one_recovery(messages: list[str], error: int, resumed_at: int) -> None:
    down = [message for message in messages if "event file cannot be written" in message]
    back = [message for message in messages if "can be written again" in message]
    assert len(down) == 1 and os.strerror(error) in down[0], messages
    assert len(back) == 1 and f"logging resumed at step {resumed_at}" in back[0], messages
    assert len(messages) == 2, messages


@pytest.mark.filterwarnings(THREAD_DEATHS)
@pytest.mark.parametrize("mode", ["background", "blocking", "user_writer"])
@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EROFS], ids=["ENOSPC", "EROFS"])
@pytest.mark.parametrize("place", PLACES)
def test_an_outage_is_one_warning_training_goes_on_and_logging_resumes(outage_at, place, error, mode):
    folder, outage = outage_at(place, error)
    users: list[SummaryWriter] = []
    plain, _ = train(None)
    watched, messages = train(callback_maker(folder, mode, users), outage)
    for writer in users:
        writer.close()  # the user's writer: its dead event file was replaced, so this works as usual

    assert all(torch.equal(plain[key], watched[key]) for key in plain), "training is the same with the callback"
    assert_one_outage_and_one_recovery(messages, error, resumed_at=OUTAGE[1])
    events = read_cnnviz_events(folder)
    for layer in LAYERS:
        assert sorted(events[contract.layer_tag(layer, "feature_maps")]) == [0, 1, 4, 5], "before and after"
    assert list(events[contract.PROBES_TAG]) == [0]


@pytest.mark.filterwarnings(THREAD_DEATHS)
@pytest.mark.parametrize("place", PLACES)
def test_probes_lost_in_an_outage_are_written_once_it_ends(outage_at, place):
    folder, outage = outage_at(place, errno.ENOSPC)
    _, messages = train(callback_maker(folder, "background", []), outage, start=0, end=3, steps=5)

    assert_one_outage_and_one_recovery(messages, errno.ENOSPC, resumed_at=3)
    events = read_cnnviz_events(folder)
    assert list(events[contract.PROBES_TAG]) == [0], "the probes of step 0, in the new event file"
    assert sorted(events[contract.layer_tag("0", "feature_maps")]) == [3, 4]


@pytest.mark.filterwarnings(THREAD_DEATHS)
@pytest.mark.parametrize("mode", ["background", "blocking", "user_writer"])
@pytest.mark.parametrize("place", PLACES)
def test_an_outage_that_never_ends_is_one_warning_and_close_does_not_raise(outage_at, place, mode):
    folder, outage = outage_at(place, errno.EROFS)
    users: list[SummaryWriter] = []
    plain, _ = train(None)
    watched, messages = train(callback_maker(folder, mode, users), outage, end=STEPS)
    for writer in users:
        writer.close()  # the failed event file was dropped: the user's own close() does not raise either
    if place == "tmpfs":
        outage.end()  # to read what was written

    assert all(torch.equal(plain[key], watched[key]) for key in plain)
    assert len(messages) == 1 and "event file cannot be written" in messages[0], messages
    assert sorted(read_cnnviz_events(folder)[contract.layer_tag("4", "feature_maps")]) == [0, 1]


@pytest.mark.filterwarnings(THREAD_DEATHS)
@pytest.mark.parametrize("place", TMPFS)  # a real 200 KB disk filling up as records come; needs root and mount
def test_a_200k_tmpfs_fills_up_and_logging_resumes_when_it_grows(outage_at, place):
    folder, tmpfs = outage_at(place, errno.ENOSPC, size="200k")
    steps = 12
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        viz = callback_maker(folder, "background", [])(small_cnn())
        for step in range(steps):
            if step == steps - 3:
                viz._sink._pipe.wait_for_steps(0)
                tmpfs.remount("size=8m")  # space returns
            viz.log(step)
        viz.close()
    messages = [str(warning.message) for warning in caught if issubclass(warning.category, CNNVizWarning)]

    down = [message for message in messages if "event file cannot be written" in message]
    assert len(down) == 1 and "No space left on device" in down[0], messages
    assert len(messages) == 2 and f"logging resumed at step {steps - 3}" in messages[1], messages
    events = read_cnnviz_events(folder)
    logged = sorted(set.intersection(*(set(events[contract.layer_tag(layer, "feature_maps")]) for layer in LAYERS)))
    assert logged[0] == 0 and logged[-3:] == [steps - 3, steps - 2, steps - 1], logged
    assert len(logged) < steps, "the disk was full for some steps"


class QuotedNames(nn.Module):
    """Layer names with the characters TensorBoard's data server cannot parse in a blob key: " and \\."""

    NAMES = ('blocks.conv "a"', "blocks.conv\\b")

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleDict(
            {'conv "a"': nn.Conv2d(1, 4, 3, padding=1), "conv\\b": nn.Conv2d(4, 4, 3, padding=1)}
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * 28 * 28, 10))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        for block in self.blocks.values():
            images = torch.relu(block(images))
        return self.head(images)


@pytest.fixture(scope="module")
def quoted_logdir(tmp_path_factory) -> Path:
    logdir = tmp_path_factory.mktemp("quoted")
    probes = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with CNNVizCallback(
        QuotedNames(), probes, log_dir=str(logdir / "run_a"), kinds=["feature_maps", Filters(steps=4, every=1)]
    ) as viz:
        viz.log(0)
        viz.log(1)
    return logdir


def test_tags_never_hold_what_the_data_server_cannot_parse_and_the_encoding_reverses():
    import urllib.parse

    for name in [*QuotedNames.NAMES, "tab\there", "new\nline", "100%", "features.0", "ünïcode/slash"]:
        tag = contract.layer_tag(name, "feature_maps")
        assert not set(tag) & {'"', "\\"} and all(ord(char) >= 0x20 for char in tag), tag
        assert urllib.parse.unquote(tag) == f"{name}/feature_maps"
    assert contract.layer_tag("features.0", "feature_maps") == "features.0/feature_maps", "plain names unchanged"


@pytest.mark.parametrize("load_fast", ["true", "false"])
def test_layer_names_with_quotes_are_served_and_listed_by_their_real_names(quoted_logdir, load_fast):
    with tensorboard_server(quoted_logdir, f"--load_fast={load_fast}") as base:
        runs = poll(
            lambda: fetch_json(plugin_url(base, "runs"))["runs"], lambda runs: runs and len(runs[0]["layers"]) == 2
        )
        layers = runs[0]["layers"]
        assert [layer["name"] for layer in layers] == list(QuotedNames.NAMES), "the real names, in model order"
        for layer in layers:
            for kind, tag in layer["kinds"].items():
                assert fetch_json(plugin_url(base, "steps", run="run_a", tag=tag))["steps"] == [0, 1], (kind, tag)
                info = fetch_json(plugin_url(base, "info", run="run_a", tag=tag, step=1))
                channel = info["channels"][0][0] if isinstance(info["channels"][0], list) else info["channels"][0]
                for route, params in [
                    ("image", {"step": 1, "index": 1}),
                    ("series", {}),
                    ("strip", {"channel": channel, "index": 1}),
                ]:
                    status, _, body = fetch(plugin_url(base, route, run="run_a", tag=tag, **params))
                    assert status == 200, (route, tag, body[:300])


def test_a_swapped_out_layer_is_named_once_and_the_others_keep_every_kind(tmp_path):
    model = small_cnn()
    kinds = ["feature_maps", Filters(steps=4, every=1), Deconv(every=1)]
    layer_kinds = ["feature_maps", "filters", "deconv"]
    with CNNVizCallback(model, torch.rand(2, 1, 28, 28), log_dir=str(tmp_path), layers=LAYERS, kinds=kinds) as viz:
        viz.log(0)
        model[0] = nn.Conv2d(1, 8, 3, padding=1)  # the user replaces a layer the callback holds
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            viz.log(1)
            viz.log(2)
    messages = [str(warning.message) for warning in caught if issubclass(warning.category, CNNVizWarning)]
    assert len(messages) == 1 and "layer '0' not logged" in messages[0], messages
    assert "no longer part of the model" in messages[0]
    events = read_cnnviz_events(tmp_path)
    for kind in layer_kinds:
        assert sorted(events[contract.layer_tag("4", kind)]) == [0, 1, 2], kind
        assert sorted(events[contract.layer_tag("0", kind)]) == [0], kind


def test_one_layer_without_output_costs_only_its_own():
    model = small_cnn()
    unused = nn.Conv2d(1, 8, 3)  # never called by the model
    outputs, problems = each_feature_map(model, torch.rand(1, 1, 28, 28), {"0": model[0], "x": unused, "4": model[4]})
    assert sorted(outputs) == ["0", "4"] and list(problems) == ["x"]
    assert "never called" in problems["x"]


@pytest.mark.parametrize("shape", [(1, 1, 0, 0), (1, 1, 0, 28), (1, 1, 28, 0), (2, 0, 28, 28)])
def test_probes_with_an_empty_dimension_fail_at_construction(tmp_path, shape):
    with pytest.raises(ValueError, match=r"empty dimension; pass \(N, C, H, W\) with each >= 1"):
        CNNVizCallback(small_cnn(), torch.rand(shape), log_dir=str(tmp_path))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_probes_fail_at_construction_naming_the_probe(tmp_path, bad):
    probes = torch.rand(3, 1, 28, 28)
    probes[1, 0, 5, 7] = bad
    with pytest.raises(ValueError, match=r"probe_images \[1\] \(by index\) hold NaN or Inf"):
        CNNVizCallback(small_cnn(), probes, log_dir=str(tmp_path))


@pytest.mark.parametrize("argument", ["every_n_epochs", "max_channels", "max_tile_size"])
def test_a_count_of_the_wrong_type_is_a_type_error_that_says_int(tmp_path, argument):
    with pytest.raises(TypeError, match=rf"{argument} must be an int >= 1, got '2' \(str\)"):
        CNNVizCallback(small_cnn(), torch.rand(1, 1, 28, 28), log_dir=str(tmp_path), **{argument: "2"})
    with pytest.raises(ValueError, match=rf"{argument} must be an int >= 1, got 0"):
        CNNVizCallback(small_cnn(), torch.rand(1, 1, 28, 28), log_dir=str(tmp_path), **{argument: 0})


def test_one_kind_name_as_a_string_is_that_kind(tmp_path):
    with CNNVizCallback(small_cnn(), torch.rand(1, 1, 28, 28), log_dir=str(tmp_path), kinds="filters") as viz:
        assert [kind.name for kind in viz.kinds] == ["filters"]


def test_log_after_close_warns_once_and_opens_no_second_event_file(tmp_path):
    viz = CNNVizCallback(small_cnn(), torch.rand(1, 1, 28, 28), log_dir=str(tmp_path))
    viz.log(0)
    viz.close()
    files = sorted(tmp_path.glob("events.out.tfevents.*"))
    with pytest.warns(CNNVizWarning, match=r"log\(1\) after close\(\) is ignored") as caught:
        viz.log(1)
        viz.log(2)
        viz.close()  # closing twice is harmless
    assert len(caught) == 1
    assert sorted(tmp_path.glob("events.out.tfevents.*")) == files
    assert list(read_cnnviz_events(tmp_path)["0/feature_maps"]) == [0]
