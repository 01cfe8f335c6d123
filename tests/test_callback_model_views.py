"""Model-level kinds in the callback: each probe's explanation, class images and fooling results, step after step."""

from __future__ import annotations

import copy
import io
import json
import warnings

import numpy as np
import pytest
import torch
from conftest import five_class_cnn, read_cnnviz_events, small_cnn
from PIL import Image
from torch import nn
from trained_demo import trained_fashion_cnn

from demo_training.data import CLASS_NAMES, PIXEL_MEAN, PIXEL_STD
from tb_cnnviz import (
    ClassVisualization,
    CNNVizCallback,
    CNNVizWarning,
    Fooling,
    GradCam,
    contract,
    grad_cam,
    overlay,
    saliency,
)
from tb_cnnviz.methods.overlays import normalize_heatmap
from tb_cnnviz.writer.kinds import kind_names
from tb_cnnviz.writer.pictures import display_scale, probe_pictures

NORMALIZATION = {"input_mean": [PIXEL_MEAN], "input_std": [PIXEL_STD]}
SCALE = display_scale(28, 28)


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """The trained demo model logged at step 0, then changed by more training-like noise and logged at step 1."""
    trained, probes = trained_fashion_cnn()
    model = copy.deepcopy(trained)
    run = tmp_path_factory.mktemp("model_views")
    with CNNVizCallback(
        model, probes, log_dir=str(run), kinds=kind_names("model", by_name=True), class_names=CLASS_NAMES,
        probe_labels=CLASS_NAMES, **NORMALIZATION,
    ) as viz:  # fmt: skip
        viz.log(0)
        generator = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
        viz.log(1)
    return trained, probes, read_cnnviz_events(run)


def info_and_atlas(events: dict, kind: str, step: int) -> tuple[dict, np.ndarray]:
    blobs = events[contract.model_tag(kind)][step]
    return json.loads(blobs[0]), np.asarray(Image.open(io.BytesIO(blobs[1])))


def tile(atlas: np.ndarray, info: dict, position: int) -> np.ndarray:
    height, width = info["tile"]
    row, col = divmod(position, info["grid"][1])
    return atlas[row * height : (row + 1) * height, col * width : (col + 1) * width]


def expected_overlays(probes: torch.Tensor, heatmaps: torch.Tensor, scale: int) -> np.ndarray:
    pictures = torch.nn.functional.interpolate(probe_pictures(probes, **_mean_std()), scale_factor=scale)
    return (overlay(pictures, heatmaps) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def _mean_std() -> dict:
    return {"mean": NORMALIZATION["input_mean"], "std": NORMALIZATION["input_std"]}


@pytest.mark.parametrize("kind", ["saliency", "grad_cam"])
def test_each_probe_shows_its_own_map_over_it_with_the_predicted_class_and_probability(logged, kind):
    model, probes, events = logged
    info, atlas = info_and_atlas(events, kind, 0)
    with torch.no_grad():
        probabilities = model(probes).softmax(dim=1)
    assert info["predicted"] == probabilities.argmax(dim=1).tolist()
    np.testing.assert_allclose(info["probabilities"], probabilities.amax(dim=1).numpy(), rtol=1e-4)
    assert info["class_names"] == CLASS_NAMES and info["labels"] == CLASS_NAMES
    assert info["channels"] == list(range(10))

    if kind == "saliency":  # a per-pixel map: drawn pixel for pixel at the probes' size
        heatmaps, scale = normalize_heatmap(saliency(model, probes)), 1
    else:  # a 7x7 map: resized smoothly onto enlarged probes
        heatmaps, scale = grad_cam(model, probes), SCALE  # default layer: the last Conv2d, as the callback's
        assert info["layer"] == "features.conv3" and info["layer_size"] == [7, 7]
    assert info["tile"] == [28 * scale, 28 * scale]
    expected = expected_overlays(probes, heatmaps, scale)
    for position in range(10):
        drawn = tile(atlas, info, position).astype(int)
        assert np.abs(drawn - expected[position]).max() <= 1, f"probe {position}'s tile is not its own {kind}"


def test_class_images_are_recognized_by_the_model_as_their_class(logged):
    model, _, events = logged
    info, atlas = info_and_atlas(events, "class_visualization", 0)
    assert info["channels"] == list(range(10)) and info["steps"] == 64 and info["class_names"] == CLASS_NAMES
    pictures = torch.stack([torch.from_numpy(tile(atlas, info, c).astype(np.float32) / 255) for c in range(10)])
    with torch.no_grad():
        probabilities = model((pictures[:, None] - PIXEL_MEAN) / PIXEL_STD).softmax(dim=1)
    assert probabilities.argmax(dim=1).tolist() == list(range(10)), "each class image is its class to the model"
    np.testing.assert_allclose(info["probabilities"], probabilities.diagonal().numpy(), atol=0.05)
    assert info["predicted"] == list(range(10)) and info["objective"] == "log_softmax"


@pytest.mark.parametrize(
    ("options", "all_win"), [({}, True), ({"objective": "score", "l2": 1e-2}, False)], ids=["default", "raw-score"]
)
def test_class_images_say_which_class_the_model_sees_in_them(tmp_path, options, all_win):
    """A random-weight model: at the default each image is its class; the raw score (the paper's, at the former
    l2 = 0.01) loses some to another class, and the info says which, as the model classifies the logged tile."""
    model = five_class_cnn(0)
    probes = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    kinds = [ClassVisualization(**options)]
    with CNNVizCallback(model, probes, log_dir=str(tmp_path), kinds=kinds, **NORMALIZATION) as viz:
        viz.log(0)
    info, atlas = info_and_atlas(read_cnnviz_events(tmp_path), "class_visualization", 0)
    assert info["objective"] == options.get("objective", "log_softmax") and info["channels"] == list(range(5))
    pictures = torch.stack([torch.from_numpy(tile(atlas, info, c).astype(np.float32) / 255) for c in range(5)])
    with torch.no_grad():
        logits = model((pictures[:, None] - PIXEL_MEAN) / PIXEL_STD)
    # The logged tile is rounded to 8 bits: compare where the model's choice is not a near tie.
    top2 = logits.softmax(dim=1).topk(2, dim=1).values
    clear = (top2[:, 0] - top2[:, 1] > 1e-3).tolist()
    assert sum(clear) >= 4, top2
    drawn = logits.argmax(dim=1).tolist()
    assert [p for p, c in zip(info["predicted"], clear, strict=True) if c] == [
        d for d, c in zip(drawn, clear, strict=True) if c
    ]
    assert (info["predicted"] == list(range(5))) is all_win, info["predicted"]


def test_fooling_shows_original_changed_and_magnified_difference_towards_fixed_targets(logged):
    model, probes, events = logged
    info, atlas = info_and_atlas(events, "fooling", 0)
    with torch.no_grad():
        second_best = model(probes).topk(2, dim=1).indices[:, 1].tolist()
    assert info["targets"] == second_best and info["original_classes"] != second_best
    assert sum(info["succeeded"]) >= 0.95 * len(probes), info
    assert all(0 < steps <= info["max_steps"] for steps in info["steps"])
    assert info["panes"] == ["original", "changed", "difference"]

    width, gap = info["pane_width"], info["pane_gap"]
    originals = (probe_pictures(probes, **_mean_std()) * 255).round()[:, 0].numpy()
    for position in range(len(probes)):
        drawn = tile(atlas, info, position)[..., 0].astype(int)  # grey probes: R = G = B
        original, changed, difference = (drawn[:, k * (width + gap) : k * (width + gap) + width] for k in range(3))
        assert np.abs(original[::SCALE, ::SCALE] - originals[position]).max() <= 1
        largest = np.abs(changed - original).max() / 255
        assert largest == pytest.approx(info["max_change"][position], abs=2 / 255)
        assert np.abs(difference - 127.5).max() >= 126, "the largest change is magnified to black or white"

    later, _ = info_and_atlas(events, "fooling", 1)
    assert later["targets"] == info["targets"], "targets are fixed at the first log, so steps compare"
    classes_later, _ = info_and_atlas(events, "class_visualization", 1)
    assert classes_later["channels"] == list(range(10))


def test_mismatched_class_names_warn_once_and_the_views_still_log(tmp_path):
    model, probes = small_cnn(), torch.rand(2, 1, 28, 28)
    with pytest.warns(CNNVizWarning, match="class_names has 3 names but the model outputs 10 classes") as caught:
        names = ["a", "b", "c"]
        with CNNVizCallback(model, probes, log_dir=str(tmp_path), kinds=["saliency"], class_names=names) as viz:
            viz.log(0)
            viz.log(1)
    assert len(caught) == 1
    events = read_cnnviz_events(tmp_path)
    assert sorted(events["model/saliency"]) == [0, 1]
    assert json.loads(events["model/saliency"][1][0])["class_names"] is None


def test_a_model_that_is_not_a_classifier_warns_and_layers_still_log(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU())  # (N, 4, 26, 26): no class scores
    with pytest.warns(CNNVizWarning, match=r"class views need a classifier whose output is \(N, classes\)"):
        kinds = ["feature_maps", "fooling"]
        with CNNVizCallback(model, torch.rand(2, 1, 28, 28), log_dir=str(tmp_path), kinds=kinds) as viz:
            viz.log(0)
    assert set(read_cnnviz_events(tmp_path)) == {"probes", "0/feature_maps"}


def test_bad_model_view_options_fail_at_construction_and_say_what_is_valid(tmp_path):
    model, probes = small_cnn(), torch.rand(2, 1, 28, 28)
    with pytest.raises(ValueError, match=r"choose from .*'saliency', 'grad_cam', 'class_visualization', 'fooling'"):
        CNNVizCallback(model, probes, log_dir=str(tmp_path), kinds=["salience"])
    with pytest.raises(ValueError, match=r"ClassVisualization steps must be an int >= 1, got 0"):
        ClassVisualization(steps=0)
    with pytest.raises(ValueError, match=r"Fooling max_steps must be an int >= 0, got -1"):
        Fooling(max_steps=-1)
    with pytest.raises(ValueError, match=r"Fooling targets has 1 classes for 2 probes; give one per probe"):
        CNNVizCallback(model, probes, log_dir=str(tmp_path), kinds=[Fooling(targets=[3])])
    with pytest.raises(ValueError, match=r"unknown layer 'conv9'; list them all"):
        CNNVizCallback(model, probes, log_dir=str(tmp_path), kinds=[GradCam(layer="conv9")])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        CNNVizCallback(model, probes, log_dir=str(tmp_path), kinds=[GradCam(layer="0")]).close()
