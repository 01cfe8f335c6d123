"""Records -> event files, through a torch SummaryWriter so one run holds everything; PNG encoding happens here.

`summary_of` (PNG encoding, the Summary proto with the record's scalars) and `add_summary` (into the writer's
event file) are the two halves the background writer runs on its worker thread; `write_record` does both at once.
"""

from __future__ import annotations

import json

import google_crc32c
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.compat.tensorflow_stub import pywrap_tensorflow
from tensorboard.util import tensor_util
from torch.utils.tensorboard import SummaryWriter

from tb_cnnviz import contract
from tb_cnnviz.writer.atlas import png_bytes
from tb_cnnviz.writer.record import Record


def use_library_checksums() -> None:
    """Have TensorBoard's event records checksummed by google-crc32c (C) instead of its pure-Python CRC32C.

    TensorBoard's RecordWriter (and its reader) call `masked_crc32c`, which masks what the module's
    `crc32c` returns; without TensorFlow that is a table loop in Python (~80 ms per 300 KB). TensorBoard
    offers no hook, so the function it looks up at each call is replaced, for every event file of the
    process: the values are the same CRC32C, so every reader accepts them; only the speed changes.
    """
    pywrap_tensorflow.crc32c = _library_crc32c


def _library_crc32c(data: bytes) -> int:
    return google_crc32c.value(bytes(data))  # bytes(b) is b itself; the library refuses writable buffers


def write_record(writer: SummaryWriter, tag: str, record: Record, step: int, **content) -> None:
    """Write `record` at `step`: its info, then its pictures as PNG (the blob layout of contract)."""
    add_summary(writer, summary_of(tag, record, **content), step)


def summary_of(tag: str, record: Record, **content) -> Summary:
    """`record` as one Summary: a blob sequence (its info as JSON blob INFO_BLOB, then its pictures as PNG) and,
    in the same event, each of its scalars as an ordinary TensorBoard scalar (contract.scalar_tag; a record
    without a "layer" in `content` is a model-level one)."""
    summary = blob_sequence_summary(tag, record.info, [png_bytes(picture) for picture in record.pictures], **content)
    summary.value.extend(
        Summary.Value(tag=contract.scalar_tag(content.get("layer"), name), simple_value=float(value))
        for name, value in record.scalars.items()
    )
    return summary


def write_blob_sequence(writer: SummaryWriter, tag: str, info: dict, blobs: list[bytes], step: int, **content) -> None:
    """Write `info` as JSON blob INFO_BLOB and `blobs` after it as one blob-sequence summary at `step`."""
    add_summary(writer, blob_sequence_summary(tag, info, blobs, **content), step)


def blob_sequence_summary(tag: str, info: dict, blobs: list[bytes], **content) -> Summary:
    """`info` as JSON blob INFO_BLOB and `blobs` after it, as one blob-sequence Summary.

    `content` goes into the summary metadata (kind, layer, shape...), which TensorBoard reads from
    the first event of the tag; every event carries it, so any event can come first.
    """
    sequence = [json.dumps(info, allow_nan=False).encode("utf-8"), *blobs]
    value = Summary.Value(
        tag=tag,
        metadata=contract.create_summary_metadata(info["kind"], **content),
        tensor=tensor_util.make_tensor_proto(sequence),
    )
    return Summary(value=[value])


def add_summary(writer: SummaryWriter, summary: Summary, step: int) -> None:
    """Append `summary` at `step` to the writer's event file."""
    # torch's SummaryWriter has no public way to add a raw Summary; this is how torch reaches it.
    writer._get_file_writer().add_summary(summary, global_step=step)
