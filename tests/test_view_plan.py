"""frontend/view-plan.js in node: what the tab shows for a view state and a runs listing, without a browser."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

VIEW_PLAN = Path(__file__).resolve().parent.parent / "frontend" / "view-plan.js"
DEFAULTS = {"run": None, "layer": None, "kind": None, "probe": 0, "step": None, "panel": "channels"}
DEFAULTS |= {"compare": None, "otherStep": None, "otherRun": None}
RUNS = [
    {
        "run": "a",
        "layers": [
            {
                "name": "0",
                "kinds": {"deconv": "0/deconv", "feature_maps": "0/feature_maps", "deconv_top": "0/deconv_top"},
            },
            {"name": "4", "kinds": {"future_kind": "4/future_kind", "filters": "4/filters"}},
        ],
        "model": {"kinds": {"fooling": "model/fooling", "saliency": "model/saliency"}},
        "probes": {"tag": "probes", "count": 3},
    },
    {"run": "b", "layers": [{"name": "0", "kinds": {"feature_maps": "0/feature_maps"}}]},
    {"run": "c", "layers": []},
]


def plan(runs: list, **state) -> dict:
    """planView's answer, with the run and scope listings reduced to their names and the kind to its label."""
    node = shutil.which("node") or pytest.fail("node is needed for the frontend's checks: apt-get install nodejs")
    script = """
const { planView } = await import(process.argv[1]);
const plan = planView(JSON.parse(process.argv[2]), JSON.parse(process.argv[3]));
const name = (listing) => listing?.run ?? listing?.name ?? null;
const compare = plan.compare && { ...plan.compare, run: name(plan.compare.run) };
console.log(JSON.stringify({ ...plan, run: name(plan.run), scope: name(plan.scope), kind: plan.kind?.label ?? null,
  otherRuns: plan.otherRuns?.map(name), compare }));
"""
    arguments = [VIEW_PLAN.as_uri(), json.dumps(DEFAULTS | state), json.dumps(runs)]
    done = subprocess.run([node, "--input-type=module", "-e", script, *arguments], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_nothing_logged_shows_the_empty_help():
    assert plan([])["show"] == "empty"


def test_a_fresh_tab_opens_the_first_run_on_its_first_layer_and_kind():
    shown = plan(RUNS)
    assert (shown["show"], shown["run"], shown["scope"], shown["kindName"]) == ("grid", "a", "0", "feature_maps")
    assert shown["kinds"] == ["feature_maps", "deconv", "deconv_top"], "registry order, whatever the listing's order"
    assert shown["tag"] == shown["stepsTag"] == "0/feature_maps"
    assert shown["state"] == {"run": "a", "layer": "0", "kind": "feature_maps", "otherRun": None}
    assert shown["runNames"] == ["a", "b", "c"] and shown["compare"] is None


def test_a_kind_logged_every_few_steps_is_navigated_by_the_steps_of_its_companion():
    shown = plan(RUNS, run="a", layer="0", kind="deconv_top")
    assert (shown["show"], shown["tag"], shown["stepsTag"]) == ("top", "0/deconv_top", "0/deconv")


def test_model_kinds_unknown_kinds_health_and_missing_names():
    model = plan(RUNS, layer="(model)")
    assert (model["scope"], model["kinds"], model["kind"]) == ("(model)", ["saliency", "fooling"], "Saliency")
    unknown = plan(RUNS, layer="4", kind="future_kind")
    assert unknown["kinds"] == ["filters", "future_kind"], "unknown kinds after the known ones"
    assert unknown["show"] == "message" and "cannot draw “future kind”" in unknown["message"]
    assert plan(RUNS, layer="4", kind="future_kind", panel="health")["show"] == "health"
    gone = plan(RUNS, run="gone", layer="gone", kind="gone")
    assert gone["state"] == {"run": "a", "layer": "0", "kind": "feature_maps", "otherRun": None}
    empty = plan(RUNS, run="c")
    assert empty["show"] == "message" and empty["message"] == "Run “c” has no layers logged yet."


def test_comparison_with_another_step_or_run():
    steps = plan(RUNS, compare="step")
    assert steps["compare"] == {"mode": "step", "run": "a", "tag": "0/feature_maps"}
    runs = plan(RUNS, compare="run", otherRun="gone")
    assert runs["compare"] == {"mode": "run", "run": "b", "tag": "0/feature_maps"} and runs["state"]["otherRun"] == "b"
    assert plan(RUNS, compare="run", otherRun="c")["compare"] == {"mode": "run", "run": "c", "tag": None}
    assert plan(RUNS[:1], compare="run")["compare"] is None, "no other run: nothing to compare with"


def test_the_dynamics_kind_has_no_pictures_so_it_is_no_view_of_its_own():
    runs = [
        {
            "run": "d",
            "layers": [
                {"name": "0", "kinds": {"dynamics": "0/dynamics", "feature_maps": "0/feature_maps"}},
                {"name": "1", "kinds": {"dynamics": "1/dynamics"}},
            ],
        }
    ]
    shown = plan(runs, kind="dynamics")
    assert shown["kinds"] == ["feature_maps"] and (shown["show"], shown["kindName"]) == ("grid", "feature_maps")
    alone = plan(runs, layer="1")
    assert (
        alone["show"] == "message"
        and alone["message"] == "Layer 1 logged no pictures; see Layer health \u203a Dynamics."
    )
    health = plan(runs, layer="1", panel="health")
    assert health["show"] == "health" and health["stepsTag"] == "1/dynamics"  # its steps still navigate health
