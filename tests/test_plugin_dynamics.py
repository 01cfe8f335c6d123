"""The dynamics route in a real `tensorboard` process, both loaders: what it answers equals the logged infos."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import fetch, fetch_json, plugin_url, poll, read_cnnviz_events, tensorboard_server, write_training_logdir
from dynamics_logs import (
    DEMO_EPOCHS,
    LAYERS,
    SETTLED,
    SIMILARITY,
    STEPS,
    THRESHOLD,
    UNREADABLE,
    drift,
    dynamics_info,
    write_demo_dynamics_run,
)


@pytest.fixture(scope="module")
def dynamics_logdir(tmp_path_factory) -> Path:
    from dynamics_logs import write_dynamics_run

    logdir = tmp_path_factory.mktemp("dynamics")
    write_dynamics_run(logdir / "dyn")
    write_training_logdir(logdir / "plain", steps=2)
    write_demo_dynamics_run(logdir / "demo")
    return logdir


def answered(base: str) -> dict:
    return fetch_json(plugin_url(base, "dynamics", run="dyn"))


@pytest.mark.parametrize("load_fast", ["true", "false"])
def test_dynamics_route_answers_the_logged_change_settled_steps_ranking_and_heat_map(dynamics_logdir, load_fast):
    with tensorboard_server(dynamics_logdir, f"--load_fast={load_fast}") as base:
        answer = poll(lambda: answered(base), lambda answer: answer["steps"] == list(range(STEPS)))
        assert answer["run"] == "dyn" and answer["threshold"] == THRESHOLD and answer["steps"] == list(range(STEPS))
        assert [layer["layer"] for layer in answer["layers"]] == list(LAYERS)
        for entry in answer["layers"]:
            name = entry["layer"]
            steps = [step for step in range(STEPS) if (f"{name}/dynamics", step) != UNREADABLE]
            assert entry["tag"] == f"{name}/dynamics" and entry["feature_maps_tag"] == f"{name}/feature_maps"
            assert entry["steps"] == steps
            for scalar, values in entry["change"].items():
                assert values == [dynamics_info(name, step)["scalars"][scalar] for step in steps], scalar
            assert entry["settled_step"] == SETTLED[name]
            # Ranked by the mean of the last three known drifts, highest first.
            recent = {
                channel: [value for value in (drift(channel, step) for step in steps) if value is not None][-3:]
                for channel in range(LAYERS[name][0]["shape"][0])
            }
            means = [entry_["recent_drift"] for entry_ in entry["channels"]]
            assert means == sorted(means, reverse=True) and len(means) == len(recent)
            for ranked in entry["channels"]:
                known = recent[ranked["channel"]]
                assert ranked["recent_drift"] == pytest.approx(sum(known) / len(known))
                assert ranked["drift"] == drift(ranked["channel"], steps[-1])
        assert answer["layers"][0]["similarity"] == {"steps": list(SIMILARITY), "values": list(SIMILARITY.values())}
        assert answer["layers"][1]["similarity"] is None
        heat = answer["heat"]
        assert heat["layers"] == list(LAYERS) and heat["steps"] == answer["steps"]
        for row, (name, (_, cka_previous)) in zip(heat["values"], LAYERS.items(), strict=True):
            expected = [None if value is None else pytest.approx(1 - value) for value in cka_previous]
            if name == "4":
                expected[UNREADABLE[1]] = None  # the skipped step leaves a gap
            assert row == expected
        [skipped] = answer["skipped"]
        assert (skipped["tag"], skipped["step"]) == UNREADABLE and "'scalars' must map" in skipped["reason"]


def test_dynamics_route_answers_empty_lists_without_dynamics_and_404_for_an_unknown_run(dynamics_logdir):
    with tensorboard_server(dynamics_logdir, "--load_fast=true") as base:
        poll(lambda: fetch_json(plugin_url(base, "runs"))["runs"], lambda runs: len(runs) == 2)
        plain = fetch_json(plugin_url(base, "dynamics", run="plain"))
        assert plain == {
            "run": "plain",
            "threshold": 0.05,
            "steps": [],
            "layers": [],
            "heat": {"layers": [], "steps": [], "values": []},
            "skipped": [],
        }
        status, _, body = fetch(plugin_url(base, "dynamics", run="no such run"))
        assert status == 404 and b"no CNN Viz data for run 'no such run'" in body
        status, _, body = fetch(f"{base}/data/plugin/cnnviz/dynamics")
        assert status == 400 and b"missing query parameter 'run'" in body


@pytest.mark.parametrize("load_fast", ["true", "false"])
def test_dynamics_route_on_the_real_callbacks_demo_run_answers_its_logged_numbers(dynamics_logdir, load_fast):
    logged = {
        tag.removesuffix("/dynamics"): {step: json.loads(blobs[0]) for step, blobs in steps.items()}
        for tag, steps in read_cnnviz_events(dynamics_logdir / "demo").items()
        if tag.endswith("/dynamics")
    }
    assert len(logged) == 3, "the demo model's three convs"
    with tensorboard_server(dynamics_logdir, f"--load_fast={load_fast}") as base:
        answer = poll(
            lambda: fetch_json(plugin_url(base, "dynamics", run="demo")),
            lambda answer: answer["steps"] == list(range(DEMO_EPOCHS)) and len(answer["layers"]) == 3,
        )
        series = {name: fetch_json(plugin_url(base, "series", run="demo", tag=f"{name}/dynamics")) for name in logged}
    assert answer["threshold"] == logged[answer["layers"][0]["layer"]][DEMO_EPOCHS - 1]["settle_threshold"]
    assert [layer["layer"] for layer in answer["layers"]] == sorted(logged)  # features.conv1, 2, 3: model order
    for entry in answer["layers"]:
        infos = [logged[entry["layer"]][step] for step in range(DEMO_EPOCHS)]
        assert entry["steps"] == list(range(DEMO_EPOCHS)) and answer["skipped"] == []
        for name, values in entry["change"].items():
            assert values == [info["scalars"][name] for info in infos], name
            assert series[entry["layer"]]["scalars"][name] == values  # the series route answers the same numbers
        assert entry["change"]["cka_previous"][0] is None and entry["change"]["cka_first"][0] == 1.0
        # Every shown channel ranked once, by its mean drift over the last three logs (none at the first).
        channels = infos[-1]["channels"]
        assert sorted(ranked["channel"] for ranked in entry["channels"]) == sorted(channels)
        for ranked in entry["channels"]:
            drifts = [info["series"]["drift"][channels.index(ranked["channel"])] for info in infos]
            known = [value for value in drifts if value is not None][-3:]  # None: a first log, a constant channel
            assert ranked["recent_drift"] == (pytest.approx(sum(known) / len(known)) if known else None)
        means = [ranked["recent_drift"] for ranked in entry["channels"] if ranked["recent_drift"] is not None]
        assert means == sorted(means, reverse=True)
