"""The house drawn from the imports: layers respected, private modules private, imports visible.

docs/design.md draws the layers; `.importlinter` states them; these tests hold the code to them.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "llamav"


def test_the_layer_contract_is_kept():
    lint_imports = Path(sys.executable).parent / "lint-imports"  # installed with import-linter, beside python
    run = subprocess.run([str(lint_imports), str(ROOT / ".importlinter")], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "0 broken" in run.stdout


def _private_owner(module: str) -> str | None:
    """'llamav.metrics' for 'llamav.metrics._roscoe'; None for a public module."""
    parts = module.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:i])
    return None


def test_no_module_imports_another_packages_private_module():
    graph = grimp.build_graph("llamav")
    offenders = []
    for imported in graph.modules:
        owner = _private_owner(imported)
        if owner is None:
            continue
        for importer in graph.find_modules_that_directly_import(imported):
            if not (importer == owner or importer.startswith(owner + ".")):
                offenders.append(f"{importer} -> {imported}")
    assert offenders == []


def _function_imports(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every llamav-internal or third-party import made inside a function."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    found.append((inner.lineno, ast.unparse(inner)))
    return found


def test_every_import_inside_a_function_says_why():
    """A local import hides the graph; it is kept only for a heavy dependency most calls never
    need, with a comment on its line or within the three lines above it saying so."""
    unexplained = []
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for line_no, text in _function_imports(path):
            window = lines[max(0, line_no - 4): line_no]
            if not any("#" in line for line in window):
                unexplained.append(f"{path.relative_to(ROOT)}:{line_no}: {text}")
    assert unexplained == []
