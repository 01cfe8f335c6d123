"""The background writer: bounded, loses no step, survives a full disk and a killed process, drains at exit."""

from __future__ import annotations

import errno
import gc
import io
import os
import signal
import struct
import subprocess
import sys
import threading
import time
import warnings
import weakref
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import read_cnnviz_events, small_cnn
from PIL import Image
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.util import tensor_util
from torch.utils.tensorboard import SummaryWriter

from tb_cnnviz import CNNVizCallback, CNNVizWarning, Filters, contract
from tb_cnnviz.writer import background
from tb_cnnviz.writer.background import BackgroundWriter
from tb_cnnviz.writer.record import Record, new_info

# Trains a small CNN and logs every step, printing each step once its log() has returned. The writer is
# slowed down (0.3 s a record), so it lags behind training as it does on big models, and a kill finds
# it mid-write. argv: log dir, "blocking" or "background", and how many steps before a plain exit
# without close() (0: until killed).
TRAINING = """
import sys, time, torch
from torch import nn
from tb_cnnviz import CNNVizCallback
from tb_cnnviz.writer import background

log_dir, mode, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
encode = background.summary_of
background.summary_of = lambda *args, **content: time.sleep(0.3) or encode(*args, **content)
torch.manual_seed(0)
model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
                      nn.Flatten(), nn.Linear(16 * 28 * 28, 10))
viz = CNNVizCallback(model, torch.rand(4, 1, 28, 28), log_dir=log_dir, blocking=mode == "blocking")
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
for step in range(steps or 10**6):
    optimizer.zero_grad()
    model(torch.rand(32, 1, 28, 28)).logsumexp(1).mean().backward()
    optimizer.step()
    viz.log(step)
    print(step, flush=True)
"""
LAYER_TAGS = ("0/feature_maps", "2/feature_maps")


def training(log_dir, mode: str, steps: int = 0) -> subprocess.Popen:
    command = [sys.executable, "-c", TRAINING, str(log_dir), mode, str(steps)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def whole_records(data: bytes) -> int:
    """How many whole TFRecords an event file holds before a possibly cut-off last one."""
    count, at = 0, 0
    while at + 12 <= len(data):
        end = at + 12 + struct.unpack("<Q", data[at : at + 8])[0] + 4
        if end > len(data):
            break
        count, at = count + 1, end
    return count


def assert_complete_and_undamaged(log_dir, steps: range) -> dict:
    """Every step of `steps` has every tag, its PNGs decode, and TensorBoard reads every whole record."""
    events = read_cnnviz_events(log_dir)
    assert 0 in events["probes"]
    for tag in LAYER_TAGS:
        assert set(steps) <= set(events[tag]), (tag, sorted(events[tag]))
        for blobs in events[tag].values():
            assert len(blobs) == 1 + 4  # the info, one atlas per probe
            for png in blobs[1:]:
                Image.open(io.BytesIO(png)).load()

    (path,) = log_dir.glob("events.out.tfevents.*")
    assert len(list(EventFileLoader(str(path)).Load())) == whole_records(path.read_bytes())
    return events


@pytest.mark.parametrize("mode", ["blocking", "background"])
def test_a_killed_training_keeps_every_step_its_log_returned_minus_the_queue_bound(tmp_path, mode):
    process = training(tmp_path, mode)
    printed = []
    for line in process.stdout:
        printed.append(int(line))
        if printed[-1] >= 5:
            break
    process.send_signal(signal.SIGKILL)
    printed += [int(line) for line in process.stdout.read().split()]  # steps that returned before the kill
    assert process.wait(timeout=60) == -signal.SIGKILL, process.stderr.read()
    behind = 0 if mode == "blocking" else background.MAX_PENDING_STEPS
    assert_complete_and_undamaged(tmp_path, range(max(printed) + 1 - behind))


def read_scalars(run_dir: Path) -> dict[str, dict[int, float]]:
    """{tag: {step: value}} of the ordinary TensorBoard scalars in a run's event files, as TensorBoard reads them."""
    found: dict[str, dict[int, float]] = {}
    for path in sorted(run_dir.glob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "scalars":
                    found.setdefault(value.tag, {})[event.step] = float(tensor_util.make_ndarray(value.tensor))
    return found


def test_what_is_queued_is_written_at_interpreter_exit_without_close(tmp_path):
    process = training(tmp_path, "background", steps=4)
    assert process.wait(timeout=300) == 0, process.stderr.read()
    events = assert_complete_and_undamaged(tmp_path, range(4))
    assert set(events[LAYER_TAGS[0]]) == {0, 1, 2, 3}


def test_background_and_blocking_write_the_same_records_and_lose_no_step(tmp_path):
    def logged(mode: str) -> dict:
        torch.manual_seed(0)
        model = small_cnn()
        probes = torch.rand(3, 1, 28, 28)
        kinds = ["feature_maps", Filters(steps=4, every=2), "dynamics", "saliency"]
        log_dir = str(tmp_path / mode)
        with CNNVizCallback(model, probes, log_dir=log_dir, kinds=kinds, blocking=mode == "blocking") as viz:
            for step in range(6):
                with torch.no_grad():
                    for parameter in model.parameters():
                        parameter.mul_(0.9)
                viz.log(step)
        return read_cnnviz_events(tmp_path / mode), read_scalars(tmp_path / mode)

    (background_events, background_scalars), (blocking_events, blocking_scalars) = (
        logged("background"),
        logged("blocking"),
    )
    assert background_events == blocking_events
    assert background_scalars == blocking_scalars
    assert sorted(background_scalars["cnnviz/0/cka_first"]) == list(range(6))
    assert sorted(background_scalars["cnnviz/0/cka_previous"]) == list(range(1, 6)), "none before a previous log"
    assert sorted(background_scalars["cnnviz/4/similarity"]) == [0, 2, 4], "filter images' similarity"
    assert sorted(background_events["0/feature_maps"]) == list(range(6))
    assert sorted(background_events["0/filters"]) == [0, 2, 4]
    assert sorted(background_events["model/saliency"]) == list(range(6))


def test_the_queue_is_bounded_and_log_returns_once_earlier_steps_are_written(tmp_path, monkeypatch):
    monkeypatch.setattr(background, "MAX_PENDING_BYTES", 3000)
    encode, queued = background.summary_of, []

    def slow_summary_of(*args, **content):
        queued.append(sink._pipe.pending_bytes)
        time.sleep(0.01)
        return encode(*args, **content)

    monkeypatch.setattr(background, "summary_of", slow_summary_of)
    sink = BackgroundWriter(SummaryWriter(str(tmp_path)))
    picture = np.zeros((10, 100), np.uint8)  # 1000 bytes
    for step in range(4):
        for index in range(8):
            sink.write(f"{index}/feature_maps", Record(new_info("feature_maps"), [picture]), step, {})
        sink.end_step()
        assert sink._pipe.written_steps >= step  # every step before this one is in the file
    sink.close(close_writer=True)
    assert len(queued) == 32 and max(queued) <= 3000
    events = read_cnnviz_events(tmp_path)
    assert {tag: sorted(steps) for tag, steps in events.items()} == {
        f"{i}/feature_maps": [0, 1, 2, 3] for i in range(8)
    }


def test_a_record_that_cannot_be_encoded_warns_on_the_training_thread_and_the_rest_is_written(tmp_path):
    sink = BackgroundWriter(SummaryWriter(str(tmp_path)))
    picture = np.zeros((4, 4), np.uint8)
    sink.write("0/feature_maps", Record(new_info("feature_maps", value=float("nan")), [picture]), 0, {})
    sink.write("1/feature_maps", Record(new_info("feature_maps"), [picture]), 0, {})
    with pytest.warns(CNNVizWarning, match=r"0/feature_maps at step 0 not logged: Out of range float") as caught:
        sink.close(close_writer=True)
    assert len(caught) == 1
    assert set(read_cnnviz_events(tmp_path)) == {"1/feature_maps"}


@pytest.mark.parametrize("blocking", [False, True])
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # TensorBoard's writer thread
def test_a_failed_event_file_is_one_warning_and_the_next_step_goes_into_a_new_one(tmp_path, blocking):
    model = small_cnn()
    viz = CNNVizCallback(model, torch.rand(2, 1, 28, 28), log_dir=str(tmp_path), blocking=blocking)

    def full(_data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    # TensorBoard's file object under the callback's SummaryWriter: its writes fail as on a full disk (the
    # folder itself stays writable: tests/test_faults_writer.py has outages of the whole folder).
    viz.writer._get_file_writer().event_writer._general_file_writer.write = full
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step in range(4):
            optimizer.zero_grad()
            model(torch.rand(8, 1, 28, 28)).sum().backward()
            optimizer.step()
            viz.log(step)
        viz.close()
    messages = [str(warning.message) for warning in caught if warning.category is CNNVizWarning]
    assert len(messages) == 2, messages
    assert "event file cannot be written" in messages[0] and "No space left on device" in messages[0]
    assert "logging resumed at step 1 in a new file" in messages[1]
    events = read_cnnviz_events(tmp_path)
    assert sorted(events["0/feature_maps"]) == [1, 2, 3] and list(events[contract.PROBES_TAG]) == [0]
    assert sorted(read_scalars(tmp_path)["cnnviz/0/dead_fraction"]) == [1, 2, 3], "scalars share the outage"


def test_a_dropped_callback_is_collected_and_its_queue_written(tmp_path):
    viz = CNNVizCallback(small_cnn(), torch.rand(2, 1, 28, 28), log_dir=str(tmp_path))
    for step in range(3):
        viz.log(step)
    collected = weakref.ref(viz)
    del viz
    gc.collect()
    assert collected() is None
    assert not [thread for thread in threading.enumerate() if thread.name == "tb_cnnviz writer"]
    assert sorted(read_cnnviz_events(tmp_path)["0/feature_maps"]) == [0, 1, 2]
