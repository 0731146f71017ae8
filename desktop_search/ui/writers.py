"""The controller's writer side: the library's single writer, bridged from the Qt-free
:class:`~desktop_search.core.job_queue.WriterQueue` to workers and signals.

:class:`WriterBridge` is a part of :class:`~desktop_search.ui.controller.LibraryController` (a
mixin: the signals and the library are the controller's). The queue decides which task runs next,
which merge and what a cancel drops; this runs the next task on a worker, pauses and cancels it
through its token, and reports its life as ``job_started`` / ``job_progress`` / ``job_finished``
(and ``library_changed`` when the set of photos changed).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QTimer

from desktop_search.core.cancel import CancelToken
from desktop_search.core.errors import ModelUnavailable, describe_database_error
from desktop_search.core.job_queue import JobKind, WriterQueue, WriterTask, changes_library
from desktop_search.core.library.scanner import clean_exclusion
from desktop_search.core.types import FolderInfo, IndexCounts, IndexProgress

if TYPE_CHECKING:
    from PySide6.QtCore import SignalInstance

    from desktop_search.core.app import PhotoLibrary

    from .worker import Job, JobManager

log = logging.getLogger(__name__)


def user_message(exc: BaseException) -> str:
    """A one-line message for the status bar."""
    text = describe_database_error(exc, rebuild="open Desktop Search again") or str(exc).strip() or type(exc).__name__
    text = text.splitlines()[0]
    return text[:1].upper() + text[1:]


class WriterBridge:
    """Writer jobs of :class:`LibraryController`: indexing, applied changes, folder edits, model
    switches; pause, resume and cancel."""

    # the controller's (declared here for the type checker)
    lib: PhotoLibrary | None
    jobs: JobManager
    global_exclusions: list[str]
    last_progress: IndexProgress | None
    last_model_switch_error: str | None
    job_started: SignalInstance
    job_progress: SignalInstance
    job_finished: SignalInstance
    library_changed: SignalInstance
    message: SignalInstance
    model_state: SignalInstance
    model_switch_failed: SignalInstance
    paused_changed: SignalInstance
    _stopping: bool
    #: the setting ``read_text_in_photos``: run the text job after indexing (docs/TEXT.md)
    read_text_in_photos: bool = True

    def _init_writers(self) -> None:
        self._writers = WriterQueue()
        self._writer_job: Job | None = None
        self._paused = False
        self._failed_task: tuple[WriterTask, str] | None = None

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def writer_kind(self) -> JobKind | None:
        return self._writers.running_kind

    @property
    def indexing(self) -> bool:
        return self._writers.indexing

    def waiting_writers(self) -> list[JobKind]:
        """The kinds of the writer jobs waiting their turn, in order."""
        return self._writers.kinds()

    def refresh_counts(self) -> None:  # the controller's
        raise NotImplementedError

    def _maybe_stopped(self) -> None:  # the controller's
        raise NotImplementedError

    # -- writers -----------------------------------------------------------------------------------
    def _enqueue(self, task: WriterTask, *, merge: bool = False) -> None:
        """Queue a writer task (``merge``: under the queue's rules, see ``WriterQueue.push``)."""
        if self._stopping:
            return
        if task.kind != JobKind.TEXT:
            self._cancel_running_text()  # the text job gives way; it is queued again after this one (and resumes)
        if merge:
            if self._writers.push(task) is None:
                return
        else:
            self._writers.append(task)
        if self._writers.running is None:
            QTimer.singleShot(0, self._next_writer)

    def _next_writer(self) -> None:
        if self._stopping or self.lib is None:
            return
        task = self._writers.start_next()
        if task is None:
            return
        if self._paused:
            task.token.pause()
        self.last_progress = None
        self.job_started.emit(task.kind, task.label)
        self._writer_job = self.jobs.start(
            task.run,
            task.token,
            name=f"writer:{task.kind}",
            cancel_token=task.token,
            background=True,
            on_progress=self._writer_progress,
            on_result=lambda value, t=task: self._writer_result(t, value),  # type: ignore[misc]  # mypy#15459: lambda default arg
            on_error=lambda exc, t=task: self._writer_error(t, exc),  # type: ignore[misc]  # mypy#15459: lambda default arg
            on_finished=lambda t=task: self._writer_finished(t),  # type: ignore[misc]  # mypy#15459: lambda default arg
        )

    def _writer_progress(self, events: list[Any]) -> None:
        last = None
        for event in events:
            if isinstance(event, IndexProgress):
                if event.phase == "cancelled" and self.last_progress is not None:
                    # keep the counts of what was done before the job stopped
                    event = IndexProgress("cancelled", 0, 0, counts=self.last_progress.counts,
                                          message=event.message)
                last = event
                self.last_progress = event
        if last is not None:
            self.last_progress = last
            self.job_progress.emit(last)

    def _writer_result(self, task: WriterTask, value: Any) -> None:
        if task.on_done is not None:
            try:
                task.on_done(value)
            except Exception:
                log.exception("after %s", task.label)

    def _writer_error(self, task: WriterTask, exc: BaseException) -> None:
        task.paths.clear()
        self._failed_task = (task, user_message(exc))

    def _writer_finished(self, task: WriterTask) -> None:
        failed = self._failed_task
        error = failed[1] if failed is not None and failed[0] is task else ""
        self._failed_task = None
        job = self._writer_job
        self._writers.finish(task)
        self._writer_job = None
        last = self.last_progress
        if job is not None and job.cancelled and (last is None or last.phase != "cancelled"):
            counts = last.counts if last is not None else IndexCounts()
            last = IndexProgress("cancelled", 0, 0, counts=counts, message="Cancelled")
        if last is not None and last.phase == "cancelled":
            error = ""
        self.job_finished.emit(task.kind, last, error)
        if error:
            self.message.emit(f"{task.label.rstrip('.…')} failed: {error}", "error")
        changed = changes_library(task.kind, last.counts if last is not None else None)
        if task.kind in (JobKind.INDEX, JobKind.CHANGES) and not error:
            self.read_text()
        self.refresh_counts()
        if changed:
            self.library_changed.emit()
        if self._stopping:
            self._maybe_stopped()
            return
        QTimer.singleShot(0, self._next_writer)

    def read_text(self) -> None:
        """Queue the text job (reads the text in photos not read yet: docs/TEXT.md) unless it is
        turned off (``read_text_in_photos``), unavailable, or already queued."""
        lib = self.lib
        if lib is None or not self.read_text_in_photos or JobKind.TEXT in self._writers.kinds():
            return
        if not lib.text.can_read():
            return
        self._enqueue(WriterTask(JobKind.TEXT, "Reading text in photos…", lambda token: lib.text.read(token)))

    def stop_reading_text(self) -> None:
        """The setting was turned off: drop a waiting text job and stop the one running (it stops
        within a fraction of a second; what it read stays read, and the next text job resumes)."""
        self._writers.drop_kind(JobKind.TEXT)
        self._cancel_running_text()

    def _cancel_running_text(self) -> None:
        """Cancel the text job if it is the one running (what it read stays read)."""
        running = self._writers.running
        if running is not None and running.kind == JobKind.TEXT:
            running.token.cancel()

    def index(self, paths: Iterable[str] | None = None, label: str = "Indexing…") -> None:
        """Scan the watched folders (or only ``paths``) and embed what is new."""
        if self.lib is None:
            return
        lib = self.lib
        wanted = list(paths) if paths is not None else None
        # an identical scan already waiting covers this one (the queue's rule)
        self._enqueue(WriterTask(JobKind.INDEX, label, lambda token: lib.index(wanted, cancel=token), set(wanted or ())),
                      merge=True)

    def apply_changes(self, paths: Iterable[str]) -> None:
        """Re-examine these paths; merges with a change job that has not started yet."""
        if self.lib is None:
            return
        new = set(paths)
        if not new:
            return
        lib = self.lib
        task = WriterTask(JobKind.CHANGES, "Updating changed photos…", lambda token: None, new)
        # reads the paths when it runs: later batches merge into a waiting task (the queue's rule)
        task.run = lambda token, t=task: lib.apply_changes(sorted(t.paths), cancel=token)  # type: ignore[misc]  # mypy#15459: lambda default arg
        self._enqueue(task, merge=True)

    def add_folder(self, path: str, exclusions: Iterable[str] = ()) -> None:
        """Add a watched folder, then index it."""
        if self.lib is None:
            return
        lib = self.lib
        excl = list(dict.fromkeys([*exclusions, *self.global_exclusions]))

        def done(info: FolderInfo) -> None:
            self.message.emit(f"Added {info.path}", "info")
            self.index([info.path], label=f"Indexing {os.path.basename(info.path) or info.path}…")

        self._enqueue(WriterTask(JobKind.FOLDER, "Adding folder…", lambda token: lib.add_folder(path, excl), on_done=done))

    def remove_folder(self, path: str) -> None:
        if self.lib is None:
            return
        lib = self.lib

        def done(_: object) -> None:
            self.message.emit(f"Removed {path}; its photos are no longer searched", "info")

        # a scan of this folder that has not started yet is pointless now
        self._writers.drop_scans_of(path)
        self._enqueue(WriterTask(JobKind.FOLDER, "Removing folder…", lambda token: lib.remove_folder(path), on_done=done))

    def set_exclusions(self, path: str, exclusions: Iterable[str]) -> None:
        if self.lib is None:
            return
        lib = self.lib
        excl = list(exclusions)
        self._enqueue(WriterTask(JobKind.FOLDER, "Saving exclusions…", lambda token: lib.set_exclusions(path, excl),
                                 on_done=lambda _: self.index([path], label="Applying exclusions…")))

    def set_global_exclusions(self, exclusions: Iterable[str]) -> None:
        """Folders excluded everywhere (from the settings): merged into every folder's exclusions."""
        # compared in their stored form (as PhotoLibrary.set_exclusions keeps them)
        new = [e for e in dict.fromkeys(clean_exclusion(str(x)) for x in exclusions) if e]
        old = self.global_exclusions
        self.global_exclusions = new
        if self.lib is None or set(old) == set(new):
            return
        lib = self.lib

        def apply(token: CancelToken) -> list[str]:
            changed = []
            for folder in lib.folders():
                current = [e for e in folder.exclusions if e not in old]
                merged = list(dict.fromkeys([*current, *new]))
                if set(merged) != set(folder.exclusions):
                    lib.set_exclusions(folder.path, merged)
                    changed.append(folder.path)
            return changed

        def done(changed: list[str]) -> None:
            if changed:
                self.index(changed, label="Applying exclusions…")

        self._enqueue(WriterTask(JobKind.FOLDER, "Saving exclusions…", apply, on_done=done))

    def set_model(self, name: str) -> None:
        """Switch the library's model; the next index run re-embeds in the background while the
        old vectors keep answering searches."""
        if self.lib is None or name == self.lib.model_name:
            return
        lib = self.lib
        previous = lib.model_name

        def switch(_: object) -> str | None:
            """The library switches once the new model has loaded (a CLIP model downloads here);
            one that cannot be had leaves it on its model. Returns why not, or None."""
            try:
                lib.switch_model(name)
            except ModelUnavailable as exc:
                return str(exc)
            return None

        def done(failure: str | None) -> None:
            if failure:
                self.model_state.emit("ready", lib.model_name)
                text = f"Cannot switch to {name}: {failure}; still using {lib.model_name}"
                self.last_model_switch_error = text
                self.message.emit(text, "error")
                self.model_switch_failed.emit(previous)
                return
            self.model_state.emit("ready", f"{lib.model_name} (re-indexing)")
            self._enqueue(WriterTask(JobKind.INDEX, "Re-indexing with the new model…", lambda token: lib.index(None, cancel=token),
                                     on_done=lambda _: self.model_state.emit("ready", lib.model_name)))

        self._enqueue(WriterTask(JobKind.FOLDER, "Switching model…", switch, on_done=done))

    def rescan(self, paths: Iterable[str] | None = None) -> None:
        self.index(paths, label="Rescanning…")

    # -- pause / cancel ----------------------------------------------------------------------------
    def pause(self) -> None:
        if not self._paused:
            self._paused = True
            if self._writers.running is not None:
                self._writers.running.token.pause()
            self.paused_changed.emit(True)

    def resume(self) -> None:
        if self._paused:
            self._paused = False
            if self._writers.running is not None:
                self._writers.running.token.resume()
            self.paused_changed.emit(False)

    def cancel_indexing(self) -> None:
        """Stop the running job (what is done is kept; the rest is indexed next time) and drop
        queued scans."""
        self._writers.cancel_indexing()
        if self._writer_job is not None:
            self._writer_job.cancel()
        if self._paused:
            self.resume()
