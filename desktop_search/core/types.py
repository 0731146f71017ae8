"""Plain data objects that cross from the core to the CLI and the window.

Nothing here holds a database session or a model: they are safe to hand to any thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .search.filters import DateRange, FilterValues


def count_summary(indexed: int, pending: int = 0, unreadable: int = 0, folders: int | None = None) -> str:
    """The one way counts are told, everywhere (status bar, folders dialog, CLI): photos *indexed*
    are the ones a search finds; *pending* ones are found but not indexed yet; files that *could not
    be read* are neither (they are not counted among the indexed)."""
    text = f"{indexed:,} photo{'' if indexed == 1 else 's'} indexed"
    if folders is not None:
        text += f" in {folders:,} folder{'' if folders == 1 else 's'}"
    if pending:
        text += f" · {pending:,} pending"
    if unreadable:
        text += f" · {unreadable:,} could not be read"
    return text


@dataclass(frozen=True)
class FolderInfo:
    path: str
    exclusions: tuple[str, ...] = ()
    #: every photo file found in the folder: indexed + pending + errors
    photos: int = 0
    pending: int = 0
    #: files that could not be read
    errors: int = 0

    @property
    def indexed(self) -> int:
        """The folder's photos that searches find."""
        return max(0, self.photos - self.pending - self.errors)


@dataclass(frozen=True)
class ErrorInfo:
    path: str
    reason: str
    when: datetime | None = None


@dataclass(frozen=True)
class PhotoInfo:
    id: int
    path: str
    size: int
    width: int | None
    height: int | None
    date_taken: datetime | None
    camera: str | None
    caption: str | None
    thumbnail_path: str | None


@dataclass(frozen=True)
class SearchResult:
    photo_id: int
    path: str
    score: float
    date_taken: datetime | None
    size: int
    width: int | None
    height: int | None
    caption: str | None
    camera: str | None
    thumbnail_path: str | None
    #: the file's modification time: the photo's date when it has none of its own (no EXIF date)
    file_date: datetime | None = None
    #: how well the photo matches, 0-100, on one scale for text and example searches
    #: (core/search/relevance.py: 50 a good match, 75 a strong one); ``score`` is the model's raw figure
    relevance: float | None = None

    @property
    def strength(self) -> str | None:
        """"strong", "good" or "weak" (None where the model has no relevance scale)."""
        from .search.relevance import strength

        return strength(self.relevance)

    @property
    def good(self) -> bool:
        """At least a good match (False where the model has no relevance scale)."""
        return self.relevance is not None and self.relevance >= 50.0

    @property
    def date(self) -> datetime | None:
        """The photo's date, as sorting and the date filters use it: when it was taken (EXIF), else
        the file's modification time."""
        return self.date_taken or self.file_date

    @property
    def date_is_file_date(self) -> bool:
        return self.date_taken is None and self.file_date is not None


@dataclass(frozen=True, init=False)
class SearchQuery:
    """A text query, example images (files or library photos), or both; plus filters.

    ``filters`` holds the search filters' values (``search/filters.py`` declares them), canonical
    and hashable: ``query_a == query_b`` is the one "is this the same search" test. ``folder``,
    ``after`` and ``before`` may still be given by keyword (they become the folder and date filters)
    and read as properties."""

    text: str | None
    image_paths: tuple[str, ...]
    photo_ids: tuple[int, ...]
    filters: FilterValues
    min_score: float | None
    limit: int

    def __init__(
        self,
        text: str | None = None,
        image_paths: tuple[str, ...] = (),
        photo_ids: tuple[int, ...] = (),
        filters: FilterValues | Mapping[str, Any] | None = None,
        min_score: float | None = None,
        limit: int = 50,
        *,
        folder: str | None = None,
        after: datetime | None = None,
        before: datetime | None = None,
    ) -> None:
        values = FilterValues.of(filters)
        if folder is not None:
            values = values.replace(folder=folder)
        if after is not None or before is not None:
            dates = values.get("date") or DateRange()
            values = values.replace(date=DateRange(after or dates.start, before or dates.end))
        for name, value in (("text", text), ("image_paths", tuple(image_paths)), ("photo_ids", tuple(photo_ids)),
                            ("filters", values), ("min_score", min_score), ("limit", limit)):
            object.__setattr__(self, name, value)

    @property
    def folder(self) -> str | None:
        return self.filters.get("folder")

    @property
    def after(self) -> datetime | None:
        dates = self.filters.get("date")
        return dates.start if dates else None

    @property
    def before(self) -> datetime | None:
        dates = self.filters.get("date")
        return dates.end if dates else None

    @property
    def is_empty(self) -> bool:
        return not ((self.text and self.text.strip()) or self.image_paths or self.photo_ids)


@dataclass
class IndexCounts:
    added: int = 0
    updated: int = 0
    moved: int = 0
    removed: int = 0
    unchanged: int = 0
    failed: int = 0
    embedded: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)

    def summary(self, *, every: bool = False, failed: str = "failed") -> str:
        """The one way a job's counts are told: "3 added, 1 updated, 2 moved" (the kinds that
        happened; "" when none did), or with ``every`` each kind, unchanged included, zeros too
        (``desktop-search index``). ``failed``: the word for files that could not be read."""
        kinds = [(self.added, "added"), (self.updated, "updated"), (self.moved, "moved"), (self.removed, "removed")]
        kinds += [(self.unchanged, "unchanged")] if every else []
        kinds += [(self.failed, failed)]
        return ", ".join(f"{n:,} {word}" for n, word in kinds if n or every)


@dataclass(frozen=True)
class IndexProgress:
    """One progress event of an indexing job.

    phase: "scan" (walking folders), "embed" (decoding and running the network), "done".
    done/total count photos of the current phase; rate is photos per second; eta_s is None
    until a rate is known.
    """

    phase: str
    done: int
    total: int
    current: str | None = None
    rate: float = 0.0
    eta_s: float | None = None
    counts: IndexCounts = field(default_factory=IndexCounts)
    message: str | None = None


@dataclass(frozen=True)
class LibraryStatus:
    #: every photo file found: indexed + pending + unreadable files
    photos: int
    #: the photos searches find
    indexed: int
    pending: int
    #: files that could not be read, and unreadable folders
    errors: int
    model: str
    folders: int
    #: photos the library's model still has to re-embed after its weights changed (the built-in
    #: model's upgrade: the old vectors answer meanwhile); None when no upgrade is under way
    upgrading: int | None = None

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)
