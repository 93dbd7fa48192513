"""The layout stays readable: small modules, small functions, no import of the CLI layer."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = sorted([*REPO.glob("gis/**/*.py"), *REPO.glob("api/**/*.py")])
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


def _function_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of a function's code, its docstring left out."""
    body = node.body
    first = body[0]
    doc = isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant)
    start = first.end_lineno + 1 if doc and len(body) > 1 and first.end_lineno else first.lineno
    return (node.end_lineno or start) - start + 1


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_modules_and_functions_stay_small(path: Path) -> None:
    text = path.read_text("utf-8")
    assert text.count("\n") <= MAX_MODULE_LINES, f"{path.name}: split the module"
    long = [
        f"{node.name} ({_function_lines(node)} lines)"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and _function_lines(node) > MAX_FUNCTION_LINES
    ]
    assert not long, f"{path.name}: split {long}"


def test_nothing_outside_the_cli_imports_the_cli_layer() -> None:
    offenders = []
    for path in [*SOURCES, *REPO.glob("notebooks/*.ipynb"), *REPO.glob("bench/*.py")]:
        if "commands" in path.parts or path.name == "cli.py":
            continue
        if "gis.commands" in path.read_text("utf-8"):
            offenders.append(str(path.relative_to(REPO)))
    assert not offenders


def test_notebooks_use_only_the_public_api() -> None:
    allowed = {"import gis", "from gis.errors import"}
    for path in REPO.glob("notebooks/*.ipynb"):
        for line in path.read_text("utf-8").split("\\n"):
            code = line.strip().strip('"').strip()
            if code.startswith(("import gis", "from gis")):
                assert any(code.startswith(a) for a in allowed), f"{path.name}: {code}"
