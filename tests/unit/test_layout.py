"""Every test module is in one of the two trees `make test` runs.

Why: pytest's testpaths name tests/unit and tests/integration only, so a test module left
directly under tests/ (a branch written before the split, a hurried new file) would never run,
and nothing would say so. And a unit module that imports from tests/integration drags the
store's helpers into a run that has no store.
"""

from __future__ import annotations

import ast

from tests.stack import ROOT

TESTS = ROOT / "tests"


def test_no_test_module_outside_the_two_trees() -> None:
    stray = [
        str(p.relative_to(ROOT))
        for p in TESTS.rglob("test_*.py")
        if p.relative_to(TESTS).parts[0] not in ("unit", "integration")
    ]
    assert stray == [], f"move these under tests/unit or tests/integration: {stray}"


def test_unit_modules_import_nothing_from_integration() -> None:
    crossing = []
    for path in sorted((TESTS / "unit").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            crossing += [f"{path.name}: {n}" for n in names if n.startswith("tests.integration")]
    assert crossing == []
