"""The window's search session, without Qt: what is asked, what was sent, what is shown.

The window turns what the user typed and the example chip into :meth:`SearchSession.submit`;
the session says whether that is a search to send (a new one, or one forced again) and remembers
it; results coming back go through :meth:`SearchSession.show`, which says whether they are the
same search as the one on screen (the library changed, or the next page: keep the user's place).

"The same search" is ``SearchQuery ==`` (a frozen dataclass): every field counts, filters too, so
a search that differs only in a filter is a new search. The page size (``limit``) is the one field
that does not make a new search when results come back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from desktop_search.core.types import SearchQuery
from desktop_search.core.wording import counted


@dataclass(frozen=True)
class Example:
    """The example photo of a search: a file (dropped, pasted, picked) or a library photo."""

    path: str
    photo_id: int | None = None
    size: int = 0

    def query_parts(self) -> tuple[tuple[str, ...], tuple[int, ...]]:
        if self.photo_id is not None:
            return (), (self.photo_id,)
        return (self.path,), ()


class SearchSession:
    """Query, paging, de-duplication and what is shown, for one window."""

    def __init__(self, page_size: Callable[[], int]) -> None:
        """``page_size()``: results per page now (the settings')."""
        self._page_size = page_size
        #: results asked for: one page, then one more page per "more"
        self.limit = page_size()
        self.example: Example | None = None
        #: the filter bar's values, by filter name (``core/search/filters.py``)
        self.filters: dict[str, object] = {}
        #: the search whose results are on screen (None: none, the summary shows)
        self.shown: SearchQuery | None = None
        #: the last search handed to the controller (None: the next one goes whatever it is)
        self.last_submitted: SearchQuery | None = None
        #: the search on screen has more results than are loaded
        self.more_results = False
        #: Enter was pressed while the results were on their way: select the first when shown
        self.select_first_when_shown = False

    # -- asking ----------------------------------------------------------------------------------
    def query(self, text: str) -> SearchQuery:
        """The search for ``text`` (as typed), the example and the filters, at the current limit."""
        image_paths: tuple[str, ...] = ()
        photo_ids: tuple[int, ...] = ()
        if self.example is not None:
            image_paths, photo_ids = self.example.query_parts()
        return SearchQuery(text=text.strip() or None, image_paths=image_paths, photo_ids=photo_ids,
                           filters=self.filters, limit=self.limit)

    @property
    def page_size(self) -> int:
        return self._page_size()

    def asks_something(self, text: str) -> bool:
        """Words were typed or an example is set (filters alone are no search)."""
        return bool(text.strip()) or self.example is not None

    def submit(self, text: str, *, force: bool = False, keep_limit: bool = False) -> SearchQuery | None:
        """The search to send for ``text`` now, or None when it is the one already sent (and not
        ``force``). A new search starts at one page unless ``keep_limit``."""
        if not keep_limit:
            self.limit = self.page_size
        query = self.query(text)
        if not force and query == self.last_submitted:
            return None
        return query

    def sent(self, query: SearchQuery) -> None:
        """``query`` went to the controller."""
        self.last_submitted = query

    def not_sent(self) -> None:
        """Held back (the library is not open yet): the same search later is not taken for one
        already running (it was, and the first search was lost)."""
        self.last_submitted = None

    def cleared(self, query: SearchQuery) -> None:
        """An empty search was sent: nothing is shown."""
        self.last_submitted = query
        self.shown = None

    def next_page(self) -> bool:
        """One more page of the search on screen; False when none is shown."""
        if self.shown is None:
            return False
        self.limit = self.shown.limit + self.page_size
        return True

    def again(self) -> bool:
        """The library changed: run the shown search again with at least as many results (not
        de-duplicated). False when nothing is shown."""
        if self.shown is None:
            return False
        self.last_submitted = None
        self.limit = max(self.limit, self.shown.limit)
        return True

    # -- what comes back -------------------------------------------------------------------------
    def is_shown(self, query: SearchQuery) -> bool:
        """``query`` is the search on screen, whatever its page size."""
        shown = self.shown
        return shown is not None and dataclasses.replace(shown, limit=query.limit) == query

    def show(self, query: SearchQuery, more: bool) -> tuple[bool, bool]:
        """Results of ``query`` reach the screen. Returns (the same search as was shown, select the
        first result)."""
        same = self.is_shown(query)
        self.shown = query
        self.more_results = more
        select_first, self.select_first_when_shown = self.select_first_when_shown, False
        return same, select_first

    def total(self, indexed: int | None) -> int | None:
        """How many photos the search on screen ranks: every indexed photo but the example photos
        themselves (None without a search or a count)."""
        if indexed is None or self.shown is None:
            return None
        return max(0, indexed - len(set(self.shown.photo_ids)))

    def count_text(self, loaded: int, hidden: int, indexed: int | None) -> str:
        """The status bar's words for the search on screen."""
        total = self.total(indexed)
        if self.more_results and total is not None and total > loaded:
            # a page is loaded (more come on scrolling): never give the page for the total
            text = f"{loaded:,} of {counted(total, 'result')}"
        else:
            text = counted(loaded, "result")
        if hidden:
            text += f" ({hidden:,} hidden by the cutoff)"
        return text
