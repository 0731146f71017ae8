"""Searching in the window: the search field and the example become controller searches, and
results become the grid, the page and the status bar's count.

:class:`Searching` holds the rooms' widgets it needs and the Qt-free
:class:`~desktop_search.ui.search_session.SearchSession` (what is asked, what was sent, what is
shown); it debounces typing, holds a search back until the library is open, shows "Loading
model…" meanwhile, keeps the user's place when the same search comes back (the library changed,
the next page), and re-runs the shown search while indexing adds photos.
"""

from __future__ import annotations

import time
from typing import cast

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent

from desktop_search.core.types import FolderInfo, IndexProgress, SearchQuery, SearchResult

from .controller import LibraryController
from .pages import Page, Pages
from .results_pane import ResultsPane
from .search_bar import DEFAULT_CUTOFF, SearchBar
from .search_session import SearchSession
from .status_area import WAITING_FOR_MODEL, StatusArea

SEARCH_DEBOUNCE_MS = 250
#: while a long job indexes, re-run the shown search this often so new photos show up
LIVE_REFRESH_S = 4.0


class Searching(QObject):
    #: results of a search are in the grid (after the model was updated)
    results_shown = Signal()

    def __init__(self, controller: LibraryController, session: SearchSession, bar: SearchBar, pages: Pages,
                 results: ResultsPane, status_area: StatusArea, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.session = session
        self.bar = bar
        self.search_field = bar.search_field
        self.pages = pages
        self.results = results
        self.model = results.model
        self.status_area = status_area
        self.folders: list[FolderInfo] = []
        self._last_live_refresh = 0.0
        self.debounce = QTimer(self)
        self.debounce.setSingleShot(True)
        self.debounce.setInterval(SEARCH_DEBOUNCE_MS)
        self.debounce.timeout.connect(self.run_search)
        self.search_field.textChanged.connect(lambda _: self.debounce.start())
        self.search_field.returnPressed.connect(self._return_pressed)
        self.search_field.installEventFilter(self)
        self.bar.cutoff_slider.valueChanged.connect(self._cutoff_changed)
        self.model.more_requested.connect(self._fetch_more)
        c = controller
        c.model_state.connect(self._model_state)
        c.folders_changed.connect(self._folders_changed)
        c.job_progress.connect(self._job_progress)
        c.library_changed.connect(self._library_changed)
        c.results_ready.connect(self._results_ready)

    def filters_changed(self, values: dict[str, object]) -> None:
        """The filter bar changed: the shown search (if any) runs again with the new filters."""
        self.session.filters = values
        self.run_search()

    def library_opened(self) -> None:
        self.folders = self.controller.folders()
        self.show_default_page()
        if self.asks_something():
            # what was typed (and entered) while the library opened runs now
            self.run_search(force=True)

    def _model_state(self, state: str, text: str) -> None:
        if self.pages.currentIndex() == Page.WAITING and state != "loading":
            if state == "ready":
                self.pages.waiting_page.set_content("Searching…", "")
            else:
                self.pages.waiting_page.set_content("Search is unavailable", text)

    def _folders_changed(self, folders: list[FolderInfo]) -> None:
        self.folders = folders
        if self.pages.currentIndex() in (Page.WELCOME, Page.HINT, Page.LOADING) and self.controller.library_open:
            self.show_default_page()

    def _job_progress(self, event: IndexProgress) -> None:
        # photos become searchable as they are indexed: refresh the results now and then
        now = time.monotonic()
        if event.phase == "embed" and event.done and now - self._last_live_refresh >= LIVE_REFRESH_S:
            self._last_live_refresh = now
            self.controller.refresh_counts()
            if self.session.shown is not None:
                self.session.not_sent()
                self.run_search(force=True, keep_limit=True)

    # -- pages ---------------------------------------------------------------------------------
    def show_page(self, page: int) -> None:
        self.pages.setCurrentIndex(page)
        self.bar.set_searching(page not in (Page.LOADING, Page.WELCOME))

    def show_default_page(self) -> None:
        if not self.controller.library_open:
            self.show_page(Page.LOADING)
        elif not self.folders and not self.controller.writer_kind:
            self.show_page(Page.WELCOME)
        elif self.asks_something():
            if self.session.shown is not None and self.model.rowCount():
                self.show_page(Page.RESULTS)
            elif self.pages.currentIndex() in (Page.LOADING, Page.WELCOME, Page.HINT):
                # a search is on its way: never leave "Opening your library…" up meanwhile
                self.pages.waiting_page.set_content("Searching…", "")
                self.show_page(Page.WAITING)
        else:
            self.show_page(Page.HINT)

    # -- searching -----------------------------------------------------------------------------
    def asks_something(self) -> bool:
        return self.session.asks_something(self.search_field.text())

    def build_query(self) -> SearchQuery:
        return self.session.query(self.search_field.text())

    def _return_pressed(self) -> None:
        self.debounce.stop()
        self.run_search(force=True)
        if self.controller.search_pending or not self.controller.library_open:
            # the results on the grid are the previous search's: select the first of the new ones
            # when they arrive (Space and Enter then act on them), not one of these
            self.session.select_first_when_shown = True
            return
        if self.model.rowCount():
            self.results.enter()

    def run_search(self, force: bool = False, *, keep_limit: bool = False) -> None:
        """Search for what is in the field and the example chip (debounced callers end here)."""
        self.debounce.stop()
        query = self.session.submit(self.search_field.text(), force=force, keep_limit=keep_limit)
        if query is None:
            return  # the search already sent
        if query.is_empty:
            self.session.cleared(query)
            self.model.clear()
            self.controller.search(query)
            self.show_default_page()
            self.update_count_text()  # the library's summary again, not the last search's count
            self.status_area.restore_idle_message()
            return
        if not self.controller.library_open:
            self.session.not_sent()  # runs when the library is open (_library_opened)
            return
        self.session.sent(query)
        c = self.controller
        if not c.model_ready:
            if c.model_error:
                self.pages.waiting_page.set_content("Search is unavailable", c.model_error)
                self.status_area.notify(c.model_error, "error")
            else:
                self.pages.waiting_page.set_content("Loading model…", "Your search runs as soon as the model is ready.")
                self.status_area.notify(WAITING_FOR_MODEL)
            if not self.model.rowCount():
                self.show_page(Page.WAITING)
        c.search(query)

    def _results_ready(self, query: SearchQuery, results: list[SearchResult], more: bool) -> None:
        if query.is_empty:
            return
        same, select_first = self.session.show(query, more)
        self.results.show_results(results, more=more, same=same, select_first=select_first)
        if results:
            self.show_page(Page.RESULTS)
        else:
            self.pages.show_no_results(query, self.status_area.library_status)
            self.show_page(Page.NO_RESULTS)
        self.update_count_text()
        self.results_shown.emit()

    def _fetch_more(self) -> None:
        if self.session.next_page():
            self.run_search(force=True, keep_limit=True)

    def _library_changed(self) -> None:
        self.folders = self.controller.folders()
        if self.session.again():
            self.run_search(force=True, keep_limit=True)
        else:
            self.show_default_page()

    def focus_search(self) -> None:
        self.search_field.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_field.selectAll()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """The search field's keys: Down enters the results, Escape clears the words."""
        if watched is self.search_field and event.type() == QEvent.Type.KeyPress:
            key = cast(QKeyEvent, event).key()
            if key == Qt.Key.Key_Down and self.model.rowCount() and self.pages.currentIndex() == Page.RESULTS:
                self.results.enter()
                return True
            if key == Qt.Key.Key_Escape and self.search_field.text():
                self.search_field.clear()
                return True
        return super().eventFilter(watched, event)

    def _cutoff_changed(self, value: int) -> None:
        # rated results (relevance 0-100): the slider is the least relevance shown, 50 (a good match)
        # by default; unrated ones (a model without a relevance scale): its upper half spans the
        # results' score range, as a share of the way from the weakest to the best match
        self.model.set_min_relevance(float(value))
        self.model.set_cutoff(max(0.0, (value - DEFAULT_CUTOFF) / (100.0 - DEFAULT_CUTOFF)))
        self.bar.show_cutoff(value, self.model.cutoff_score(), self.model.hidden_count(), rated=self.model.rated)
        self.results.update_banner()
        self.update_count_text()

    def update_count_text(self) -> None:
        """The status bar's idle words: the search's count, or the library's summary."""
        sa = self.status_area
        if self.session.shown is None:
            sa.set_idle_message(sa.library_summary())
            return
        shown, hidden = self.model.rowCount(), self.model.hidden_count()
        status = sa.library_status
        sa.set_idle_message(self.session.count_text(shown + hidden, hidden,
                                                    status.indexed if status is not None else None))
