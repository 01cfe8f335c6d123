"""Every plugin route, asked with missing, empty, huge, negative, non-numeric, unicode and traversal
parameters, under both loaders: never a 5xx, never slower than 2 s.

Bounded and deterministic: a fixed seed draws 150 requests per loader, on loopback only. Half of the
parameters are valid (a logged run, tag, step, index, channel) so that the hostile ones reach past the
first check into the reading code.
"""

from __future__ import annotations

import random
import time
import urllib.parse
from pathlib import Path

import pytest
from conftest import fetch, fetch_json, plugin_url, tensorboard_server, write_training_logdir

SEED = 15
REQUESTS_PER_LOADER = 150
SLOWEST_ANSWER_S = 2.0
RUN = "run_f"
STEPS = 3
MISSING = object()

HOSTILE = [
    MISSING,
    "",
    " ",
    "-1",
    "-99999999999999999999",
    "9" * 5000,  # over Python's int-from-text digit limit
    "99999999999999999999",
    "1.5",
    "1e3",
    "0x10",
    "abc",
    "NaN",
    "null",
    "ünï😀",
    "\u0661",  # an Arabic-Indic digit one: int() reads it
    "../../../../etc/passwd",
    "..%2f..%2fsetup.py",
    "\x00",
    "<script>alert(1)</script>",
    'a"b',
    "%",
    "A" * 10_000,
]
STATIC_NAMES = [
    "",
    "index.js",
    "../plugin.py",
    "..%2f..%2fsetup.py",
    "%2e%2e/%2e%2e/etc/passwd",
    "kinds/../../README.md",
    "/etc/passwd",
    "\\..\\README.md",
    ".eslintrc",
    "index.js%00.png",
    "ünï😀.js",
    "a" * 256,
    "a" * 300 + ".js",
    "/".join(["b" * 200] * 30),
    "kinds/" + "c" * 1000,
]
PARAMETERS = {
    "runs": [],
    "steps": ["run", "tag"],
    "info": ["run", "tag", "step"],
    "image": ["run", "tag", "step", "index"],
    "series": ["run", "tag"],
    "strip": ["run", "tag", "channel", "index"],
    "dynamics": ["run"],
    "align": ["run", "tag", "step", "other_run", "other_step"],
}


@pytest.fixture(scope="module")
def logdir(tmp_path_factory) -> Path:
    logdir = tmp_path_factory.mktemp("fuzz")
    write_training_logdir(logdir / RUN, steps=STEPS, probes=2, kinds=("feature_maps", "saliency"))
    return logdir


def valid_values(base: str) -> dict[str, list[str]]:
    """Values of each parameter that name logged data."""
    (run,) = fetch_json(plugin_url(base, "runs"))["runs"]
    tags = [tag for layer in run["layers"] for tag in layer["kinds"].values()] + list(run["model"]["kinds"].values())
    return {
        "run": [RUN],
        "other_run": [RUN],
        "tag": [*tags, run["probes"]["tag"]],
        "step": [str(step) for step in range(STEPS)],
        "other_step": [str(step) for step in range(STEPS)],
        "index": ["1", "2", "3"],
        "channel": ["0", "3", "7", "15"],
    }


def fuzzed_urls(base: str, rng: random.Random, count: int) -> list[str]:
    """`count` URLs over every route; each parameter valid half the time, else hostile (or left out)."""
    valid = valid_values(base)
    routes = [*PARAMETERS, "static"]
    urls = []
    for number in range(count):
        route = routes[number % len(routes)]  # every route alike
        if route == "static":
            name = rng.choice(STATIC_NAMES)
            urls.append(f"{base}/data/plugin/cnnviz/static/{urllib.parse.quote(name, safe='/%')}")
            continue
        params = {}
        for name in PARAMETERS[route]:
            value = rng.choice(valid[name]) if rng.random() < 0.5 else rng.choice(HOSTILE)
            if value is not MISSING:
                params[name] = value
        if rng.random() < 0.1:
            params[rng.choice(["x", "step", "run"])] = rng.choice(HOSTILE[1:])  # an extra or repeated name
        urls.append(plugin_url(base, route, **params))
    # Query strings no encoder writes: undecodable bytes and broken escapes.
    urls += [
        f"{base}/data/plugin/cnnviz/info?run=%ff%fe&tag=%c0%af&step=%ZZ",
        f"{base}/data/plugin/cnnviz/strip?run={RUN}&tag=%00&channel=%&index=1",
    ]
    return urls


@pytest.mark.parametrize("load_fast", ["true", "false"])
def test_no_route_answers_5xx_or_slowly_to_fuzzed_parameters(logdir, load_fast):
    with tensorboard_server(logdir, f"--load_fast={load_fast}") as base:
        urls = fuzzed_urls(base, random.Random(SEED), REQUESTS_PER_LOADER)
        answers = []
        for url in urls:
            started = time.monotonic()
            status, headers, _ = fetch(url)
            answers.append((url, status, time.monotonic() - started, headers.get("X-Content-Type-Options")))
    server_errors = [(url[:200], status) for url, status, _, _ in answers if status >= 500]
    assert server_errors == []
    slow = [(url[:200], round(seconds, 2)) for url, _, seconds, _ in answers if seconds >= SLOWEST_ANSWER_S]
    assert slow == []
    assert all(sniff == "nosniff" for url, status, _, sniff in answers if status < 414), "every plugin answer"
    statuses = {status for _, status, _, _ in answers}
    assert 200 in statuses and statuses & {400, 404, 422}, f"the draw reached good and bad answers: {statuses}"
