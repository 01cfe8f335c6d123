"""frontend/contract.js, the tab's copy of tb_cnnviz/contract.py, names the same constants with the same values."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tb_cnnviz import contract

FRONTEND = Path(__file__).resolve().parent.parent / "frontend"
MIRRORED = (
    "PLUGIN_NAME",
    "VERSION",
    "MODEL_SCOPE",
    "PROBES_TAG",
    "PROBES_KIND",
    "CONTENT_KEYS",
    "INFO_KEYS",
    "INFO_BLOB",
    "FIRST_PICTURE_BLOB",
)


def node_exports(module: Path) -> dict:
    """Every export of an ES module, as node evaluates it, through JSON."""
    node = shutil.which("node") or pytest.fail("node is needed for the frontend's checks: apt-get install nodejs")
    script = "const m = await import(process.argv[1]); console.log(JSON.stringify(m));"
    done = subprocess.run(
        [node, "--input-type=module", "-e", script, module.as_uri()], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def test_contract_js_mirrors_contract_py():
    exported = node_exports(FRONTEND / "contract.js")
    python = {name: getattr(contract, name) for name in MIRRORED}
    assert sorted(exported) == sorted(MIRRORED), "contract.js exports exactly the mirrored names"
    for name, value in python.items():
        expected = list(value) if isinstance(value, tuple) else value
        assert exported[name] == expected, f"{name}: contract.js has {exported[name]!r}, contract.py {value!r}"
