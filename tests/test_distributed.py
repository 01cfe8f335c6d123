"""Under DistributedDataParallel (gloo, 2 CPU processes) the callback logs every kind from rank 0 only,
issues no collective, and leaves training exactly as it would be without it.

Both ranks run the same short real training twice, with and without the callback; the parent
compares the weights each run ends with.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import sys
import threading
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from conftest import read_cnnviz_events, small_cnn
from torch.nn.parallel import DistributedDataParallel

from tb_cnnviz import CNNVizCallback, contract
from tb_cnnviz.writer.kinds import KINDS, kind_names

WORLD_SIZE = 2
EPOCHS = 2
BATCHES_PER_EPOCH = 3
# Every function through which Python code reaches a process group.
COLLECTIVES = (
    "all_reduce", "all_gather", "all_gather_into_tensor", "all_gather_object", "all_to_all", "all_to_all_single",
    "barrier", "monitored_barrier", "broadcast", "broadcast_object_list", "gather", "gather_object", "reduce",
    "reduce_scatter", "reduce_scatter_tensor", "scatter", "scatter_object_list", "send", "recv", "isend", "irecv",
    "batch_isend_irecv", "_broadcast_coalesced",
)  # fmt: skip


@contextlib.contextmanager
def recording_collectives(calls: list[str]):
    """Count every collective called through torch.distributed while the block runs."""
    originals = {name: getattr(dist, name) for name in COLLECTIVES if hasattr(dist, name)}

    def recorder(name, function):
        def record(*args, **kwargs):
            calls.append(name)
            return function(*args, **kwargs)

        return record

    for name, function in originals.items():
        setattr(dist, name, recorder(name, function))
    try:
        yield
    finally:
        for name, function in originals.items():
            setattr(dist, name, function)


def train(rank: int, log_dir: Path | None) -> tuple[dict[str, torch.Tensor], list[str]]:
    """A short DDP training from fixed weights on this rank's own batches; the callback logs each epoch if given."""
    torch.manual_seed(0)
    model = DistributedDataParallel(small_cnn())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    data = torch.Generator().manual_seed(100 + rank)
    batches = [
        (torch.randn(8, 1, 28, 28, generator=data), torch.randint(0, 10, (8,), generator=data)) for _ in range(3)
    ]
    probes = torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(7))
    every_layer_kind_every_log = [KINDS[name](every=1) for name in kind_names("layer")]
    viz = CNNVizCallback(model, probes, log_dir=str(log_dir), kinds=every_layer_kind_every_log) if log_dir else None
    torch.manual_seed(1 + rank)  # dropout masks: the same in both runs of a rank, different across ranks
    calls: list[str] = []
    for epoch in range(EPOCHS):
        model.train()
        for images, labels in batches:
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if viz is not None:
            with recording_collectives(calls):
                viz.on_epoch_end(epoch)
    if viz is not None:
        viz.close()
    return {name: tensor.detach().clone() for name, tensor in model.module.state_dict().items()}, calls


def worker(rank: int, directory: Path) -> None:
    """One rank: both trainings, its results saved, then a teardown that leaves nothing to chance at exit.

    Every rank waits at a barrier (no collective is in flight when any rank tears down), then destroys the
    process group. The gloo group outlives that: once DDP has used it, torch keeps references to it, so
    its threads (gloo_tcp_loop, pt_gloo_runloop) still run, and interpreter exit would destroy them
    while they run: on a busy machine rank 1 once aborted there ("terminate called without an active
    exception"). So a rank whose work succeeded leaves with os._exit(0) once its results are on disk.
    """
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"file://{directory / 'rendezvous'}",
        rank=rank,
        world_size=WORLD_SIZE,
        timeout=datetime.timedelta(seconds=60),  # a collective only one rank issues fails instead of hanging
    )
    try:
        with_callback, calls = train(rank, directory / f"logs-rank{rank}")
        without_callback, _ = train(rank, None)
        # The callback's writer thread (rank 0) is joined by close(): no thread of ours outlives the training.
        threads = [thread.name for thread in threading.enumerate() if thread is not threading.main_thread()]
        results = {"with": with_callback, "without": without_callback, "calls": calls, "threads": threads}
        torch.save(results, directory / f"rank{rank}.pt")
        dist.barrier()
    finally:
        dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def test_ddp_training_logs_from_rank_zero_only_and_is_unchanged(tmp_path):
    mp.spawn(worker, args=(tmp_path,), nprocs=WORLD_SIZE, join=True)
    results = [torch.load(tmp_path / f"rank{rank}.pt") for rank in range(WORLD_SIZE)]

    parameter_names = {name for name, _ in small_cnn().named_parameters()}
    for rank, result in enumerate(results):
        assert result["calls"] == [], f"rank {rank}: the callback issued collectives {result['calls']}"
        assert result["threads"] == [], f"rank {rank}: threads left running after close(): {result['threads']}"
        for name, tensor in result["with"].items():
            assert torch.equal(tensor, result["without"][name]), f"rank {rank}: {name} differs from the run without"
        # Parameters stay in sync; BatchNorm statistics are each rank's own since the last forward.
        for name in parameter_names:
            assert torch.equal(result["with"][name], results[0]["with"][name]), f"{name}: rank {rank} diverged"

    events = read_cnnviz_events(tmp_path / "logs-rank0")
    layer_tags = {contract.layer_tag(layer, kind) for layer in ("0", "4") for kind in kind_names("layer")}
    assert set(events) == {contract.PROBES_TAG} | layer_tags, "every kind, from rank 0"
    assert all(sorted(events[tag]) == list(range(EPOCHS)) for tag in layer_tags)
    assert not (tmp_path / "logs-rank1").exists(), "rank 1 wrote files"
