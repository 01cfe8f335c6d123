"""The plugin inside a real `tensorboard` process, with both data loaders, reading real event files."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import fetch, fetch_json, plugin_url, poll, tensorboard_server, write_training_logdir
from PIL import Image

from tb_cnnviz.writer.kinds import kind_names

ROOT = Path(__file__).resolve().parents[1]
LAYER_TAG = "0/feature_maps"


def served_steps(base: str, run: str = "run_a", tag: str = LAYER_TAG) -> list[int]:
    return fetch_json(plugin_url(base, "steps", run=run, tag=tag))["steps"]


@pytest.mark.parametrize("load_fast", ["true", "false"])
def test_every_logged_step_is_served_by_both_loaders(logdir_30_steps, load_fast):
    with tensorboard_server(logdir_30_steps, f"--load_fast={load_fast}") as base:
        steps = poll(lambda: served_steps(base), lambda steps: len(steps) == 30)
        assert steps == list(range(30))

        runs = fetch_json(f"{base}/data/plugin/cnnviz/runs")["runs"]
        assert [run["run"] for run in runs] == ["run_a"]
        layers = runs[0]["layers"]
        assert [(layer["name"], layer["shape"]) for layer in layers] == [("0", [8, 28, 28]), ("4", [16, 14, 14])]
        assert runs[0]["probes"]["labels"] == ["probe 0", "probe 1", "probe 2"]

        series = fetch_json(plugin_url(base, "series", run="run_a", tag=LAYER_TAG))
        assert series["kind"] == "feature_maps" and series["steps"] == steps and series["channels"] == list(range(8))

        # The strip route: channel 3's tile of probe 1 at every step, in step order.
        status, _, body = fetch(plugin_url(base, "strip", run="run_a", tag=LAYER_TAG, channel=3, index=2))
        assert status == 200
        strip = np.asarray(Image.open(io.BytesIO(body)))
        assert strip.shape == (28, 30 * 28)

        atlases = set()
        for step in steps:
            info = fetch_json(plugin_url(base, "info", run="run_a", tag=LAYER_TAG, step=step))
            # The series route aggregates each step's statistics over the probes.
            per_probe = np.array(info["stats"]["mean"])
            np.testing.assert_allclose(series["stats"]["mean"][step], per_probe.mean(axis=0), rtol=1e-4)
            np.testing.assert_array_equal(series["stats"]["max"][step], np.array(info["stats"]["max"]).max(axis=0))
            assert info["channels"] == list(range(8)) and info["probes"] == 3
            status, headers, body = fetch(plugin_url(base, "image", run="run_a", tag=LAYER_TAG, step=step, index=1))
            assert status == 200 and headers["Content-Type"] == "image/png"
            rows, cols = info["grid"]
            assert Image.open(io.BytesIO(body)).size == (cols * info["tile"][1], rows * info["tile"][0])
            atlases.add(body)
            _, _, probe_1 = fetch(plugin_url(base, "image", run="run_a", tag=LAYER_TAG, step=step, index=2))
            tile = np.asarray(Image.open(io.BytesIO(probe_1)))[28:56, 0:28]  # channel 3 is row 1, col 0 of 3x3
            np.testing.assert_array_equal(strip[:, step * 28 : (step + 1) * 28], tile)
        assert len(atlases) == 30, "weights changed at every step, so every step's atlas differs"

        probe = runs[0]["probes"]
        status, _, body = fetch(plugin_url(base, "image", run="run_a", tag=probe["tag"], step=probe["step"], index=3))
        assert status == 200 and Image.open(io.BytesIO(body)).size == (28, 28)


@pytest.fixture(scope="module")
def model_views_logdir(tmp_path_factory) -> Path:
    logdir = tmp_path_factory.mktemp("model_views")
    kinds = ("feature_maps", "saliency", "grad_cam", "class_visualization", "fooling")
    write_training_logdir(logdir / "run_m", steps=3, kinds=kinds, class_names=[f"class {c}" for c in range(10)])
    return logdir


@pytest.mark.parametrize("load_fast", ["true", "false"])
def test_model_level_views_are_listed_apart_from_layers_and_served_by_both_loaders(model_views_logdir, load_fast):
    model_kinds = ["saliency", "grad_cam", "class_visualization", "fooling"]
    with tensorboard_server(model_views_logdir, f"--load_fast={load_fast}") as base:
        poll(lambda: served_steps(base, "run_m", "model/fooling"), lambda steps: steps == [0, 1, 2])
        (run,) = fetch_json(f"{base}/data/plugin/cnnviz/runs")["runs"]
        assert run["model"] == {"kinds": {kind: f"model/{kind}" for kind in model_kinds}}
        assert [layer["name"] for layer in run["layers"]] == ["0", "4"]
        assert all(set(layer["kinds"]) == {"feature_maps"} for layer in run["layers"])

        # Charts over steps: fooling's steps and target probability, each class image's probability.
        fooling = fetch_json(plugin_url(base, "series", run="run_m", tag="model/fooling"))
        classes = fetch_json(plugin_url(base, "series", run="run_m", tag="model/class_visualization"))
        assert fooling["channels"] == [0, 1, 2] and classes["channels"] == list(range(10))
        for step in range(3):
            info = fetch_json(plugin_url(base, "info", run="run_m", tag="model/fooling", step=step))
            assert fooling["stats"]["steps"][step] == info["steps"]
            assert fooling["stats"]["target_probability"][step] == info["target_probabilities"]
            info = fetch_json(plugin_url(base, "info", run="run_m", tag="model/class_visualization", step=step))
            assert classes["stats"]["probability"][step] == info["probabilities"]
            assert info["class_names"][7] == "class 7"

        # A filmstrip of class 7's image: its tile of every step's atlas, side by side.
        classes_tag = {"run": "run_m", "tag": "model/class_visualization"}
        status, _, body = fetch(plugin_url(base, "strip", **classes_tag, channel=7, index=1))
        assert status == 200
        strip = np.asarray(Image.open(io.BytesIO(body)))
        for step in range(3):
            _, _, atlas = fetch(plugin_url(base, "image", **classes_tag, step=step, index=1))
            tile = np.asarray(Image.open(io.BytesIO(atlas)))[28:56, 84:112]  # class 7: row 1, column 3 of 3x4
            np.testing.assert_array_equal(strip[:, step * 28 : (step + 1) * 28], tile)


@pytest.mark.parametrize("load_fast", ["true", "false"])
def test_users_samples_per_plugin_wins(logdir_30_steps, load_fast):
    with tensorboard_server(logdir_30_steps, f"--load_fast={load_fast}", "--samples_per_plugin=cnnviz=5") as base:
        # Reservoir sampling keeps the last step and 4 others; wait until loading has finished.
        steps = poll(lambda: served_steps(base), lambda steps: 29 in steps)
        assert len(steps) == 5 and steps[-1] == 29


def test_routes_work_under_path_prefix(logdir_30_steps):
    with tensorboard_server(logdir_30_steps, path_prefix="/tb/prefix") as base:
        listing = fetch_json(f"{base}/data/plugins_listing")["cnnviz"]
        assert listing["tab_name"] == "CNN Viz"
        module = listing["loading_mechanism"]["module_path"]
        assert module == "/tb/prefix/data/plugin/cnnviz/static/index.js"
        status, headers, body = fetch(f"http://{base.split('/')[2]}{module}")
        assert status == 200 and headers["Content-Type"].startswith("text/javascript")
        assert b"export function render" in body
        assert served_steps(base)[:3] == [0, 1, 2]


@pytest.mark.parametrize(
    ("route", "params", "status", "message"),
    [
        ("steps", {"run": "run_a"}, 400, b"missing query parameter 'tag'"),
        ("info", {"run": "run_a", "tag": LAYER_TAG, "step": "two"}, 400, b"must be an integer"),
        ("info", {"run": "nope", "tag": LAYER_TAG, "step": 0}, 404, b"no CNN Viz data for run 'nope'"),
        ("info", {"run": "run_a", "tag": LAYER_TAG, "step": 999}, 404, b"step 999 is not logged"),
        ("image", {"run": "run_a", "tag": LAYER_TAG, "step": 0, "index": 0}, 404, b"out of range"),
        ("image", {"run": "run_a", "tag": LAYER_TAG, "step": 0, "index": 4}, 404, b"out of range"),
        ("strip", {"run": "run_a", "tag": LAYER_TAG, "channel": 3, "index": 0}, 400, b"index must be >= 1"),
        (
            "strip",
            {"run": "run_a", "tag": LAYER_TAG, "channel": 3, "index": 9},
            404,
            b"no tile of channel 3 in image 9",
        ),
        ("strip", {"run": "run_a", "tag": LAYER_TAG, "channel": 8, "index": 1}, 404, b"no tile of channel 8"),
        ("static/..%2Fplugin.py", {}, 404, b"no frontend file"),
        ("static/nothing.js", {}, 404, b"no frontend file"),
    ],
)
def test_bad_parameters_answer_400_or_404_with_a_message(served_logdir, route, params, status, message):
    got, headers, body = fetch(plugin_url(served_logdir, route, **params).rstrip("?"))
    assert got == status and message in body
    assert headers["X-Content-Type-Options"] == "nosniff"


@pytest.fixture(scope="module")
def served_logdir(logdir_30_steps):
    with tensorboard_server(logdir_30_steps) as base:
        yield base


def test_plugin_module_never_imports_torch():
    code = "import sys, tb_cnnviz.tensorboard.plugin; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_built_wheel_carries_and_serves_the_frontend(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            str(ROOT),
            "-w",
            str(tmp_path),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("tb_cnnviz-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    modules = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "tb_cnnviz").rglob("*.py"))
    assert [module for module in modules if module not in names] == [], "every module of the package is installed"
    tab = sorted(f"tb_cnnviz/{path.relative_to(ROOT)}" for path in (ROOT / "frontend").rglob("*") if path.is_file())
    assert [file for file in tab if file not in names] == [], "every file of the tab is installed"
    report = ROOT / "tb_cnnviz" / "report"
    page = sorted(str(path.relative_to(ROOT)) for path in [*report.glob("*.html"), *report.glob("*.css")])
    assert page and [file for file in page if file not in names] == [], "the report's template and style are installed"
    entry_points = next(name for name in names if name.endswith("entry_points.txt"))
    assert "cnnviz = tb_cnnviz.tensorboard.plugin:CNNVizLoader" in zipfile.ZipFile(wheel).read(entry_points).decode()

    # Serve the tab from the installed wheel alone: PYTHONPATH puts it before this checkout's editable install.
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)], check=True
    )
    env = {"PYTHONPATH": str(target)}
    where = subprocess.run(
        [sys.executable, "-c", "import tb_cnnviz.tensorboard.plugin as p; print(p.__file__)"],
        env=env,
        cwd=tmp_path,  # not the checkout: `python -c` puts the working directory first on sys.path
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(target))
    logdir = tmp_path / "logs"
    # The installed callback logs every kind of its registry.
    subprocess.run(
        [sys.executable, "-c", WRITE_WITH_EVERY_KIND, str(logdir / "run"), str(target)],
        env=env,
        cwd=tmp_path,
        check=True,
    )
    with tensorboard_server(logdir, env=env) as base:
        (run,) = fetch_json(plugin_url(base, "runs"))["runs"]
        assert set(run["layers"][0]["kinds"]) >= {"feature_maps", "filters", "deconv"}
        assert set(run["model"]["kinds"]) == set(kind_names("model"))
        for file in ("index.js", "kinds/index.js", "kinds/feature-maps.js", "style.css"):
            status, _, body = fetch(f"{base}/data/plugin/cnnviz/static/{file}")
            assert status == 200 and body == (ROOT / "frontend" / file).read_bytes()


WRITE_WITH_EVERY_KIND = """
import sys, torch
from torch import nn
import tb_cnnviz
from tb_cnnviz.writer.kinds import kind_names

assert tb_cnnviz.__file__.startswith(sys.argv[2]), tb_cnnviz.__file__  # the wheel, not the checkout
model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
kinds = [tb_cnnviz.Filters(steps=2), tb_cnnviz.ClassVisualization(steps=2), tb_cnnviz.Fooling(max_steps=2)]
kinds += [tb_cnnviz.PartGraph(dataset=torch.rand(8, 1, 12, 12))]  # the one kind a name alone cannot make
kinds += [name for name in kind_names(by_name=True) if name not in ("filters", "class_visualization", "fooling")]
assert {getattr(kind, "name", kind) for kind in kinds} == set(kind_names())
with tb_cnnviz.CNNVizCallback(model, torch.rand(2, 1, 12, 12), log_dir=sys.argv[1], kinds=kinds) as viz:
    viz.log(0)
"""
