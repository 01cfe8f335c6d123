"""The shape the code keeps so a newcomer can read it: short modules, short functions, a short callback.

JavaScript's limits are eslint's (max-lines, max-lines-per-function in eslint.config.js).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tb_cnnviz"
MAX_FILE_LINES = 300
MAX_FUNCTION_LINES = 60
MAX_CALLBACK_LINES = 200
SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_the_package_has_sources():
    assert len(SOURCES) > 20


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_every_module_is_short(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_FILE_LINES, f"{path.relative_to(PACKAGE)} has {lines} lines (at most {MAX_FILE_LINES})"


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_every_function_is_short(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"{path.relative_to(PACKAGE)}: functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_the_callback_holds_only_what_every_kind_shares():
    lines = len((PACKAGE / "writer" / "callback.py").read_text(encoding="utf-8").splitlines())
    assert lines < MAX_CALLBACK_LINES, f"writer/callback.py has {lines} lines (under {MAX_CALLBACK_LINES} wanted)"


def test_every_folder_says_its_role():
    for folder in [PACKAGE, *(path.parent for path in PACKAGE.glob("*/__init__.py"))]:
        docstring = ast.get_docstring(ast.parse((folder / "__init__.py").read_text(encoding="utf-8")))
        assert docstring, f"{folder.relative_to(PACKAGE.parent)}/__init__.py opens with no docstring saying its role"
