"""The dynamics route's numbers (tb_cnnviz/tensorboard/dynamics.py), torch-free, on hand-made infos."""

from __future__ import annotations

import pytest

from tb_cnnviz.tensorboard.dynamics import dynamics_answer, heat_map, rank_channels, settled_step
from tb_cnnviz.tensorboard.infos import StepInfo, Unreadable

STEPS = [0, 10, 20, 30, 40]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ([None, 0.3, 0.04, 0.02, 0.01], 20),  # below from step 20 on
        ([None, 0.01, 0.02, 0.03, 0.04], 10),  # the first log has no previous one: settled from the second
        ([None, 0.01, 0.2, 0.03, 0.04], 30),  # a rise above the threshold restarts the stretch
        ([None, 0.01, 0.02, 0.03, 0.2], None),  # the latest change is above: still changing
        ([None, 0.3, 0.05, 0.05, 0.05], None),  # equal to the threshold is not below it
        ([None, 0.3, 0.01, None, 0.01], 20),  # an unknown change neither breaks nor starts the stretch
        ([None, 0.3, 0.2, 0.1, None], None),  # the latest is unknown and the known one before it is above
        ([None, None, None, None, None], None),  # nothing known: still changing
    ],
)
def test_settled_step_is_the_start_of_the_last_stretch_below_the_threshold(changes, expected):
    assert settled_step(STEPS, changes, 0.05) == expected


def test_settled_step_of_no_steps_is_none():
    assert settled_step([], [], 0.05) is None


def info(channels: list, drifts: list | None, **scalars) -> StepInfo:
    return StepInfo("dynamics", channels, None, None, {"drift": drifts} if drifts is not None else {}, scalars)


def test_channels_are_ranked_by_their_mean_drift_over_the_last_three_known_logs():
    rows = [
        info([0, 1, 2, 3], [None, None, None, None]),
        info([0, 1, 2, 3], [0.9, 0.1, 0.3, None]),
        info([0, 1, 2, 3], [0.0, 0.2, 0.3, None]),
        info([0, 1, 2, 3], [0.0, 0.3, 0.01, None]),
        info([0, 1, 2, 3], [0.0, 0.4, 0.01, None]),
    ]
    ranked = rank_channels(STEPS, rows, 0.05)
    assert [entry["channel"] for entry in ranked] == [1, 2, 0, 3]  # 0.3, 0.107, 0.0; never known last
    by_channel = {entry["channel"]: entry for entry in ranked}
    assert by_channel[1]["recent_drift"] == pytest.approx((0.2 + 0.3 + 0.4) / 3)
    assert by_channel[0]["recent_drift"] == 0.0 and by_channel[0]["settled_step"] == 20
    assert by_channel[2]["drift"] == 0.01 and by_channel[2]["settled_step"] == 30
    assert by_channel[1]["settled_step"] is None and by_channel[3]["recent_drift"] is None


def test_channels_follow_the_latest_info_and_missing_ones_count_as_unknown():
    rows = [info([5, 7], [0.5, 0.5]), info([7], [0.2]), info([7, 9], [0.1, 0.4])]
    ranked = rank_channels(STEPS[:3], rows, 0.05)
    assert [(entry["channel"], entry["recent_drift"]) for entry in ranked] == [
        (9, 0.4),
        (7, pytest.approx((0.5 + 0.2 + 0.1) / 3)),
    ]


def layer_entry(name: str, steps: list[int], cka_previous: list) -> dict:
    return {"layer": name, "steps": steps, "change": {"cka_previous": cka_previous}}


def test_heat_map_spans_the_union_of_steps_with_none_where_a_layer_has_none():
    heat = heat_map(
        [layer_entry("a", [0, 10, 20], [None, 0.75, 0.5]), layer_entry("b", [0, 20, 30], [None, 0.25, 1.0])]
    )
    assert heat == {
        "layers": ["a", "b"],
        "steps": [0, 10, 20, 30],
        "values": [[None, 0.25, 0.5, None], [None, None, 0.75, 0.0]],
    }


def test_answer_reads_each_layer_skips_bad_steps_and_takes_the_latest_threshold():
    layers = [
        {"name": "conv1", "kinds": {"feature_maps": "conv1/feature_maps", "dynamics": "conv1/dynamics"}},
        {"name": "fc", "kinds": {"feature_maps": "fc/feature_maps"}},  # no dynamics: not in the answer
        {"name": "conv2", "kinds": {"dynamics": "conv2/dynamics", "filters": "conv2/filters"}},
    ]
    rows = {
        "conv1/dynamics": [
            (0, info([0, 1], [None, None], cka_previous=None, cka_first=1.0, dead_fraction=0.0, drift=None)),
            (1, info([0, 1], [0.3, 0.01], cka_previous=0.9, cka_first=0.9, dead_fraction=0.5, drift=0.15)),
        ],
        "conv2/dynamics": [
            (0, info([0], [None], cka_previous=None, cka_first=1.0, dead_fraction=0.0, drift=None)),
            (1, Unreadable("bad scalars")),
            (2, info([0], [0.01], cka_previous=0.99, cka_first=0.8, dead_fraction=0.0, drift=0.01)),
        ],
        "conv2/filters": [
            (0, StepInfo("filters", [0], [2, 2], [1, 1], {}, {"similarity": 0.25})),
            (2, Unreadable("x")),
        ],
    }
    asked = []

    def read_info(tag, step):
        asked.append((tag, step))
        return {"settle_threshold": 0.02}

    answer = dynamics_answer("run", layers, rows.__getitem__, read_info)
    assert asked == [("conv2/dynamics", 2)]
    assert answer["threshold"] == 0.02 and answer["steps"] == [0, 1, 2]
    conv1, conv2 = answer["layers"]
    assert (
        conv1["layer"] == "conv1" and conv1["feature_maps_tag"] == "conv1/feature_maps" and conv1["similarity"] is None
    )
    assert conv1["change"]["dead_fraction"] == [0.0, 0.5] and conv1["settled_step"] is None  # 0.1 >= 0.02
    assert [entry["channel"] for entry in conv1["channels"]] == [0, 1] and conv1["channels"][1]["settled_step"] == 1
    assert conv2["steps"] == [0, 2] and conv2["settled_step"] == 2 and conv2["feature_maps_tag"] is None
    assert conv2["similarity"] == {"steps": [0], "values": [0.25]}
    assert answer["heat"]["values"][1] == [None, None, pytest.approx(0.01)]
    assert answer["skipped"] == [
        {"tag": "conv2/dynamics", "step": 1, "reason": "bad scalars"},
        {"tag": "conv2/filters", "step": 2, "reason": "x"},
    ]


def test_a_run_without_dynamics_answers_empty_lists_and_the_default_threshold():
    answer = dynamics_answer("run", [{"name": "a", "kinds": {"feature_maps": "a/fm"}}], {}.__getitem__, None)
    assert answer == {
        "run": "run",
        "threshold": 0.05,
        "steps": [],
        "layers": [],
        "heat": {"layers": [], "steps": [], "values": []},
        "skipped": [],
    }
