"""Explanatory graphs made by hand in the method's own dataclasses, and runs the real callback logs them into.

The graph kind's writer, the plugin and the tab are tested on these: every node, link, patch and position
is known, so what is served and drawn can be compared with it exactly. The mining itself is tested on
real training in test_explanatory_graph*.py; here it is replaced by `hand_graph` (mined_by_hand).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from tb_cnnviz import CNNVizCallback, PartGraph
from tb_cnnviz.methods.explanatory_graph import ExplanatoryGraph, PartEdge, PartNode
from tb_cnnviz.writer.kinds import explanatory_graph as graph_kind

TOP = '<b>top</b> "q"'  # layer names that are HTML and hold quotes: the tab must insert them as text
LOW = "low <i>&amp;</i>"
IMAGE = 12  # probes and held-out images are 12 x 12, one channel
PROBES = 3
STEP_0_IDS = 100  # step 0's graph numbers its nodes from 100: each step's ids are its own, as when mined anew


def graph_model() -> nn.Sequential:
    """A small CNN whose two conv layers have the hostile names above."""
    torch.manual_seed(0)
    return nn.Sequential(
        OrderedDict(
            [
                (LOW, nn.Conv2d(1, 4, 3, padding=1)),
                ("relu1", nn.ReLU()),
                (TOP, nn.Conv2d(4, 4, 3, padding=1)),
                ("relu2", nn.ReLU()),
                ("pool", nn.AdaptiveAvgPool2d(1)),
                ("flatten", nn.Flatten()),
                ("linear", nn.Linear(4, 2)),
            ]
        )
    )


def _patches(count: int, size: int, seed: int) -> torch.Tensor:
    return torch.rand(count, 1, size, size, generator=torch.Generator().manual_seed(seed))


def _node(id_: int, layer: str, channel: int, parents: list[PartEdge], count: int, size: int, peers=()) -> PartNode:
    own = id_ % STEP_0_IDS  # the same node's numbers at every step, whatever its id
    boxes = [(own + rank, 0, 0, size, size) for rank in range(count)]
    patches = _patches(count, size, own)
    return PartNode(id_, layer, channel, parents, 0.05 + 0.01 * own, 10 - own, patches, boxes, list(peers))


def hand_graph(step: int) -> ExplanatoryGraph:
    """Two top nodes, three (from step 1: four) low nodes linked to them; node 1 has fewer patches than k and a
    peer (channel 1 of its layer). Ids from STEP_0_IDS at step 0, from 0 later."""
    first = STEP_0_IDS if step == 0 else 0
    top, other = first, first + 1
    nodes = [
        _node(first, TOP, 1, [], 3, 5),
        _node(first + 1, TOP, 3, [], 2, 5, peers=[PartEdge(1, 5.0, -2.0, 1.0, 1.5)]),
        _node(first + 2, LOW, 0, [PartEdge(top, -4.0, 2.0, 1.0, 1.5)], 3, 3),
        _node(first + 3, LOW, 2, [PartEdge(top, 3.0, 3.0, 0.5, 0.5), PartEdge(other, -1.0, 0.0, 2.0, 2.5)], 3, 3),
        _node(first + 4, LOW, 1, [PartEdge(other, 2.5, -3.0, 1.0, 1.0)], 1, 3),
    ]
    if step >= 1:
        nodes.append(_node(5, LOW, 3, [PartEdge(top, 0.0, 4.0, 0.75, 0.75)], 3, 3))
    fields = {TOP: (5, 1, 0.0), LOW: (3, 1, 0.0)}
    return ExplanatoryGraph([TOP, LOW], nodes, (IMAGE, IMAGE), fields)


def hand_positions(graph: ExplanatoryGraph, count: int) -> list[list[tuple[float, float, float] | None]]:
    """Per node, per probe: a known place and score, absent on the last probe for odd node ids."""
    own = [node.id % STEP_0_IDS for node in graph.nodes]
    return [
        [
            None if id_ % 2 and probe == count - 1 else (2.0 + id_, 3.0 + probe, 1.0 + id_ + probe)
            for probe in range(count)
        ]
        for id_ in own
    ]


@contextlib.contextmanager
def mined_by_hand():
    """The kind's method calls answer with hand_graph (one more node from the second log on)."""
    calls = []

    def explanatory_graph(model, data, layers, patterns_per_filter, **options):
        assert sorted(layers) == sorted([TOP, LOW]), layers
        calls.append(len(calls))
        return hand_graph(len(calls) - 1)

    def locate_parts(model, graph, images):
        return hand_positions(graph, len(images))

    saved = graph_kind.explanatory_graph, graph_kind.locate_parts
    graph_kind.explanatory_graph, graph_kind.locate_parts = explanatory_graph, locate_parts
    try:
        yield calls
    finally:
        graph_kind.explanatory_graph, graph_kind.locate_parts = saved


def write_graph_run(run: Path, steps: int = 3) -> None:
    """A run of `steps` logs of the graph kind (every log) and feature maps, by the real callback."""
    model = graph_model()
    probes = torch.rand(PROBES, 1, IMAGE, IMAGE, generator=torch.Generator().manual_seed(1))
    held_out = torch.rand(8, 1, IMAGE, IMAGE, generator=torch.Generator().manual_seed(2))
    kind = PartGraph(dataset=held_out, layers=[LOW, TOP], every=1, top_patches=3)
    with mined_by_hand(), CNNVizCallback(model, probes, log_dir=str(run), kinds=["feature_maps", kind]) as viz:
        for step in range(steps):
            viz.log(step)


def write_crafted_graph_run(run: Path) -> dict[int, list[bytes]]:
    """A graph tag written event by event: steps 0 and 3 good, 1 not JSON, 2 linking to a node it lacks.

    Returns {step: blobs} as written. Step 2 passes the plugin's generic checks (it knows no graph): only
    the tab can tell it is broken, and must lose that step alone.
    """
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    from tensorboard.util import tensor_util

    from tb_cnnviz import contract
    from tb_cnnviz.writer.atlas import png_bytes

    written = {}
    for step in range(4):
        graph = hand_graph(step)
        info, pictures = graph_kind.render(graph, hand_positions(graph, PROBES), 32, 64, top_patches=3)
        if step == 2:
            info["nodes"][-1]["parents"] = [{"parent": 99, "dx": 1.0, "dy": 1.0, "sx": 1.0, "sy": 1.0}]
        encoded = b"{not json" if step == 1 else json.dumps(info).encode()
        written[step] = [encoded, *map(png_bytes, pictures)]
    writer = EventFileWriter(str(run))
    metadata = contract.create_summary_metadata(graph_kind.NAME, scope=contract.MODEL_SCOPE)
    for step, blobs in written.items():
        tensor = tensor_util.make_tensor_proto(blobs)
        summary = Summary(
            value=[Summary.Value(tag=contract.model_tag(graph_kind.NAME), metadata=metadata, tensor=tensor)]
        )
        writer.add_event(Event(wall_time=time.time(), step=step, summary=summary))
    writer.close()
    return written


def write_mined_run(run: Path, steps: int = 2, probes: int = 8) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A run whose graph the real method mines: the face net (synthetic_parts), its weights scaled between logs.

    Returns the model as last logged, the held-out images and the probes.
    """
    from synthetic_parts import make_part_images, trained_face_net

    model, _ = trained_face_net(count=512, epochs=3)
    held_out, probes = make_part_images(128, seed=7).images, make_part_images(probes, seed=9).images
    kind = PartGraph(dataset=held_out, every=1)
    with CNNVizCallback(model, probes, log_dir=str(run), kinds=["feature_maps", kind]) as viz:
        for step in range(steps):
            if step:
                with torch.no_grad():
                    for parameter in model.parameters():
                        parameter.mul_(1.05)
            viz.log(step)
    return model, held_out, probes
