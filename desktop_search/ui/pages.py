"""What the window's middle shows: opening, welcome, a hint, the results grid, no results, or
waiting for a search. The pages and their words; the window picks the page."""

from __future__ import annotations

from enum import IntEnum

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QStackedWidget, QStyle, QWidget

from desktop_search.core.types import LibraryStatus, SearchQuery

from .folders_dialog import pictures_folder
from .icons import icon, std
from .widgets import MessagePage, short_path, welcome_pixmap


class Page(IntEnum):
    LOADING, WELCOME, HINT, RESULTS, NO_RESULTS, WAITING = range(6)


def no_results_text(query: SearchQuery, status: LibraryStatus | None) -> tuple[str, str]:
    """Title and advice for an empty result: an empty library is not a query that missed."""
    if status is not None and status.indexed == 0:
        if status.pending:
            return ("Your photos are still being indexed",
                    f"{status.pending:,} photos wait for indexing; results appear as they are done.")
        if not status.folders:
            return ("Your library has no photos yet", "Add a folder of photos (Folders…) to search it.")
        return ("No photos are indexed", "Your folders hold no photos that could be read (Folders… ▸ Problems…).")
    what = f"“{query.text}”" if query.text else "this example"
    if query.filters:  # the filters may be what leaves nothing: say which
        return ("No matching photos",
                f"Nothing in your library matches {what} among the photos {', '.join(query.filters.described())}. "
                "Try fewer filters (Clear Filters).")
    return ("No matching photos",
            f"Nothing in your library matches {what}. Try other words, or check that your folders "
            "are indexed (Folders…).")


class Pages(QStackedWidget):
    """The stack of pages around the results grid (``view``)."""

    #: the welcome page's buttons: a folder to add, or None to choose one
    add_folder_requested = Signal(object)

    def __init__(self, view: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loading_page = MessagePage()
        self.loading_page.set_content("Opening your library…", "")
        self.welcome_page = MessagePage()
        self.welcome_page.set_content(
            "Find your photos by what is in them",
            "Add a folder of photos to get started. Desktop Search looks through them once, then "
            "finds any photo from a few words or an example picture. Everything stays on this computer.",
            welcome_pixmap(96),
        )
        pictures = pictures_folder()
        if pictures:
            b = self.welcome_page.add_button(f"Add Pictures Folder ({short_path(pictures)})",
                                             f"Index {pictures}", default=True)
            b.setIcon(std(QStyle.StandardPixmap.SP_DirIcon))
            b.clicked.connect(lambda: self._request(pictures))
        other = self.welcome_page.add_button("Choose Another Folder…" if pictures else "Choose a Folder…",
                                             "Pick any folder of photos", default=not pictures)
        other.clicked.connect(lambda: self._request(None))
        self.hint_page = MessagePage()
        self.hint_page.set_content(
            "What are you looking for?",
            "Type what you remember, like “birthday cake with candles” or “red car in the snow”, "
            "or drop a photo on this window to find similar ones.",
            icon("search").pixmap(64, 64),
        )
        self.no_results_page = MessagePage()
        self.waiting_page = MessagePage()
        for page in (self.loading_page, self.welcome_page, self.hint_page, view,
                     self.no_results_page, self.waiting_page):
            self.addWidget(page)

    def _request(self, folder: str | None) -> None:  # a slot returns None (not emit()'s bool)
        self.add_folder_requested.emit(folder)

    @property
    def page(self) -> Page:
        return Page(self.currentIndex())

    def show_open_failed(self, text: str) -> None:
        body = text.removeprefix("Cannot open the library: ")  # the page's title says that already
        self.loading_page.set_content("The library cannot be opened", body,
                                      std(QStyle.StandardPixmap.SP_MessageBoxCritical).pixmap(64, 64))

    def show_no_results(self, query: SearchQuery, status: LibraryStatus | None) -> None:
        title, detail = no_results_text(query, status)
        self.no_results_page.set_content(title, detail, icon("search").pixmap(56, 56))
