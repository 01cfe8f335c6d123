"""explanatory_graph on images with known parts: eyes and mouth link to the face with their true displacement,
distractors' peaks are dropped as noise, and mined patterns land more stably than raw filter peaks.

The data (tests/synthetic_parts.py): a face (two ring eyes and a bar mouth at fixed offsets) anywhere in each
held-out image, with three distractors (lone eyes, lone mouths, bars, pluses) placed apart from it. A small
CNN learns face present / absent in a few seconds; layer "7" (field 18 px, jump 4) sees whole faces and
layer "4" (field 8 px, jump 2) sees single parts.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from synthetic_parts import PARTS, SIZE, make_part_images, trained_face_net

from tb_cnnviz.methods.capture import feature_maps
from tb_cnnviz.methods.explanatory_graph import explanatory_graph, locate_parts
from tb_cnnviz.methods.part_mining import location_instability
from tb_cnnviz.methods.peaks import layer_geometry, peaks_of_maps

UPPER, LOWER = "7", "4"
UPPER_JUMP = 4
NEAR = 3.0  # px: a peak this close to a shape's centre is on that shape


@pytest.fixture(scope="module")
def mined():
    torch.manual_seed(0)
    net, accuracy = trained_face_net(seed=0)
    assert accuracy >= 0.95, f"the face net did not learn the task (held-out accuracy {accuracy:.2f})"
    data = make_part_images(200, seed=7, face_share=1.0)
    graph = explanatory_graph(net, data.images, [LOWER, UPPER], patterns_per_filter=3, batch_size=50)
    located = locate_parts(net, graph, data.images)
    return net, data, graph, located


def positions_of(rows) -> torch.Tensor:
    return torch.tensor([row[:2] if row else (math.nan, math.nan) for row in rows], dtype=torch.float64)


def offsets(positions: torch.Tensor, truth: torch.Tensor) -> torch.Tensor | None:
    """Positions - true positions where inferred, if on at least a quarter of the images; else None."""
    offset = positions - truth.double()
    seen = offset[~torch.isnan(offset[:, 0])]
    return seen if len(seen) >= len(truth) // 4 else None


def tracks(positions: torch.Tensor, truth: torch.Tensor, centred: bool = False) -> bool:
    """The positions follow the true ones at a fixed offset (std under half the upper jump per axis); with
    `centred`, an offset of at most the upper jump per axis."""
    offset = offsets(positions, truth)
    if offset is None or not bool((offset.std(dim=0) < UPPER_JUMP / 2).all()):
        return False
    return not centred or bool((offset.mean(dim=0).abs() <= UPPER_JUMP).all())


def test_eyes_and_mouth_link_to_the_face_with_their_true_displacement(mined):
    _, data, graph, located = mined
    assert graph.layers == [UPPER, LOWER]
    positions = {node.id: positions_of(rows) for node, rows in zip(graph.nodes, located, strict=True)}
    faces = {n.id for n in graph.nodes if n.layer == UPPER and tracks(positions[n.id], data.faces, centred=True)}
    assert faces, "no pattern of the upper layer sits on the face"
    for part, (dx, dy) in PARTS.items():
        nodes = [n for n in graph.nodes if n.layer == LOWER and tracks(positions[n.id], data.parts[part], True)]
        assert nodes, f"no pattern of the lower layer sits on the {part}"
        links = [(edge.dx - dx, edge.dy - dy) for node in nodes for edge in node.parents if edge.parent in faces]
        assert links, f"the {part} patterns {[n.id for n in nodes]} have no face pattern among their parents"
        best = min(links, key=lambda error: max(map(abs, error)))
        print(f"{part}: displacement error to the face pattern {best[0]:+.1f}, {best[1]:+.1f} px")
        assert max(map(abs, best)) <= UPPER_JUMP, f"{part}: displacement off by {best} px (jump {UPPER_JUMP})"


def lower_peaks(net, graph, images):
    maps = feature_maps(net, images, LOWER)[LOWER]
    geometry = layer_geometry(net, net[int(LOWER)], LOWER, tuple(images.shape[1:]), maps)
    thresholds = torch.tensor(graph.thresholds[LOWER])
    return peaks_of_maps(maps, geometry, thresholds, graph.peaks_per_channel)


def near(position: tuple[float, float], spots: list[tuple[float, float]], radius: float) -> bool:
    return any((position[0] - x) ** 2 + (position[1] - y) ** 2 <= radius**2 for x, y in spots)


def test_distractor_peaks_are_dropped_as_noise(mined):
    net, data, graph, located = mined
    peaks = lower_peaks(net, graph, data.images)
    kept = set()
    for node, rows in zip(graph.nodes, located, strict=True):
        if node.layer == LOWER:
            kept |= {(image, node.channel, row[0], row[1]) for image, row in enumerate(rows) if row}
    on = {"distractor": [0, 0], "part": [0, 0]}  # [peaks, kept as a pattern's position]
    for image, channel, (x, y) in zip(
        peaks.image.tolist(), peaks.channel.tolist(), peaks.position.tolist(), strict=True
    ):
        parts = [tuple(data.parts[name][image].tolist()) for name in PARTS]
        others = [(ox, oy) for _, ox, oy in data.distractors[image]]
        kind = "part" if near((x, y), parts, NEAR) else "distractor" if near((x, y), others, NEAR) else None
        if kind:
            on[kind][0] += 1
            on[kind][1] += (image, channel, x, y) in kept
    shares = {kind: kept_count / total for kind, (total, kept_count) in on.items()}
    print(f"peaks kept as part patterns: {on} -> shares {shares}")
    assert on["distractor"][0] >= 100 and on["part"][0] >= 100
    assert shares["part"] >= 0.9
    assert shares["distractor"] <= 0.1


def test_mined_patterns_land_more_stably_than_raw_filter_peaks(mined):
    """Zhang et al.'s central claim, with the true face, eyes and mouth as the reference landmarks."""
    net, data, graph, located = mined
    landmarks = [data.faces, *data.parts.values()]
    size = (SIZE, SIZE)
    peaks = lower_peaks(net, graph, data.images)
    raw = []
    for channel in peaks.channel.unique().tolist():
        strongest = torch.full((len(data.images), 2), math.nan, dtype=torch.float64)
        mine = (peaks.channel == channel).nonzero().flatten()
        for index in mine[peaks.value[mine].argsort()].tolist():  # ascending: the strongest is written last
            strongest[int(peaks.image[index])] = peaks.position[index]
        raw.append(location_instability(strongest, landmarks, size))
    patterns = [
        location_instability(positions_of(rows), landmarks, size)
        for node, rows in zip(graph.nodes, located, strict=True)
        if node.layer == LOWER
    ]
    raw_mean, mined_mean = sum(raw) / len(raw), sum(patterns) / len(patterns)
    print(f"location instability, layer {LOWER}: raw filter peaks {raw_mean:.4f} ({len(raw)} filters), "
          f"mined patterns {mined_mean:.4f} ({len(patterns)} patterns)")  # fmt: skip
    assert mined_mean < 0.5 * raw_mean


def test_locate_parts_finds_what_the_mining_inferred_and_patches_are_the_fields(mined):
    _, data, graph, located = mined
    assert len(located) == len(graph.nodes) and all(len(rows) == len(data.images) for rows in located)
    for node, rows in zip(graph.nodes, located, strict=True):
        assert sum(row is not None for row in rows) == node.support
        size = graph.receptive_fields[node.layer][0]
        assert len(node.patch_boxes) == min(9, node.support) == len(node.patches)
        scores = [rows[box[0]][2] for box in node.patch_boxes]
        assert scores == sorted(scores, reverse=True)
        for patch, (image, top, left, bottom, right) in zip(node.patches, node.patch_boxes, strict=True):
            x, y, _ = rows[image]
            assert top <= y < bottom and left <= x < right
            if (bottom - top, right - left) == (size, size):
                assert torch.equal(patch, data.images[image, :, top:bottom, left:right])
    ids = {node.id for node in graph.nodes}
    assert len(ids) == len(graph.nodes)
    for node in graph.nodes:
        assert all(edge.parent in ids and edge.sx > 0 and edge.sy > 0 for edge in node.parents)
        assert (node.layer == UPPER) == (not node.parents)


def test_bad_arguments_say_what_would_be_right():
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU())
    images = torch.rand(4, 1, 12, 12)
    with pytest.raises(TypeError, match="re-iterable"):
        explanatory_graph(net, (batch for batch in [images]), ["0"])
    with pytest.raises(ValueError, match="list of at least one layer"):
        explanatory_graph(net, images, "0")
    with pytest.raises(ValueError, match="patterns_per_filter must be a positive integer"):
        explanatory_graph(net, images, ["0"], patterns_per_filter=0)
    with pytest.raises(ValueError, match="threshold_quantile"):
        explanatory_graph(net, images, ["0"], threshold_quantile=1.5)
    net.train()
    graph = explanatory_graph(net, images, ["0"], min_support=2)
    assert net.training and graph.layers == ["0"] and graph.image_size == (12, 12)
    with pytest.raises(ValueError, match="no peak thresholds"):
        locate_parts(net, dataclasses.replace(graph, thresholds={}), images)
