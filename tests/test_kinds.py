"""The kinds of the writer: typed options checked when made, a per-kind cadence, the registry, the series
every info carries, and release 1's keyword arguments still logging the same, with a warning."""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest
import torch
from conftest import read_cnnviz_events, small_cnn

import tb_cnnviz
from tb_cnnviz import (
    ClassVisualization,
    CNNVizCallback,
    CNNVizWarning,
    Deconv,
    Dynamics,
    Filters,
    Fooling,
    GradCam,
    contract,
)
from tb_cnnviz.writer.kinds import KINDS, kind_names
from tb_cnnviz.writer.kinds.base import LayerKind
from tb_cnnviz.writer.record import Record, new_info

PROBES = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
DATASET = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(1))


def logged(tmp_path, kinds, steps=(0,), **options) -> dict:
    """{tag: {step: blobs}} of a small CNN with fixed weights logged at `steps`."""
    torch.manual_seed(0)
    with CNNVizCallback(small_cnn(), PROBES, log_dir=str(tmp_path), kinds=kinds, **options) as viz:
        for step in steps:
            viz.log(step)
    return read_cnnviz_events(tmp_path)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Filters(steps=0), r"Filters steps must be an int >= 1, got 0"),
        (
            lambda: Filters(param="fourrier"),
            r"Filters param 'fourrier' is unknown; choose one of \['fourier', 'pixel'\]",
        ),
        (
            lambda: Filters(optimizer="sgd"),
            r"Filters optimizer 'sgd' is unknown; choose one of \['adam', 'normalized'\]",
        ),
        (
            lambda: Filters(objective="max"),
            r"Filters objective 'max' is unknown; choose one of \['mean', 'centre'\]",
        ),
        (lambda: Filters(blur=-1.0), r"Filters blur must be a number >= 0, got -1.0"),
        (lambda: Filters(size=(0, 28)), r"Filters size must be None \(its default\), an int or \(height, width\)"),
        (lambda: Filters(coarse_scale=2.0), r"Filters coarse_scale must be in \(0, 1\] or None, got 2.0"),
        (lambda: Filters(every=0), r"Filters every must be an int >= 1 \(log at every n-th log\), got 0"),
        (
            lambda: Deconv(rule="backprop"),
            r"Deconv rule 'backprop' is unknown; choose one of \['deconvnet', 'guided'\]",
        ),
        (lambda: Deconv(top_channels=-1), r"Deconv top_channels must be an int >= 0, got -1"),
        (lambda: Deconv(dataset_every=0), r"Deconv dataset_every must be an int >= 1, got 0"),
        (lambda: ClassVisualization(l2=-1.0), r"ClassVisualization l2 must be a number >= 0, got -1.0"),
        (lambda: ClassVisualization(lr=0), r"ClassVisualization lr must be a number > 0, got 0"),
        (
            lambda: ClassVisualization(objective="logit"),
            r"ClassVisualization objective 'logit' is unknown; choose one of \['log_softmax', 'margin', 'score'\]",
        ),
        (lambda: Fooling(step_size=0.0), r"Fooling step_size must be a number > 0, got 0.0"),
        (lambda: Dynamics(settle_threshold=0), r"Dynamics settle_threshold must be a number in \(0, 1\], got 0"),
        (lambda: Dynamics(dead_alarm=1.5), r"Dynamics dead_alarm must be a number in \(0, 1\], got 1.5"),
        (lambda: Dynamics(samples=1), r"Dynamics samples must be an int >= 2, got 1"),
    ],
)
def test_bad_options_fail_when_the_kind_is_made_and_say_what_is_accepted(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_kind_names_and_configured_kinds_log_the_same(tmp_path):
    by_name = logged(tmp_path / "names", ["feature_maps", "filters", "grad_cam"])
    configured = logged(tmp_path / "objects", [tb_cnnviz.FeatureMaps(), Filters(), GradCam()])
    assert by_name == configured and set(by_name) == {"probes", "0/feature_maps", "4/feature_maps", "0/filters",
                                                      "4/filters", "model/grad_cam"}  # fmt: skip


def test_every_logs_a_kind_at_every_nth_log_of_the_callback(tmp_path):
    kinds = ["feature_maps", Filters(steps=2, every=2), GradCam(every=3)]
    events = logged(tmp_path, kinds, steps=(10, 20, 30, 40), layers="4")
    assert sorted(events["4/feature_maps"]) == [10, 20, 30, 40]
    assert sorted(events["4/filters"]) == [10, 30], "the 1st and 3rd log, whatever the step numbers"
    assert sorted(events["model/grad_cam"]) == [10, 40]


def test_unknown_or_repeated_kinds_fail_at_construction(tmp_path):
    valid = str(kind_names()).replace("[", r"\[").replace("]", r"\]")
    with pytest.raises(ValueError, match=rf"kinds \['feature_map'\] are not loggable; choose from {valid}"):
        CNNVizCallback(small_cnn(), PROBES, log_dir=str(tmp_path), kinds=["feature_map"])
    with pytest.raises(ValueError, match=r"kinds name \['filters'\] more than once"):
        CNNVizCallback(small_cnn(), PROBES, log_dir=str(tmp_path), kinds=["filters", Filters(steps=2)])


def test_the_registry_holds_every_kind_under_its_own_name_and_public_class():
    assert kind_names() == ["feature_maps", "filters", "deconv", "dynamics", "saliency", "grad_cam",
                            "class_visualization", "fooling"]  # fmt: skip
    assert kind_names("layer") == ["feature_maps", "filters", "deconv", "dynamics"]
    for name, kind in KINDS.items():
        assert kind.name == name and kind.scope in ("layer", contract.MODEL_SCOPE)
        assert getattr(tb_cnnviz, kind.__name__) is kind, f"{kind.__name__} is exported by tb_cnnviz"


@dataclass
class ChannelMean(LayerKind):
    """A toy kind: each shown channel's mean over the probes, as one grey heat map tile per channel."""

    name: ClassVar[str] = "channel_mean"

    def records(self, context) -> Iterator[Record]:
        means = context.maps[:, context.channels].float().mean(dim=0)
        pictures = (means / means.amax().clamp_min(1e-12)).clamp(0, 1).mul(255).round().to(torch.uint8).numpy()
        averages = [round(value, 4) for value in means.mean(dim=(1, 2)).tolist()]
        info = new_info(self.name, channels=context.channels, tile=list(pictures.shape[1:]), grid=[1, len(pictures)],
                        series={"mean": averages})  # fmt: skip
        yield Record(info, [np.concatenate(list(pictures), axis=1)])


def test_a_registered_kind_logs_under_its_tag_with_the_layers_content(tmp_path, monkeypatch):
    monkeypatch.setitem(KINDS, ChannelMean.name, ChannelMean)
    events = logged(tmp_path, ["channel_mean"], layers="4", max_channels=3)
    info = json.loads(events["4/channel_mean"][0][0])
    assert info["version"] == contract.VERSION and info["channels"] == [0, 1, 2] and len(info["series"]["mean"]) == 3
    assert events["4/channel_mean"][0][1].startswith(b"\x89PNG")


@pytest.fixture(scope="module")
def every_kind(tmp_path_factory) -> dict:
    kinds = ["feature_maps", Filters(steps=2), Deconv(dataset=DATASET), "dynamics", "saliency", "grad_cam",
             ClassVisualization(steps=2), Fooling(max_steps=3)]  # fmt: skip
    return logged(tmp_path_factory.mktemp("every_kind"), kinds, class_names=[f"class {c}" for c in range(10)])


def test_every_info_says_its_version_and_carries_one_series_number_per_item(every_kind):
    charts = {"feature_maps": {"mean", "max", "dead"}, "filters": {"activation", "similarity"}, "deconv": set(),
              "dynamics": {"drift"},
              "deconv_top": set(), "saliency": {"probability"}, "grad_cam": {"probability"},
              "class_visualization": {"probability", "score"}, "fooling": {"steps", "target_probability"}}  # fmt: skip
    assert {tag.split("/")[1] for tag in every_kind if tag != "probes"} == set(charts)
    for tag, steps in every_kind.items():
        info = json.loads(steps[0][0])
        assert info["version"] == contract.VERSION, tag
        if tag != "probes":
            assert set(info["series"]) == charts[info["kind"]], tag
            assert all(len(numbers) == len(info["channels"]) for numbers in info["series"].values()), tag


def test_feature_map_series_are_the_probes_statistics_combined(every_kind):
    info = json.loads(every_kind["4/feature_maps"][0][0])
    stats = {key: np.array(info["stats"][key], dtype=float) for key in ("mean", "max", "dead")}
    np.testing.assert_allclose(info["series"]["mean"], stats["mean"].mean(axis=0), rtol=1e-4)
    np.testing.assert_allclose(info["series"]["max"], stats["max"].max(axis=0), rtol=1e-4)
    np.testing.assert_allclose(info["series"]["dead"], stats["dead"].mean(axis=0), rtol=1e-4)
    fooling = json.loads(every_kind["model/fooling"][0][0])
    assert fooling["series"] == {"steps": fooling["steps"], "target_probability": fooling["target_probabilities"]}


DEPRECATED = [
    ({"filter_options": {"steps": 2}}, "filters", Filters(steps=2), "Filters(steps=2)"),
    ({"class_options": {"steps": 2}}, "class_visualization", ClassVisualization(steps=2),
     "ClassVisualization(steps=2)"),
    ({"fooling_options": {"max_steps": 3}}, "fooling", Fooling(max_steps=3), "Fooling(max_steps=3)"),
    ({"deconv_rule": "guided"}, "deconv", Deconv(rule="guided"), "Deconv(rule='guided')"),
    ({"deconv_top_channels": 2}, "deconv", Deconv(top_channels=2), "Deconv(top_channels=2)"),
    ({"deconv_channels": [1]}, "deconv", Deconv(channels=[1]), "Deconv(channels=[1])"),
    ({"deconv_dataset": DATASET, "deconv_dataset_every": 2}, "deconv", Deconv(dataset=DATASET, dataset_every=2),
     "Deconv(dataset=..., dataset_every=2)"),
    ({"grad_cam_layer": "0"}, "grad_cam", GradCam(layer="0"), "GradCam(layer='0')"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "name", "new", "spelling"), DEPRECATED, ids=[case[3] for case in DEPRECATED])
def test_release_1_arguments_warn_with_the_new_spelling_and_log_the_same(tmp_path, old, name, new, spelling):
    with pytest.warns(DeprecationWarning, match=re.escape(f"use kinds=[{spelling}]")):
        before = logged(tmp_path / "old", [name], steps=(0, 1, 2), layers="4", **old)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        after = logged(tmp_path / "new", [new], steps=(0, 1, 2), layers="4")
    assert before == after and any(tag.endswith(name) for tag in after)


def test_release_1_option_dicts_keep_their_errors_and_do_not_mix_with_a_configured_kind(tmp_path):
    def make(**options):
        CNNVizCallback(small_cnn(), PROBES, log_dir=str(tmp_path), **options)

    with pytest.raises(ValueError, match=r"class_visualization takes no option \['stepz'\]; it takes .*'steps'"):
        make(kinds=["class_visualization"], class_options={"stepz": 8})
    with pytest.raises(ValueError, match=r"fooling_images takes no option \['budget'\]; it takes .*'max_steps'"):
        make(kinds=["fooling"], fooling_options={"budget": 8})
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match=r"holds a Filters and filter_options"):
        make(kinds=[Filters()], filter_options={"steps": 2})


def test_an_unknown_option_names_the_options_the_kind_takes():
    with pytest.raises(TypeError, match=r"Filters takes no option \['stepz'\]; its options are \['every', 'steps'"):
        Filters(stepz=8)
    with pytest.raises(TypeError, match=r"GradCam takes no option \['layers'\]; its options are \['every', 'layer'\]"):
        GradCam(layers="features.8")


def test_classes_a_user_names_are_checked_against_the_models_outputs_at_the_first_log(tmp_path):
    kinds = [Fooling(targets=[99, 0], max_steps=2), ClassVisualization(classes=[3, -1], steps=2)]
    with pytest.warns(CNNVizWarning) as caught:
        events = logged(tmp_path, kinds)
    messages = [str(warning.message) for warning in caught]
    assert any("Fooling targets [99] are out of range: the model's 10 outputs has 10" in text for text in messages)
    assert any("ClassVisualization classes [-1] are out of range" in text for text in messages)
    assert "model/fooling" not in events and "model/class_visualization" not in events


def test_deconv_infos_mark_exactly_the_units_whose_strongest_value_is_not_positive_as_inactive(tmp_path):
    """Those are projected from their magnitude; the tab flags them, so their picture is not read as firing."""
    torch.manual_seed(0)
    model = small_cnn()
    with torch.no_grad():
        model[4].bias[3] = -100.0  # channel 3 of layer "4" never fires
        model[4].weight[5] = 0.0
        model[4].bias[5] = 0.0  # channel 5 is 0 everywhere: not positive either
    kinds = [Deconv(channels=[3, 5, 0], top_channels=4, dataset=DATASET, dataset_every=1, every=1)]
    with CNNVizCallback(model, PROBES, log_dir=str(tmp_path), layers="4", kinds=kinds) as viz:
        viz.log(0)
    events = read_cnnviz_events(tmp_path)
    with torch.no_grad():
        probe_peaks = model.eval()[:5](PROBES).amax(dim=(2, 3))  # (probe, channel)
        dataset_peaks = model[:5](DATASET).amax(dim=(2, 3))  # (image, channel)
    info = json.loads(events["4/deconv"][0][0])
    channels = info["channels"]
    assert info["inactive"] == [[bool(probe_peaks[probe, c] <= 0) for c in row] for probe, row in enumerate(channels)]
    assert all(row[:2] == [True, True] for row in info["inactive"]) and not all(map(all, info["inactive"]))
    top = json.loads(events["4/deconv_top"][0][0])
    ranked = [dataset_peaks[:, channel].sort(descending=True).values[: top["k"]] for channel in top["channels"]]
    assert top["inactive"] == [[bool(value <= 0) for value in values] for values in ranked]
    assert all(top["inactive"][3]) and all(top["inactive"][5]) and not all(map(all, top["inactive"]))
