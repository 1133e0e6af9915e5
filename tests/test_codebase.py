"""The shape of the code: no module in qa/ over 400 lines, no function over 80 lines.

Small modules and short functions are what let the next person find their way (issue 14). A
module or function may stay over the limit only when it is listed below with its reason; an
entry that is no longer needed fails too, so the list only shrinks.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "qa"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80

# path relative to qa/ → reason
MODULE_EXCEPTIONS: dict[str, str] = {}
# "path:qualified.name" → reason
FUNCTION_EXCEPTIONS: dict[str, str] = {}


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def long_functions(path: Path) -> dict[str, int]:
    """Qualified name → lines, for every function or method of `path` over the limit."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: dict[str, int] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    lines = child.end_lineno - child.lineno + 1
                    if lines > MAX_FUNCTION_LINES:
                        found[name] = lines
                visit(child, name + ".")

    visit(tree, "")
    return found


def test_no_module_is_over_the_limit():
    over = {}
    for path in modules():
        rel = path.relative_to(PACKAGE).as_posix()
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_MODULE_LINES and rel not in MODULE_EXCEPTIONS:
            over[rel] = lines
    assert not over, f"modules over {MAX_MODULE_LINES} lines (split them, or list them with a reason): {over}"


def test_no_function_is_over_the_limit():
    over = {}
    for path in modules():
        rel = path.relative_to(PACKAGE).as_posix()
        for name, lines in long_functions(path).items():
            if f"{rel}:{name}" not in FUNCTION_EXCEPTIONS:
                over[f"{rel}:{name}"] = lines
    assert not over, f"functions over {MAX_FUNCTION_LINES} lines (split them, or list them with a reason): {over}"


@pytest.mark.parametrize("entry", sorted(MODULE_EXCEPTIONS) + sorted(FUNCTION_EXCEPTIONS))
def test_every_exception_is_still_needed(entry):
    rel, _, name = entry.partition(":")
    path = PACKAGE / rel
    assert path.is_file(), f"{entry}: no such module; remove the exception"
    if name:
        assert name in long_functions(path), f"{entry} is within the limit now; remove the exception"
    else:
        assert len(path.read_text(encoding="utf-8").splitlines()) > MAX_MODULE_LINES, f"{entry} is within the limit now; remove the exception"
