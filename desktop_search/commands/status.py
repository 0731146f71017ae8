"""``desktop-search status [--errors]``: how many photos are indexed, pending or could not be read."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..core.types import count_summary
from ..core.wording import counted, shown
from .common import add_library_option, open_library


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("status", help="how many photos are indexed, pending or failed")
    add_library_option(p)
    p.add_argument("--json", action="store_true")
    p.add_argument("--errors", action="store_true", help="list the files that could not be indexed, with the reason")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    lib = open_library(args, existing=True)
    try:
        status = lib.status()
        if args.json:
            out: dict[str, object] = status.as_dict()
            if args.errors:  # one JSON document: the list goes inside it
                out["error_list"] = [{"path": e.path, "reason": e.reason} for e in lib.errors()]
            print(json.dumps(out))
            return 0
        print(f"Library: {shown(lib.root)}")
        print(f"Model:   {status.model}")
        print(f"Folders: {status.folders}")
        print(f"Photos:  {count_summary(status.indexed, status.pending, status.errors)}"
              + ("" if not status.errors or args.errors else " (see 'desktop-search status --errors')"))
        if status.upgrading is not None:
            print(f"Upgrade: the {status.model} model has new weights; {counted(status.upgrading, 'photo')} "
                  "still to re-embed ('desktop-search index' or the window does it; searches use the "
                  "previous vectors until then)")
        if args.errors:
            for err in lib.errors():
                print(f"{shown(err.path)}: {shown(err.reason)}")
        return 0
    finally:
        lib.close()
