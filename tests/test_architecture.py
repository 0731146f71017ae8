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


UI = CORE.parent / "ui"
TESTS = Path(__file__).resolve().parent


def test_the_window_is_in_rooms_of_a_readable_size() -> None:
    """Every file of the window ≤ 600 lines, every class ≤ 400 (issue 15: the window was one class
    of 1,200 lines); the search session has no Qt in it."""
    too_long = []
    for path in sorted(UI.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > 600:
            too_long.append(f"{path.name}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                length = node.end_lineno - node.lineno + 1
                if length > 400:
                    too_long.append(f"{path.name}: class {node.name}, {length} lines")
    assert too_long == []
    session = ast.parse((UI / "search_session.py").read_text(encoding="utf-8"))
    imported = [n.module for n in ast.walk(session) if isinstance(n, ast.ImportFrom) and n.module]
    imported += [a.name for n in ast.walk(session) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m.startswith("PySide6")]


def test_tests_and_the_app_use_the_window_and_controller_from_outside() -> None:
    """No test (nor ui/app.py) reads or calls a private attribute of the window or the controller:
    they act as a user does, or through public methods and properties."""
    import re

    private = re.compile(r"\b(?:window|win|empty|broken|fresh|controller)\._[a-z]\w*")
    offenders = []
    for path in [*sorted(TESTS.glob("test_*.py")), TESTS / "ui_support.py", UI / "app.py"]:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if private.search(line):
                offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert offenders == []
