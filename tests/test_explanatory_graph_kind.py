"""The explanatory_graph kind (PartGraph): its options, and the info and patch atlases it logs through the real
callback, compared with a graph made by hand in the method's dataclasses (graph_logs.py)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from conftest import read_cnnviz_events
from graph_logs import LOW, PROBES, TOP, graph_model, hand_graph, hand_positions, write_graph_run, write_mined_run
from PIL import Image
from torch import nn

from tb_cnnviz import CNNVizCallback, PartGraph
from tb_cnnviz.writer.kinds import explanatory_graph as graph_kind
from tb_cnnviz.writer.kinds import kind_names
from tb_cnnviz.writer.pictures import display_images

TAG = "model/explanatory_graph"


def test_without_held_out_data_the_kind_fails_at_construction_saying_what_to_pass():
    for make in (
        PartGraph,
        lambda: CNNVizCallback(graph_model(), torch.rand(1, 1, 12, 12), kinds=["explanatory_graph"]),
    ):
        with pytest.raises(ValueError, match=r"pass dataset= a tensor \(N, C, H, W\) or a loader") as caught:
            make()
        assert "--held-out" in str(caught.value)
    assert "explanatory_graph" in kind_names("model") and "explanatory_graph" not in kind_names(by_name=True)


def test_a_one_shot_iterator_is_refused_saying_what_would_do():
    with pytest.raises(ValueError, match=r"one-shot iterator.*pass a tensor or a re-iterable loader"):
        PartGraph(dataset=iter([torch.rand(2, 1, 8, 8)]))
    PartGraph(dataset=[torch.rand(2, 1, 8, 8)])  # a list of batches reads again


@pytest.mark.parametrize("option", ["patterns_per_filter", "top_patches", "max_nodes"])
def test_counts_below_one_are_refused_by_name(option):
    with pytest.raises(ValueError, match=f"{option} must be an int >= 1, got 0"):
        PartGraph(dataset=torch.rand(2, 1, 8, 8), **{option: 0})


def test_a_layer_the_model_lacks_fails_when_the_callback_is_made():
    with pytest.raises(ValueError, match="nope"):
        CNNVizCallback(
            graph_model(),
            torch.rand(1, 1, 12, 12),
            kinds=[PartGraph(dataset=torch.rand(2, 1, 12, 12), layers=["nope"])],
        )


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    run = tmp_path_factory.mktemp("graph_kind")
    write_graph_run(run, steps=2)
    return read_cnnviz_events(run)[TAG]


def test_the_info_holds_every_node_link_and_position_of_the_graph(logged):
    graph = hand_graph(1)
    info = json.loads(logged[1][0])
    assert info["kind"] == "explanatory_graph" and info["layers"] == info["channels"] == [TOP, LOW]
    by_id = {node["id"]: node for node in info["nodes"]}
    assert sorted(by_id) == [node.id for node in graph.nodes]
    for node in graph.nodes:
        logged_node = by_id[node.id]
        assert (logged_node["layer"], logged_node["channel"], logged_node["support"]) == (
            node.layer,
            node.channel,
            node.support,
        )
        assert logged_node["instability"] == pytest.approx(node.instability, rel=1e-4)
        assert logged_node["parents"] == [
            {"parent": e.parent, "dx": e.dx, "dy": e.dy, "sx": e.sx, "sy": e.sy} for e in node.parents
        ]
        assert logged_node["boxes"] == [list(box) for box in node.patch_boxes]
        assert logged_node["peers"] == [
            {"channel": e.parent, "dx": e.dx, "dy": e.dy, "sx": e.sx, "sy": e.sy} for e in node.peers
        ]
    order = [node["id"] for node in info["nodes"]]
    expected = hand_positions(graph, PROBES)
    assert info["positions"] == [[list(at) if at else None for at in expected[i]] for i in order]
    mean = [np.mean([n.instability for n in graph.nodes if n.layer == layer]) for layer in (TOP, LOW)]
    assert info["series"]["patterns"] == [2, 4] and info["series"]["instability"] == pytest.approx(mean, rel=1e-4)
    assert info["receptive_fields"] == {TOP: [5, 1, 0.0], LOW: [3, 1, 0.0]} and info["image_size"] == [12, 12]
    assert len(json.loads(logged[0][0])["nodes"]) == 5, "step 0's graph has one node fewer"


def test_each_layer_atlas_holds_its_nodes_patches_row_by_row(logged):
    graph = hand_graph(1)
    blobs = logged[1]
    info = json.loads(blobs[0])
    assert [atlas["layer"] for atlas in info["atlases"]] == [TOP, LOW] and len(blobs) == 3
    for atlas in info["atlases"]:
        (height, width), (rows, columns) = atlas["tile"], atlas["grid"]
        pixels = np.asarray(Image.open(io.BytesIO(blobs[atlas["picture"]])))
        assert pixels.shape == (rows * height, columns * width)
        for node in info["nodes"]:
            if node["layer"] != atlas["layer"]:
                continue
            source = next(n for n in graph.nodes if n.id == node["id"])
            expected = display_images(source.patches)
            assert node["patches"] == len(source.patches)
            for column in range(columns):
                tile = pixels[node["row"] * height : (node["row"] + 1) * height, column * width : (column + 1) * width]
                if column < node["patches"]:
                    assert np.array_equal(tile, expected[column]), (node["id"], column)
                else:
                    assert not tile.any(), "a node with fewer patches than k leaves the rest black"


def test_max_nodes_keeps_the_most_supported_nodes_and_only_links_between_them():
    graph = hand_graph(1)
    info, pictures = graph_kind.render(graph, hand_positions(graph, 2), max_nodes=1, max_tile_size=64)
    kept = {node["id"]: node for node in info["nodes"]}
    assert sorted(kept) == [0, 2], "the most supported node of each layer"
    assert kept[2]["parents"][0]["parent"] == 0
    assert info["mined"] == info["series"]["patterns"] == [2, 4], "the series count every mined node"
    assert [atlas["grid"] for atlas in info["atlases"]] == [[1, 3], [1, 3]] and len(pictures) == 2


def test_the_default_layers_are_the_top_four_of_the_callbacks_and_the_default_cadence_every_fifth_log(tmp_path):
    model = nn.Sequential(*[layer for _ in range(5) for layer in (nn.Conv2d(1, 1, 3, padding=1), nn.ReLU())])
    asked = []

    def mined(model, data, layers, patterns_per_filter, **options):
        asked.append(list(layers))
        return hand_graph(0)

    saved = graph_kind.explanatory_graph, graph_kind.locate_parts
    graph_kind.explanatory_graph, graph_kind.locate_parts = mined, lambda model, graph, images: hand_positions(graph, 1)
    try:
        with CNNVizCallback(
            model, torch.rand(1, 1, 12, 12), log_dir=str(tmp_path), kinds=[PartGraph(dataset=torch.rand(2, 1, 12, 12))]
        ) as viz:
            for step in range(6):
                viz.log(step)
    finally:
        graph_kind.explanatory_graph, graph_kind.locate_parts = saved
    assert asked == [["2", "4", "6", "8"]] * 2
    assert sorted(read_cnnviz_events(tmp_path)[TAG]) == [0, 5]


def test_the_real_method_is_logged_as_it_mines_and_locates(tmp_path):
    """Four probes: patterns whose channel peaks on none of them are logged as found nowhere."""
    from tb_cnnviz.methods.explanatory_graph import explanatory_graph, locate_parts

    model, held_out, probes = write_mined_run(tmp_path, steps=1, probes=4)
    blobs = read_cnnviz_events(tmp_path)[TAG][0]
    graph = explanatory_graph(model, held_out, ["0", "3", "6", "9"])
    expected, pictures = graph_kind.render(
        graph, locate_parts(model, graph, probes), 32, 64, patterns_per_filter=4, top_patches=9
    )
    assert json.loads(blobs[0]) == expected
    assert expected["layers"] == ["9", "6", "3", "0"] and all(count > 0 for count in expected["mined"])
    assert any(node["parents"] for node in expected["nodes"]), "lower patterns link to upper ones"
    assert any(row == [None] * 4 for row in expected["positions"]), "some pattern is on none of the 4 probes"
    assert len(blobs) == 1 + len(pictures) == 5
    for blob, picture in zip(blobs[1:], pictures, strict=True):
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(blob))), picture)
