"""The search filters, each declared once.

A :class:`SearchFilter` says everything about one filter: its name (the key in
``SearchQuery.filters``), its label, the kind of control that sets it (:class:`Widget`), how a value
is normalised (so that two queries meaning the same search compare equal), how it narrows the photo
set (an SQL condition on the ``photos`` table, or the photo's date, which the vector matrix holds),
how it is told in words, and its command-line flag and help. The command line builds its options
from :data:`FILTERS`, ``SearchQuery`` compares their values, ``PhotoLibrary.filter_choices(name)``
lists the values a library offers, and a window can build its controls from the declarations with
no code per filter. Combining filters narrows the set: every active filter must hold.

To add a filter: append one declaration to :data:`FILTERS` (and, for a new kind of control, a
:class:`Widget` member the window knows); nothing else changes.

This module is light (no numpy, no database): ``core/types.py`` and the command line import it.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from ..library.formats import BASE_EXTENSIONS, HEIF_EXTENSIONS
from ..library.scanner import below_bounds, normalise

#: runs one plain SQL query on the library and returns its rows (``PhotoLibrary._fetch``)
Fetch = Callable[[str, Sequence[object]], list[tuple]]


class Widget(Enum):
    """The kind of control that sets a filter (the window builds one per declaration)."""

    #: one value out of ``PhotoLibrary.filter_choices(name)`` (the command line takes any value)
    CHOICE = "choice"
    #: a from / to date pair (either may be open), with the declaration's quick choices
    DATE_RANGE = "date_range"
    #: on or off
    FLAG = "flag"


@dataclass(frozen=True)
class Choice:
    """One value a CHOICE filter (or a DATE_RANGE's quick choice) offers."""

    value: str
    label: str
    #: indexed photos with this value, where known
    count: int | None = None


@dataclass(frozen=True)
class DateRange:
    """Photos dated on or after ``start`` and before ``end`` (either may be None: open).

    A photo's date is when it was taken (EXIF), else its file's modification time: the date
    ``SearchResult.date`` shows and the vector matrix holds (``indexing.pipeline.photo_timestamp``)."""

    start: datetime | None = None
    end: datetime | None = None

    def __bool__(self) -> bool:
        return self.start is not None or self.end is not None

    def timestamps(self) -> tuple[float | None, float | None]:
        return (self.start.timestamp() if self.start else None, self.end.timestamp() if self.end else None)


@dataclass(frozen=True)
class QuickRange:
    """A named date range relative to now ("last 30 days")."""

    name: str
    label: str
    make: Callable[[datetime], DateRange]

    def resolve(self, now: datetime | None = None) -> DateRange:
        return self.make(now or datetime.now())


@dataclass(frozen=True)
class SearchFilter:
    name: str
    label: str
    widget: Widget
    #: the command-line help (and the documentation's line)
    help: str
    #: command-line flags: one for CHOICE and FLAG; (from, to, quick choice) for DATE_RANGE
    flags: tuple[str, ...]
    metavar: str | None = None
    #: any value a caller may give → the canonical, hashable value; None: the filter is off
    normalise: Callable[[Any], Any] = lambda v: v
    #: command-line text → value (CHOICE; DATE_RANGE parses dates itself)
    parse: Callable[[str], Any] = str
    #: the filter in words, e.g. "taken with Canon EOS 5D"
    describe: Callable[[Any], str] = str
    #: why a search with this filter found nothing, e.g. "none taken with Canon EOS 5D"
    none_found: Callable[[Any], str] = str
    #: the SQL condition on the ``photos`` table (with its parameters) that the value keeps; None
    #: for a filter on the photo's date (the matrix holds it)
    where: Callable[[Any], tuple[str, tuple[object, ...]]] | None = None
    #: the values a library offers (CHOICE), from its database
    choices: Callable[[Fetch], list[Choice]] | None = None
    #: values the command line accepts (None: any)
    fixed_choices: tuple[str, ...] | None = None
    #: DATE_RANGE: the quick choices
    quick: tuple[QuickRange, ...] = field(default=())

    def quick_range(self, name: str, now: datetime | None = None) -> DateRange:
        for q in self.quick:
            if q.name == name:
                return q.resolve(now)
        raise ValueError(f"not a quick choice of {self.label}: {name!r} ({', '.join(q.name for q in self.quick)})")


# -- folder -----------------------------------------------------------------------------------
def _folder(value: Any) -> str | None:
    return normalise(str(value)) if value not in (None, "") else None


def _below_where(folder: str) -> tuple[str, tuple[object, ...]]:
    from ..db.pathtext import to_db  # here: the database package imports SQLAlchemy (the CLI starts without)

    low, high = below_bounds(folder)
    return "path > ? AND path < ?", (to_db(low), to_db(high))


def _folder_choices(fetch: Fetch) -> list[Choice]:
    from ..db.pathtext import from_db

    paths = [from_db(r[0]) for r in fetch("SELECT path FROM folders ORDER BY path", ())]
    return [Choice(p, p) for p in paths]


# -- date -------------------------------------------------------------------------------------
def parse_date(text: str) -> datetime:
    """``YYYY-MM-DD`` (or any ISO date and time) → a datetime; ValueError otherwise."""
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"not a date: {text!r} (use YYYY-MM-DD)") from None


def _date_range(value: Any) -> DateRange | None:
    if value is None:
        return None
    if isinstance(value, DateRange):
        return value or None
    start, end = value  # a (start, end) pair
    return DateRange(start, end) or None


def _day(d: datetime) -> str:
    return d.date().isoformat() if d.time() == datetime.min.time() else d.isoformat(sep=" ")


def _describe_dates(r: DateRange) -> str:
    return "dated " + " and ".join(p for p in (f"from {_day(r.start)}" if r.start else "",
                                               f"before {_day(r.end)}" if r.end else "") if p)


def _year_start(now: datetime, years_back: int = 0) -> datetime:
    return datetime(now.year - years_back, 1, 1)


def _midnight(now: datetime) -> datetime:
    return datetime(now.year, now.month, now.day)


QUICK_DATES = (
    QuickRange("last-30-days", "Last 30 days", lambda now: DateRange(_midnight(now) - timedelta(days=30), None)),
    QuickRange("this-year", "This year", lambda now: DateRange(_year_start(now), None)),
    QuickRange("last-year", "Last year", lambda now: DateRange(_year_start(now, 1), _year_start(now))),
)


# -- camera, file type, orientation, caption --------------------------------------------------
def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _camera_choices(fetch: Fetch) -> list[Choice]:
    rows = fetch("SELECT camera, count(*) FROM photos WHERE status = 'indexed' AND camera IS NOT NULL "
                 "AND camera <> '' GROUP BY camera ORDER BY camera COLLATE NOCASE", ())
    return [Choice(c, c, n) for c, n in rows]


#: file type → its extensions; a type is told by the first
FILE_TYPES: dict[str, tuple[str, ...]] = {
    "jpg": (".jpg", ".jpeg", ".jpe"),
    "png": (".png",),
    "webp": (".webp",),
    "gif": (".gif",),
    "bmp": (".bmp",),
    "tiff": (".tif", ".tiff"),
    "heic": (".heic", ".heif"),
}
assert {e for exts in FILE_TYPES.values() for e in exts} == BASE_EXTENSIONS | HEIF_EXTENSIONS
_TYPE_OF = {ext[1:]: t for t, exts in FILE_TYPES.items() for ext in exts}


def _file_type(value: Any) -> str | None:
    text = (_text(value) or "").lower().lstrip(".")
    if not text:
        return None
    if text not in _TYPE_OF:
        raise ValueError(f"not a photo file type: {value!r} (one of {', '.join(FILE_TYPES)})")
    return _TYPE_OF[text]


def _type_where(kind: str) -> tuple[str, tuple[object, ...]]:
    # LIKE is case-blind for ASCII in SQLite: .JPG is a jpg
    exts = FILE_TYPES[kind]
    return "(" + " OR ".join("path LIKE ?" for _ in exts) + ")", tuple(f"%{e}" for e in exts)


def _type_choices(fetch: Fetch) -> list[Choice]:
    # the last 5 characters hold any photo extension: a few distinct values, however large the library
    counts: dict[str, int] = {}
    for tail, n in fetch("SELECT lower(substr(path, -5)), count(*) FROM photos WHERE status = 'indexed' "
                         "GROUP BY lower(substr(path, -5))", ()):
        ext = posixpath.splitext("x" + tail)[1][1:]
        if ext in _TYPE_OF:
            counts[_TYPE_OF[ext]] = counts.get(_TYPE_OF[ext], 0) + n
    return [Choice(t, t.upper(), counts[t]) for t in FILE_TYPES if t in counts]


#: orientation → the SQL condition on the stored size (stored as the photo is shown: after EXIF
#: rotation, ``imageio.Decoded.width`` / ``height``)
ORIENTATIONS = {"landscape": "width > height", "portrait": "height > width", "square": "width = height"}


def _orientation(value: Any) -> str | None:
    text = (_text(value) or "").lower()
    if not text:
        return None
    if text not in ORIENTATIONS:
        raise ValueError(f"not an orientation: {value!r} (one of {', '.join(ORIENTATIONS)})")
    return text


def _orientation_choices(fetch: Fetch) -> list[Choice]:
    return [Choice(o, o.capitalize()) for o in ORIENTATIONS]


def _flag(value: Any) -> bool | None:
    return True if value else None


FILTERS: tuple[SearchFilter, ...] = (
    SearchFilter(
        name="folder", label="Folder", widget=Widget.CHOICE, flags=("--folder",), metavar="DIR",
        help="only photos below this folder", normalise=_folder,
        describe=lambda v: f"below {v}", none_found=lambda v: f"no indexed photo below {v}",
        where=_below_where, choices=_folder_choices,
    ),
    SearchFilter(
        name="date", label="Date", widget=Widget.DATE_RANGE, flags=("--after", "--before", "--date"),
        metavar="DATE",
        help="a photo's date: when it was taken (EXIF), else its file's date; --after: on or after, "
             "--before: before (YYYY-MM-DD); --date: a quick choice",
        normalise=_date_range, parse=parse_date, describe=_describe_dates,
        none_found=lambda v: f"none {_describe_dates(v)} (a photo's date: when it was taken, else its file's date)",
        quick=QUICK_DATES,
    ),
    SearchFilter(
        name="camera", label="Camera", widget=Widget.CHOICE, flags=("--camera",), metavar="MODEL",
        help="only photos taken with this camera, as their EXIF names it (make and model, e.g. "
             "'Canon EOS 5D'; any case)",
        normalise=_text, describe=lambda v: f"taken with {v}", none_found=lambda v: f"none taken with {v}",
        where=lambda v: ("camera = ? COLLATE NOCASE", (v,)), choices=_camera_choices,
    ),
    SearchFilter(
        name="type", label="File type", widget=Widget.CHOICE, flags=("--type",), metavar="TYPE",
        help="only photos of this file type (jpeg is jpg, tif is tiff)", normalise=_file_type, parse=_file_type,
        describe=lambda v: f"{v.upper()} files", none_found=lambda v: f"no {v.upper()} file",
        where=_type_where, choices=_type_choices, fixed_choices=tuple(FILE_TYPES),
    ),
    SearchFilter(
        name="orientation", label="Orientation", widget=Widget.CHOICE, flags=("--orientation",),
        help="only landscape, portrait or square photos (as shown: EXIF rotation applied)",
        normalise=_orientation, parse=_orientation, describe=lambda v: v, none_found=lambda v: f"none {v}",
        where=lambda v: (ORIENTATIONS[v], ()), choices=_orientation_choices, fixed_choices=tuple(ORIENTATIONS),
    ),
    SearchFilter(
        name="has_caption", label="Has a caption", widget=Widget.FLAG, flags=("--has-caption",),
        help="only photos with a caption (EXIF, XMP, IPTC or a .txt beside the photo)",
        normalise=_flag, describe=lambda v: "with a caption", none_found=lambda v: "none with a caption",
        where=lambda v: ("caption IS NOT NULL AND trim(caption) <> ''", ()),
    ),
)

BY_NAME: dict[str, SearchFilter] = {f.name: f for f in FILTERS}


def get(name: str) -> SearchFilter:
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"no such search filter: {name!r} (one of {', '.join(BY_NAME)})") from None


# -- the values a query carries ---------------------------------------------------------------
@dataclass(frozen=True)
class FilterValues:
    """The active filters' values, canonical and sorted: hashable, and equal for the same filters.

    Build with :meth:`of` (which normalises through the declarations); unset, empty and False
    values are left out, so ``FilterValues.of({"has_caption": False}) == FilterValues()``."""

    items: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, values: Mapping[str, Any] | FilterValues | None = None, **more: Any) -> FilterValues:
        given = dict(values.items if isinstance(values, FilterValues) else (values or {}))
        given.update(more)
        out = []
        for name, value in given.items():
            canonical = get(name).normalise(value)
            if canonical is not None:
                out.append((name, canonical))
        return cls(tuple(sorted(out, key=lambda kv: kv[0])))

    def get(self, name: str, default: Any = None) -> Any:
        return next((v for k, v in self.items if k == name), default)

    def __bool__(self) -> bool:
        return bool(self.items)

    def __iter__(self) -> Iterator[tuple[SearchFilter, Any]]:
        """(declaration, value) of each active filter, in declaration order."""
        active = dict(self.items)
        return iter([(f, active[f.name]) for f in FILTERS if f.name in active])

    def replace(self, **changes: Any) -> FilterValues:
        return FilterValues.of({**dict(self.items), **changes})

    def as_json(self) -> dict[str, Any]:
        """The values as JSON can hold them (dates as ISO text; a date range as after / before)."""
        out: dict[str, Any] = {}
        for f, v in self:
            if isinstance(v, DateRange):
                out[f.name] = {"after": v.start.isoformat() if v.start else None,
                               "before": v.end.isoformat() if v.end else None}
            else:
                out[f.name] = v
        return out

    def described(self) -> list[str]:
        return [f.describe(v) for f, v in self]


@dataclass(frozen=True)
class Narrowing:
    """What the filters leave, as the search applies it: SQL conditions on the photos table (all
    must hold) and the photo date's range (timestamps)."""

    conditions: tuple[tuple[str, tuple[object, ...]], ...] = ()
    after: float | None = None
    before: float | None = None

    def ids_sql(self) -> tuple[str, list[object]] | None:
        """One query for the ids every SQL condition keeps (their intersection); None without any."""
        if not self.conditions:
            return None
        where = " AND ".join(f"({sql})" for sql, _ in self.conditions)
        return f"SELECT id FROM photos WHERE {where}", [p for _, params in self.conditions for p in params]


def narrowing(values: FilterValues) -> Narrowing:
    conditions = []
    after = before = None
    for f, v in values:
        if f.where is not None:
            conditions.append(f.where(v))
        elif isinstance(v, DateRange):
            start, end = v.timestamps()
            after = start if after is None or (start is not None and start > after) else after
            before = end if before is None or (end is not None and end < before) else before
    return Narrowing(tuple(conditions), after, before)


def choices(name: str, fetch: Fetch) -> list[Choice]:
    """The values filter ``name`` offers in a library (DATE_RANGE: its quick choices)."""
    f = get(name)
    if f.choices is not None:
        return f.choices(fetch)
    return [Choice(q.name, q.label) for q in f.quick]


def reference(filters: Iterable[SearchFilter] = FILTERS) -> str:
    """The filters as a Markdown table (docs/ARCHITECTURE.md holds it; a test keeps it current)."""
    rows = ["| filter | control | command line | what it keeps |", "|---|---|---|---|"]
    for f in filters:
        rows.append(f"| `{f.name}` | {f.widget.name} | {' '.join(f'`{x}`' for x in f.flags)} | {f.help} |")
    return "\n".join(rows)
