"""What the subcommands share: the one ``--library`` option, opening the library, the one-line
error, and the indexing progress bar."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.types import IndexProgress

if TYPE_CHECKING:
    from ..core.app import PhotoLibrary


class CliError(Exception):
    """An expected failure: ``main`` prints it as one line to stderr and exits 1."""


LIBRARY_HELP = "library folder (default: the user data folder, or $DESKTOP_SEARCH_HOME/data/library)"


def add_library_option(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    """``--library DIR``, accepted before and after the command (every command adds it with this).
    A subcommand's copy has no default (argparse.SUPPRESS): with one, argparse would overwrite the
    value given before the command."""
    parser.add_argument("--library", metavar="DIR", default=None if top else argparse.SUPPRESS, help=LIBRARY_HELP)


def open_library(args: argparse.Namespace, model_name: str | None = None, *, existing: bool = False) -> PhotoLibrary:
    """The library of ``--library`` (or the user's). ``existing``: a command that only reads must not
    create a library at a mistyped path: it says there is none instead."""
    from ..core.app import PhotoLibrary

    given = getattr(args, "library", None)
    if existing and given and not (Path(given).expanduser() / "library.db").exists():
        raise CliError(f"no library at {given} (index a folder into it first: desktop-search --library {given} index DIR)")

    return PhotoLibrary.open(given, model_name=model_name, device=getattr(args, "device", None))


def _fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60}:{seconds % 60:02d}"


def consume(events: Iterator[IndexProgress], show: bool) -> IndexProgress | None:
    """Drain an indexing job, drawing a progress bar on a terminal; returns the last event."""
    last = None
    for event in events:
        last = event
        if not show:
            continue
        if event.phase == "scan":
            line = f"Scanning… {event.done} files" if not event.total else f"Scanned {event.total} files"
        elif event.phase == "embed" and event.total:
            width = 28
            filled = int(width * event.done / event.total)
            bar = "█" * filled + "░" * (width - filled)
            line = f"Indexing {bar} {event.done}/{event.total}  {event.rate:5.1f} photos/s  ETA {_fmt_eta(event.eta_s)}"
        else:
            line = event.message or event.phase
        sys.stderr.write("\r\x1b[2K" + line)
        sys.stderr.flush()
    if show:
        sys.stderr.write("\n")
    return last
