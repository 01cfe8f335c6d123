"""Infos this release cannot read (corrupt, too new, breaking the contract) are reported and never hide good steps.

The logdir is written here without torch, event by event, so each step's info can be exactly as bad as wanted.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import fetch, fetch_json, plugin_url, tensorboard_server
from PIL import Image
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.util import tensor_util

from tb_cnnviz import contract

TAG = "model/toy"
GOOD = {"version": 2, "kind": "toy", "channels": [0, 1], "tile": [2, 2], "grid": [1, 2]}
INFOS = {
    0: json.dumps({**GOOD, "series": {"score": [0.5, None]}, "scalars": {"total": 0.5}}).encode(),
    1: json.dumps({**GOOD, "version": 99, "series": {"score": [1, 2]}}).encode(),  # a newer release wrote it
    2: b"{not json",
    3: json.dumps({**GOOD, "series": {"score": [1.0]}}).encode(),  # one number for two channels
    4: json.dumps({**GOOD, "series": {"score": [0.25, 0.75]}}).encode(),
    5: json.dumps({**GOOD, "series": {}, "scalars": {"total": "high"}}).encode(),  # a scalar that is no number
}


def atlas(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((2, 4), value, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> str:
    logdir: Path = tmp_path_factory.mktemp("bad_infos")
    writer = EventFileWriter(str(logdir / "run"))
    metadata = contract.create_summary_metadata("toy", scope=contract.MODEL_SCOPE)
    for step, info in INFOS.items():
        tensor = tensor_util.make_tensor_proto([info, atlas(40 * step)])
        summary = Summary(value=[Summary.Value(tag=TAG, metadata=metadata, tensor=tensor)])
        writer.add_event(Event(wall_time=time.time(), step=step, summary=summary))
    writer.close()
    with tensorboard_server(logdir, "--load_fast=false") as url:
        yield url


def test_series_keeps_the_good_steps_and_names_the_skipped_ones(base):
    series = fetch_json(plugin_url(base, "series", run="run", tag=TAG))
    assert series["steps"] == [0, 4] and series["stats"] == {"score": [[0.5, None], [0.25, 0.75]]}
    assert series["scalars"] == {"total": [0.5, None]}  # one number per step, None where a step has none
    reasons = {skipped["step"]: skipped["reason"] for skipped in series["skipped"]}
    assert sorted(reasons) == [1, 2, 3, 5]
    assert "version 99 is newer than this release reads (2); upgrade tb-cnnviz" in reasons[1]
    assert "not JSON" in reasons[2]
    assert "one number or null per item of 'channels' (2)" in reasons[3]
    assert "'scalars' must map chart names to one finite number or null each" in reasons[5]


def test_info_of_a_bad_step_answers_422_with_the_reason(base):
    status, headers, body = fetch(plugin_url(base, "info", run="run", tag=TAG, step=1))
    assert status == 422 and b"step 1 of this tag: cnnviz info version 99 is newer" in body
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert fetch_json(plugin_url(base, "info", run="run", tag=TAG, step=4))["series"] == {"score": [0.25, 0.75]}


def test_strip_leaves_bad_steps_transparent(base):
    status, _, body = fetch(plugin_url(base, "strip", run="run", tag=TAG, channel=1, index=1))
    strip = np.asarray(Image.open(io.BytesIO(body)).convert("RGBA"))
    assert status == 200 and strip.shape == (2, 2 * len(INFOS), 4)
    alpha = strip[0, ::2, 3]
    assert list(alpha) == [255, 0, 0, 0, 255, 0]
    assert strip[0, 8, 0] == 160  # step 4's tile of channel 1
