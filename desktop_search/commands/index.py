"""``desktop-search index [PATH ...]``: add folders to the library and bring its index up to date."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from ..core.types import IndexCounts
from .common import CliError, add_library_option, consume, open_library


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("index", help="add folders to the library and bring the index up to date")
    add_library_option(p)
    p.add_argument("paths", nargs="*", metavar="PATH", help="folders to add and index (default: all watched folders)")
    p.add_argument("--exclude", action="append", metavar="PATTERN", help="path or glob to leave out (repeatable)")
    p.add_argument("--model", default=None, help="use this model for the library (default: the library's, or builtin)")
    p.add_argument("--device", default=None, choices=("cpu", "cuda", "mps"), help="where the network runs")
    p.add_argument("--no-text", action="store_true",
                   help="do not read the text in photos after indexing them (the setting read_text_in_photos "
                        "turns it off for good); what was read still answers searches")
    p.add_argument("--json", action="store_true", help="print one JSON object with the counts at the end")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from ..core.errors import ModelUnavailable, UserError

    if args.model:
        from ..core.models.registry import check_model_name

        check_model_name(args.model)  # a typo must not become the library's model
    for path in args.paths:  # every path checked before the library changes
        if not os.path.isdir(os.path.expanduser(path)):
            raise CliError(f"not a folder: {path}")
    lib = open_library(args)
    try:
        if args.model:
            try:
                lib.switch_model(args.model)
            except ModelUnavailable as exc:
                raise CliError(f"model {args.model} is unavailable ({exc}); the library keeps {lib.model_name}") from exc
        started = time.monotonic()
        if args.paths and not args.quiet and lib.writer_busy():  # add_folder waits for the writer lock
            print("desktop-search: another program is indexing this library; waiting for it to finish…", file=sys.stderr)
        for path in args.paths:
            lib.add_folder(path, exclusions=args.exclude or ())
        targets = args.paths or None
        show = sys.stderr.isatty() and not args.quiet
        last = consume(lib.index(targets), show)
        counts = last.counts if last else IndexCounts()
        seconds = round(time.monotonic() - started, 3)
        if lib.model_warning:
            print(f"desktop-search: {lib.model_warning}", file=sys.stderr)
        if last is not None and last.phase == "cancelled":
            raise UserError("indexing was cancelled")
        text_read, text_seconds = _read_text(lib, args, show)
        if args.json:
            print(json.dumps({**counts.as_dict(), "seconds": seconds, "text_read": text_read,
                              "text_seconds": text_seconds}))
        elif not args.quiet:
            print(f"{counts.summary(every=True)}; {counts.embedded:,} embedded in {seconds:.1f} s")
            if text_read is not None:
                print(f"Read the text in {text_read:,} photo{'' if text_read == 1 else 's'} in {text_seconds:.1f} s")
            if counts.failed:
                print("Run 'desktop-search status --errors' to see why files were skipped.")
        return 0
    finally:
        lib.close()


def _read_text(lib: Any, args: argparse.Namespace, show: bool) -> tuple[int | None, float | None]:
    """The text job, after the embeddings (the library is searchable by meaning already): (photos
    read, seconds), or (None, None) when it is turned off (``--no-text``, the setting) or unavailable."""
    from ..core import settings
    from ..core.errors import UserError

    if args.no_text or not settings.load().read_text_in_photos:
        return None, None
    if not lib.text.can_read():
        return None, None
    started = time.monotonic()
    last = consume(lib.text.read(), show)
    if last is None:
        return None, None
    if last.phase == "cancelled":
        raise UserError("reading the text in photos was cancelled")
    return last.done, round(time.monotonic() - started, 3)
