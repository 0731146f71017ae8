"""One command-line style: every command in its own module, one ``--library`` option, one count summary."""

from __future__ import annotations

import argparse
from pathlib import Path

from desktop_search.cli import COMMAND_MODULES, build_parser
from desktop_search.commands.common import LIBRARY_HELP
from desktop_search.core.library import formats
from desktop_search.core.types import IndexCounts

COMMANDS = Path(__file__).resolve().parent.parent / "desktop_search" / "commands"


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_command_lives_in_its_own_module() -> None:
    commands = _subparsers(build_parser())
    assert {"index", "search", "status", "folders", "watch", "gui"} <= set(commands)
    for name in COMMAND_MODULES:
        assert (COMMANDS / f"{name}.py").exists()
    cli = (COMMANDS.parent / "cli.py").read_text(encoding="utf-8")
    assert "add_parser(\"" not in cli and "def cmd_" not in cli


def test_one_library_option() -> None:
    """Every command that opens a library takes ``--library`` with the same help and no default of
    its own (so ``desktop-search --library DIR COMMAND`` is not overwritten)."""
    parser = build_parser()
    top = next(a for a in parser._actions if a.dest == "library")
    assert top.help == LIBRARY_HELP and top.default is None
    for name in ("index", "search", "status", "folders", "watch", "gui"):
        option = next(a for a in _subparsers(parser)[name]._actions if a.dest == "library")
        assert option.help == LIBRARY_HELP and option.default == argparse.SUPPRESS, name
    for name in COMMAND_MODULES:
        assert 'add_argument("--library"' not in (COMMANDS / f"{name}.py").read_text(encoding="utf-8")
    args = parser.parse_args(["--library", "/a", "status"])
    assert args.library == "/a"
    assert parser.parse_args(["status", "--library", "/b"]).library == "/b"


def test_one_count_summary() -> None:
    counts = IndexCounts(added=1200, updated=1, failed=2, unchanged=5)
    assert counts.summary() == "1,200 added, 1 updated, 2 failed"
    assert counts.summary(failed="could not be read") == "1,200 added, 1 updated, 2 could not be read"
    assert counts.summary(every=True) == "1,200 added, 1 updated, 0 moved, 0 removed, 5 unchanged, 2 failed"
    assert IndexCounts(unchanged=9).summary() == ""


def test_the_photo_extensions_respect_heic_support(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(formats, "heif_available", lambda: False)
    assert ".jpg" in formats.photo_extensions() and ".heic" not in formats.photo_extensions()
    monkeypatch.setattr(formats, "heif_available", lambda: True)
    assert formats.photo_extensions() >= {".jpg", ".heic", ".heif"}
