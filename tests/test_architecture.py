"""Layering rules that keep the engine usable without Streamlit."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parent.parent / "core"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_core_never_imports_streamlit():
    offenders = [p.relative_to(CORE.parent) for p in CORE.rglob("*.py") if "streamlit" in _imports(p)]
    assert offenders == []


def test_the_walk_sees_the_core_modules():
    # Guards the test above against silently scanning nothing.
    assert len(list(CORE.rglob("*.py"))) >= 15


def test_core_top_level_keeps_only_shared_modules():
    # Domain code lives in packages (ARCHITECTURE.md); the top level is config, errors, log, text, context.
    top = sorted(p.name for p in CORE.glob("*.py"))
    assert len(top) <= 10, top


def test_no_core_module_grows_past_a_readable_size():
    sizes = {
        str(p.relative_to(CORE.parent)): len(p.read_text(encoding="utf-8").splitlines())
        for p in CORE.rglob("*.py")
        if "versions" not in p.parts
    }
    assert {name: n for name, n in sizes.items() if n > 420} == {}
