"""``desktop-search gui``: open the window (also what runs with no subcommand).

``desktop-search gui [--library DIR] [--query TEXT] [--screenshot OUT.png] [IMAGE]``

With ``--screenshot`` the window opens on the library, runs the query, waits until the results and
their thumbnails are shown, saves the window as PNG and exits 0 (works under
``QT_QPA_PLATFORM=offscreen`` and Xvfb). An IMAGE argument (what a file manager passes through the
desktop entry's ``%F``) searches for photos like it.

Import-light: the CLI imports this module for every command, so Qt is imported in :func:`run` only.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .common import add_library_option


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 1280x800, not {text!r}") from None
    if w < 320 or h < 240:
        raise argparse.ArgumentTypeError("the window must be at least 320x240")
    return w, h


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "gui",
        help="open the window (the default with no command)",
        description="Open the Desktop Search window.",
    )
    add_library_option(parser)
    parser.add_argument("--query", metavar="TEXT", default=None, help="search for this when the window opens")
    parser.add_argument(
        "--screenshot",
        metavar="OUT.png",
        type=Path,
        default=None,
        help="save the window as PNG once the results and their thumbnails are shown, then exit",
    )
    parser.add_argument("--size", metavar="WxH", type=_size, default=None, help="window size, e.g. 1280x800")
    parser.add_argument("--model", default=None, help="use this model for the library")
    parser.add_argument("--no-watch", action="store_true", help="do not watch the folders for changes")
    parser.add_argument("--timeout", type=float, default=180.0, metavar="S", help="screenshot time limit")
    parser.add_argument("images", nargs="*", metavar="IMAGE", help="find photos similar to this image")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from desktop_search.ui.app import GuiOptions, run_gui

    library = getattr(args, "library", None)
    options = GuiOptions(
        library=Path(library).expanduser() if library else None,
        query=getattr(args, "query", None),
        examples=tuple(getattr(args, "images", None) or ()),
        screenshot=getattr(args, "screenshot", None),
        model=getattr(args, "model", None),
        size=getattr(args, "size", None),
        timeout_s=getattr(args, "timeout", 180.0),
        watch=False if getattr(args, "no_watch", False) else None,
    )
    return run_gui(options)
