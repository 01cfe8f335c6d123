"""Records -> event files, through a torch SummaryWriter so one run holds everything; PNG encoding happens here."""

from __future__ import annotations

import json

from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.util import tensor_util
from torch.utils.tensorboard import SummaryWriter

from tb_cnnviz import contract
from tb_cnnviz.writer.atlas import png_bytes
from tb_cnnviz.writer.record import Record


def write_record(writer: SummaryWriter, tag: str, record: Record, step: int, **content) -> None:
    """Write `record` at `step`: its info, then its pictures as PNG (the blob layout of contract)."""
    write_blob_sequence(writer, tag, record.info, [png_bytes(picture) for picture in record.pictures], step, **content)


def write_blob_sequence(writer: SummaryWriter, tag: str, info: dict, blobs: list[bytes], step: int, **content) -> None:
    """Write `info` as JSON blob INFO_BLOB and `blobs` after it as one blob-sequence summary at `step`.

    `content` goes into the summary metadata (kind, layer, shape...), which TensorBoard reads from
    the first event of the tag; every event carries it, so any event can come first.
    """
    sequence = [json.dumps(info, allow_nan=False).encode("utf-8"), *blobs]
    value = Summary.Value(
        tag=tag,
        metadata=contract.create_summary_metadata(info["kind"], **content),
        tensor=tensor_util.make_tensor_proto(sequence),
    )
    # torch's SummaryWriter has no public way to add a raw Summary; this is how torch reaches it.
    writer._get_file_writer().add_summary(Summary(value=[value]), global_step=step)
