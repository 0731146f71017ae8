"""``desktop-search search [QUERY] [--image FILE] [filters]``: find photos by text, by example, or both.

The filter options come from the filters' declarations (``core/search/filters.py``)."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.types import SearchQuery
from ..core.wording import NO_GOOD_MATCHES, counted, shown
from .common import CliError, add_library_option, open_library

if TYPE_CHECKING:
    from ..core.search.filters import FilterValues


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("search", help="find photos by text, by example image, or both")
    add_library_option(p)
    p.add_argument("query", nargs="?", help="what you remember, e.g. 'kids building a sandcastle'")
    p.add_argument("--image", action="append", metavar="FILE", help="an example photo (repeatable)")
    p.add_argument("--queries-file", metavar="FILE", help="one text query per line; the model loads once")
    p.add_argument("--limit", type=_positive_int, default=20, help="how many results (default 20)")
    add_filter_options(p)
    p.add_argument("--min-score", type=_finite_float, default=None, help="drop results scoring below this")
    p.add_argument("--device", default=None, choices=("cpu", "cuda", "mps"))
    p.add_argument("--json", action="store_true", help="one JSON line per query: query, filters (as applied), ms (its search time), load_ms (loading the model), "
                   "good_matches (results of relevance 50 or more), results (path, relevance 0-100, match: strong / good / weak, "
                   "score: the model's raw figure)")
    p.set_defaults(func=run)
    return p


def add_filter_options(parser: argparse.ArgumentParser) -> None:
    """One option per search filter (a date range: from, to and a quick choice), from its declaration."""
    from ..core.search.filters import FILTERS, Widget

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
        elif f.fixed_choices:  # aliases welcome (jpeg for jpg): the declaration's parse checks
            group.add_argument(f.flags[0], dest=dest, metavar=f.metavar or f.name.upper(), type=_checked(f.parse),
                               help=f"{f.help}: {', '.join(f.fixed_choices)}")
        else:
            group.add_argument(f.flags[0], dest=dest, metavar=f.metavar, help=f.help)


def _checked(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """``parse`` for argparse: its ValueError becomes a usage error (exit status 2)."""
    def checked(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return checked


def filter_values(args: argparse.Namespace) -> FilterValues:
    """The search filters the options set (``FilterValues``); a date that is not one is a CliError."""
    from ..core.search.filters import FILTERS, DateRange, FilterValues, Widget

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


def run(args: argparse.Namespace) -> int:
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
            rated = any(r.relevance is not None for r in results)
            good = sum(r.good for r in results)
            if args.json:
                rows = [
                    {"path": r.path, "relevance": r.relevance, "match": r.strength, "score": round(r.score, 4),
                     "text": r.text_match}
                    for r in results
                ]
                print(json.dumps({"query": text, "filters": filters.as_json(), "ms": round(ms, 2),
                                  "load_ms": round(load_ms, 2), "good_matches": good if rated else None,
                                  "results": rows}))
                sys.stdout.flush()
            else:
                print(f"# {shown(text or ' + '.join(args.image))}")
                if results and rated and not good:
                    print(f"   {NO_GOOD_MATCHES}")
                for i, r in enumerate(results, 1):
                    figure = f"{int(r.relevance):3d} {r.strength:<6s}" if r.relevance is not None else f"{r.score:6.3f}"
                    print(f"{i:3d}. {figure}  {shown(r.path)}")
                    if r.text_match is not None:  # found by the text in it: the line that matched
                        print(f"{'':14s}text: {shown(r.text_match)}")
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
    from ..core.library.scanner import is_below, normalise

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


def _why_none(args: argparse.Namespace, filters: FilterValues) -> str:
    """Why a search of a library with photos found none: its filters left none."""
    reasons = [f.none_found(v) for f, v in filters]
    if args.min_score is not None:
        reasons.append(f"none scores {args.min_score} or more")
    return "; ".join(reasons) or "nothing matched"


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
