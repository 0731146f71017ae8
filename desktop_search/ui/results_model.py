"""The item model behind the results grid: a flat list of ``SearchResult`` objects.

Holds plain dataclasses only: no pixmaps (the delegate asks the thumbnail loader while painting,
so 100,000 results cost 100,000 small Python objects and nothing else). Sorting (relevance, date)
and the relevance cutoff are applied here on the whole list in one pass; the view is virtualised.

Why ``QStringListModel`` underneath: a list view's layout pass calls ``model.index(row)`` for every
row, and ``QAbstractListModel.index`` calls ``rowCount()``; with ``rowCount`` written in Python
that is 100,000-400,000 calls into Python per layout (0.3-0.6 s for 100k results, on every reset
and every window resize). Keeping a C++ list of empty placeholder strings the same length as our
rows keeps ``rowCount`` in C++; everything the view shows still comes from :meth:`data`, in Python,
for the visible rows only.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from PySide6.QtCore import QMimeData, QModelIndex, QPersistentModelIndex, QStringListModel, Qt, QUrl, Signal

from desktop_search.core.search.relevance import GOOD
from desktop_search.core.types import SearchResult

Index = QModelIndex | QPersistentModelIndex


class Roles(enum.IntEnum):
    RESULT = Qt.ItemDataRole.UserRole + 1
    PATH = Qt.ItemDataRole.UserRole + 2
    SCORE = Qt.ItemDataRole.UserRole + 3
    DATE = Qt.ItemDataRole.UserRole + 4
    PHOTO_ID = Qt.ItemDataRole.UserRole + 5


class SortOrder(enum.Enum):
    RELEVANCE = "relevance"
    NEWEST = "newest"
    OLDEST = "oldest"


def relevance_words(r: SearchResult) -> str:
    """"relevance 82 (strong match)" on the one 0-100 scale; the raw score for a model without it."""
    if r.relevance is None:
        return f"relevance {r.score:.3f} (the model's own score)"
    return f"relevance {int(r.relevance)} ({r.strength} match)"  # floored: 49.6 is weak, shown 49


def format_date(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def describe_date(result: SearchResult) -> str:
    """The photo's date and which date it is: sorting by date and the date filters use the same."""
    if result.date_taken is not None:
        return f"{format_date(result.date_taken)} (taken, from the photo's EXIF data)"
    if result.file_date is not None:
        return f"{format_date(result.file_date)} (file date: the photo records no date of its own)"
    return "Unknown"


def format_bytes(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"


class ResultsModel(QStringListModel):
    """Results in display order, after sorting and the relevance cutoff."""

    #: the view scrolled to the end of a full page: the window may fetch the next page
    more_requested = Signal()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._all: list[SearchResult] = []
        self._rows: list[SearchResult] = []
        self._order = SortOrder.RELEVANCE
        self._cutoff = 0.0  # fraction of the way from the worst to the best score (unrated results)
        #: rated results (``SearchResult.relevance``) below this are hidden, unless none clears it:
        #: then all are shown and :attr:`nothing_clears` is True ("No good matches — closest photos below")
        self._min_relevance = GOOD
        self.nothing_clears = False
        self._range: tuple[float, float] | None = None  # the cutoff's score range (the first page's)
        self._can_fetch_more = False

    # -- content ---------------------------------------------------------------------------------
    def set_results(
        self, results: Sequence[SearchResult], *, more_available: bool = False, same_query: bool = False
    ) -> None:
        """Show ``results`` (in relevance order, as the core returns them).

        When the new list extends the one on screen (the next page of the same query) rows are
        appended, so the view keeps its scroll position and selection. ``same_query``: more (or
        refreshed) results of the query on screen: the cutoff keeps the score range it was set on.
        """
        results = list(results)
        self._can_fetch_more = more_available
        old = self._all
        if not same_query or self._range is None:
            scores = [r.score for r in results]
            self._range = (min(scores), max(scores)) if scores else None
        if (
            self._order is SortOrder.RELEVANCE
            and self._cutoff == 0.0
            and old
            and len(results) > len(old)
            and all(a.photo_id == b.photo_id for a, b in zip(old, results, strict=False))
        ):
            first = len(self._rows)
            self._all = results
            self._rows = list(results)
            self.insertRows(first, len(results) - first)  # the C++ side emits rowsInserted
            return
        self._all = results
        self._reset(self._arrange(results))

    def _reset(self, rows: list[SearchResult]) -> None:
        self._rows = rows
        self.setStringList([""] * len(rows))  # emits modelAboutToBeReset / modelReset

    def clear(self) -> None:
        self.set_results([])

    @property
    def all_results(self) -> list[SearchResult]:
        return list(self._all)

    def result(self, row: int) -> SearchResult | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def results(self) -> list[SearchResult]:
        return list(self._rows)

    def row_of(self, photo_id: int) -> int:
        for row, r in enumerate(self._rows):
            if r.photo_id == photo_id:
                return row
        return -1

    # -- order and cutoff ------------------------------------------------------------------------
    @property
    def sort_order(self) -> SortOrder:
        return self._order

    def set_sort_order(self, order: SortOrder) -> None:
        if order is self._order:
            return
        self._order = order
        self._rearrange()

    @property
    def cutoff(self) -> float:
        return self._cutoff

    def set_cutoff(self, fraction: float) -> None:
        """Hide results scoring below ``fraction`` of the way from the worst to the best score."""
        fraction = min(1.0, max(0.0, fraction))
        if fraction == self._cutoff:
            return
        self._cutoff = fraction
        self._rearrange()

    @property
    def rated(self) -> bool:
        """The results carry a relevance (0-100, one scale for every search): the cutoff is in it."""
        return any(r.relevance is not None for r in self._all)

    @property
    def min_relevance(self) -> float:
        return self._min_relevance

    def set_min_relevance(self, value: float) -> None:
        """Hide rated results below ``value`` (0-100; 50 is a good match), unless none clears it."""
        value = min(100.0, max(0.0, value))
        if value == self._min_relevance:
            return
        self._min_relevance = value
        self._rearrange()

    def cutoff_score(self) -> float | None:
        """The score below which results are hidden: ``cutoff`` of the way from the worst to the best
        score of the query's first page (later pages do not move it)."""
        if not self._all or self._cutoff <= 0.0 or self._range is None:
            return None
        lo, hi = self._range
        return lo + (hi - lo) * self._cutoff

    def _rearrange(self) -> None:
        self._reset(self._arrange(self._all))

    def _arrange(self, results: list[SearchResult]) -> list[SearchResult]:
        self.nothing_clears = False
        if self.rated:
            rows = [r for r in results if (r.relevance or 0.0) >= self._min_relevance]
            if results and not rows:  # none clears the cutoff: the closest photos, and say so
                rows, self.nothing_clears = list(results), True
        else:
            threshold = self.cutoff_score()
            rows = results if threshold is None else [r for r in results if r.score >= threshold]
        if self._order is SortOrder.RELEVANCE:
            return list(rows)
        # the photo's date: when it was taken, else its file's date (as the date filters use it)
        undated = [r for r in rows if r.date is None]
        dated = [r for r in rows if r.date is not None]
        dated.sort(key=lambda r: r.date or datetime.min, reverse=self._order is SortOrder.NEWEST)
        return dated + undated  # photos without a date go last either way

    def hidden_count(self) -> int:
        """How many results the cutoff hides."""
        return len(self._all) - len(self._rows)

    # -- Qt model API ----------------------------------------------------------------------------
    # rowCount() is QStringListModel's, in C++ (see the module docstring)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        r = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return os.path.basename(r.path)
        if role == Qt.ItemDataRole.ToolTipRole:
            lines = [r.path]
            if r.caption:
                lines.append(r.caption)
            details = [relevance_words(r)]
            if r.date:
                details.append(format_date(r.date) + (" (file date)" if r.date_is_file_date else ""))
            if r.width and r.height:
                details.append(f"{r.width}×{r.height}")
            details.append(format_bytes(r.size))
            lines.append(" · ".join(details))
            return "\n".join(lines)
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return r.caption or os.path.basename(r.path)
        if role == Roles.RESULT:
            return r
        if role == Roles.PATH:
            return r.path
        if role == Roles.SCORE:
            return r.score
        if role == Roles.DATE:
            return r.date
        if role == Roles.PHOTO_ID:
            return r.photo_id
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled

    def mimeTypes(self) -> list[str]:
        return ["text/uri-list"]

    def mimeData(self, indexes: Sequence[QModelIndex]) -> QMimeData:
        """Dragging results out gives file URLs (drop them into a file manager or an editor)."""
        data = QMimeData()
        paths = [self._rows[i.row()].path for i in indexes if i.isValid()]
        data.setUrls([QUrl.fromLocalFile(p) for p in paths])
        data.setText("\n".join(paths))
        return data

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.IgnoreAction

    def canFetchMore(self, parent: Index) -> bool:
        if parent.isValid() or not self._can_fetch_more:
            return False
        # results come best first: once the loaded ones reach below the cutoff, every further page
        # would be hidden too (the view asks for more whenever the cutoff leaves it short of rows)
        if self.rated:
            return self.nothing_clears is False and min((r.relevance or 0.0) for r in self._all) >= self._min_relevance
        threshold = self.cutoff_score()
        return threshold is None or min(r.score for r in self._all) >= threshold

    def fetchMore(self, parent: Index) -> None:
        if self._can_fetch_more:
            self._can_fetch_more = False  # until the next page arrives
            self.more_requested.emit()
