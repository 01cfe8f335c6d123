"""Event files are checksummed by google-crc32c, and TensorBoard's own reader accepts every record."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import google_crc32c
import torch
from conftest import small_cnn

from tb_cnnviz import CNNVizCallback

# A fresh interpreter that never imports tb_cnnviz, so TensorBoard checks every CRC with its own
# pure-Python CRC32C; EventFileLoader stops quietly at the first record whose CRC does not match.
READER = """
import json, sys
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.compat.tensorflow_stub import pywrap_tensorflow
assert pywrap_tensorflow.crc32c.__module__ == pywrap_tensorflow.__name__, "TensorBoard's own CRC32C"
print(json.dumps({path: [[event.step, [value.tag for value in event.summary.value]]
                         for event in EventFileLoader(path).Load()] for path in sys.argv[1:]}))
"""


def read_with_tensorboard(*paths: Path) -> dict[str, list]:
    done = subprocess.run([sys.executable, "-c", READER, *map(str, paths)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def record_offsets(data: bytes) -> list[int]:
    """Where each TFRecord of an event file starts (length, its CRC, the payload, its CRC), CRCs unchecked."""
    offsets, at = [], 0
    while at < len(data):
        offsets.append(at)
        at += 12 + struct.unpack("<Q", data[at : at + 8])[0] + 4
    assert at == len(data), "the file ends with a whole record"
    return offsets


def test_every_record_is_checksummed_by_the_library_and_tensorboard_accepts_them(tmp_path, monkeypatch):
    calls = []
    library_value = google_crc32c.value
    monkeypatch.setattr(google_crc32c, "value", lambda data: calls.append(len(data)) or library_value(data))
    with CNNVizCallback(small_cnn(), torch.rand(2, 1, 28, 28), log_dir=str(tmp_path), kinds=["feature_maps"]) as viz:
        for step in range(3):
            viz.log(step)
    (path,) = tmp_path.glob("events.out.tfevents.*")
    data = path.read_bytes()
    records = record_offsets(data)
    # Two CRCs per record (its length, its payload), every one by the library, from the file's first record on.
    assert len(calls) == 2 * len(records) and sorted(calls)[-1] > 10_000

    events = read_with_tensorboard(path)[str(path)]
    assert len(events) == len(records), "TensorBoard's reader accepted every record"
    assert [step for step, tags in events if "0/feature_maps" in tags] == [0, 1, 2]

    # The reader does check: one flipped byte in the payload of the last record ends the file there.
    damaged = tmp_path / "damaged" / path.name
    damaged.parent.mkdir()
    flipped = bytearray(data)
    flipped[records[-1] + 12 + 5] ^= 0xFF
    damaged.write_bytes(bytes(flipped))
    assert len(read_with_tensorboard(damaged)[str(damaged)]) == len(records) - 1
