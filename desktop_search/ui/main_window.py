"""The main window: a search field, the results grid, folders, settings, and the status bar.

The window is thin: every library call goes through :class:`LibraryController`, which runs it off
the GUI thread; the window only turns user actions into controller calls and controller signals
into widgets.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from PySide6.QtCore import (
    QByteArray,
    QEvent,
    QMimeData,
    QModelIndex,
    QObject,
    QPoint,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDragMoveEvent,
    QDropEvent,
    QGuiApplication,
    QImage,
    QKeyEvent,
    QKeySequence,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSlider,
    QStackedWidget,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_search import APP_NAME, __version__
from desktop_search.core import settings as settings_mod
from desktop_search.core.library.scanner import normalise
from desktop_search.core.settings import Settings
from desktop_search.core.types import (
    FolderInfo,
    IndexProgress,
    LibraryStatus,
    SearchQuery,
    SearchResult,
    count_summary,
)
from desktop_search.core.wording import counted

from . import desktop
from .controller import LibraryController
from .folders_dialog import FoldersDialog, choose_folder, pictures_folder
from .icons import app_icon, icon, std
from .preview import PreviewDialog
from .results_model import ResultsModel, SortOrder
from .thumbnail_delegate import ThumbnailDelegate
from .thumbnails import ThumbKey, ThumbnailLoader
from .widgets import (
    DropOverlay,
    ExampleChip,
    IndexStatus,
    MessagePage,
    ProblemDialog,
    ResultsView,
    describe_progress,
    short_path,
    welcome_pixmap,
)

log = logging.getLogger(__name__)

WAITING_FOR_MODEL = "Loading model… your search runs as soon as it is ready."

SEARCH_DEBOUNCE_MS = 250
#: while a long job indexes, re-run the shown search this often so new photos show up
LIVE_REFRESH_S = 4.0
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".heic", ".heif"})
IMAGE_FILTER = "Images (" + " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES)) + ");;All files (*)"


class Page:
    LOADING, WELCOME, HINT, RESULTS, NO_RESULTS, WAITING = range(6)


class Example:
    """The example photo of a search: a file (dropped, pasted, picked) or a library photo."""

    def __init__(self, path: str, photo_id: int | None = None, size: int = 0) -> None:
        self.path = path
        self.photo_id = photo_id
        self.size = size

    def query_parts(self) -> tuple[tuple[str, ...], tuple[int, ...]]:
        if self.photo_id is not None:
            return (), (self.photo_id,)
        return (self.path,), ()


class MainWindow(QMainWindow):
    #: results of a search are in the grid (after the model was updated)
    results_shown = Signal()

    def __init__(
        self,
        *,
        library: Path | str | None = None,
        model_name: str | None = None,
        settings: Settings | None = None,
        settings_path: Path | None = None,
        watch: bool | None = None,
        watch_quiet_s: float = 1.0,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings_path = settings_path
        self.settings = settings or settings_mod.load(settings_path)
        self.library_root = library
        self.model_name = model_name
        self.controller = LibraryController(
            watch=self.settings.watch_folders if watch is None else watch,
            watch_quiet_s=watch_quiet_s,
            parent=self,
        )
        self.controller.global_exclusions = list(self.settings.excluded_folders)
        self._limit = self.settings.results_per_page
        self._example: Example | None = None
        self._shown_query: SearchQuery | None = None
        self._select_first_when_shown = False  # Enter was pressed while the results were on their way
        self._open_error: str | None = None  # why the library could not be opened
        self._last_submitted: SearchQuery | None = None
        self._more_results = False  # the search on screen has more results than are loaded
        self._closing = False
        self._closed = False
        #: closing waits this long for background work to stop (indexing stops between batches,
        #: well within it); then the window goes anyway and the batch in flight is lost
        self.force_quit_s = 3.0
        #: the window closed without waiting for a job that had not stopped (see _stop_waiting)
        self.abandoned = False
        self._paste_dir: str | None = None
        self.problem_dialog: ProblemDialog | None = None
        self._preview: PreviewDialog | None = None
        self._folders_dialog: FoldersDialog | None = None
        self._message_timer = QTimer(self)
        self._message_timer.setSingleShot(True)
        self._message_timer.timeout.connect(self._restore_idle_message)
        self._idle_text = ""
        self._status: LibraryStatus | None = None
        self._folders: list[FolderInfo] = []
        self._last_live_refresh = 0.0

        self.setWindowTitle(APP_NAME)
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self.resize(1180, 780)
        self.setMinimumSize(960, 480)  # the search bar's controls fit side by side (~940 px)
        if self.settings.window_geometry:  # as the user left it (an unusable value keeps the default)
            self.restoreGeometry(QByteArray.fromBase64(self.settings.window_geometry.encode("ascii")))

        dpr = self.devicePixelRatioF() or 1.0
        side = self.settings.thumbnail_size
        self.loader = ThumbnailLoader(side=round(side * dpr), parent=self)
        self.loader.dpr = dpr
        self.loader.thumbnails_ready.connect(self._thumbnails_ready)
        self.model = ResultsModel(self)
        self.model.more_requested.connect(self._fetch_more)
        self.delegate = ThumbnailDelegate(self.loader, self)
        self.delegate.side = side
        self.delegate.show_score = self.settings.show_score
        self.delegate.show_date = self.settings.show_date

        self._build_ui()
        self._build_actions()
        self._connect_controller()
        self._apply_sort(SortOrder(self.settings.sort_order))
        self._update_grid()
        self._show_page(Page.LOADING)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(SEARCH_DEBOUNCE_MS)
        self._debounce.timeout.connect(self.run_search)

    # == construction ==============================================================================
    def _build_ui(self) -> None:
        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)

        bar = QWidget()
        bar.setObjectName("searchBar")
        top = QHBoxLayout(bar)
        top.setContentsMargins(12, 10, 12, 10)
        top.setSpacing(8)

        self.search_field = QLineEdit()
        self.search_field.setPlaceholderText("Describe a photo — “a dog running on the beach” — or drop one here")
        self.search_field.setClearButtonEnabled(True)
        self.search_field.addAction(icon("search"), QLineEdit.ActionPosition.LeadingPosition)
        self.search_field.setMinimumHeight(34)
        self.search_field.setMinimumWidth(260)
        self.search_field.setToolTip("Type what you remember; results update as you type (Ctrl+F)")
        self.search_field.setAccessibleName("Search")
        self.search_field.textChanged.connect(self._text_changed)
        self.search_field.returnPressed.connect(self._return_pressed)
        self.search_field.installEventFilter(self)
        font = self.search_field.font()
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.search_field.setFont(font)

        self.chip = ExampleChip()
        self.chip.removed.connect(self.clear_example)

        self.example_button = QToolButton()
        self.example_button.setIcon(icon("image-search"))
        self.example_button.setIconSize(QSize(22, 22))
        self.example_button.setAutoRaise(True)
        self.example_button.setToolTip("Search by example: choose a photo (or drop one on the window, or paste "
                                       "one with Ctrl+V)")
        self.example_button.setAccessibleName("Search by example photo")
        self.example_button.clicked.connect(self.choose_example)

        self.sort_combo = QComboBox()
        self.sort_combo.addItem("Best match", SortOrder.RELEVANCE)
        self.sort_combo.addItem("Newest first", SortOrder.NEWEST)
        self.sort_combo.addItem("Oldest first", SortOrder.OLDEST)
        self.sort_combo.setToolTip("Sort results by relevance or by date: when the photo was taken, else its file's date")
        self.sort_combo.currentIndexChanged.connect(lambda _: self._apply_sort(self.sort_combo.currentData()))

        self.cutoff_slider = QSlider(Qt.Orientation.Horizontal)
        self.cutoff_slider.setRange(0, 100)
        self.cutoff_slider.setFixedWidth(120)
        self.cutoff_slider.setToolTip("Relevance cutoff: slide right to hide weaker matches")
        self.cutoff_slider.setAccessibleName("Relevance cutoff")
        self.cutoff_slider.valueChanged.connect(self._cutoff_changed)
        cutoff_label = QLabel("Cutoff")
        cutoff_label.setBuddy(self.cutoff_slider)
        cutoff_label.setToolTip(self.cutoff_slider.toolTip())

        self.folders_button = QToolButton()
        self.folders_button.setIcon(icon("folders"))
        self.folders_button.setIconSize(QSize(22, 22))
        self.folders_button.setAutoRaise(True)
        self.folders_button.setToolTip("Folders: add or remove photo folders, see indexing problems")
        self.folders_button.clicked.connect(self.show_folders)
        self.settings_button = QToolButton()
        self.settings_button.setIcon(icon("settings"))
        self.settings_button.setIconSize(QSize(22, 22))
        self.settings_button.setAutoRaise(True)
        self.settings_button.setToolTip("Settings")
        self.settings_button.clicked.connect(self.show_settings)

        top.addWidget(self.search_field, 1)
        top.addWidget(self.chip)
        top.addWidget(self.example_button)
        top.addSpacing(8)
        top.addWidget(self.sort_combo)
        top.addSpacing(4)
        top.addWidget(cutoff_label)
        top.addWidget(self.cutoff_slider)
        top.addSpacing(4)
        top.addWidget(self.folders_button)
        top.addWidget(self.settings_button)
        outer.addWidget(bar)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        outer.addWidget(line)

        self.stack = QStackedWidget()
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
            b.clicked.connect(lambda: self.add_folder(pictures))
        other = self.welcome_page.add_button("Choose Another Folder…" if pictures else "Choose a Folder…",
                                             "Pick any folder of photos", default=not pictures)
        other.clicked.connect(lambda: self.add_folder(None))
        self.hint_page = MessagePage()
        self.hint_page.set_content(
            "What are you looking for?",
            "Type what you remember, like “birthday cake with candles” or “red car in the snow”, "
            "or drop a photo on this window to find similar ones.",
            icon("search").pixmap(64, 64),
        )
        self.no_results_page = MessagePage()
        self.waiting_page = MessagePage()
        self.view = ResultsView()
        self.view.setModel(self.model)
        self.view.setItemDelegate(self.delegate)
        self.view.open_requested.connect(self.open_current)
        self.view.preview_requested.connect(self.preview_current)
        self.view.copy_requested.connect(self.copy_selected_paths)
        self.view.leave_up.connect(self.focus_search)
        self.view.customContextMenuRequested.connect(self._context_menu)
        for page in (self.loading_page, self.welcome_page, self.hint_page, self.view,
                     self.no_results_page, self.waiting_page):
            self.stack.addWidget(page)
        outer.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        self.overlay = DropOverlay(central)

        status = self.statusBar()
        status.setSizeGripEnabled(True)
        self.message_icon = QLabel()
        self.message_label = QLabel()
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.index_status = IndexStatus()
        self.index_status.hide()
        self.index_status.pause_clicked.connect(self.controller.pause)
        self.index_status.resume_clicked.connect(self.controller.resume)
        self.index_status.cancel_clicked.connect(self.controller.cancel_indexing)
        self.count_label = QLabel()
        self.model_label = QLabel()
        self.model_label.setToolTip("The model that understands photos and queries")
        status.addWidget(self.message_icon)
        status.addWidget(self.message_label, 1)
        status.addWidget(self.index_status)
        status.addPermanentWidget(self.count_label)
        status.addPermanentWidget(self.model_label)

    def _build_actions(self) -> None:
        menubar = self.menuBar()
        file_menu = menubar.addMenu("&File")
        self.add_folder_action = QAction(std(QStyle.StandardPixmap.SP_DirIcon), "&Add Folder…", self)
        self.add_folder_action.setShortcut(QKeySequence("Ctrl+Shift+A"))
        self.add_folder_action.triggered.connect(lambda: self.add_folder(None))
        self.folders_action = QAction(icon("folders"), "&Folders…", self)
        self.folders_action.setShortcut(QKeySequence("Ctrl+L"))
        self.folders_action.triggered.connect(self.show_folders)
        self.example_action = QAction(icon("image-search"), "Search by &Example Photo…", self)
        self.example_action.setShortcut(QKeySequence("Ctrl+O"))
        self.example_action.triggered.connect(self.choose_example)
        self.settings_action = QAction(icon("settings"), "&Settings…", self)
        self.settings_action.setShortcut(QKeySequence("Ctrl+,"))
        self.settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        self.settings_action.triggered.connect(self.show_settings)
        quit_action = QAction("&Quit", self)
        # the platform's Quit keys, and Ctrl+Q where the platform names none (offscreen, some desktops)
        quit_keys = QKeySequence.keyBindings(QKeySequence.StandardKey.Quit)
        quit_action.setShortcuts(quit_keys or [QKeySequence("Ctrl+Q")])
        quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        quit_action.triggered.connect(self.close)
        for a in (self.add_folder_action, self.folders_action, None, self.example_action, None,
                  self.settings_action, None, quit_action):
            file_menu.addSeparator() if a is None else file_menu.addAction(a)

        edit_menu = menubar.addMenu("&Edit")
        find = QAction(icon("search"), "&Find", self)
        find.setShortcut(QKeySequence.StandardKey.Find)
        find.triggered.connect(self.focus_search)
        self.paste_action = QAction("&Paste Image as Example", self)
        self.paste_action.setShortcut(QKeySequence.StandardKey.Paste)
        self.paste_action.triggered.connect(self.paste_example)
        self.copy_action = QAction("&Copy Path", self)
        self.copy_action.triggered.connect(self.copy_selected_paths)
        clear = QAction("C&lear Search", self)
        clear.setShortcut(QKeySequence("Ctrl+K"))
        clear.triggered.connect(self.clear_search)
        for a in (find, self.paste_action, self.copy_action, clear):
            edit_menu.addAction(a)

        view_menu = menubar.addMenu("&View")
        self.score_action = QAction("Show &Relevance", self, checkable=True)
        self.score_action.setChecked(self.settings.show_score)
        self.score_action.toggled.connect(self._toggle_score)
        self.date_action = QAction("Show &Date (or Name)", self, checkable=True)
        self.date_action.setChecked(self.settings.show_date)
        self.date_action.toggled.connect(self._toggle_date)
        view_menu.addAction(self.score_action)
        view_menu.addAction(self.date_action)
        view_menu.addSeparator()
        self.sort_group = QActionGroup(self)
        for order, text in ((SortOrder.RELEVANCE, "Sort by &Relevance"), (SortOrder.NEWEST, "Sort by Date, &Newest First"),
                            (SortOrder.OLDEST, "Sort by Date, &Oldest First")):
            a = QAction(text, self, checkable=True)
            a.setData(order)
            a.triggered.connect(lambda _=False, o=order: self._apply_sort(o))
            self.sort_group.addAction(a)
            view_menu.addAction(a)
        view_menu.addSeparator()
        bigger = QAction("&Larger Thumbnails", self)
        bigger.setShortcut(QKeySequence.StandardKey.ZoomIn)
        bigger.triggered.connect(lambda: self.set_thumbnail_size(self.settings.thumbnail_size + 32))
        smaller = QAction("&Smaller Thumbnails", self)
        smaller.setShortcut(QKeySequence.StandardKey.ZoomOut)
        smaller.triggered.connect(lambda: self.set_thumbnail_size(self.settings.thumbnail_size - 32))
        view_menu.addAction(bigger)
        view_menu.addAction(smaller)

        index_menu = menubar.addMenu("&Index")
        self.rescan_action = QAction(std(QStyle.StandardPixmap.SP_BrowserReload), "&Rescan All Folders", self)
        self.rescan_action.setShortcut(QKeySequence("Ctrl+R"))
        self.rescan_action.triggered.connect(lambda: self.controller.rescan())
        self.pause_action = QAction(std(QStyle.StandardPixmap.SP_MediaPause), "&Pause Indexing", self)
        self.pause_action.triggered.connect(self._toggle_pause)
        self.stop_action = QAction(std(QStyle.StandardPixmap.SP_MediaStop), "&Stop Indexing", self)
        self.stop_action.triggered.connect(self.controller.cancel_indexing)
        for a in (self.rescan_action, self.pause_action, self.stop_action):
            index_menu.addAction(a)
        self.pause_action.setEnabled(False)
        self.stop_action.setEnabled(False)

        help_menu = menubar.addMenu("&Help")
        about = QAction(f"&About {APP_NAME}", self)
        about.setMenuRole(QAction.MenuRole.AboutRole)
        about.triggered.connect(self._about)
        help_menu.addAction(about)

        # the results grid's own context menu actions
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

    def _connect_controller(self) -> None:
        c = self.controller
        c.opened.connect(self._library_opened)
        c.open_failed.connect(self._open_failed)
        c.model_switch_failed.connect(self._model_switch_failed)
        c.model_state.connect(self._model_state)
        c.folders_changed.connect(self._folders_changed)
        c.status_changed.connect(self._status_changed)
        c.job_started.connect(self._job_started)
        c.job_progress.connect(self._job_progress)
        c.job_finished.connect(self._job_finished)
        c.library_changed.connect(self._library_changed)
        c.results_ready.connect(self._results_ready)
        c.search_failed.connect(lambda text: self.notify(text, "error"))
        c.message.connect(self.notify)
        c.watch_status.connect(self._watch_status)
        c.paused_changed.connect(self._paused_changed)
        c.stopped.connect(self._controller_stopped)

    # == start-up ==================================================================================
    def start(self, query: str | None = None, examples: Sequence[str] = ()) -> None:
        """Open the library in the background; run ``query`` (and examples) once possible."""
        if query:
            self.search_field.blockSignals(True)
            self.search_field.setText(query)
            self.search_field.blockSignals(False)
        for path in examples[:1]:
            self.set_example_file(path, run=False)
        self.controller.open(self.library_root, self.model_name, self.settings.device_or_none())

    def _library_opened(self) -> None:
        lib = self.controller.lib
        assert lib is not None
        self.controller.set_global_exclusions(self.settings.excluded_folders)
        self._folders = self.controller.folders()
        self._show_default_page()
        if self.current_query_parts_present():
            # what was typed (and entered) while the library opened runs now
            self.run_search(force=True)

    def _open_failed(self, text: str) -> None:
        self._open_error = text
        body = text.removeprefix("Cannot open the library: ")  # the page's title says that already
        self.loading_page.set_content("The library cannot be opened", body, std(QStyle.StandardPixmap.SP_MessageBoxCritical).pixmap(64, 64))
        # nothing that needs the library can work now: say so by disabling it, not by failing later
        for action in (self.add_folder_action, self.folders_action, self.example_action, self.rescan_action,
                       self.pause_action, self.stop_action, self.paste_action):
            action.setEnabled(False)
        self.search_field.setEnabled(False)
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

    def _model_state(self, state: str, text: str) -> None:
        if state == "loading":
            self.model_label.setText("Loading model…")
        elif state == "ready":
            self.model_label.setText(f"Model: {text}")
            if self.message_label.text() == WAITING_FOR_MODEL:  # no longer true: say nothing stale
                self._message_timer.stop()
                self._restore_idle_message()
            if self.stack.currentIndex() == Page.WAITING:
                self.waiting_page.set_content("Searching…", "")
        else:
            self.model_label.setText("Model unavailable")
            self.model_label.setToolTip(text)
            self.notify(text, "error", timeout_ms=0)
            if self.stack.currentIndex() == Page.WAITING:
                self.waiting_page.set_content("Search is unavailable", text)

    # == pages =====================================================================================
    def _show_page(self, page: int) -> None:
        self.stack.setCurrentIndex(page)
        searching = page not in (Page.LOADING, Page.WELCOME)
        self.sort_combo.setEnabled(searching)
        self.cutoff_slider.setEnabled(searching)

    def _show_default_page(self) -> None:
        if self.controller.lib is None:
            self._show_page(Page.LOADING)
        elif not self._folders and not self.controller.writer_kind:
            self._show_page(Page.WELCOME)
        elif self.current_query_parts_present():
            if self._shown_query is not None and self.model.rowCount():
                self._show_page(Page.RESULTS)
            elif self.stack.currentIndex() in (Page.LOADING, Page.WELCOME, Page.HINT):
                # a search is on its way: never leave "Opening your library…" up meanwhile
                self.waiting_page.set_content("Searching…", "")
                self._show_page(Page.WAITING)
        else:
            self._show_page(Page.HINT)

    # == search ====================================================================================
    def current_query_parts_present(self) -> bool:
        return bool(self.search_field.text().strip()) or self._example is not None

    def build_query(self) -> SearchQuery:
        text = self.search_field.text().strip() or None
        image_paths: tuple[str, ...] = ()
        photo_ids: tuple[int, ...] = ()
        if self._example is not None:
            image_paths, photo_ids = self._example.query_parts()
        return SearchQuery(text=text, image_paths=image_paths, photo_ids=photo_ids, limit=self._limit)

    def _text_changed(self, _: str) -> None:
        self._debounce.start()

    def _return_pressed(self) -> None:
        self._debounce.stop()
        self.run_search(force=True)
        if self.controller.search_pending or self.controller.lib is None:
            # the results on the grid are the previous search's: select the first of the new ones
            # when they arrive (Space and Enter then act on them), not one of these
            self._select_first_when_shown = True
            return
        if self.model.rowCount():
            self.view.setFocus()
            if not self.view.currentIndex().isValid():
                self.view.setCurrentIndex(self.model.index(0, 0))

    def run_search(self, force: bool = False, *, keep_limit: bool = False) -> None:
        """Search for what is in the field and the example chip (debounced callers end here)."""
        self._debounce.stop()
        if not keep_limit:
            self._limit = self.settings.results_per_page
        query = self.build_query()
        last = self._last_submitted
        if (not force and last is not None and last.text == query.text and last.image_paths == query.image_paths
                and last.photo_ids == query.photo_ids and last.limit == query.limit):
            return
        if query.is_empty:
            self._last_submitted = query
            self._shown_query = None
            self.model.clear()
            self.controller.search(query)
            self._show_default_page()
            self._update_count_text()  # the library's summary again, not the last search's count
            self._restore_idle_message()
            return
        if self.controller.lib is None:
            # runs when the library is open (_library_opened); not yet submitted, so that the same
            # query then is not taken for one already running (it was, and the first search was lost)
            self._last_submitted = None
            return
        self._last_submitted = query
        if not self.controller.model_ready:
            if self.controller.model_error:
                self.waiting_page.set_content("Search is unavailable", self.controller.model_error)
                self.notify(self.controller.model_error, "error")
            else:
                self.waiting_page.set_content("Loading model…", "Your search runs as soon as the model is ready.")
                self.notify(WAITING_FOR_MODEL)
            if not self.model.rowCount():
                self._show_page(Page.WAITING)
        self.controller.search(query)

    def _results_ready(self, query: SearchQuery, results: list[SearchResult], more: bool) -> None:
        if query.is_empty:
            return
        same = (self._shown_query is not None and self._shown_query.text == query.text
                and self._shown_query.image_paths == query.image_paths
                and self._shown_query.photo_ids == query.photo_ids)
        selected = self.selected_results()
        current = self.current_result()
        scroll = self.view.verticalScrollBar().value()
        self._shown_query = query
        select_first, self._select_first_when_shown = self._select_first_when_shown, False
        self._more_results = more
        self.model.set_results(results, more_available=more, same_query=same)
        if same:
            # the same search again (the library changed, or the next page): keep the user's place
            self._reselect(selected, current)
            self.view.verticalScrollBar().setValue(scroll)
            self._refresh_preview()
        else:
            self.view.scrollToTop()
            self.loader.cancel_pending()
        if results:
            self._show_page(Page.RESULTS)
            if select_first and not self.view.currentIndex().isValid():
                self.view.setFocus()
                self.view.setCurrentIndex(self.model.index(0, 0))
        else:
            title, detail = self._no_results_text(query)
            self.no_results_page.set_content(title, detail, icon("search").pixmap(56, 56))
            self._show_page(Page.NO_RESULTS)
        self._update_count_text()
        self.results_shown.emit()

    def _reselect(self, selected: list[SearchResult], current: SearchResult | None) -> QModelIndex | None:
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

    def _no_results_text(self, query: SearchQuery) -> tuple[str, str]:
        """Title and advice for an empty result: an empty library is not a query that missed."""
        status = self._status
        if status is not None and status.indexed == 0:
            if status.pending:
                return ("Your photos are still being indexed",
                        f"{status.pending:,} photos wait for indexing; results appear as they are done.")
            if not status.folders:
                return ("Your library has no photos yet", "Add a folder of photos (Folders…) to search it.")
            return ("No photos are indexed", "Your folders hold no photos that could be read (Folders… ▸ Problems…).")
        what = f"“{query.text}”" if query.text else "this example"
        return ("No matching photos",
                f"Nothing in your library matches {what}. Try other words, or check that your folders "
                "are indexed (Folders…).")

    def _fetch_more(self) -> None:
        if self._shown_query is None:
            return
        self._limit = self._shown_query.limit + self.settings.results_per_page
        self.run_search(force=True, keep_limit=True)

    def _library_changed(self) -> None:
        self._folders = self.controller.folders()
        if self._shown_query is not None:
            self._last_submitted = None
            self._limit = max(self._limit, self._shown_query.limit)
            self.run_search(force=True, keep_limit=True)
        else:
            self._show_default_page()

    def clear_search(self) -> None:
        self.search_field.clear()
        self.clear_example()
        self.focus_search()

    def focus_search(self) -> None:
        self.search_field.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_field.selectAll()

    # -- sort and cutoff -------------------------------------------------------------------------
    def _apply_sort(self, order: SortOrder) -> None:
        current, selected = self.current_result(), self.selected_results()
        self.model.set_sort_order(order)
        index = self._reselect(selected, current)  # the same photos stay selected, the current one in view
        if index is not None:
            self.view.scrollTo(index)
        i = self.sort_combo.findData(order)
        if i >= 0 and self.sort_combo.currentIndex() != i:
            self.sort_combo.blockSignals(True)
            self.sort_combo.setCurrentIndex(i)
            self.sort_combo.blockSignals(False)
        for a in self.sort_group.actions():
            a.setChecked(a.data() == order)
        if self.settings.sort_order != order.value:
            self.settings.sort_order = order.value
            self._save_settings()
        self._update_count_text()

    def _cutoff_changed(self, value: int) -> None:
        self.model.set_cutoff(value / 100.0)
        threshold = self.model.cutoff_score()
        hidden = self.model.hidden_count()
        self.cutoff_slider.setToolTip(
            "Relevance cutoff: slide right to hide weaker matches"
            + (f"\n{value}% of the way from the weakest to the best match shown: "
               f"{counted(hidden, 'weaker result')} hidden (relevance below {threshold:.2f})" if threshold is not None else "")
        )
        self._update_count_text()

    def _update_count_text(self) -> None:
        if self._shown_query is None:
            self._set_idle_message(self._library_summary())
            return
        shown = self.model.rowCount()
        hidden = self.model.hidden_count()
        loaded = shown + hidden
        total = self._search_total(self._shown_query)
        if self._more_results and total is not None and total > loaded:
            # a page is loaded (more come on scrolling): never give the page for the total
            text = f"{loaded:,} of {counted(total, 'result')}"
        else:
            text = counted(loaded, "result")
        if hidden:
            text += f" ({hidden:,} hidden by the cutoff)"
        self._set_idle_message(text)

    def _search_total(self, query: SearchQuery) -> int | None:
        """How many photos a search of the window ranks: every indexed photo but the example
        photos themselves (the window filters by neither folder nor date nor score)."""
        if self._status is None:
            return None
        return max(0, self._status.indexed - len(set(query.photo_ids)))

    # == examples ==================================================================================
    def set_example_file(self, path: str, run: bool = True) -> bool:
        """Use an image file as the example (drop, paste, file dialog, command line)."""
        if not os.path.isfile(path):
            self.notify(f"Cannot use {path} as an example: the file does not exist", "error")
            return False
        if Path(path).suffix.lower() not in IMAGE_SUFFIXES:
            self.notify(f"{os.path.basename(path)} is not a photo Desktop Search can read", "error")
            return False
        size = os.path.getsize(path)
        self._example = Example(path, None, size)
        pasted = self._paste_dir is not None and path.startswith(self._paste_dir)
        self.chip.set_example("Pasted image" if pasted else os.path.basename(path),
                              "Searching for photos like this one" + ("" if pasted else f":\n{path}"), None)
        self._request_chip_thumbnail()
        if run:
            self.run_search()
        return True

    def set_example_photo(self, result: SearchResult, run: bool = True) -> None:
        """Find photos similar to a library photo (uses its stored vector)."""
        self._example = Example(result.path, result.photo_id, result.size)
        self.chip.set_example(os.path.basename(result.path), f"Photos like {result.path}", None)
        self._request_chip_thumbnail(result.thumbnail_path)
        if run:
            self.run_search()

    def clear_example(self) -> None:
        if self._example is None:
            return
        self._example = None
        self.chip.hide()
        self.run_search()

    @property
    def example(self) -> Example | None:
        return self._example

    def _chip_key(self) -> ThumbKey | None:
        if self._example is None:
            return None
        return self.loader.key_for(self._example.path, self._example.size)

    def _request_chip_thumbnail(self, thumbnail_path: str | None = None) -> None:
        key = self._chip_key()
        if key is not None:
            pix = self.loader.request(key, thumbnail_path, key.path)
            if pix is not None:
                self.chip.set_pixmap(pix)

    def choose_example(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose an Example Photo", pictures_folder() or os.path.expanduser("~"),
                                              IMAGE_FILTER)
        if path:
            self.set_example_file(path)

    def example_from_mime(self, mime: QMimeData) -> str | None:
        """A local image file from dropped/pasted data (an image's pixels are saved to a temporary
        file for the core); None when there is none."""
        if mime.hasUrls():
            for url in mime.urls():
                if url.isLocalFile():
                    path = url.toLocalFile()
                    if Path(path).suffix.lower() in IMAGE_SUFFIXES and os.path.isfile(path):
                        return path
        if mime.hasImage():
            image = mime.imageData()
            if isinstance(image, QImage) and not image.isNull():
                return self._save_pasted(image)
        return None

    @staticmethod
    def mime_has_image(mime: QMimeData) -> bool:
        if mime.hasImage():
            return True
        return any(url.isLocalFile() and Path(url.toLocalFile()).suffix.lower() in IMAGE_SUFFIXES
                   for url in mime.urls()) if mime.hasUrls() else False

    def _save_pasted(self, image: QImage) -> str | None:
        if self._paste_dir is None:
            self._paste_dir = tempfile.mkdtemp(prefix="desktop-search-paste-")
        path = os.path.join(self._paste_dir, f"pasted-{time.strftime('%Y%m%d-%H%M%S')}-{id(image) & 0xFFFF:04x}.png")
        if not image.save(path, "PNG"):  # type: ignore[call-overload]  # PySide6 stub: format (const char*) also takes str
            self.notify("The pasted image could not be saved for searching", "error")
            return None
        return path

    def paste_example(self) -> None:
        mime = QGuiApplication.clipboard().mimeData()
        path = self.example_from_mime(mime) if mime is not None else None
        if path is None:
            self.notify("The clipboard holds no image to search with", "warning")
            return
        self.set_example_file(path)

    # -- drag and drop ---------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self.mime_has_image(event.mimeData()):
            event.setDropAction(Qt.DropAction.CopyAction)
            event.accept()
            self._show_overlay(True)
        elif event.mimeData().hasUrls():
            event.ignore()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if self.mime_has_image(event.mimeData()):
            event.setDropAction(Qt.DropAction.CopyAction)
            event.accept()
        else:
            super().dragMoveEvent(event)

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self._show_overlay(False)
        super().dragLeaveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        self._show_overlay(False)
        mime = event.mimeData()
        path = self.example_from_mime(mime)
        if path is None:
            if mime.hasUrls() and any(not u.isLocalFile() for u in mime.urls()):
                self.notify("Only photos on this computer can be used as examples", "warning")
            else:
                self.notify("That is not a photo Desktop Search can read", "warning")
            event.ignore()
            return
        event.setDropAction(Qt.DropAction.CopyAction)
        event.accept()
        self.set_example_file(path)

    def _show_overlay(self, visible: bool) -> None:
        if visible:
            self.overlay.setGeometry(cast(QWidget, self.centralWidget()).rect())  # set in __init__
            self.overlay.raise_()
            self.overlay.show()
        else:
            self.overlay.hide()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.search_field:
            etype = event.type()
            if etype in (QEvent.Type.DragEnter, QEvent.Type.DragMove) and isinstance(event, QDragMoveEvent) \
                    and self.mime_has_image(event.mimeData()):
                event.setDropAction(Qt.DropAction.CopyAction)
                event.accept()
                if etype == QEvent.Type.DragEnter:
                    self._show_overlay(True)
                return True
            if etype == QEvent.Type.Drop and isinstance(event, QDropEvent) and self.mime_has_image(event.mimeData()):
                self.dropEvent(event)
                return True
            if etype == QEvent.Type.DragLeave:
                self._show_overlay(False)
            if etype == QEvent.Type.KeyPress:
                key_event: QKeyEvent = event  # type: ignore[assignment]
                if key_event.matches(QKeySequence.StandardKey.Paste):
                    mime = QGuiApplication.clipboard().mimeData()
                    if mime is not None and self.mime_has_image(mime) and not mime.hasText():
                        self.paste_example()
                        return True
                    if mime is not None and mime.hasUrls() and self.mime_has_image(mime):
                        self.paste_example()
                        return True
                if key_event.key() == Qt.Key.Key_Down and self.model.rowCount() and \
                        self.stack.currentIndex() == Page.RESULTS:
                    self.view.setFocus()
                    if not self.view.currentIndex().isValid():
                        self.view.setCurrentIndex(self.model.index(0, 0))
                    return True
                if key_event.key() == Qt.Key.Key_Escape and self.search_field.text():
                    self.search_field.clear()
                    return True
        return super().eventFilter(watched, event)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.overlay.isVisible():
            self.overlay.setGeometry(cast(QWidget, self.centralWidget()).rect())  # set in __init__

    # == results actions ===========================================================================
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
            self.notify(f"{result.path} no longer exists (moved or deleted?)", "error")
            return
        if not desktop.open_file(result.path):
            self.notify(f"No application is set up to open {os.path.basename(result.path)}", "error")

    def reveal_current(self, result: SearchResult | None = None) -> None:
        result = result if isinstance(result, SearchResult) else self.current_result()
        if result is None:
            return
        if not desktop.reveal_in_file_manager(result.path):
            self.notify("The file manager could not be opened", "error")

    def copy_selected_paths(self) -> None:
        results = self.selected_results()
        if results:
            desktop.copy_paths([r.path for r in results])
            self.notify(f"Copied {counted(len(results), 'path')}" if len(results) > 1
                        else f"Copied {results[0].path}")

    def find_similar_current(self, result: SearchResult | None = None) -> None:
        result = result if isinstance(result, SearchResult) else self.current_result()
        if result is not None:
            # "like this photo": the typed words would otherwise keep steering the results
            self.search_field.blockSignals(True)
            self.search_field.clear()
            self.search_field.blockSignals(False)
            self.set_example_photo(result)
            if self._preview is not None:
                self._preview.close()

    def preview_current(self) -> None:
        result = self.current_result()
        if result is None:
            return
        if self._preview is None:
            self._preview = PreviewDialog(self.controller.jobs, self)
            self._preview.open_requested.connect(self.open_current)
            self._preview.reveal_requested.connect(self.reveal_current)
            self._preview.find_similar.connect(self.find_similar_current)
            self._preview.navigate.connect(self._preview_step)
        self._preview.show_result(result)
        self._preview.show()
        self._preview.raise_()
        self._preview.activateWindow()

    def _refresh_preview(self) -> None:
        """The library changed under an open preview: show its photo as it is now (renamed or moved:
        the new name and path), or close it when the photo left the library."""
        preview = self._preview
        shown = preview.result if preview is not None and preview.isVisible() else None
        if preview is None or shown is None:
            return
        row = self.model.row_of(shown.photo_id)
        now = self.model.result(row) if row >= 0 else None
        if now is None:
            preview.close()
            self.notify(f"{os.path.basename(shown.path)} is no longer in the library", "warning")
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
            if result is not None and self._preview is not None:
                self._preview.show_result(result)

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
        menu = QMenu(self)
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

    # == thumbnails ================================================================================
    def _thumbnails_ready(self, keys: list[ThumbKey]) -> None:
        self.view.viewport().update()
        chip_key = self._chip_key()
        if chip_key is not None and chip_key in keys:
            self.chip.set_pixmap(self.loader.cached(chip_key))

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

    def set_thumbnail_size(self, side: int) -> None:
        lo, hi = settings_mod.THUMBNAIL_SIZES
        side = min(hi, max(lo, side))
        self.settings.thumbnail_size = side
        dpr = self.devicePixelRatioF() or 1.0
        self.loader.set_side(round(side * dpr), dpr)
        self.delegate.side = side
        self._update_grid()
        self._save_settings()

    def _update_grid(self) -> None:
        cell = self.delegate.cell_size(self.view.fontMetrics())
        self.view.set_cell_size(cell + QSize(6, 6))
        self.view.doItemsLayout()
        self.view.viewport().update()

    def _toggle_score(self, on: bool) -> None:
        self.delegate.show_score = on
        self.settings.show_score = on
        self._update_grid()
        self._save_settings()

    def _toggle_date(self, on: bool) -> None:
        self.delegate.show_date = on
        self.settings.show_date = on
        self._update_grid()
        self._save_settings()

    # == folders and settings ======================================================================
    def add_folder(self, path: str | None) -> None:
        path = path or choose_folder(self)
        if not path:
            return
        if self.controller.lib is None:
            self.notify(self._open_error or "The library is still opening; try again in a moment",
                        "error" if self._open_error else "warning")
            return
        if any(f.path == normalise(path) for f in self._folders):
            self.notify(f"{path} is already in the library; Index ▸ Rescan All Folders looks for changes")
            return
        self.controller.add_folder(path)
        self._show_page(Page.HINT if not self.current_query_parts_present() else self.stack.currentIndex())

    def show_folders(self) -> None:
        if self.controller.lib is None:
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

        if self.controller.lib is not None:  # the library's own model is the one in use
            self.settings.model = self.controller.lib.model_name
        dialog = SettingsDialog(self.settings, self)
        if dialog.exec() == SettingsDialog.DialogCode.Accepted:
            self.apply_settings(dialog.settings())

    def apply_settings(self, new: Settings) -> None:
        old = self.settings
        self.settings = new
        if new.thumbnail_size != old.thumbnail_size:
            self.set_thumbnail_size(new.thumbnail_size)
        if new.results_per_page != old.results_per_page:
            self._limit = new.results_per_page
            if self._shown_query is not None:  # the page size shows at once, not at the next search
                self.run_search(force=True)
        if new.excluded_folders != old.excluded_folders:
            self.controller.set_global_exclusions(new.excluded_folders)
        if new.watch_folders != old.watch_folders:
            self.controller.set_watching(new.watch_folders)
        if new.model != old.model:
            self.controller.set_model(new.model)
        if new.device != old.device:
            self.notify("The new device is used the next time Desktop Search starts")
        self._save_settings()

    def _remember_geometry(self) -> None:
        geometry = bytes(self.saveGeometry().toBase64().data()).decode("ascii")
        if geometry != self.settings.window_geometry:
            self.settings = dataclasses.replace(self.settings, window_geometry=geometry)
            self._save_settings()

    def _save_settings(self) -> None:
        try:
            settings_mod.save(self.settings, self.settings_path)
        except OSError as exc:
            self.notify(f"Settings could not be saved: {exc.strerror or exc}", "error")

    # == status bar ================================================================================
    def notify(self, text: str, level: str = "info", timeout_ms: int = 6000) -> None:
        """Show a message in the status bar; errors and warnings get an icon."""
        icons = {"error": QStyle.StandardPixmap.SP_MessageBoxCritical,
                 "warning": QStyle.StandardPixmap.SP_MessageBoxWarning}
        if level in icons:
            self.message_icon.setPixmap(std(icons[level]).pixmap(16, 16))
            self.message_icon.show()
            log.warning("%s", text)
        else:
            self.message_icon.hide()
        self.message_label.setText(text)
        self.message_label.setToolTip(text)
        if timeout_ms:
            self._message_timer.start(max(timeout_ms, 8000) if level == "error" else timeout_ms)
        else:
            self._message_timer.stop()

    def _set_idle_message(self, text: str) -> None:
        self._idle_text = text
        if not self._message_timer.isActive() and not self.index_status.isVisible():
            self._restore_idle_message()

    def _restore_idle_message(self) -> None:
        if self.index_status.isVisible() and self.controller.last_progress is not None:
            self.message_icon.hide()
            self.message_label.setText(describe_progress(self.controller.last_progress, self.controller.paused))
            return
        self.message_icon.hide()
        self.message_label.setText(self._idle_text)
        self.message_label.setToolTip("")

    def _library_summary(self) -> str:
        s = self._status
        if s is None:
            return ""
        if not s.folders:
            return "No folders yet"
        return count_summary(s.indexed, 0, s.errors, folders=s.folders)

    def _folders_changed(self, folders: list[FolderInfo]) -> None:
        self._folders = folders
        if self.stack.currentIndex() in (Page.WELCOME, Page.HINT, Page.LOADING) and self.controller.lib is not None:
            self._show_default_page()

    def _status_changed(self, status: LibraryStatus) -> None:
        self._status = status
        text = f"Library: {counted(status.indexed, 'photo')}" if status.folders else ""
        tip = count_summary(status.indexed, status.pending, status.errors, folders=status.folders)
        if status.upgrading:
            text += f" · upgrading the model: {status.upgrading:,} to go"
            tip += (f"\nThe {status.model} model has new weights: {counted(status.upgrading, 'photo')} still to "
                    "re-embed in the background. Searches use the previous vectors until then.")
        self.count_label.setText(text)
        self.count_label.setToolTip(tip)
        if self._shown_query is None:
            self._set_idle_message(self._library_summary())

    def _job_started(self, kind: str, label: str) -> None:
        if kind in ("index", "changes"):
            self.index_status.set_progress(None)
            self.index_status.set_paused(self.controller.paused)
            self.index_status.show()
            self.pause_action.setEnabled(True)
            self.stop_action.setEnabled(True)
            self._message_timer.stop()
            self.message_icon.hide()
            self.message_label.setText(label)

    def _job_progress(self, event: IndexProgress) -> None:
        self.index_status.set_progress(event)
        # photos become searchable as they are indexed: refresh the results now and then
        now = time.monotonic()
        if event.phase == "embed" and event.done and now - self._last_live_refresh >= LIVE_REFRESH_S:
            self._last_live_refresh = now
            self.controller.refresh_counts()
            if self._shown_query is not None:
                self._last_submitted = None
                self.run_search(force=True, keep_limit=True)
        if not self._message_timer.isActive():
            self.message_icon.hide()
            self.message_label.setText(describe_progress(event, self.controller.paused))

    def _job_finished(self, kind: str, last: IndexProgress | None, error: str) -> None:
        if kind not in ("index", "changes"):
            return
        self.index_status.hide()
        self.pause_action.setEnabled(False)
        self.stop_action.setEnabled(False)
        if error:
            return  # the controller already reported it
        if last is not None and last.phase == "cancelled":
            self.notify("Indexing stopped. What was done is kept; the rest is indexed next time.", "info")
            return
        counts = last.counts if last is not None else None
        if counts is not None:
            parts = [f"{n:,} {word}" for n, word in ((counts.added, "added"), (counts.updated, "updated"),
                                                      (counts.moved, "moved"), (counts.removed, "removed"),
                                                      (counts.failed, "could not be read")) if n]
            if parts:
                self.notify(("Library updated: " if kind == "changes" else "Indexing finished: ") + ", ".join(parts),
                            "warning" if counts.failed and not (counts.added or counts.updated) else "info")
                return
        self._restore_idle_message()

    def _paused_changed(self, paused: bool) -> None:
        self.index_status.set_paused(paused)
        self.pause_action.setText("&Resume Indexing" if paused else "&Pause Indexing")
        self.pause_action.setIcon(std(QStyle.StandardPixmap.SP_MediaPlay if paused else QStyle.StandardPixmap.SP_MediaPause))
        if self.controller.last_progress is not None:
            self.message_label.setText(describe_progress(self.controller.last_progress, paused))
        elif paused:
            self.message_label.setText("Paused")

    def _toggle_pause(self) -> None:
        if self.controller.paused:
            self.controller.resume()
        else:
            self.controller.pause()

    def _watch_status(self, text: str) -> None:
        level = "warning" if ("unavailable" in text or "Cannot" in text) else "info"
        self.notify(text, level, timeout_ms=12000 if level == "warning" else 4000)

    def _about(self) -> None:
        QMessageBox.about(
            self,
            f"About {APP_NAME}",
            f"<h3>{APP_NAME} {__version__}</h3>"
            "<p>Find photos in your own library by what is in them: type what you remember, or give an "
            "example photo.</p><p>Everything runs on this computer; no photo leaves it.</p>",
        )

    # == closing ===================================================================================
    def closeEvent(self, event: QCloseEvent) -> None:
        """Stop background work first; the window closes once every thread has ended."""
        if self._closed:
            event.accept()
            return
        if not self._closing:
            self._remember_geometry()
        if self.controller.busy() or self.controller.watcher is not None or self.controller.lib is not None:
            event.ignore()
            if not self._closing:
                self._closing = True
                cast(QWidget, self.centralWidget()).setEnabled(False)  # set in __init__
                self.index_status.hide()
                self.notify("Stopping background work…", timeout_ms=0)
                # with nothing running, ``stopped`` arrives inside this call: a close() from within
                # closeEvent is ignored by Qt, so the window accepts this very event instead (it
                # used to stay open, greyed, until a second Ctrl+Q)
                self.controller.request_shutdown()
                if self._closed:
                    event.accept()
                    return
                # a batch in flight that does not finish in time is abandoned (see force_quit_s)
                QTimer.singleShot(int(self.force_quit_s * 1000), self._stop_waiting)
            return
        self._final_close()
        event.accept()

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
        self._debounce.stop()
        if self._preview is not None:
            self._preview.close()
        if self._folders_dialog is not None:
            self._folders_dialog.close()
        if self.problem_dialog is not None:
            self.problem_dialog.close()
        self.loader.shutdown()
        if self._paste_dir is not None:
            shutil.rmtree(self._paste_dir, ignore_errors=True)
            self._paste_dir = None

    def shutdown_now(self, timeout_s: float | None = None) -> bool:
        """Blocking shutdown (application quit, test teardown): join every thread."""
        ok = self.controller.shutdown_now(timeout_s)
        self._final_close()
        return ok

    @property
    def closed(self) -> bool:
        return self._closed

