"""The main window: composes its rooms and closes them.

The rooms: the search bar (``search_bar.SearchBar``), the pages around the results grid
(``pages.Pages``), the grid with its preview and context menu (``results_pane.ResultsPane``), the
status bar (``status_area.StatusArea``), example photos coming in by drop, paste or file dialog
(``example_input.ExampleInput``), the menus (``actions.MENUS``, a table), and the search session
(``search_session.SearchSession``, no Qt: what is asked, what was sent, what is shown).

The window is thin: every library call goes through :class:`LibraryController`, which runs it off
the GUI thread; the window only turns user actions into controller calls and controller signals
into its rooms.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from PySide6.QtCore import QByteArray, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent
from PySide6.QtWidgets import QFrame, QMainWindow, QVBoxLayout, QWidget

from desktop_search import APP_NAME
from desktop_search.core import settings as settings_mod
from desktop_search.core.library.scanner import normalise
from desktop_search.core.settings import Settings
from desktop_search.core.types import FolderInfo, LibraryStatus, SearchQuery, SearchResult

from .actions import build_menus, show_about
from .controller import LibraryController
from .example_input import ExampleInput
from .filter_bar import FilterBar
from .folders_dialog import FoldersDialog, choose_folder
from .icons import app_icon
from .pages import Page, Pages
from .preview import PreviewDialog
from .results_model import SortOrder
from .results_pane import ResultsPane
from .search_bar import SearchBar
from .search_session import Example, SearchSession
from .searching import Searching
from .status_area import WAITING_FOR_MODEL, StatusArea
from .widgets import DropOverlay, ProblemDialog

log = logging.getLogger(__name__)

__all__ = ["WAITING_FOR_MODEL", "Example", "MainWindow", "Page"]


def _rule() -> QFrame:
    line = QFrame()
    line.setFrameShape(QFrame.Shape.HLine)
    line.setFrameShadow(QFrame.Shadow.Sunken)
    return line


def _stacked(*widgets: QWidget) -> QWidget:
    """The rooms top to bottom, without margins; the last one takes the spare height."""
    central = QWidget()
    outer = QVBoxLayout(central)
    outer.setContentsMargins(0, 0, 0, 0)
    outer.setSpacing(0)
    for w in widgets[:-1]:
        outer.addWidget(w)
    outer.addWidget(widgets[-1], 1)
    return central


class MainWindow(QMainWindow):
    #: results of a search are in the grid (after the model was updated)
    results_shown = Signal()

    def __init__(self, *, library: Path | str | None = None, model_name: str | None = None,
                 settings: Settings | None = None, settings_path: Path | None = None, watch: bool | None = None,
                 watch_quiet_s: float = 1.0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings_path = settings_path
        self.settings = settings or settings_mod.load(settings_path)
        self.library_root = library
        self.model_name = model_name
        self.controller = c = LibraryController(watch=self.settings.watch_folders if watch is None else watch,
                                                watch_quiet_s=watch_quiet_s, parent=self)
        c.global_exclusions = list(self.settings.excluded_folders)
        c.read_text_in_photos = self.settings.read_text_in_photos
        self.session = SearchSession(lambda: self.settings.results_per_page)
        self._open_error: str | None = None  # why the library could not be opened
        self._closing = self._closed = False
        #: closing waits this long for background work to stop (indexing stops between batches,
        #: well within it); then the window goes anyway and the batch in flight is lost
        self.force_quit_s = 3.0
        #: the window closed without waiting for a job that had not stopped (see _stop_waiting)
        self.abandoned = False
        self.problem_dialog: ProblemDialog | None = None
        self._folders_dialog: FoldersDialog | None = None
        self._filter_choices_due = False  # the library's filter values changed since last read

        self.setWindowTitle(APP_NAME)
        self.setWindowIcon(app_icon())
        self.resize(1180, 780)
        self.setMinimumSize(960, 480)  # the search bar's controls fit side by side (~940 px)
        if self.settings.window_geometry:  # as the user left it (an unusable value keeps the default)
            self.restoreGeometry(QByteArray.fromBase64(self.settings.window_geometry.encode("ascii")))

        # -- the rooms ---------------------------------------------------------------------------
        s = self.settings
        self.results = ResultsPane(self, s.thumbnail_size, s.show_score, s.show_date, c.run_in_background)
        self.bar = SearchBar()
        self.filter_bar = FilterBar()
        self.pages = Pages(self.results.view)
        central = _stacked(self.bar, self.filter_bar, _rule(), self.results.banner, self.pages)
        self.setCentralWidget(central)
        self.overlay = DropOverlay(central)
        self.status_area = StatusArea(c, self)
        self.setStatusBar(self.status_area)
        self.examples = ExampleInput(self, self.bar.search_field, self.overlay, central, self.bar.chip, self.results.loader,
                                     self.session)
        self.actions_by_name, self.action_groups = build_menus(self, self.settings)
        self.status_area.follow_jobs(self.action("pause"), self.action("stop"))

        # the widgets tests and screenshots look at, by their old names
        self.search_field, self.chip, self.sort_combo, self.cutoff_slider = (
            self.bar.search_field, self.bar.chip, self.bar.sort_combo, self.bar.cutoff_slider)
        self.view, self.model, self.loader, self.delegate = (
            self.results.view, self.results.model, self.results.loader, self.results.delegate)
        self.stack = self.pages
        self.loading_page, self.welcome_page = self.pages.loading_page, self.pages.welcome_page
        self.no_results_page, self.waiting_page = self.pages.no_results_page, self.pages.waiting_page
        sa = self.status_area
        self.message_label, self.count_label, self.model_label, self.index_status = (
            sa.message_label, sa.count_label, sa.model_label, sa.index_status)

        self.searching = Searching(c, self.session, self.bar, self.pages, self.results, self.status_area, self)
        self.searching.results_shown.connect(self.results_shown)
        self._connect()
        self.apply_sort(SortOrder(self.settings.sort_order))
        self.results.update_grid()
        self.searching.show_page(Page.LOADING)

    def _connect(self) -> None:
        b, r = self.bar, self.results
        b.example_button.clicked.connect(self.examples.choose)
        b.sort_combo.currentIndexChanged.connect(lambda _: self.apply_sort(b.sort_combo.currentData()))
        b.folders_button.clicked.connect(self.show_folders)
        b.settings_button.clicked.connect(self.show_settings)
        self.pages.add_folder_requested.connect(self.add_folder)
        self.filter_bar.changed.connect(lambda: self.searching.filters_changed(self.filter_bar.values()))
        r.view.leave_up.connect(self.focus_search)
        r.find_similar.connect(self.find_similar)
        r.message.connect(self.notify)
        self.examples.changed.connect(self.run_search)
        self.examples.message.connect(self.notify)
        c, sa = self.controller, self.status_area
        c.opened.connect(self._library_opened)
        for signal in (c.folders_changed, c.library_changed):  # cameras, types, folders on offer
            signal.connect(lambda *_: self._refresh_filter_choices(due=True))
        # read once the model is ready and no search waits: not beside the first search
        c.model_state.connect(lambda *_: self._refresh_filter_choices())
        self.searching.results_shown.connect(lambda: self._refresh_filter_choices())
        c.open_failed.connect(self._open_failed)
        c.model_switch_failed.connect(self._model_switch_failed)
        c.model_state.connect(self.status_area.show_model_state)
        c.status_changed.connect(self._status_changed)
        c.search_failed.connect(lambda text: self.notify(text, "error"))
        c.message.connect(self.notify)
        c.watch_status.connect(sa.show_watch_status)
        c.stopped.connect(self._controller_stopped)

    # == what tests and the application read =======================================================
    def action(self, name: str) -> QAction:
        """A menu action by its name in ``actions.MENUS`` (``"rescan"``, ``"add_folder"``…)."""
        return self.actions_by_name[name]

    @property
    def shown_query(self) -> SearchQuery | None:
        """The search whose results are on screen."""
        return self.session.shown

    @property
    def library_status(self) -> LibraryStatus | None:
        return self.status_area.library_status

    @property
    def open_error(self) -> str | None:
        """Why the library could not be opened (None: it opened, or is opening)."""
        return self._open_error

    @property
    def folders(self) -> list[FolderInfo]:
        return list(self.searching.folders)

    @property
    def preview(self) -> PreviewDialog | None:
        return self.results.preview

    @property
    def folders_dialog(self) -> FoldersDialog | None:
        return self._folders_dialog

    @property
    def example(self) -> Example | None:
        return self.session.example

    @property
    def closed(self) -> bool:
        return self._closed

    def notify(self, text: str, level: str = "info", timeout_ms: int = 6000) -> None:
        """Show a message in the status bar; errors and warnings get an icon."""
        self.status_area.notify(text, level, timeout_ms)

    # == start-up ==================================================================================
    def start(self, query: str | None = None, examples: Sequence[str] = ()) -> None:
        """Open the library in the background; run ``query`` (and examples) once possible."""
        if query:
            self.search_field.blockSignals(True)
            self.search_field.setText(query)
            self.search_field.blockSignals(False)
        for path in examples[:1]:
            self.examples.set_file(path, run=False)
        self.controller.open(self.library_root, self.model_name, self.settings.device_or_none())

    def _library_opened(self) -> None:
        self.controller.set_global_exclusions(self.settings.excluded_folders)
        self.searching.library_opened()

    def _refresh_filter_choices(self, due: bool = False) -> None:
        self._filter_choices_due |= due
        c = self.controller
        if not self._filter_choices_due or not c.model_ready or self._closing:
            return  # model_state (ready) calls again
        if c.search_pending:
            QTimer.singleShot(250, self._refresh_filter_choices)  # after the search on its way
            return
        self._filter_choices_due = False
        for name in self.filter_bar.choice_filters():
            self.controller.load_filter_choices(name, functools.partial(self.filter_bar.set_choices, name))

    def _open_failed(self, text: str) -> None:
        self._open_error = text
        self.pages.show_open_failed(text)
        # nothing that needs the library can work now: say so by disabling it, not by failing later
        for name in ("add_folder", "folders", "example", "rescan", "pause", "stop", "paste"):
            self.action(name).setEnabled(False)
        self.search_field.setEnabled(False)
        self.filter_bar.setEnabled(False)
        self.notify(text, "error", timeout_ms=0)

    def _model_switch_failed(self, kept: str) -> None:
        """The controller said why (an error message); the settings follow the model still in use.
        The whole message stays up in a dialog: it names what to do (connect, or the folder to copy
        the weights into), which the status bar cut off and then dropped."""
        if self.settings.model != kept:
            self.settings.model = kept
            self._save_settings()
        text = self.controller.last_model_switch_error
        if text:
            self.show_problem("Cannot Switch Model", text)

    def show_problem(self, title: str, text: str) -> None:
        """A message to act on, whole, with a copy button, until the user closes it."""
        if self.problem_dialog is not None:
            self.problem_dialog.close()
        self.problem_dialog = ProblemDialog(title, text, self)
        self.problem_dialog.show()

    # == search ====================================================================================
    def run_search(self, force: bool = False, *, keep_limit: bool = False) -> None:
        """Search for what is in the field and the example chip (debounced callers end here)."""
        self.searching.run_search(force, keep_limit=keep_limit)

    def clear_search(self) -> None:
        self.search_field.clear()
        self.examples.clear()
        self.focus_search()

    def focus_search(self) -> None:
        self.searching.focus_search()

    # -- sort ----------------------------------------------------------------------------------
    def apply_sort(self, order: SortOrder) -> None:
        """Sort the results (the same photos stay selected); remembered in the settings."""
        self.results.set_sort_order(order)
        self.bar.show_sort(order)
        for a in self.action_groups["sort"].actions():
            a.setChecked(a.data() == order)
        if self.settings.sort_order != order.value:
            self.settings.sort_order = order.value
            self._save_settings()
        self.searching.update_count_text()

    def find_similar(self, result: SearchResult) -> None:
        # "like this photo": the typed words would otherwise keep steering the results
        self.search_field.blockSignals(True)
        self.search_field.clear()
        self.search_field.blockSignals(False)
        self.examples.set_photo(result)

    # == the results grid's looks ==================================================================
    def set_thumbnail_size(self, side: int) -> None:
        lo, hi = settings_mod.THUMBNAIL_SIZES
        self.settings.thumbnail_size = side = min(hi, max(lo, side))
        self.results.set_side(side)
        self._save_settings()

    def resize_thumbnails(self, step: int) -> None:
        self.set_thumbnail_size(self.settings.thumbnail_size + step)

    def set_show_score(self, on: bool) -> None:
        self.settings.show_score = on
        self.results.set_labels(show_score=on)
        self._save_settings()

    def set_show_date(self, on: bool) -> None:
        self.settings.show_date = on
        self.results.set_labels(show_date=on)
        self._save_settings()

    # == folders and settings ======================================================================
    def add_folder(self, path: str | None) -> None:
        path = path or choose_folder(self)
        if not path:
            return
        if not self.controller.library_open:
            self.notify(self._open_error or "The library is still opening; try again in a moment",
                        "error" if self._open_error else "warning")
            return
        if any(f.path == normalise(path) for f in self.searching.folders):
            self.notify(f"{path} is already in the library; Index ▸ Rescan All Folders looks for changes")
            return
        self.controller.add_folder(path)
        self.searching.show_page(Page.HINT if not self.searching.asks_something() else self.stack.currentIndex())

    def show_folders(self) -> None:
        if not self.controller.library_open:
            return
        if self._folders_dialog is None:
            self._folders_dialog = FoldersDialog(self.controller, self)
        else:
            self._folders_dialog.set_folders(self.controller.folders())
        self._folders_dialog.show()
        self._folders_dialog.raise_()
        self._folders_dialog.activateWindow()

    def show_settings(self) -> None:
        from .settings_dialog import SettingsDialog

        if self.controller.model_name is not None:  # the library's own model is the one in use
            self.settings.model = self.controller.model_name
        dialog = SettingsDialog(self.settings, self)
        try:
            accepted = dialog.exec() == SettingsDialog.DialogCode.Accepted
            chosen = dialog.settings()
        finally:
            dialog.deleteLater()  # one dialog an opening, not a window's worth of them kept until quit
        if accepted:
            self.apply_settings(chosen)

    def apply_settings(self, new: Settings) -> None:
        old = self.settings
        self.settings = new
        if new.thumbnail_size != old.thumbnail_size:
            self.set_thumbnail_size(new.thumbnail_size)
        if new.results_per_page != old.results_per_page:
            if self.session.shown is not None:  # the page size shows at once, not at the next search
                self.run_search(force=True)
        if new.excluded_folders != old.excluded_folders:
            self.controller.set_global_exclusions(new.excluded_folders)
        if new.watch_folders != old.watch_folders:
            self.controller.set_watching(new.watch_folders)
        if new.read_text_in_photos != old.read_text_in_photos:
            self.controller.read_text_in_photos = new.read_text_in_photos
            if new.read_text_in_photos:
                self.controller.read_text()
            else:
                self.controller.stop_reading_text()
        if new.model != old.model:
            self.controller.set_model(new.model)
        if new.device != old.device:
            self.notify("The new device is used the next time Desktop Search starts")
        self._save_settings()

    def _save_settings(self) -> None:
        try:
            settings_mod.save(self.settings, self.settings_path)
        except OSError as exc:
            self.notify(f"Settings could not be saved: {exc.strerror or exc}", "error")

    def about(self) -> None:
        show_about(self)

    # == the controller's news =====================================================================
    def _status_changed(self, status: LibraryStatus) -> None:
        self.status_area.show_library_status(status)
        if self.session.shown is None:
            self.searching.update_count_text()  # the library's summary

    def toggle_pause(self) -> None:
        if self.controller.paused:
            self.controller.resume()
        else:
            self.controller.pause()

    # == closing ===================================================================================
    def closeEvent(self, event: QCloseEvent) -> None:
        """Stop background work first; the window closes once every thread has ended."""
        if self._closed:
            event.accept()
            return
        if not self._closing:
            self._remember_geometry()
        c = self.controller
        if c.busy() or c.watching or c.library_open:
            event.ignore()
            if not self._closing:
                self._closing = True
                cast(QWidget, self.centralWidget()).setEnabled(False)  # set in __init__
                self.status_area.closing()
                # with nothing running, ``stopped`` arrives inside this call: a close() from within
                # closeEvent is ignored by Qt, so the window accepts this very event instead (it
                # used to stay open, greyed, until a second Ctrl+Q)
                c.request_shutdown()
                if self._closed:
                    event.accept()
                    return
                # a batch in flight that does not finish in time is abandoned (see force_quit_s)
                QTimer.singleShot(int(self.force_quit_s * 1000), self._stop_waiting)
            return
        self._final_close()
        event.accept()

    def _remember_geometry(self) -> None:
        geometry = bytes(self.saveGeometry().toBase64().data()).decode("ascii")
        if geometry != self.settings.window_geometry:
            self.settings = dataclasses.replace(self.settings, window_geometry=geometry)
            self._save_settings()

    def _controller_stopped(self) -> None:
        if self._closing:
            self._final_close()
            self.close()  # from within closeEvent Qt ignores this; closeEvent then accepts instead

    def _stop_waiting(self) -> None:
        """Background work did not stop in time (a long batch in flight): the window goes anyway;
        ``run_gui`` ends the process without waiting for the thread (SQLite drops that uncommitted
        batch, everything committed before it is kept)."""
        if self._closed:
            return
        log.warning("background work did not stop within %.1f s; quitting without it", self.force_quit_s)
        self.abandoned = True
        self._final_close()
        self.close()

    def _final_close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.searching.debounce.stop()
        for dialog in (self._folders_dialog, self.problem_dialog):
            if dialog is not None:
                dialog.close()
        self.results.close()
        self.examples.close()

    def shutdown_now(self, timeout_s: float | None = None) -> bool:
        """Blocking shutdown (application quit, test teardown): join every thread."""
        ok = self.controller.shutdown_now(timeout_s)
        self._final_close()
        return ok
