"""The results grid and what acts on its photos: thumbnails, selection, sort order, open, show in
folder, copy paths, find similar, preview, and the context menu.

:class:`ResultsPane` owns the model, the view, the delegate, the thumbnail loader and the preview
dialog. It shows the results the window hands it (keeping the user's place when they are the same
search again) and reports what the user asked for with signals.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from PySide6.QtCore import QModelIndex, QObject, QPoint, QSize, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QMenu, QStyle, QWidget

from desktop_search.core.search.relevance import GOOD
from desktop_search.core.types import SearchResult
from desktop_search.core.wording import NO_GOOD_MATCHES, counted

from . import desktop
from .icons import icon, std
from .preview import PreviewDialog
from .results_model import ResultsModel, SortOrder
from .thumbnail_delegate import ThumbnailDelegate
from .thumbnails import ThumbKey, ThumbnailLoader
from .widgets import ResultsView


class ResultsPane(QObject):
    #: "like this photo"
    find_similar = Signal(object)  # SearchResult
    #: a line for the status bar: text, level
    message = Signal(str, str)

    def __init__(self, window: QWidget, side: int, show_score: bool, show_date: bool,
                 run_in_background: Callable[..., bool]) -> None:
        super().__init__(window)
        self.window = window
        self._run_in_background = run_in_background
        dpr = window.devicePixelRatioF() or 1.0
        self.loader = ThumbnailLoader(side=round(side * dpr), parent=self)
        self.loader.dpr = dpr
        self.loader.thumbnails_ready.connect(self._thumbnails_ready)
        self.model = ResultsModel(self)
        self.delegate = ThumbnailDelegate(self.loader, self)
        self.delegate.side = side
        self.delegate.show_score = show_score
        self.delegate.show_date = show_date
        self.view = ResultsView()
        self.view.setModel(self.model)
        self.view.setItemDelegate(self.delegate)
        self.view.open_requested.connect(self.open_current)
        self.view.preview_requested.connect(self.preview_current)
        self.view.copy_requested.connect(self.copy_selected_paths)
        self.view.customContextMenuRequested.connect(self._context_menu)
        self.preview: PreviewDialog | None = None
        #: above the grid when no result clears the cutoff: "No good matches — closest photos below"
        self.banner = QLabel()
        self.banner.setObjectName("noGoodMatches")
        self.banner.setAccessibleName("No good matches")
        self.banner.setContentsMargins(8, 4, 8, 4)
        self.banner.setStyleSheet("#noGoodMatches { font-weight: bold; }")
        self.banner.hide()

        # the grid's own context menu actions
        self.open_action = QAction(std(QStyle.StandardPixmap.SP_DialogOpenButton), "&Open", self)
        self.open_action.triggered.connect(self.open_current)
        self.reveal_action = QAction(std(QStyle.StandardPixmap.SP_DirOpenIcon), "Show in &Folder", self)
        self.reveal_action.triggered.connect(self.reveal_current)
        self.similar_action = QAction(icon("image-search"), "Find &Similar", self)
        self.similar_action.triggered.connect(self.find_similar_current)
        self.preview_action = QAction("&Preview", self)
        self.preview_action.triggered.connect(self.preview_current)
        self.preview_action.setShortcut(QKeySequence(Qt.Key.Key_Space))
        self.preview_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)  # shown, handled by the view
        self.view.addAction(self.preview_action)

    # -- showing results -------------------------------------------------------------------------
    def update_banner(self) -> None:
        """Say so above the grid when none of the results clears the cutoff (they are shown anyway:
        the closest photos)."""
        if self.model.nothing_clears and self.model.rowCount():
            self.banner.setText(
                NO_GOOD_MATCHES if self.model.min_relevance <= GOOD
                else "None of the results clears the cutoff \u2014 closest photos below"
            )
            self.banner.show()
        else:
            self.banner.hide()

    def show_results(self, results: list[SearchResult], *, more: bool, same: bool, select_first: bool) -> None:
        selected = self.selected_results()
        current = self.current_result()
        scroll = self.view.verticalScrollBar().value()
        self.model.set_results(results, more_available=more, same_query=same)
        self.update_banner()
        if same:
            # the same search again (the library changed, or the next page): keep the user's place
            self.reselect(selected, current)
            self.view.verticalScrollBar().setValue(scroll)
            self._refresh_preview()
        else:
            self.view.scrollToTop()
            self.loader.cancel_pending()
        if results and select_first and not self.view.currentIndex().isValid():
            self.view.setFocus()
            self.view.setCurrentIndex(self.model.index(0, 0))

    def enter(self) -> None:
        """Focus the grid with a current photo (the first when none is)."""
        self.view.setFocus()
        if not self.view.currentIndex().isValid():
            self.view.setCurrentIndex(self.model.index(0, 0))

    def reselect(self, selected: list[SearchResult], current: SearchResult | None) -> QModelIndex | None:
        """Select these photos again (and make ``current`` current) where the rows now show them;
        returns the current photo's new index, if it is still shown."""
        ids = {r.photo_id for r in selected}
        selection = self.view.selectionModel()
        for row, r in enumerate(self.model.results()):
            if r.photo_id in ids:
                selection.select(self.model.index(row, 0), selection.SelectionFlag.Select)
        row = self.model.row_of(current.photo_id) if current is not None else -1
        if row < 0:
            return None
        index = self.model.index(row, 0)
        selection.setCurrentIndex(index, selection.SelectionFlag.NoUpdate)
        return index

    def set_sort_order(self, order: SortOrder) -> None:
        current, selected = self.current_result(), self.selected_results()
        self.model.set_sort_order(order)
        index = self.reselect(selected, current)  # the same photos stay selected, the current one in view
        if index is not None:
            self.view.scrollTo(index)

    # -- the photos acted on ---------------------------------------------------------------------
    def current_result(self) -> SearchResult | None:
        index = self.view.currentIndex()
        return self.model.result(index.row()) if index.isValid() else None

    def selected_results(self) -> list[SearchResult]:
        rows = sorted(i.row() for i in self.view.selectionModel().selectedIndexes())
        results = [r for r in (self.model.result(row) for row in rows) if r is not None]
        if not results and (current := self.current_result()) is not None:
            results = [current]
        return results

    def open_current(self, result: SearchResult | None = None) -> None:
        result = result if isinstance(result, SearchResult) else self.current_result()
        if result is None:
            return
        if not os.path.exists(result.path):
            self.message.emit(f"{result.path} no longer exists (moved or deleted?)", "error")
            return
        if not desktop.open_file(result.path):
            self.message.emit(f"No application is set up to open {os.path.basename(result.path)}", "error")

    def reveal_current(self, result: SearchResult | None = None) -> None:
        result = result if isinstance(result, SearchResult) else self.current_result()
        if result is None:
            return
        if not desktop.reveal_in_file_manager(result.path):
            self.message.emit("The file manager could not be opened", "error")

    def copy_selected_paths(self) -> None:
        results = self.selected_results()
        if results:
            desktop.copy_paths([r.path for r in results])
            self.message.emit(f"Copied {counted(len(results), 'path')}" if len(results) > 1
                              else f"Copied {results[0].path}", "info")

    def find_similar_current(self, result: SearchResult | None = None) -> None:
        result = result if isinstance(result, SearchResult) else self.current_result()
        if result is not None:
            self.find_similar.emit(result)
            if self.preview is not None:
                self.preview.close()

    # -- preview ---------------------------------------------------------------------------------
    def _photo_text(self, photo_id: int) -> str | None:
        """The text read in a photo, for the preview (one quick SQL read)."""
        controller = getattr(self.window, "controller", None)  # the main window's
        lib = getattr(controller, "lib", None)
        try:
            return lib.text.photo_text(photo_id) if lib is not None else None
        except Exception:  # the preview never fails over it
            return None

    def preview_current(self) -> None:
        result = self.current_result()
        if result is None:
            return
        if self.preview is None:
            self.preview = PreviewDialog(self._run_in_background, self.window)
            self.preview.open_requested.connect(self.open_current)
            self.preview.reveal_requested.connect(self.reveal_current)
            self.preview.find_similar.connect(self.find_similar_current)
            self.preview.navigate.connect(self._preview_step)
            self.preview.text_of = self._photo_text
        self.preview.show_result(result)
        self.preview.show()
        self.preview.raise_()
        self.preview.activateWindow()

    def _refresh_preview(self) -> None:
        """The library changed under an open preview: show its photo as it is now (renamed or moved:
        the new name and path), or close it when the photo left the library."""
        preview = self.preview
        shown = preview.result if preview is not None and preview.isVisible() else None
        if preview is None or shown is None:
            return
        row = self.model.row_of(shown.photo_id)
        now = self.model.result(row) if row >= 0 else None
        if now is None:
            preview.close()
            self.message.emit(f"{os.path.basename(shown.path)} is no longer in the library", "warning")
        elif (now.path, now.size) != (shown.path, shown.size):
            preview.show_result(now)

    def _preview_step(self, step: int) -> None:
        index = self.view.currentIndex()
        row = (index.row() if index.isValid() else -1) + step
        if 0 <= row < self.model.rowCount():
            new = self.model.index(row, 0)
            self.view.setCurrentIndex(new)
            self.view.scrollTo(new)
            result = self.model.result(row)
            if result is not None and self.preview is not None:
                self.preview.show_result(result)

    # -- context menu ----------------------------------------------------------------------------
    def _context_menu(self, pos: QPoint) -> None:
        index: QModelIndex = self.view.indexAt(pos)
        if not index.isValid():
            return
        if not self.view.selectionModel().isSelected(index):
            self.view.setCurrentIndex(index)
        result = self.model.result(index.row())
        if result is None:
            return
        menu = self.build_context_menu(result)
        menu.exec(self.view.viewport().mapToGlobal(pos))

    def build_context_menu(self, result: SearchResult) -> QMenu:
        menu = QMenu(self.window)
        open_action = menu.addAction(self.open_action.icon(), "Open")
        open_action.triggered.connect(lambda: self.open_current(result))
        reveal = menu.addAction(self.reveal_action.icon(), "Show in Folder")
        reveal.triggered.connect(lambda: self.reveal_current(result))
        many = len(self.selected_results()) > 1
        copy = menu.addAction("Copy Paths" if many else "Copy Path")
        copy.triggered.connect(self.copy_selected_paths)
        menu.addSeparator()
        similar = menu.addAction(self.similar_action.icon(), "Find Similar")
        similar.triggered.connect(lambda: self.find_similar_current(result))
        preview = menu.addAction("Preview")
        preview.setShortcut(QKeySequence(Qt.Key.Key_Space))
        preview.triggered.connect(self.preview_current)
        return menu

    # -- thumbnails and the grid -----------------------------------------------------------------
    def _thumbnails_ready(self, _keys: list[ThumbKey]) -> None:
        self.view.viewport().update()

    def visible_rows(self) -> list[int]:
        """Rows whose cells intersect the viewport (for screenshots and tests)."""
        rect = self.view.viewport().rect()
        first = self.view.indexAt(rect.topLeft() + QPoint(4, 4))
        start = first.row() if first.isValid() else 0
        rows = []
        for row in range(start, self.model.rowCount()):
            r = self.view.visualRect(self.model.index(row, 0))
            if r.top() > rect.bottom():
                break
            if r.intersects(rect):
                rows.append(row)
        return rows

    def visible_thumbnails_loaded(self) -> bool:
        for row in self.visible_rows():
            result = self.model.result(row)
            if result is not None and not self.loader.is_known(self.loader.key_for(result.path, result.size)):
                return False
        return True

    def set_side(self, side: int) -> None:
        dpr = self.window.devicePixelRatioF() or 1.0
        self.loader.set_side(round(side * dpr), dpr)
        self.delegate.side = side
        self.update_grid()

    def set_labels(self, *, show_score: bool | None = None, show_date: bool | None = None) -> None:
        if show_score is not None:
            self.delegate.show_score = show_score
        if show_date is not None:
            self.delegate.show_date = show_date
        self.update_grid()

    def update_grid(self) -> None:
        cell = self.delegate.cell_size(self.view.fontMetrics())
        self.view.set_cell_size(cell + QSize(6, 6))
        self.view.doItemsLayout()
        self.view.viewport().update()

    def close(self) -> None:
        if self.preview is not None:
            self.preview.close()
        self.loader.shutdown()
