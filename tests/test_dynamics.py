"""The dynamics kind: linear CKA as its formula says, the bounded version close to the exact one on a real layer,
drift and change that are 0 for an unchanged model and not after training, a dead-channel alarm, and the
numbers as ordinary scalars in TensorBoard's own scalar route."""

from __future__ import annotations

import json
import math
import urllib.error
import warnings

import pytest
import torch
from conftest import fetch_json, poll, read_cnnviz_events, small_cnn, tensorboard_server
from torch import nn
from trained_demo import trained_fashion_cnn

from demo_training.data import load_split
from demo_training.model import FashionCNN
from demo_training.train import make_model
from tb_cnnviz import CNNVizCallback, CNNVizWarning, Dynamics, Filters, contract, feature_maps
from tb_cnnviz.methods.dynamics import gram_equivalent, linear_cka, pairwise_cosine, row_sample, sampled_rows

BOUNDED_ERROR = 0.02  # largest |sampled - exact| CKA allowed on the demo's layers (measured: 0.009 at 2048 rows)


def gaussian(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def cka_from_grams(x: torch.Tensor, y: torch.Tensor) -> float:
    """Kornblith et al.'s other spelling: HSIC of the centred Gram matrices, tr(KHLH) / sqrt(tr(KHKH) tr(LHLH))."""
    n = len(x)
    centring = torch.eye(n, dtype=torch.float64) - 1 / n
    k, l = x.double() @ x.double().T, y.double() @ y.double().T  # noqa: E741 - the paper's names

    def hsic(a, b):
        return torch.trace(a @ centring @ b @ centring)

    return float(hsic(k, l) / torch.sqrt(hsic(k, k) * hsic(l, l)))


def test_linear_cka_is_the_formula_and_invariant_to_orthogonal_transforms_and_scaling():
    x, y = gaussian(200, 12, seed=0), gaussian(200, 7, seed=1)
    y = y + x[:, :7]  # related, not equal
    assert linear_cka(x, y) == pytest.approx(cka_from_grams(x, y), abs=1e-12)
    assert 0.2 < linear_cka(x, y) < 0.9
    assert linear_cka(x, x) == pytest.approx(1, abs=1e-12)
    orthogonal = torch.linalg.qr(gaussian(12, 12, seed=2))[0]
    assert linear_cka(x, x @ orthogonal) == pytest.approx(1, abs=1e-12)
    assert linear_cka(x, 3.7 * x + 5) == pytest.approx(1, abs=1e-12), "isotropic scaling and a shift"
    assert linear_cka(x, y @ torch.diag(torch.tensor([1.0, 9, 1, 1, 1, 1, 1], dtype=torch.float64))) != pytest.approx(
        linear_cka(x, y), abs=1e-3
    ), "a scaling of one feature is no isotropic scaling: CKA sees it"
    assert math.isnan(linear_cka(x, torch.ones(200, 3))), "a constant table has nothing to compare"


def test_linear_cka_of_independent_tables_is_near_zero_as_the_sample_count_predicts():
    # For independent standard Gaussian tables (n x p, n x q), E||Y^T X||_F^2 = n p q and ||X^T X||_F^2 ~ n p (n + p),
    # so CKA ~ sqrt(p q / ((n + p)(n + q))); its spread is about sqrt(2 / (p q)) of that, so twice is a safe bound.
    for n, p, q in ((500, 10, 10), (4000, 16, 8)):
        expected = math.sqrt(p * q / ((n + p) * (n + q)))
        values = [linear_cka(gaussian(n, p, seed=seed), gaussian(n, q, seed=100 + seed)) for seed in range(5)]
        assert all(value < 2 * expected for value in values), (n, values, expected)
        assert sum(values) / len(values) == pytest.approx(expected, rel=0.5)


def test_the_gram_equivalent_table_is_lossless_for_cka_and_at_most_square():
    wide_x, wide_y = gaussian(60, 300, seed=3), gaussian(60, 300, seed=4)
    wide_y = wide_y + 0.5 * wide_x
    assert gram_equivalent(wide_x).shape == (60, 60)
    assert linear_cka(gram_equivalent(wide_x), gram_equivalent(wide_y)) == pytest.approx(
        linear_cka(wide_x, wide_y), abs=1e-10
    )


def table(maps: torch.Tensor) -> torch.Tensor:
    """Every (probe, position) row of (N, C, H, W) maps: the exact representation."""
    return maps.permute(0, 2, 3, 1).reshape(-1, maps.shape[1])


@pytest.mark.parametrize("layer", ["features.bn1", "features.relu1", "features.relu2", "features.relu3"])
def test_the_bounded_cka_stays_near_the_exact_one_on_the_trained_demo_layers(layer):
    """The untrained and the trained demo model, as cka_first compares them: 10 probes, every sampled row set."""
    trained, probes = trained_fashion_cnn()
    with torch.random.fork_rng(devices=[]):
        untrained = make_model(seed=0).eval()
    before, after = feature_maps(untrained, probes, [layer])[layer], feature_maps(trained, probes, [layer])[layer]
    exact = linear_cka(table(before), table(after))
    assert exact < 0.95, "the layer changed in training: a comparison worth making"
    for seed in range(5):
        sample = row_sample(before.shape, seed=seed)
        bounded = linear_cka(*(gram_equivalent(sampled_rows(maps, sample)) for maps in (before, after)))
        assert abs(bounded - exact) < BOUNDED_ERROR, (layer, seed, bounded, exact)


def dynamics_infos(run_dir) -> dict[str, dict[int, dict]]:
    return {
        tag: {step: json.loads(blobs[0]) for step, blobs in steps.items()}
        for tag, steps in read_cnnviz_events(run_dir).items()
        if tag.endswith("/dynamics")
    }


def test_an_unchanged_model_does_not_drift_and_training_steps_do(tmp_path):
    data = load_split("train").subset(640)
    torch.manual_seed(0)
    model = FashionCNN(widths=(8, 16, 16))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    with CNNVizCallback(model, data.images[:6], log_dir=str(tmp_path)) as viz:  # the default kinds
        viz.log(0)
        viz.log(1)
        model.train()
        for batch in torch.arange(640).split(64):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(data.images[batch]), data.labels[batch]).backward()
            optimizer.step()
        viz.log(2)
    infos = dynamics_infos(tmp_path)
    assert set(infos) == {f"features.conv{index}/dynamics" for index in (1, 2, 3)}
    for tag, steps in infos.items():
        first, unchanged, trained = steps[0], steps[1], steps[2]
        assert first["scalars"]["cka_previous"] is None and first["scalars"]["cka_first"] == 1
        assert first["series"]["drift"] == [None] * len(first["channels"]) and first["samples"] > 0
        assert unchanged["scalars"]["cka_previous"] == pytest.approx(1, abs=1e-6), tag
        assert all(drift is None or abs(drift) < 1e-6 for drift in unchanged["series"]["drift"]), tag
        assert trained["scalars"]["cka_previous"] < 1 - 1e-4 and trained["scalars"]["cka_first"] < 1 - 1e-4, tag
        assert trained["scalars"]["drift"] > 1e-4 and max(trained["series"]["drift"]) > 1e-3, tag
        assert trained["settle_threshold"] == 0.05 and len(trained["series"]["drift"]) == len(trained["channels"])


def test_a_negative_bias_step_raises_the_dead_fraction_and_warns_once_per_crossing(tmp_path):
    torch.manual_seed(0)
    model = small_cnn()
    conv = model[4]
    with warnings.catch_warnings(record=True) as caught, CNNVizCallback(
        model, torch.rand(3, 1, 28, 28), log_dir=str(tmp_path), layers=["4"], kinds=[Dynamics()]
    ) as viz:  # fmt: skip
        warnings.simplefilter("always")
        viz.log(0)
        with torch.no_grad():
            conv.bias -= 100  # every unit of every channel below 0: the ReLU after it is dead for every input
        viz.log(1)
        viz.log(2)  # still dead: no second warning
        with torch.no_grad():
            conv.bias += 100
        viz.log(3)
        with torch.no_grad():
            conv.bias -= 100
        viz.log(4)  # dead again: a new crossing, a new warning
    fractions = {
        step: info["scalars"]["dead_fraction"] for step, info in dynamics_infos(tmp_path)["4/dynamics"].items()
    }
    assert fractions[0] < 0.5 and fractions[1] == fractions[2] == fractions[4] == 1 and fractions[3] == fractions[0]
    alarms = [str(warning.message) for warning in caught if issubclass(warning.category, CNNVizWarning)]
    assert len(alarms) == 2, alarms
    for alarm, step in zip(alarms, (1, 4), strict=True):
        assert f"layer '4' at step {step}: 16 of its 16 channels are dead (100%" in alarm
        assert "learning rate" in alarm


def test_a_layer_dead_from_its_first_log_is_no_alarm_but_its_scalar_says_so(tmp_path):
    """The alarm is for channels dying in training: a layer mostly dead on the probes from the start (an
    untrained model, a few probes) sets the line the alarm waits to see crossed."""
    torch.manual_seed(0)
    model = small_cnn()
    with torch.no_grad():
        model[4].bias -= 100
    with warnings.catch_warnings():
        warnings.simplefilter("error", CNNVizWarning)
        with CNNVizCallback(model, torch.rand(3, 1, 28, 28), log_dir=str(tmp_path), layers=["4"]) as viz:
            viz.log(0)
            viz.log(1)
    assert [info["scalars"]["dead_fraction"] for info in dynamics_infos(tmp_path)["4/dynamics"].values()] == [1, 1]


def test_filter_image_similarity_is_one_when_every_channel_is_the_same_filter(tmp_path):
    torch.manual_seed(0)
    model = small_cnn()
    with torch.no_grad():
        model[4].weight.copy_(model[4].weight[:1].expand_as(model[4].weight))  # 16 copies of channel 0
        model[4].bias.fill_(float(model[4].bias[0]))
    with CNNVizCallback(model, torch.rand(2, 1, 28, 28), log_dir=str(tmp_path), kinds=[Filters(steps=4)]) as viz:
        viz.log(0)
    events = read_cnnviz_events(tmp_path)
    same, distinct = (json.loads(events[f"{layer}/filters"][0][0]) for layer in ("4", "0"))
    assert same["scalars"]["similarity"] == pytest.approx(1, abs=1e-4)
    assert same["series"]["similarity"] == pytest.approx([1] * 16, abs=1e-4)
    assert distinct["scalars"]["similarity"] < 0.9, "random, different filters respond differently"
    assert len(distinct["series"]["similarity"]) == len(distinct["channels"]) == 8
    assert pairwise_cosine(torch.eye(3))[0] == 0


@pytest.fixture(scope="module")
def dynamics_logdir(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("dynamics_scalars")
    generator = torch.Generator().manual_seed(0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = small_cnn()
    with CNNVizCallback(model, torch.rand(3, 1, 28, 28), log_dir=str(logdir / "run"), layers=["4"]) as viz:
        for step in range(4):
            with torch.no_grad():
                for parameter in model.parameters():
                    parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
            viz.log(step)
    return logdir


def scalar_points(url: str) -> list:
    """[[wall time, step, value], ...] of TensorBoard's scalars route; [] until the tag is loaded."""
    try:
        return fetch_json(url)
    except urllib.error.URLError:
        return []


@pytest.mark.parametrize("load_fast", ["true", "false"])
def test_the_numbers_are_tensorboard_scalars_in_its_own_scalar_route(dynamics_logdir, load_fast):
    infos = dynamics_infos(dynamics_logdir / "run")["4/dynamics"]
    with tensorboard_server(dynamics_logdir, f"--load_fast={load_fast}") as base:
        for name in ("cka_previous", "cka_first", "dead_fraction", "drift"):
            expected = {
                step: info["scalars"][name] for step, info in infos.items() if info["scalars"][name] is not None
            }
            url = f"{base}/data/plugin/scalars/scalars?run=run&tag={contract.scalar_tag('4', name)}"
            count = len(expected)
            points = poll(lambda url=url: scalar_points(url), until=lambda answer, count=count: len(answer) >= count)
            assert {step: value for _, step, value in points} == pytest.approx(expected, abs=1e-6), name
        assert len(expected) == 3 and 0 not in expected, "drift: none at the first log"
