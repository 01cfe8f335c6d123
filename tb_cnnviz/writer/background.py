"""Where records go once the training thread has made them: PNG encoding, checksums and file writes.

By default they run on one background worker thread, behind a queue bounded in bytes (log() waits
when it is full) and in steps (when log() returns, every step before it is in the event file). With
blocking=True they run on the calling thread, as before. Either way a failure never reaches training:
it becomes a CNNVizWarning on the training thread at the next log() or close(). An event file that
cannot be written (a full disk, a read-only folder) is reported once; records are dropped while it lasts,
a new event file is tried at each later step, and once one is written that is reported once too.
The worker holds no reference to the callback: a callback dropped without close() is collected, and
what it queued is written then, or at interpreter exit at the latest (weakref.finalize).
"""

from __future__ import annotations

import collections
import threading
import weakref
from dataclasses import dataclass, field

from torch.utils.tensorboard import SummaryWriter

from tb_cnnviz.writer import event_file
from tb_cnnviz.writer.record import Record
from tb_cnnviz.writer.reporting import warn
from tb_cnnviz.writer.summary import add_summary, summary_of, use_library_checksums

# Pictures queued and not yet written: beyond this, log() waits for the worker (one record larger than
# this still goes, alone). Every kind's records of one step at 224 px fit a few times over.
MAX_PENDING_BYTES = 256 * 2**20
# Steps whose log() returned but which may not be in the event file yet: log(n) returns once every step
# logged before n is written, so training runs at most one step ahead of the file.
MAX_PENDING_STEPS = 1


@dataclass
class _Item:
    """One record to encode and write, or (record None) the end of a step: flush the event file.

    `keep`: written once in the run (the probes): if it may be lost in an outage, it goes into the next file.
    """

    tag: str = ""
    record: Record | None = None
    step: int = 0
    content: dict = field(default_factory=dict)
    keep: bool = False

    @property
    def size(self) -> int:
        return 0 if self.record is None else sum(picture.nbytes for picture in self.record.pictures)


class _Pipe:
    """What the training thread and the worker share: the queue, the counts, the problems to report."""

    def __init__(self, writer: SummaryWriter, max_bytes: int, max_steps: int) -> None:
        self.writer = writer
        self.max_bytes, self.max_steps = max_bytes, max_steps
        self.changed = threading.Condition()
        self.items: collections.deque[_Item] = collections.deque()
        self.pending_bytes = 0
        self.ended_steps = self.written_steps = 0
        self.stopping = self.stopped = False
        self.problems: list[str] = []
        self.outage: str | None = None  # why the event file cannot be written, while it cannot
        self.reopened = self.retry_due = False  # a new file since the outage / one may be tried now
        self.step = 0  # of the last record: the step a recovery is reported at
        self.unflushed: list[_Item] = []  # `keep` items written since the last good flush
        self.lost: list[_Item] = []  # `keep` items an outage may have lost

    def put(self, item: _Item) -> bool:
        """Queue `item`, waiting while the queue is full; False if the worker is gone."""
        with self.changed:
            self.changed.wait_for(
                lambda: self.stopped or not self.items or self.pending_bytes + item.size <= self.max_bytes
            )
            if self.stopped:
                return False
            self.items.append(item)
            self.pending_bytes += item.size
            self.ended_steps += item.record is None
            self.changed.notify_all()
            return True

    def wait_for_steps(self, behind: int) -> None:
        """Wait until at most `behind` ended steps are not yet written."""
        with self.changed:
            self.changed.wait_for(lambda: self.stopped or self.written_steps >= self.ended_steps - behind)

    def process(self, item: _Item) -> None:
        """Encode and write one item; failures become problems. In an outage items are dropped, and at a
        step's first item a new event file is tried."""
        if item.record is not None:
            self.step = item.step
        if self.outage is None or self._reopen():
            self._write(item)
        elif item.keep:
            self.lost.append(item)
        if item.record is None:
            self.retry_due = self.outage is not None

    def _write(self, item: _Item) -> None:
        if item.record is None:
            if self._into_file(self.writer.flush):
                self._flushed()
            return
        try:
            summary = summary_of(item.tag, item.record, **item.content)
        except Exception as error:  # noqa: BLE001 - reported on the training thread
            self.problem(f"{item.tag} at step {item.step} not logged: {error}")
            return
        if item.keep:
            self.unflushed.append(item)
        self._into_file(add_summary, self.writer, summary, item.step)

    def _into_file(self, function, *args) -> bool:
        """Call `function`; True if it wrote. The first failure starts an outage, reported once."""
        try:
            function(*args)
            return True
        except Exception as error:  # noqa: BLE001 - a full disk must not crash training
            if self.outage is None and not self.reopened:
                self.problem(
                    f"the event file cannot be written ({error}); training goes on, nothing is logged while "
                    "this lasts, and logging resumes in a new event file once the log folder can be written"
                )
            self.outage, self.reopened = str(error), False
            self.lost += self.unflushed
            self.unflushed = []
            return False

    def _reopen(self) -> bool:
        """In an outage, at a step's first item: True once a new event file could be opened (and the lost
        `keep` items are in it); whether it takes records is known at the step's flush."""
        if not self.retry_due:
            return False
        self.retry_due = False
        try:
            event_file.reopen(self.writer)
        except Exception:  # noqa: BLE001 - still full or read-only: dropped as before, tried next step
            return False
        self.outage, self.reopened = None, True
        lost, self.lost = self.lost, []
        for item in lost:
            self._write(item)
        return self.outage is None

    def _flushed(self) -> None:
        self.unflushed = []
        if self.reopened:
            self.reopened = False
            self.problem(f"the event file can be written again: logging resumed at step {self.step} in a new file")

    def work(self) -> None:
        """The worker's loop: take items in order until stopped and drained, then flush once more."""
        try:
            while True:
                with self.changed:
                    self.changed.wait_for(lambda: self.items or self.stopping)
                    if not self.items:
                        break
                    item = self.items[0]  # counted as pending until written
                self.process(item)
                with self.changed:
                    self.items.popleft()
                    self.pending_bytes -= item.size
                    self.written_steps += item.record is None
                    self.changed.notify_all()
            self.process(_Item())
        finally:
            with self.changed:
                self.stopped = True
                self.changed.notify_all()

    def close_file(self) -> None:
        """Close the writer; a failure is reported."""
        try:
            self.writer.close()
        except Exception as error:  # noqa: BLE001 - close() must not raise into training
            self.problem(f"the event file could not be closed: {error}")

    def problem(self, message: str) -> None:
        with self.changed:
            self.problems.append(message)

    def take_problems(self) -> list[str]:
        with self.changed:
            problems, self.problems = self.problems, []
        return problems


def _stop(pipe: _Pipe, thread: threading.Thread) -> None:
    """Let the worker drain the queue and flush, and wait for it (unless this is the worker itself)."""
    with pipe.changed:
        pipe.stopping = True
        pipe.changed.notify_all()
    if thread is not threading.current_thread():
        thread.join()


def _stop_and_report(pipe: _Pipe, thread: threading.Thread) -> None:
    """The finalizer of a background writer that was never closed: drain, then report what failed."""
    _stop(pipe, thread)
    for problem in pipe.take_problems():
        warn(problem)


class BackgroundWriter:
    """Writes records into `writer`'s event file: on a worker thread, or on the caller's when `blocking`."""

    def __init__(self, writer: SummaryWriter, *, blocking: bool = False) -> None:
        use_library_checksums()
        self.writer = writer
        self._pipe = _Pipe(writer, MAX_PENDING_BYTES, MAX_PENDING_STEPS)
        self._thread: threading.Thread | None = None
        if not blocking:
            self._thread = threading.Thread(target=self._pipe.work, name="tb_cnnviz writer", daemon=True)
            self._thread.start()
            self._finalizer = weakref.finalize(self, _stop_and_report, self._pipe, self._thread)

    @classmethod
    def open(cls, writer: SummaryWriter | None, log_dir: str | None, *, blocking: bool) -> BackgroundWriter:
        """A background writer into `writer`, or into a new SummaryWriter at `log_dir` (checksummed by the
        library from its first record on)."""
        use_library_checksums()
        if writer is None:
            try:
                writer = SummaryWriter(log_dir=log_dir)
            except OSError as error:
                message = f"log_dir {log_dir!r} cannot be written ({error}); pass a writable folder"
                raise OSError(error.errno, message) from error
        return cls(writer, blocking=blocking)

    def write(self, tag: str, record: Record, step: int, content: dict, *, keep: bool = False) -> None:
        """Queue `record` (training thread): its pictures are copied unless they own their memory. `keep`: a
        record logged once in a run (the probes), written again into a new event file if an outage lost it."""
        pictures = [picture if picture.flags.owndata else picture.copy() for picture in record.pictures]
        self._send(_Item(tag, Record(dict(record.info), pictures, dict(record.scalars)), step, dict(content), keep))

    def end_step(self) -> None:
        """End a log(): flush the event file; in the background, wait until older steps are written."""
        self._send(_Item())
        if self._thread is not None:
            self._pipe.wait_for_steps(self._pipe.max_steps)
        self.report()

    def report(self) -> None:
        """Warn, on the calling thread, about every problem met since the last report."""
        for problem in self._pipe.take_problems():
            warn(problem)

    def close(self, close_writer: bool) -> None:
        """Write everything queued, stop the worker, then close (or just flush) the writer; never raises."""
        if self._thread is not None:
            self._finalizer.detach()
            _stop(self._pipe, self._thread)  # the worker drains the queue and flushes
            self._thread = None  # anything logged after close() is written at once
        else:
            self._pipe.process(_Item())
        if self._pipe.outage is not None:  # reported already; the writer's next use (a user's own) tries anew
            event_file.discard(self.writer)
        if close_writer:
            self._pipe.close_file()
        self.report()

    def _send(self, item: _Item) -> None:
        if self._thread is not None and self._pipe.put(item):
            return
        if self._thread is not None:  # the worker died: what it held is lost, write here from now on
            self._thread = None
            self._pipe.problem("the background writer stopped; records are written on the training thread")
        self._pipe.process(item)
