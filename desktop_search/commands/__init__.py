"""Subcommands that live in their own modules; each has add_parser(subparsers) and run(args)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_captioned_photos_args(p: argparse.ArgumentParser) -> None:
    """``--images DIR --captions CSV``: the captioned photos that ``train`` and ``eval`` read."""
    p.add_argument("--images", required=True, type=Path, metavar="DIR", help="folder of photos")
    p.add_argument("--captions", required=True, type=Path, metavar="CSV", help="image,caption CSV")
