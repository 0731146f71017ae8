"""The window's status bar: messages (with a level and a timeout), the idle summary or result
count under them, indexing progress with its buttons, the library's count and the model's name.

It words what the controller reports; the window tells it what the search on screen is.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QStatusBar, QStyle, QWidget

from desktop_search.core.job_queue import JobKind
from desktop_search.core.types import IndexProgress, LibraryStatus, count_summary
from desktop_search.core.wording import counted

from .icons import std
from .widgets import IndexStatus, describe_progress

if TYPE_CHECKING:
    from desktop_search.core.library.watcher import WatchStatus

    from .controller import LibraryController

log = logging.getLogger(__name__)

WAITING_FOR_MODEL = "Loading model… your search runs as soon as it is ready."
LEVEL_ICONS = {"error": QStyle.StandardPixmap.SP_MessageBoxCritical,
               "warning": QStyle.StandardPixmap.SP_MessageBoxWarning}


class StatusArea(QStatusBar):
    """The status bar of the main window."""

    def __init__(self, controller: LibraryController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.setSizeGripEnabled(True)
        self.message_icon = QLabel()
        self.message_label = QLabel()
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.index_status = IndexStatus()
        self.index_status.hide()
        self.index_status.pause_clicked.connect(controller.pause)
        self.index_status.resume_clicked.connect(controller.resume)
        self.index_status.cancel_clicked.connect(controller.cancel_indexing)
        self.count_label = QLabel()
        self.model_label = QLabel()
        self.model_label.setToolTip("The model that understands photos and queries")
        self.addWidget(self.message_icon)
        self.addWidget(self.message_label, 1)
        self.addWidget(self.index_status)
        self.addPermanentWidget(self.count_label)
        self.addPermanentWidget(self.model_label)
        #: a message is up until this fires; then the idle text comes back
        self.message_timer = QTimer(self)
        self.message_timer.setSingleShot(True)
        self.message_timer.timeout.connect(self.restore_idle_message)
        self._idle_text = ""
        self.library_status: LibraryStatus | None = None
        #: the background text job's progress words, shown beside the library's count (None: not running)
        self._text_progress: str | None = None
        #: the menu's pause and stop actions (on while indexing)
        self._job_actions: tuple[QAction, ...] = ()

    # -- messages ----------------------------------------------------------------------------------
    def notify(self, text: str, level: str = "info", timeout_ms: int = 6000) -> None:
        """Show a message; errors and warnings get an icon (and errors stay up at least 8 s)."""
        if level in LEVEL_ICONS:
            self.message_icon.setPixmap(std(LEVEL_ICONS[level]).pixmap(16, 16))
            self.message_icon.show()
            log.warning("%s", text)
        else:
            self.message_icon.hide()
        self.message_label.setText(text)
        self.message_label.setToolTip(text)
        if timeout_ms:
            self.message_timer.start(max(timeout_ms, 8000) if level == "error" else timeout_ms)
        else:
            self.message_timer.stop()

    def set_idle_message(self, text: str) -> None:
        """What the bar says when no message is up (the summary, a search's count)."""
        self._idle_text = text
        indexing = self.index_status.isVisible() and self._text_progress is None
        if not self.message_timer.isActive() and not indexing:
            self.restore_idle_message()

    def restore_idle_message(self) -> None:
        last = self.controller.last_progress
        if self.index_status.isVisible() and last is not None and self._text_progress is None:
            self.message_icon.hide()
            self.message_label.setText(describe_progress(last, self.controller.paused))
            return
        self.message_icon.hide()
        self.message_label.setText(self._idle_text)
        self.message_label.setToolTip("")

    def _say(self, text: str) -> None:
        self.message_icon.hide()
        self.message_label.setText(text)

    # -- the library -------------------------------------------------------------------------------
    def library_summary(self) -> str:
        s = self.library_status
        if s is None:
            return ""
        if not s.folders:
            return "No folders yet"
        return count_summary(s.indexed, 0, s.errors, folders=s.folders)

    def show_library_status(self, status: LibraryStatus) -> None:
        self.library_status = status
        self._show_counts()

    def _show_counts(self) -> None:
        status = self.library_status
        if status is None:
            self.count_label.setText(self._text_progress or "")
            return
        text = f"Library: {counted(status.indexed, 'photo')}" if status.folders else ""
        tip = count_summary(status.indexed, status.pending, status.errors, folders=status.folders)
        if status.upgrading:
            text += f" · upgrading the model: {status.upgrading:,} to go"
            tip += (f"\nThe {status.model} model has new weights: {counted(status.upgrading, 'photo')} still to "
                    "re-embed in the background. Searches use the previous vectors until then.")
        if self._text_progress:
            text += f" · {self._text_progress}"
            tip += f"\n{self._text_progress} (in the background, after indexing: words in photos become searchable)"
        self.count_label.setText(text)
        self.count_label.setToolTip(tip)

    def show_model_state(self, state: str, text: str) -> None:
        if state == "loading":
            self.model_label.setText("Loading model…")
        elif state == "ready":
            self.model_label.setText(f"Model: {text}")
            if self.message_label.text() == WAITING_FOR_MODEL:  # no longer true: say nothing stale
                self.message_timer.stop()
                self.restore_idle_message()
        else:
            self.model_label.setText("Model unavailable")
            self.model_label.setToolTip(text)
            self.notify(text, "error", timeout_ms=0)

    def show_watch_status(self, status: WatchStatus) -> None:
        """The watcher's news: a problem stays up longer and has the warning icon."""
        level = "warning" if status.is_problem else "info"
        self.notify(status.text, level, timeout_ms=12000 if status.is_problem else 4000)

    # -- indexing ----------------------------------------------------------------------------------
    def follow_jobs(self, pause: QAction, stop: QAction) -> None:
        """Show indexing jobs (progress, pause, stop) here and in these menu actions."""
        self._job_actions = (pause, stop)
        c = self.controller
        c.job_started.connect(self._job_started)
        c.job_progress.connect(self.job_progress)
        c.job_finished.connect(self._job_finished)
        c.paused_changed.connect(self.paused_changed)

    def _job_started(self, kind: str, label: str) -> None:
        if JobKind(kind).indexes:
            if JobKind(kind) == JobKind.TEXT:
                # the background text job never covers a message or the search's count: its progress
                # goes beside the library's count
                self._show_job_bar()
                self._text_progress = label
                self._show_counts()
            else:
                self.job_started(label)
            for action in self._job_actions:
                action.setEnabled(True)

    def _job_finished(self, kind: str, last: IndexProgress | None, error: str) -> None:
        if JobKind(kind).indexes:
            for action in self._job_actions:
                action.setEnabled(False)
            if JobKind(kind) == JobKind.TEXT:  # quietly: it stops to give way and runs again later
                self.index_status.hide()
                self._text_progress = None
                self._show_counts()
                if not error and not self.message_timer.isActive():
                    self.restore_idle_message()
                return
            self.job_finished(kind, last, error)

    def job_started(self, label: str) -> None:
        self._show_job_bar()
        self.message_timer.stop()
        self._say(label)

    def _show_job_bar(self) -> None:
        """The progress bar (busy until the job's first count) with its pause and stop buttons."""
        self.index_status.set_progress(None)
        self.index_status.set_paused(self.controller.paused)
        self.index_status.show()

    def job_progress(self, event: IndexProgress) -> None:
        self.index_status.set_progress(event)
        if event.phase == "text":
            self._text_progress = describe_progress(event, self.controller.paused)
            self._show_counts()
            return
        if not self.message_timer.isActive():
            self._say(describe_progress(event, self.controller.paused))

    def job_finished(self, kind: str, last: IndexProgress | None, error: str) -> None:
        """An indexing job ended: say what it did (an error the controller reported already)."""
        self.index_status.hide()
        if error:
            return
        if last is not None and last.phase == "cancelled":
            self.notify("Indexing stopped. What was done is kept; the rest is indexed next time.", "info")
            return
        counts = last.counts if last is not None else None
        if counts is not None:
            told = counts.summary(failed="could not be read")
            if told:
                self.notify(("Library updated: " if kind == "changes" else "Indexing finished: ") + told,
                            "warning" if counts.failed and not (counts.added or counts.updated) else "info")
                return
        self.restore_idle_message()

    def paused_changed(self, paused: bool) -> None:
        self.index_status.set_paused(paused)
        if self._job_actions:
            pause = self._job_actions[0]
            pause.setText("&Resume Indexing" if paused else "&Pause Indexing")
            pause.setIcon(std(QStyle.StandardPixmap.SP_MediaPlay if paused
                                           else QStyle.StandardPixmap.SP_MediaPause))
        last = self.controller.last_progress
        if self._text_progress is not None:
            if last is not None and last.phase == "text":
                self._text_progress = describe_progress(last, paused)
            self._show_counts()
        elif last is not None:
            self.message_label.setText(describe_progress(last, paused))
        elif paused:
            self.message_label.setText("Paused")

    def closing(self) -> None:
        self.index_status.hide()
        self.notify("Stopping background work…", timeout_ms=0)
