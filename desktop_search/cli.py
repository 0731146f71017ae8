"""The command line: the same core as the window, headless.

Every subcommand takes ``--library DIR``. Expected failures print one line to stderr and exit 1.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import math
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from . import __version__
from .core.types import IndexCounts, IndexProgress, SearchQuery, count_summary
from .core.wording import counted, shown

#: subcommands that live in their own modules (desktop_search/commands/NAME.py)
COMMAND_MODULES = ("gui", "watch", "train", "train_concepts", "train_multilingual", "evaluate", "models")


class CliError(Exception):
    pass


LIBRARY_HELP = "library folder (default: the user data folder, or $DESKTOP_SEARCH_HOME/data/library)"


def add_library_option(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    """``--library DIR``, accepted before and after the command. A subcommand's copy has no default
    (argparse.SUPPRESS): with one, argparse would overwrite the value given before the command."""
    parser.add_argument("--library", metavar="DIR", default=None if top else argparse.SUPPRESS, help=LIBRARY_HELP)


def open_library(args: argparse.Namespace, model_name: str | None = None, *, existing: bool = False):
    """The library of ``--library`` (or the user's). ``existing``: a command that only reads must not
    create a library at a mistyped path: it says there is none instead."""
    from .core.app import PhotoLibrary

    given = getattr(args, "library", None)
    if existing and given and not (Path(given).expanduser() / "library.db").exists():
        raise CliError(f"no library at {given} (index a folder into it first: desktop-search --library {given} index DIR)")

    return PhotoLibrary.open(given, model_name=model_name, device=getattr(args, "device", None))


# -- progress ------------------------------------------------------------------------------------
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


# -- subcommands ---------------------------------------------------------------------------------
def cmd_index(args: argparse.Namespace) -> int:
    from .core.errors import ModelUnavailable, UserError

    if args.model:
        from .core.models.registry import check_model_name

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
        if args.json:
            print(json.dumps({**counts.as_dict(), "seconds": seconds}))
        elif not args.quiet:
            c = counts
            print(
                f"{c.added} added, {c.updated} updated, {c.moved} moved, {c.removed} removed, "
                f"{c.unchanged} unchanged, {c.failed} failed; {c.embedded} embedded in {seconds:.1f} s"
            )
            if c.failed:
                print("Run 'desktop-search status --errors' to see why files were skipped.")
        return 0
    finally:
        lib.close()



# -- search filters: the options come from their declarations (core/search/filters.py) ----------
def add_filter_options(parser: argparse.ArgumentParser) -> None:
    """One option per search filter (a date range: from, to and a quick choice), from its declaration."""
    from .core.search.filters import FILTERS, Widget

    group = parser.add_argument_group("filters (combined, each narrows the results)")
    for f in FILTERS:
        dest = f"filter_{f.name}"
        if f.widget is Widget.FLAG:
            group.add_argument(f.flags[0], dest=dest, action="store_true", help=f.help)
        elif f.widget is Widget.DATE_RANGE:
            start, end, quick = f.flags
            group.add_argument(start, dest=f"{dest}_start", metavar=f.metavar, help=f"{f.label}: on or after (YYYY-MM-DD)")
            group.add_argument(end, dest=f"{dest}_end", metavar=f.metavar, help=f"{f.label}: before (YYYY-MM-DD)")
            group.add_argument(quick, dest=f"{dest}_quick", choices=[q.name for q in f.quick], help=f.help)
        else:
            group.add_argument(f.flags[0], dest=dest, metavar=f.metavar, choices=f.fixed_choices, help=f.help)


def filter_values(args: argparse.Namespace):
    """The search filters the options set (``FilterValues``); a date that is not one is a CliError."""
    from .core.search.filters import FILTERS, DateRange, FilterValues, Widget

    values: dict[str, object] = {}
    for f in FILTERS:
        dest = f"filter_{f.name}"
        if f.widget is Widget.DATE_RANGE:
            start, end, quick = (getattr(args, f"{dest}_{part}", None) for part in ("start", "end", "quick"))
            if quick and (start or end):
                raise CliError(f"give {f.flags[2]} or {f.flags[0]} / {f.flags[1]}, not both")
            try:
                values[f.name] = (f.quick_range(quick) if quick else
                                  DateRange(f.parse(start) if start else None, f.parse(end) if end else None))
            except ValueError as exc:
                raise CliError(str(exc)) from exc
        else:
            values[f.name] = getattr(args, dest, None)
    try:
        return FilterValues.of(values)
    except ValueError as exc:
        raise CliError(str(exc)) from exc


def _queries(args: argparse.Namespace) -> list[str | None]:
    queries: list[str | None] = []
    if args.query is not None:
        if not args.query.strip():
            raise CliError("the query is empty: type what you remember, or give --image FILE")
        queries.append(args.query.strip())
    if args.queries_file:
        try:
            lines = Path(args.queries_file).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise CliError(f"cannot read {args.queries_file}: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise CliError(f"cannot read {args.queries_file}: not UTF-8 text (byte {exc.start})") from exc
        queries.extend(line.strip() for line in lines if line.strip())
    if not queries and args.image:
        queries.append(None)
    if not queries:
        raise CliError("give a query, --image FILE or --queries-file FILE")
    return queries


def cmd_search(args: argparse.Namespace) -> int:
    queries = _queries(args)
    filters = filter_values(args)
    for image in args.image or ():
        if not os.path.isfile(image):
            raise CliError(f"no such file: {image}")
    lib = open_library(args, existing=True)
    try:
        _check_searchable(lib, args)
        for n, text in enumerate(queries):
            if n == 1:
                # several queries: as the window does after its first result, import torch for the
                # int8 scan of a large library (~2 s once; then ~13 ms of CPU a query at 100,000
                # photos instead of ~120); a single query is faster without it
                lib.warm_up_search()
            query = SearchQuery(
                text=text,
                image_paths=tuple(args.image or ()),
                filters=filters,
                min_score=args.min_score,
                limit=args.limit,
            )
            # loading what the query needs (the model; the image network only for an example photo
            # that is not in the library) is timed apart from the search itself
            started = time.perf_counter()
            lib.prepare(query)
            load_ms = 1000 * (time.perf_counter() - started)
            started = time.perf_counter()
            results = lib.search(query)
            ms = 1000 * (time.perf_counter() - started)
            if args.json:
                rows = [{"path": r.path, "score": round(r.score, 4)} for r in results]
                print(json.dumps({"query": text, "filters": filters.as_json(), "ms": round(ms, 2),
                                  "load_ms": round(load_ms, 2), "results": rows}))
                sys.stdout.flush()
            else:
                print(f"# {shown(text or ' + '.join(args.image))}")
                for i, r in enumerate(results, 1):
                    print(f"{i:3d}. {r.score:6.3f}  {shown(r.path)}")
                if not results:
                    print(f"   (no photos found: {_why_none(args, filters)})")
        if lib.model_warning:
            print(f"desktop-search: {lib.model_warning}", file=sys.stderr)
        return 0
    finally:
        lib.close()


def _check_searchable(lib, args: argparse.Namespace) -> None:
    """An empty library, or a --folder outside it, is not a search that found nothing: say why and
    what to do (exit status 1) before loading any model."""
    from .core.library.scanner import is_below, normalise

    status = lib.status()
    library = f" --library {args.library}" if getattr(args, "library", None) else ""
    if not status.folders:
        raise CliError(f"the library has no photos yet: add a folder of photos with 'desktop-search{library} index DIR'")
    if not status.indexed:
        if status.pending:
            raise CliError(f"none of the library's {counted(status.pending, 'photo')} is indexed yet: "
                           f"run 'desktop-search{library} index' first")
        raise CliError("the library's folders hold no photo that could be read"
                       + (f" ({counted(status.errors, 'problem')}: see 'desktop-search{library} status --errors')"
                          if status.errors else ""))
    if args.filter_folder:
        folder = normalise(args.filter_folder)
        watched = [f.path for f in lib.folders()]
        if not any(folder == w or is_below(folder, w) for w in watched) and not any(is_below(w, folder) for w in watched):
            raise CliError(f"{args.filter_folder} is not in the library (its folders: {', '.join(watched)}); "
                           f"add it with 'desktop-search{library} index {args.filter_folder}'")


def _why_none(args: argparse.Namespace, filters) -> str:
    """Why a search of a library with photos found none: its filters left none."""
    reasons = [f.none_found(v) for f, v in filters]
    if args.min_score is not None:
        reasons.append(f"none scores {args.min_score} or more")
    return "; ".join(reasons) or "nothing matched"


def cmd_status(args: argparse.Namespace) -> int:
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


def cmd_folders(args: argparse.Namespace) -> int:
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


# -- parser --------------------------------------------------------------------------------------
def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more: {text}")
    return value


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="desktop-search",
        description="Find photos in your own library by meaning. With no command, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    parser.add_argument("--self-test", action="store_true", help="index a few generated images and search them (packaging check)")
    add_library_option(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("index", help="add folders to the library and bring the index up to date")
    add_library_option(p)
    p.add_argument("paths", nargs="*", metavar="PATH", help="folders to add and index (default: all watched folders)")
    p.add_argument("--exclude", action="append", metavar="PATTERN", help="path or glob to leave out (repeatable)")
    p.add_argument("--model", default=None, help="use this model for the library (default: the library's, or builtin)")
    p.add_argument("--device", default=None, choices=("cpu", "cuda", "mps"), help="where the network runs")
    p.add_argument("--json", action="store_true", help="print one JSON object with the counts at the end")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("search", help="find photos by text, by example image, or both")
    add_library_option(p)
    p.add_argument("query", nargs="?", help="what you remember, e.g. 'kids building a sandcastle'")
    p.add_argument("--image", action="append", metavar="FILE", help="an example photo (repeatable)")
    p.add_argument("--queries-file", metavar="FILE", help="one text query per line; the model loads once")
    p.add_argument("--limit", type=_positive_int, default=20, help="how many results (default 20)")
    add_filter_options(p)
    p.add_argument("--min-score", type=_finite_float, default=None, help="drop results scoring below this")
    p.add_argument("--device", default=None, choices=("cpu", "cuda", "mps"))
    p.add_argument("--json", action="store_true", help="one JSON line per query: query, filters (as applied), ms (its search time), load_ms (loading the model), results")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("status", help="how many photos are indexed, pending or failed")
    add_library_option(p)
    p.add_argument("--json", action="store_true")
    p.add_argument("--errors", action="store_true", help="list the files that could not be indexed, with the reason")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("folders", help="list, add or remove watched folders")
    add_library_option(p)
    p.add_argument("action", choices=("list", "add", "remove"), nargs="?", default="list")
    p.add_argument("paths", nargs="*", metavar="DIR")
    p.add_argument("--exclude", action="append", metavar="PATTERN")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_folders)

    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f".commands.{name}", __package__)
        except ImportError as exc:
            if f"commands.{name}" not in str(exc) and name not in str(exc):
                raise
            continue
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    from .core.errors import ModelUnavailable, UserError, describe_database_error

    try:
        if args.self_test:
            from .selftest import run_self_test

            return run_self_test()
        if args.command is None:
            gui = importlib.import_module(".commands.gui", __package__)
            return int(gui.run(args))
        return int(args.func(args))
    except (UserError, CliError, ModelUnavailable) as exc:
        print(f"desktop-search: {shown(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:
        from .core import paths

        message = describe_database_error(exc, getattr(args, "library", None) or paths.default_library_dir())
        if message is None:
            raise
        logging.getLogger(__name__).debug("database error", exc_info=True)
        print(f"desktop-search: {shown(message)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("desktop-search: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


