"""``desktop-search folders [list|add|remove] [DIR ...]``: the library's watched folders."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..core.types import count_summary
from ..core.wording import shown
from .common import CliError, add_library_option, open_library


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("folders", help="list, add or remove watched folders")
    add_library_option(p)
    p.add_argument("action", choices=("list", "add", "remove"), nargs="?", default="list")
    p.add_argument("paths", nargs="*", metavar="DIR")
    p.add_argument("--exclude", action="append", metavar="PATTERN")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    if args.action in ("add", "remove") and not args.paths:
        raise CliError(f"folders {args.action}: give at least one folder (DIR)")
    lib = open_library(args)
    try:
        if args.action == "add":
            for path in args.paths:
                lib.add_folder(path, exclusions=args.exclude or ())
        elif args.action == "remove":
            for path in args.paths:
                lib.remove_folder(path)
        folders = lib.folders()
        if args.json:
            print(json.dumps([f.__dict__ for f in folders]))
        elif args.action == "list":
            for f in folders:
                excl = f"  (excluding {shown(', '.join(f.exclusions))})" if f.exclusions else ""
                print(f"{shown(f.path)}  {count_summary(f.indexed, f.pending, f.errors)}{excl}")
            if not folders:
                print("No folders yet: add one with 'desktop-search folders add DIR' or 'desktop-search index DIR'.")
        return 0
    finally:
        lib.close()
