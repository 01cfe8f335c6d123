"""Channels matched across runs, steps and checkpoints: the matching itself, the align route, the command."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path

import browser_tab
import numpy as np
import pytest
import torch
from browser_tab import atlas_tiles, drawn_tiles, served_image, texts
from conftest import fetch, fetch_json, plugin_url, poll, tensorboard_server
from scipy.optimize import linear_sum_assignment

from tb_cnnviz.channel_matching import correlation_matrix, match_channels
from tb_cnnviz.methods.capture import feature_maps
from tb_cnnviz.tensorboard.align import AlignError, Side, activation_table, align_answer

# The page fixtures: pytest finds fixtures by name in the test module.
browser, tab = browser_tab.browser, browser_tab.tab


def _activations(samples: int = 400, channels: int = 12, seed: int = 0) -> np.ndarray:
    """Channels with a shared component (so they correlate with each other too), not only noise."""
    generator = np.random.default_rng(seed)
    shared = generator.normal(size=(samples, 1))
    return generator.normal(size=(samples, channels)) + 0.6 * shared


def test_a_permutation_of_the_channels_is_recovered_exactly():
    first = _activations()
    order = np.random.default_rng(1).permutation(first.shape[1])
    # Channel j of the second table is channel order[j] of the first, rescaled and shifted (correlation 1).
    second = 3.0 * first[:, order] - 7.0
    matching = match_channels(first, second)
    expected = {int(old): new for new, old in enumerate(order)}
    assert {pair.channel: pair.other for pair in matching.pairs} == expected
    assert all(pair.correlation == pytest.approx(1.0) for pair in matching.pairs)
    assert matching.unmatched == matching.other_unmatched == matching.weak == []
    assert matching.mean_correlation == pytest.approx(1.0) and matching.share_above == 1.0


def test_the_matching_maximizes_total_correlation_not_each_channel_greedily():
    # Channel 0 correlates best with other 0 (0.9) but channel 1 only with other 0 (0.8) and weakly with 1:
    # greedy takes (0, 0) and leaves (1, 1); the optimum is (0, 1) + (1, 0) when that sums higher.
    correlations = np.array([[0.9, 0.85], [0.8, 0.0]])
    first = np.random.default_rng(2).normal(size=(20_000, 2))
    # The second table built from the first so that its correlations follow the target matrix.
    noise = np.random.default_rng(3).normal(size=(20_000, 2))
    second = first @ correlations + noise * np.sqrt(np.clip(1 - (correlations**2).sum(axis=0), 0, None))
    measured = correlation_matrix(first, second)
    matching = match_channels(first, second)
    pairs = {pair.channel: pair.other for pair in matching.pairs}
    assert pairs == {0: 1, 1: 0}
    assert measured[0, 1] + measured[1, 0] > measured[0, 0] + measured[1, 1]


def test_counts_that_differ_leave_the_extra_channels_unmatched():
    first = _activations(channels=10)
    keep = [7, 2, 9, 0]
    second = first[:, keep] + 0.05 * np.random.default_rng(4).normal(size=(first.shape[0], len(keep)))
    matching = match_channels(first, second, channels=range(10, 20), other_channels=[40, 41, 42, 43])
    assert {pair.channel: pair.other for pair in matching.pairs} == {17: 40, 12: 41, 19: 42, 10: 43}
    assert matching.unmatched == [11, 13, 14, 15, 16, 18] and matching.other_unmatched == []
    assert [pair.channel for pair in matching.pairs] == sorted(pair.channel for pair in matching.pairs)

    reverse = match_channels(second, first, channels=[40, 41, 42, 43], other_channels=range(10, 20))
    assert reverse.unmatched == [] and reverse.other_unmatched == [11, 13, 14, 15, 16, 18]


def test_a_constant_channel_correlates_zero_never_nan_and_is_weak():
    first = _activations(channels=4)
    first[:, 2] = 5.0  # a dead channel: the same value everywhere
    second = first.copy()
    second[:, 2] = 0.0
    correlations = correlation_matrix(first, second)
    assert np.isfinite(correlations).all()
    assert (correlations[2] == 0).all() and (correlations[:, 2] == 0).all()
    matching = match_channels(first, second)
    assert {pair.channel: pair.other for pair in matching.pairs} == {0: 0, 1: 1, 2: 2, 3: 3}
    assert matching.weak == [2]
    assert matching.as_dict()["share_above"] == 0.75


def test_tables_of_other_probes_or_with_nan_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="same probes"):
        match_channels(np.zeros((10, 3)), np.zeros((12, 3)))
    bad = _activations(channels=3)
    bad[4, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        match_channels(bad, _activations(channels=3))
    with pytest.raises(ValueError, match=r"\(samples, channels\)"):
        match_channels(np.zeros(10), np.zeros((10, 1)))


def _logged_step(maps: torch.Tensor, channels: list[int]) -> tuple[bytes, list[bytes]]:
    """(info JSON, atlas PNGs) exactly as the feature-maps kind writes a step of `maps` (N, C, H, W)."""
    from tb_cnnviz.writer.atlas import png_bytes
    from tb_cnnviz.writer.kinds.feature_maps import render

    info, pictures = render("conv", maps, channels, max_tile_size=64)
    return json.dumps(info).encode(), [png_bytes(picture) for picture in pictures]


def test_activations_read_back_from_the_atlases_are_the_logged_maps_within_one_grey_level():
    maps = torch.randn(3, 6, 9, 7, generator=torch.Generator().manual_seed(0)) * 4 + 1
    info_blob, atlases = _logged_step(maps, [5, 1, 3])
    table = activation_table(json.loads(info_blob), Side("here", info_blob, atlases))
    expected = maps[:, [5, 1, 3]].double().movedim(1, -1).reshape(-1, 3).numpy()
    per_tile = (maps[:, [5, 1, 3]].amax(dim=(2, 3)) - maps[:, [5, 1, 3]].amin(dim=(2, 3))).double()
    step = per_tile.movedim(1, -1).repeat_interleave(9 * 7, dim=0).numpy() / 255  # one grey level of each tile
    assert np.all(np.abs(table - expected) <= step / 2 + 1e-3 * np.abs(expected).max())

    shuffled_info, shuffled = _logged_step(maps[:, [3, 5, 1, 0, 2, 4]], [0, 1, 2, 3, 4, 5])
    answer = align_answer(Side("a", info_blob, atlases), Side("b", shuffled_info, shuffled))
    assert [(pair["channel"], pair["other"]) for pair in answer["pairs"]] == [(1, 2), (3, 0), (5, 1)]
    assert answer["other_unmatched"] == [3, 4, 5] and answer["unmatched"] == []


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda info: info.pop("tile_range"), "'tile_range' must hold [low, high] finite numbers"),
        (lambda info: info["tile_range"][0][0].__setitem__(0, None), "'tile_range' must hold"),
        (lambda info: info.update(kind="filters"), "holds 'filters'; channels are aligned on 'feature_maps' tags"),
        (lambda info: info.update(probes=5), "counts 5 probes but it holds 3 atlases"),
        (lambda info: info.update(grid=[1, 1]), "grid of 1x1 tiles cannot hold 3 channels"),
    ],
)
def test_a_logged_step_that_does_not_fit_its_layout_is_refused_saying_why(change, message):
    maps = torch.randn(3, 4, 5, 5, generator=torch.Generator().manual_seed(1))
    info_blob, atlases = _logged_step(maps, [0, 1, 2])
    info = json.loads(info_blob)
    change(info)
    bad = Side("run 'x' step 2", json.dumps(info).encode(), atlases)
    with pytest.raises(AlignError, match=re.escape(message)):
        align_answer(Side("good", info_blob, atlases), bad)
    with pytest.raises(AlignError, match="its atlas cannot be read"):
        align_answer(Side("good", info_blob, atlases), Side("cut", info_blob, [atlases[0][:40], *atlases[1:]]))


# --- Acceptance: real trainings of the demo model on real Fashion-MNIST, logged by the real callback. ---

TRAIN_IMAGES = 4000  # one epoch of 63 batches: ~75% test accuracy, seconds on two cores
BATCH_SIZE = 64
CONV1, CONV2 = "features.conv1", "features.conv2"
TAG1, TAG2 = f"{CONV1}/feature_maps", f"{CONV2}/feature_maps"


def train_demo(seed: int):
    """The demo's FashionCNN trained one short epoch from `seed` (weights, dropout and batch order)."""
    from demo_training.data import batch_count, load_split
    from demo_training.train import make_model, make_optimizer, train_epoch

    with torch.random.fork_rng(devices=[]):
        model = make_model(seed=seed)
        train = load_split("train").subset(TRAIN_IMAGES)
        optimizer, scheduler = make_optimizer(model, batch_count(train, BATCH_SIZE))
        train_epoch(model, train, optimizer, scheduler, epoch=0, batch_size=BATCH_SIZE, seed=seed, progress=False)
    return model.eval()


def permuted_conv2(model, order: list[int]):
    """A copy whose conv2 output channel j is the original's channel order[j]: BatchNorm 2 and conv3's input
    channels follow, so the network computes the same function under other channel numbers."""
    permuted = copy.deepcopy(model)
    features = permuted.features
    with torch.no_grad():
        features.conv2.weight.copy_(features.conv2.weight[order])
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(features.bn2, name).copy_(getattr(features.bn2, name)[order])
        features.conv3.weight.copy_(features.conv3.weight[:, order])
    return permuted


def log_run(model, probes, run_dir: Path, steps=(1,)) -> None:
    from demo_training.data import CLASS_NAMES, PIXEL_MEAN, PIXEL_STD
    from tb_cnnviz import CNNVizCallback

    with CNNVizCallback(
        model,
        probes,
        log_dir=str(run_dir),
        kinds=["feature_maps"],  # what alignment reads, whatever the callback's default kinds become
        probe_labels=CLASS_NAMES,
        input_mean=[PIXEL_MEAN],
        input_std=[PIXEL_STD],
    ) as viz:
        for step in steps:
            viz.log(step)


@dataclass
class Demo:
    logdir: Path
    models: dict
    probes: torch.Tensor
    order: list[int]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Demo:
    """Runs "seed0" (its initial weights at step 0, trained at step 1), "seed1" (trained from another seed),
    "permuted" (seed0's trained model with conv2's channels permuted) and "flipped" (other probe images)."""
    from demo_training.data import load_split, probe_batch
    from demo_training.train import make_model

    logdir = tmp_path_factory.mktemp("align")
    probes = probe_batch(load_split("test"))
    with torch.random.fork_rng(devices=[]):
        initial = make_model(seed=0).eval()
    trained = {seed: train_demo(seed) for seed in (0, 1)}
    order = torch.randperm(64, generator=torch.Generator().manual_seed(5)).tolist()
    permuted = permuted_conv2(trained[0], order)
    with torch.no_grad():
        assert torch.allclose(permuted(probes), trained[0](probes), atol=1e-4), "the permutation changes nothing"
    log_run(initial, probes, logdir / "seed0", steps=(0,))
    log_run(trained[0], probes, logdir / "seed0", steps=(1,))
    log_run(trained[1], probes, logdir / "seed1")
    log_run(permuted, probes, logdir / "permuted")
    log_run(trained[0], probes.flip(-1), logdir / "flipped")
    return Demo(logdir, {"seed0": trained[0], "seed1": trained[1], "permuted": permuted}, probes, order)


def model_correlations(first, second, probes, layer: str) -> np.ndarray:
    """Channel-by-channel correlations of two models' full-size maps of `layer`, computed from torch directly."""
    tables = []
    for model in (first, second):
        (maps,) = feature_maps(model, probes, [layer]).values()
        tables.append(maps.double().movedim(1, -1).reshape(-1, maps.shape[1]).numpy())
    return correlation_matrix(*tables)


def align(base: str, **params):
    return fetch_json(plugin_url(base, "align", **params))


def test_the_route_matches_channels_of_two_seeds_that_correlate_and_recovers_a_permutation(demo):
    with tensorboard_server(demo.logdir, "--load_fast=false") as base:
        poll(lambda: fetch_json(plugin_url(base, "runs"))["runs"], lambda runs: len(runs) == 4)
        seeds = align(base, run="seed0", tag=TAG1, step=1, other_run="seed1", other_step=1)
        permuted = align(base, run="seed0", tag=TAG2, step=1, other_run="permuted", other_step=1)
        steps = align(base, run="seed0", tag=TAG1, step=1, other_run="seed0", other_step=0)
        status, _, body = fetch(
            plugin_url(base, "align", run="seed0", tag=TAG1, step=1, other_run="flipped", other_step=1)
        )

    # Two seeds: matched channels correlate far better than channels of the same number.
    exact = model_correlations(demo.models["seed0"], demo.models["seed1"], demo.probes, CONV1)
    same_index = float(np.mean(np.diag(exact)))
    # Measured: 0.70 matched against -0.13 for channels of the same number; 72% of pairs above 0.5.
    assert seeds["mean_correlation"] > same_index + 0.5, (seeds["mean_correlation"], same_index)
    assert seeds["mean_correlation"] > 0.6 and seeds["share_above"] > 0.5
    assert [pair["channel"] for pair in seeds["pairs"]] == list(range(32))
    assert sorted(pair["other"] for pair in seeds["pairs"]) == list(range(32))
    # The route's correlations (read back from 8-bit atlases) are the maps' own, and the matching is optimal.
    from_atlases = np.array([pair["correlation"] for pair in seeds["pairs"]])
    from_maps = exact[[pair["channel"] for pair in seeds["pairs"]], [pair["other"] for pair in seeds["pairs"]]]
    assert np.abs(from_atlases - from_maps).max() < 0.02
    rows, columns = linear_sum_assignment(exact, maximize=True)
    assert from_maps.sum() == pytest.approx(exact[rows, columns].sum(), abs=0.05)
    assert seeds["weak"] == [pair["channel"] for pair in seeds["pairs"] if pair["correlation"] < 0.5]
    assert seeds["unmatched"] == seeds["other_unmatched"] == [] and seeds["threshold"] == 0.5

    # The permuted copy: every channel found under its new number, with correlation 1.
    inverse = {old: new for new, old in enumerate(demo.order)}
    assert {pair["channel"]: pair["other"] for pair in permuted["pairs"]} == inverse
    assert min(pair["correlation"] for pair in permuted["pairs"]) > 0.999 and permuted["weak"] == []

    # One run at two steps (initial and trained weights): the same shape of answer.
    assert len(steps["pairs"]) == 32 and -1 <= steps["mean_correlation"] <= 1

    # Other probe images: nothing to correlate, said in one line.
    assert (
        status == 422 and b"channels can only be aligned on shared probe images" in body and b"\n" not in body.strip()
    )


BAD_REQUESTS = [
    ({"other_run": "nope"}, 404, "run 'nope'"),
    ({"other_step": 7}, 404, "step 7 of run 'seed1'"),
    ({"tag": "probes", "step": 0, "other_run": "seed0", "other_step": 0}, 422, "'feature_maps' tags only"),
    ({"other_step": None}, 400, "'other_step'"),
    ({"other_step": "x"}, 400, "must be an integer"),
    ({"tag": "features.conv9/feature_maps"}, 404, "tag 'features.conv9/feature_maps'"),
]


def test_bad_align_requests_answer_one_line_saying_what_is_wrong(demo):
    good = {"run": "seed0", "tag": TAG1, "step": 1, "other_run": "seed1", "other_step": 1}
    answers = []
    with tensorboard_server(demo.logdir, "--load_fast=true") as base:
        poll(lambda: fetch_json(plugin_url(base, "runs"))["runs"], lambda runs: len(runs) == 4)
        for change, _, _ in BAD_REQUESTS:
            params = {name: value for name, value in {**good, **change}.items() if value is not None}
            status, _, body = fetch(plugin_url(base, "align", **params))
            answers.append((status, body.decode()))
    for (status, body), (_, expected_status, message) in zip(answers, BAD_REQUESTS, strict=True):
        assert status == expected_status and message in body and "\n" not in body.strip(), body


def test_compare_command_recovers_the_permutation_from_two_checkpoints(demo, tmp_path, capsys):
    from tb_cnnviz.cli.main import main

    paths = []
    for name in ("seed0", "permuted"):
        paths.append(tmp_path / f"{name}.pt")
        torch.save({"epoch": 1, "model": demo.models[name].state_dict()}, paths[-1])
    common = ["--model", "demo_training.model:FashionCNN", "--device", "cpu", "--probe-images", "fashion-mnist"]
    assert main(["compare", *common, "--checkpoints", *map(str, paths), "--json"]) == 0
    layers = {layer["layer"]: layer for layer in json.loads(capsys.readouterr().out)["layers"]}
    assert list(layers) == [CONV1, CONV2, "features.conv3"]
    inverse = {old: new for new, old in enumerate(demo.order)}
    assert {pair["channel"]: pair["other"] for pair in layers[CONV2]["pairs"]} == inverse
    for name in (CONV1, "features.conv3"):  # the layers around it compute exactly what they did
        assert all(pair["channel"] == pair["other"] for pair in layers[name]["pairs"])
    assert all(layer["mean_correlation"] > 0.999 and layer["share_above"] == 1.0 for layer in layers.values())

    assert main(["compare", *common, "--checkpoints", *map(str, paths), "--layers", CONV2]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[1].split() == ["layer", "channels", "mean", "r", "share", ">", "0.5", "weak", "unmatched"]
    assert table[2].split() == [CONV2, "64", "1.000", "100%", "0", "0"]


@pytest.mark.parametrize(
    "options, message",
    [
        (["--checkpoints", "missing.pt", "missing.pt"], "no such file 'missing.pt'"),
        (["--layers", "conv9"], "unknown layer 'conv9'"),
    ],
)
def test_compare_command_bad_inputs_are_one_line(demo, tmp_path, capsys, options, message):
    from tb_cnnviz.cli.main import main

    path = tmp_path / "a.pt"
    torch.save(demo.models["seed0"].state_dict(), path)
    common = ["--model", "demo_training.model:FashionCNN", "--device", "cpu", "--probe-images", "fashion-mnist"]
    assert main(["compare", *common, "--checkpoints", str(path), str(path), *options]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and message in captured.err


def test_the_tabs_align_toggle_draws_the_routes_pairs_side_by_side(demo, browser, tab):
    with tensorboard_server(demo.logdir) as base:
        poll(lambda: fetch_json(plugin_url(base, "runs"))["runs"], lambda runs: len(runs) == 4)
        answer = align(base, run="seed0", tag=TAG2, step=1, other_run="permuted", other_step=1)
        info = fetch_json(plugin_url(base, "info", run="permuted", tag=TAG2, step=1))
        served = atlas_tiles(served_image(base, "permuted", TAG2, 1, 1), info["tile"], info["grid"], 64)
        frame = tab.open(
            f"{base}/#cnnviz&p.cnnviz.run=seed0&p.cnnviz.layer={CONV2}&p.cnnviz.step=1"
            "&p.cnnviz.compare=run&p.cnnviz.otherRun=permuted"
        )
        tab.wait_for_grid(panel="compared", step=1)
        assert texts(frame, ".grid[data-panel=compared] .tile-label") == [str(c) for c in range(64)], "not aligned yet"
        frame.click("#cnnviz-align")
        frame.wait_for_selector(".panel-title:text('permuted · step 1 · aligned')")
        frame = tab.wait_for_grid(panel="compared", step=1)
        shown_captions = texts(frame, ".grid[data-panel=shown] .tile-caption")
        compared_labels = texts(frame, ".grid[data-panel=compared] .tile-label")
        compared_tiles = drawn_tiles(frame, "compared")
        summary = frame.text_content(".align-list")
        assert "p.cnnviz.align=true" in tab.url
        tab.keep_screenshot("cnnviz-compare-aligned-1400x900")
        frame.select_option("#cnnviz-other-run", "seed1")  # another seed: weak matches are flagged
        frame.wait_for_selector(".panel-title:text('seed1 · step 1 · aligned')")
        tab.keep_screenshot("cnnviz-compare-aligned-seeds-1400x900")
        frame.click(".grid[data-panel=compared] .tile[data-position='1']")  # opens the pair's shown channel, 1
        poll(lambda: tab.url, lambda url: "p.cnnviz.channel=1" in url, timeout=10)
        assert "p.cnnviz.channel=1" in tab.url
        tab.assert_clean()

    pairs = answer["pairs"]
    assert [int(label) for label in compared_labels] == [pair["other"] for pair in pairs]
    assert shown_captions == [f"↔ {pair['other']} · {pair['correlation']:.2f}" for pair in pairs]
    # Each compared tile is the compared run's tile of the matched channel, as the plugin serves it.
    assert compared_tiles == [served[info["channels"].index(pair["other"])] for pair in pairs]
    assert "Weakly matched (r < 0.5): none" in summary and "Unmatched here: none" in summary
