"""Imports point down DESIGN.md's list, read from the source (imports inside functions count too;
those under `if TYPE_CHECKING:` are hints, not imports): corpus and trainer never import each
other, models/ imports nothing else of the trainer but the measure leaf, measure/ imports nothing
of the trainer, nothing below `vmae bench` imports trainer/bench/, and test modules import
helpers, never each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    hints = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
             for child in node.body for n in ast.walk(child)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in hints:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def _modules_of(folder: str) -> dict[str, set[str]]:
    return {str(p.relative_to(ROOT)): _imports(p) for p in (ROOT / folder).rglob("*.py")}


@pytest.mark.parametrize(("folder", "allowed", "forbidden"), [
    ("trainer/models", ("trainer.models", "trainer.measure"), ("trainer.",)),
    ("trainer/measure", ("trainer.measure",), ("trainer.",)),
    ("trainer/stages", (), ("trainer.bench", "cli.")),
    ("trainer/objectives", (), ("trainer.bench", "trainer.stages", "cli.")),
    ("trainer/data", (), ("trainer.bench", "trainer.stages", "trainer.objectives", "cli.")),
    ("trainer", (), ("corpus.",)),
    ("corpus", (), ("trainer.", "cli.")),
    ("corpus/steps", (), ("corpus.sources",)),
    ("manifests", (), ("corpus.", "trainer.", "cli.")),
])
def test_imports_point_down(folder, allowed, forbidden):
    wrong = {path: sorted(m for m in modules if m.startswith(forbidden) and not m.startswith(allowed))
             for path, modules in _modules_of(folder).items()}
    assert not {p: w for p, w in wrong.items() if w}


def test_test_modules_never_import_each_other():
    """Shared test code lives in conftest.py and helpers modules, not in another test's module."""
    wrong = {path: sorted(m for m in modules if m.split(".")[-1].startswith("test_"))
             for path, modules in _modules_of("tests").items()}
    assert not {p: w for p, w in wrong.items() if w}
