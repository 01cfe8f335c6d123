"""CNNVizCallback in a training loop: logs what the tab needs, never changes training, never crashes it."""

from __future__ import annotations

import io
import json
import warnings

import numpy as np
import pytest
import torch
from conftest import read_cnnviz_events, small_cnn
from PIL import Image
from torch import nn
from torch.utils.tensorboard import SummaryWriter

from demo_training.data import load_split
from demo_training.model import FashionCNN
from tb_cnnviz import (
    ClassVisualization,
    CNNVizCallback,
    CNNVizWarning,
    Deconv,
    Filters,
    Fooling,
    contract,
    maximize_filters,
    receptive_field,
)
from tb_cnnviz.methods.maximize import CHEAP_SETTINGS
from tb_cnnviz.writer.kinds import KINDS, kind_names


def train(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, epochs: int, viz=None) -> None:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for epoch in range(epochs):
        model.train()
        for batch in torch.randperm(len(images)).split(64):  # global RNG: shuffling and dropout
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(images[batch]), labels[batch]).backward()
            optimizer.step()
        if viz is not None:
            viz.on_epoch_end(epoch)


def test_training_with_the_callback_ends_with_identical_weights(tmp_path):
    data = load_split("train").subset(768)
    probes = data.images[:4]

    def trained(with_callback: bool) -> dict[str, torch.Tensor]:
        torch.manual_seed(0)
        model = FashionCNN(widths=(8, 16, 16))
        if with_callback:
            every_kind = [
                "feature_maps", Filters(steps=8, every=1), Deconv(dataset=data.images[:64], dataset_every=2, every=1),
                "dynamics", "saliency",
                "grad_cam", ClassVisualization(steps=8), Fooling(max_steps=20),
            ]  # fmt: skip
            assert {getattr(kind, "name", kind) for kind in every_kind} == set(KINDS), "every kind is on"
            with CNNVizCallback(model, probes, log_dir=str(tmp_path / "viz"), kinds=every_kind) as viz:
                train(model, data.images, data.labels, epochs=3, viz=viz)
        else:
            train(model, data.images, data.labels, epochs=3)
        return model.state_dict()

    plain, watched = trained(False), trained(True)
    events = read_cnnviz_events(tmp_path / "viz")
    for kind in ("feature_maps", "filters", "deconv", "dynamics"):
        assert events[f"features.conv3/{kind}"].keys() == {0, 1, 2}
    assert events["features.conv3/deconv_top"].keys() == {0, 2}
    for kind in kind_names("model"):
        assert events[contract.model_tag(kind)].keys() == {0, 1, 2}
    assert plain.keys() == watched.keys()
    for key in plain:  # weights, BatchNorm running stats and num_batches_tracked
        assert torch.equal(plain[key], watched[key]), key


def decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)))


def test_logs_probes_once_and_feature_maps_every_due_step(tmp_path):
    model = small_cnn()
    probes = torch.rand(3, 1, 28, 28)
    with CNNVizCallback(model, probes, log_dir=str(tmp_path), every_n_epochs=2, probe_labels=list("abc")) as viz:
        for epoch in range(6):
            viz.on_epoch_end(epoch)
    events = read_cnnviz_events(tmp_path)
    assert set(events) == {"probes", "0/feature_maps", "4/feature_maps", "0/dynamics", "4/dynamics"}
    assert list(events["probes"]) == [1]
    assert list(events["4/feature_maps"]) == list(events["4/dynamics"]) == [1, 3, 5]

    info = json.loads(events["4/feature_maps"][5][0])
    assert info["shape"] == [16, 14, 14] and info["channels"] == list(range(16)) and info["grid"] == [4, 4]
    assert len(events["4/feature_maps"][5]) == 1 + 3  # info + one atlas per probe
    assert decode(events["4/feature_maps"][5][1]).shape == (4 * 14, 4 * 14)
    for key in ("mean", "max", "dead"):
        assert np.array(info["stats"][key]).shape == (3, 16)
    probe_info = json.loads(events["probes"][1][0])
    assert probe_info["labels"] == ["a", "b", "c"] and len(events["probes"][1]) == 4


def test_statistics_and_atlas_match_the_activations(tmp_path):
    model = small_cnn()
    probes = torch.rand(2, 1, 28, 28)
    with CNNVizCallback(model, probes, log_dir=str(tmp_path), layers="2", max_channels=5) as viz:
        viz.log(7)
    blobs = read_cnnviz_events(tmp_path)["2/feature_maps"][7]
    info = json.loads(blobs[0])
    model.eval()
    with torch.no_grad():
        relu_out = model[:3](probes)[:, :5]  # layer "2" is the ReLU after BatchNorm
    np.testing.assert_allclose(info["stats"]["mean"], relu_out.mean(dim=(2, 3)), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(info["stats"]["max"], relu_out.amax(dim=(2, 3)), rtol=1e-4)
    np.testing.assert_allclose(info["stats"]["dead"], (relu_out <= 0).float().mean(dim=(2, 3)), rtol=1e-4)
    # Decoding the atlas with tile_range gives the activations back within one grey level.
    atlas = decode(blobs[2]).astype(np.float64)
    for k in range(5):
        row, col = divmod(k, info["grid"][1])
        tile = atlas[row * 28 : (row + 1) * 28, col * 28 : (col + 1) * 28]
        low, high = info["tile_range"][1][k]
        np.testing.assert_allclose(low + tile / 255 * (high - low), relu_out[1, k], atol=(high - low) / 255 + 1e-4)


def test_channels_are_fixed_at_the_first_log_and_large_maps_are_pooled(tmp_path):
    model = nn.Sequential(nn.Conv2d(3, 100, 3, padding=1))
    with CNNVizCallback(model, torch.rand(1, 3, 200, 100), log_dir=str(tmp_path), max_tile_size=50) as viz:
        viz.log(0)
        viz.log(1)
    infos = [json.loads(blobs[0]) for blobs in read_cnnviz_events(tmp_path)["0/feature_maps"].values()]
    assert [info["channels"] for info in infos] == [list(range(64))] * 2
    assert infos[0]["tile"] == [50, 25] and infos[0]["shape"] == [100, 200, 100]


def test_an_existing_writer_shares_one_run_with_the_users_scalars(tmp_path):
    writer = SummaryWriter(str(tmp_path))
    viz = CNNVizCallback(small_cnn(), torch.rand(1, 1, 28, 28), writer=writer)
    writer.add_scalar("loss", 1.0, 0)
    viz.log(0)
    viz.close()
    writer.add_scalar("loss", 0.5, 1)  # the user's writer stays open after the callback closes
    writer.close()
    assert len(list(tmp_path.glob("events.out.tfevents.*"))) == 1
    assert "0/feature_maps" in read_cnnviz_events(tmp_path)


def test_unknown_layer_fails_at_construction_with_the_closest_names(tmp_path):
    with pytest.raises(ValueError, match=r"unknown layer 'conv1'.*Closest valid layers"):
        CNNVizCallback(FashionCNN(), torch.rand(1, 1, 28, 28), log_dir=str(tmp_path), layers=["conv1"])


def test_probe_images_with_the_wrong_channel_count_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"3 channels .* first Conv2d takes 1; pass images shaped \(N, 1, H, W\)"):
        CNNVizCallback(small_cnn(), torch.rand(2, 3, 28, 28), log_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r"float tensor \(N, C, H, W\)"):
        CNNVizCallback(small_cnn(), torch.rand(1, 28, 28), log_dir=str(tmp_path))
    with pytest.raises(ValueError, match="2 names for 1 probe images"):
        CNNVizCallback(small_cnn(), torch.rand(1, 1, 28, 28), log_dir=str(tmp_path), probe_labels=["a", "b"])


def test_a_non_4d_layer_warns_and_the_other_layers_still_log(tmp_path):
    model = small_cnn()
    with CNNVizCallback(model, torch.rand(2, 1, 28, 28), log_dir=str(tmp_path), layers=["0", "8"]) as viz:
        with pytest.warns(CNNVizWarning, match=r"layer '8' not logged: outputs shape \(2, 10\), not \(N, C, H, W\)"):
            viz.log(0)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # dropped after the first report: no warning every step
            viz.log(1)
    events = read_cnnviz_events(tmp_path)
    assert list(events["0/feature_maps"]) == [0, 1] and "8/feature_maps" not in events


def test_nan_activations_warn_and_still_render(tmp_path):
    model = small_cnn()
    with torch.no_grad():
        model[0].weight[2] = float("nan")
    with CNNVizCallback(model, torch.rand(1, 1, 28, 28), log_dir=str(tmp_path), layers="0") as viz:
        with pytest.warns(CNNVizWarning, match="non-finite activations at step 3"):
            viz.log(3)
    blobs = read_cnnviz_events(tmp_path)["0/feature_maps"][3]
    info = json.loads(blobs[0])  # strict JSON: NaN would break the browser's JSON.parse
    assert info["nonfinite"][0][2] == 28 * 28 and info["stats"]["mean"][0][2] is None
    assert info["stats"]["max"][0][2] is None and info["stats"]["mean"][0][1] is not None
    assert decode(blobs[1]).shape == (3 * 28, 3 * 28)


def test_a_failing_forward_warns_instead_of_crashing_training(tmp_path):
    model = small_cnn()
    viz = CNNVizCallback(model, torch.rand(1, 1, 28, 28), log_dir=str(tmp_path))
    model[0] = nn.Conv2d(2, 8, 3, padding=1)  # the user changed the model after attaching
    with pytest.warns(CNNVizWarning) as caught:
        viz.log(0)
    messages = [str(warning.message) for warning in caught]
    assert any("layer '0' not logged: its module is no longer part of the model" in message for message in messages)
    assert any("feature maps not logged" in message for message in messages), "the new conv takes 2 channels, not 1"
    viz.close()


def test_filter_images_use_the_same_channels_and_seed_at_every_step(tmp_path):
    model = small_cnn()
    options = {"steps": 6, "size": 20, "lr": 0.5}
    with CNNVizCallback(model, torch.rand(2, 1, 28, 28), log_dir=str(tmp_path), layers="4",
                        kinds=[Filters(**options, every=1)], max_channels=6, seed=3) as viz:  # fmt: skip
        viz.log(0)
        viz.log(1)  # same weights: a reproducible method gives the same images
    events = read_cnnviz_events(tmp_path)
    assert "4/feature_maps" not in events
    first, second = events["4/filters"][0], events["4/filters"][1]
    assert first[1] == second[1]
    info = json.loads(first[0])
    assert info["channels"] == list(range(6)) and info["tile"] == [20, 20] and info["grid"] == [2, 3]
    kind_defaults = {"objective": Filters().objective, "blur": Filters().blur}  # the kind's own: centre unit, blur
    direct = maximize_filters(
        model, "4", list(range(6)), seed=3, max_channels=None, **{**CHEAP_SETTINGS, **kind_defaults, **options}
    )
    np.testing.assert_allclose(info["activations"], direct.activations, rtol=1e-4)
    assert decode(first[1]).shape == (2 * 20, 3 * 20)


def test_deconv_projects_fixed_channels_and_each_probes_strongest_ones(tmp_path):
    model = small_cnn()
    probes = torch.rand(3, 1, 28, 28)
    deconv = Deconv(channels=[5], top_channels=4)
    with CNNVizCallback(model, probes, log_dir=str(tmp_path), layers="4", kinds=[deconv]) as viz:
        viz.log(0)
    blobs = read_cnnviz_events(tmp_path)["4/deconv"][0]
    info = json.loads(blobs[0])
    model.eval()
    with torch.no_grad():
        strength = model[:5](probes).amax(dim=(2, 3))
    strength[:, 5] = -torch.inf
    for probe, channels in enumerate(info["channels"]):
        assert channels[0] == 5
        assert channels[1:] == strength[probe].topk(4).indices.tolist()
    assert np.array(info["activations"]).shape == (3, 5) and len(blobs) == 1 + 3
    field = receptive_field(model, "4", (28, 28), in_channels=1)
    assert info["tile"] == list(field.patch_size)
    rows, cols = info["grid"]
    assert decode(blobs[1]).shape == (rows * field.patch_size[0], cols * field.patch_size[1])


def test_unknown_kind_bad_normalization_and_bad_deconv_options_fail_at_construction(tmp_path):
    with pytest.raises(ValueError, match=r"kinds \['feature_map'\] are not loggable; choose from \['feature_maps'"):
        CNNVizCallback(small_cnn(), torch.rand(1, 1, 28, 28), log_dir=str(tmp_path), kinds=["feature_map"])
    with pytest.raises(ValueError, match="input_mean has 3 values but the images have 1 channels"):
        CNNVizCallback(small_cnn(), torch.rand(1, 1, 28, 28), log_dir=str(tmp_path), input_mean=[0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="input_std must not contain 0"):
        CNNVizCallback(small_cnn(), torch.rand(1, 1, 28, 28), log_dir=str(tmp_path), input_std=[0.0])
    with pytest.raises(ValueError, match=r"Deconv rule 'backprop' is unknown; choose one of \['deconvnet', 'guided'\]"):
        CNNVizCallback(small_cnn(), torch.rand(1, 1, 28, 28), log_dir=str(tmp_path), kinds=[Deconv(rule="backprop")])
