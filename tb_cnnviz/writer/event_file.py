"""A SummaryWriter's event file after a write failed (a full disk, a read-only folder): drop it, try a new one.

TensorBoard's file writer is dead after one failed write (its thread stored the error and re-raises it at
every later call), and the file may end in a partial record, so writing resumes in a new event file of the
same run folder; both loaders read a run's files together.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

from torch.utils.tensorboard import SummaryWriter

# Space a new event file must be able to take before one is tried: below it the folder is still full,
# and trying would leave an empty event file (and TensorBoard's dying thread's traceback) at every step.
WRITE_CHECK_BYTES = 64 * 1024


def discard(writer: SummaryWriter) -> None:
    """Forget the writer's failed event file; its next write opens a new one."""
    file_writer = writer.file_writer
    writer.file_writer = writer.all_writers = None
    if file_writer is not None:
        with contextlib.suppress(Exception):  # it failed already; closing only stops its thread
            file_writer.close()


def reopen(writer: SummaryWriter) -> None:
    """Give the writer a new event file; raises OSError while its folder cannot be written."""
    discard(writer)
    _check_writable(writer.log_dir)
    writer._get_file_writer()  # torch's own way to (re)create the file: a header record, written and flushed


def _check_writable(folder: str) -> None:
    """Raise OSError unless WRITE_CHECK_BYTES can be written into a local `folder` (a remote one is just tried)."""
    if not os.path.isdir(folder):
        return
    with tempfile.TemporaryFile(dir=folder, prefix=".tb_cnnviz-write-check-") as probe:
        probe.write(bytes(WRITE_CHECK_BYTES))
        probe.flush()
        os.fsync(probe.fileno())
