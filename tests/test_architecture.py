"""Structural rules: the core never imports Qt; the command line starts without torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parent.parent / "desktop_search" / "core"


def test_core_has_no_qt_imports() -> None:
    offenders = []
    for path in CORE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in {"PySide6", "PyQt5", "PyQt6", "shiboken6"}]
    assert offenders == []


def test_core_import_loads_neither_qt_nor_torch() -> None:
    code = (
        "import sys, desktop_search.core.app, desktop_search.cli; "
        "bad = [m for m in ('PySide6', 'torch', 'sentence_transformers', 'transformers', 'open_clip') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
