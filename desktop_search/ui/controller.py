"""Everything the window does with the library, off the GUI thread, in one QObject.

The controller owns the :class:`PhotoLibrary` and every background job:

* opening the library, then loading the model on a worker (``lib.load_model()``), then a
  reconciling ``lib.index()`` that catches what changed while the app was closed (after the first
  search when a query is waiting for the model);
* searches: at most one runs at a time; a newer query replaces any waiting one, and results of a
  query that is no longer current are dropped;
* writers (indexing, applied changes, folder edits) run one at a time from a queue, in order, since
  the library has a single writer; watcher batches that arrive while a writer runs are merged into
  one pending ``apply_changes`` job;
* live watching (:class:`FolderWatcher`): its callbacks run on the watcher's thread and only emit a
  queued signal;
* shutdown: :meth:`request_shutdown` cancels everything and emits ``stopped`` once every thread
  has ended, without blocking the event loop; :meth:`shutdown_now` blocks (for teardown paths).

Nothing here imports torch; ``desktop_search.core.app`` is imported when the library is opened.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal

from desktop_search.core.cancel import CancelToken
from desktop_search.core.errors import ModelUnavailable, describe_database_error
from desktop_search.core.library.scanner import clean_exclusion
from desktop_search.core.types import (
    FolderInfo,
    IndexCounts,
    IndexProgress,
    LibraryStatus,
    SearchQuery,
    SearchResult,
)

from .worker import Job, JobManager

if TYPE_CHECKING:
    from desktop_search.core.app import PhotoLibrary
    from desktop_search.core.library.watcher import ChangeBatch, FolderWatcher

log = logging.getLogger(__name__)


def user_message(exc: BaseException) -> str:
    """A one-line message for the status bar."""
    text = describe_database_error(exc, rebuild="open Desktop Search again") or str(exc).strip() or type(exc).__name__
    text = text.splitlines()[0]
    return text[:1].upper() + text[1:]


@dataclass
class WriterTask:
    """One unit of work for the library's single writer."""

    kind: str  # "index", "changes", "folder"
    label: str
    run: Callable[[CancelToken], Any]  # returns a value, or an iterator of IndexProgress
    paths: set[str] = field(default_factory=set)
    on_done: Callable[[Any], None] | None = None
    token: CancelToken = field(default_factory=CancelToken)


class LibraryController(QObject):
    opened = Signal()
    open_failed = Signal(str)
    #: a model switch failed (offline, missing weights): the library stays on this model name
    model_switch_failed = Signal(str)
    #: "loading", "ready" or "failed", plus a message
    model_state = Signal(str, str)
    folders_changed = Signal(list)
    status_changed = Signal(object)  # LibraryStatus
    #: a writer job started: its kind ("index", "changes", "folder") and a label
    job_started = Signal(str, str)
    job_progress = Signal(object)  # IndexProgress
    #: kind, the last IndexProgress (or None), an error message (or "")
    job_finished = Signal(str, object, str)
    #: the set of photos changed (a job added, removed or moved some): re-run the search
    library_changed = Signal()
    #: the query, its results, whether more may be available
    results_ready = Signal(object, list, bool)
    search_failed = Signal(str)
    #: a line for the status bar: text, level ("info", "warning", "error")
    message = Signal(str, str)
    watch_status = Signal(str)
    paused_changed = Signal(bool)
    busy_changed = Signal(bool)
    #: every background thread has ended after request_shutdown()
    stopped = Signal()

    _watch_batch = Signal(object)  # from the watcher's thread (queued)
    _watch_message = Signal(str)

    def __init__(
        self,
        *,
        watch: bool = True,
        watch_quiet_s: float = 1.0,
        poll_interval_s: float = 30.0,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.lib: PhotoLibrary | None = None
        self.jobs = JobManager(self)
        self.watch_enabled = watch
        self.watch_quiet_s = watch_quiet_s
        self.poll_interval_s = poll_interval_s
        self.watcher: FolderWatcher | None = None
        self.model_ready = False
        self.model_error: str | None = None
        #: why the last model switch failed, whole (the window shows it in a dialog)
        self.last_model_switch_error: str | None = None
        self.global_exclusions: list[str] = []
        self._writer_queue: list[WriterTask] = []
        self._writer: WriterTask | None = None
        self._writer_job: Job | None = None
        self._paused = False
        self._search_job: Job | None = None
        #: the catch-up scan waits for the first search (see _model_loaded)
        self._catch_up_after_search = False
        self._waiting_query: SearchQuery | None = None
        self._current_query: SearchQuery | None = None
        self._stopping = False
        self._stopped = False
        self.last_progress: IndexProgress | None = None
        self._folders: list[FolderInfo] = []
        self._status: LibraryStatus | None = None
        self._counts_job: Job | None = None
        self._counts_dirty = False
        self._watched: list[str] = []
        self._failed_task: tuple[WriterTask, str] | None = None
        self.jobs.jobs_changed.connect(self._jobs_changed)
        self._watch_batch.connect(self._on_watch_batch)
        self._watch_message.connect(self.watch_status)

    # -- state -----------------------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def writer_kind(self) -> str | None:
        return self._writer.kind if self._writer else None

    @property
    def indexing(self) -> bool:
        return self._writer is not None and self._writer.kind in ("index", "changes")

    def busy(self) -> bool:
        return self.jobs.busy()

    def folders(self) -> list[FolderInfo]:
        """The folders with their counts as last read (refreshed off the GUI thread after every
        job; ``folders_changed`` announces new figures)."""
        return list(self._folders)

    @property
    def library_status(self) -> LibraryStatus | None:
        return self._status

    # -- opening -----------------------------------------------------------------------------------
    def open(self, root: Path | str | None, model_name: str | None = None, device: str | None = None) -> None:
        """Open the library on a worker, then load the model, then reconcile and watch."""

        def _open() -> tuple[PhotoLibrary, list[FolderInfo], LibraryStatus]:
            from desktop_search.core.app import PhotoLibrary  # imports SQLAlchemy, numpy; not torch

            lib = PhotoLibrary.open(root, model_name=model_name, device=device)
            try:
                return lib, lib.folders(), lib.status()
            except BaseException:
                lib.close()
                raise

        self.jobs.start(_open, name="open-library", on_result=self._opened, on_error=self._open_error)

    def _opened(self, opened: tuple[PhotoLibrary, list[FolderInfo], LibraryStatus]) -> None:
        lib, folders, status = opened
        if self._stopping:
            lib.close()
            return
        self.lib = lib
        self._folders, self._status = folders, status
        self.opened.emit()
        self.folders_changed.emit(list(folders))
        self.status_changed.emit(status)
        self._load_model()
        self._start_watcher()

    def _open_error(self, exc: BaseException) -> None:
        self.open_failed.emit(f"Cannot open the library: {user_message(exc)}")

    def _load_model(self) -> None:
        assert self.lib is not None
        lib = self.lib
        self.model_state.emit("loading", "Loading model…")
        self.jobs.start(lib.load_model, name="load-model", background=True, on_result=self._model_loaded,
                        on_error=self._model_failed)

    def _model_loaded(self, _: object) -> None:
        if self.lib is None:
            return
        self.model_ready = True
        self.model_error = None
        warning = getattr(self.lib, "model_warning", None)
        self.model_state.emit("ready", self.lib.model_name)
        if warning:
            self.message.emit(warning[:1].upper() + warning[1:], "warning")
        # a query typed while the model loaded runs first; the catch-up with whatever changed while
        # the app was closed (a rescan of every file) starts when that search has ended, so the two
        # do not share the CPU on the way to the first results
        catch_up = bool(self._folders)
        if self._waiting_query is not None:
            self._start_search()
        if catch_up:
            if self._search_job is not None:
                self._catch_up_after_search = True
            else:
                self._catch_up()

    def _catch_up(self) -> None:
        self.index(label="Checking for changes…")
        self._warm_up_search()

    def _warm_up_search(self) -> None:
        """After the first search: what makes later searches of a large library fast (torch's int8
        kernel, see ``PhotoLibrary.warm_up_search``), imported on a worker."""
        lib = self.lib
        if lib is None or self._stopping or not hasattr(lib, "warm_up_search"):
            return
        self.jobs.start(lib.warm_up_search, name="warm-up-search", background=True,
                        on_error=lambda exc: log.warning("warming up the search failed: %s", exc))

    def _model_failed(self, exc: BaseException) -> None:
        self.model_ready = False
        self.model_error = user_message(exc)
        self.model_state.emit("failed", f"The model could not be loaded: {self.model_error}")

    # -- searching ---------------------------------------------------------------------------------
    def search(self, query: SearchQuery) -> None:
        """Run ``query`` as soon as possible; only the newest query counts."""
        self._current_query = query
        self._waiting_query = query
        if query.is_empty:
            self._waiting_query = None
            self.results_ready.emit(query, [], False)
            return
        if self.lib is None or not self.model_ready:
            return  # runs when the model is ready
        if self._search_job is None:
            self._start_search()

    @property
    def current_query(self) -> SearchQuery | None:
        return self._current_query

    @property
    def search_pending(self) -> bool:
        return self._waiting_query is not None or self._search_job is not None

    def _start_search(self) -> None:
        query, self._waiting_query = self._waiting_query, None
        if query is None or self.lib is None or self._stopping:
            return
        lib = self.lib
        self._search_job = self.jobs.start(
            lib.search,
            query,
            name="search",
            on_result=lambda results, q=query: self._search_done(q, results),  # type: ignore[misc]  # mypy#15459: lambda default arg
            on_error=lambda exc, q=query: self._search_error(q, exc),  # type: ignore[misc]  # mypy#15459: lambda default arg
            on_finished=self._search_finished,
        )

    def _search_done(self, query: SearchQuery, results: list[SearchResult]) -> None:
        if query is self._current_query and self._waiting_query is None:
            self.results_ready.emit(query, results, len(results) >= query.limit)

    def _search_error(self, query: SearchQuery, exc: BaseException) -> None:
        if query is self._current_query:
            self.search_failed.emit(f"Search failed: {user_message(exc)}")

    def _search_finished(self) -> None:
        self._search_job = None
        if self._catch_up_after_search:  # the first search after the model loaded has ended
            self._catch_up_after_search = False
            self._catch_up()
        if self._waiting_query is not None and not self._stopping:
            self._start_search()

    def refresh_search(self) -> None:
        """Run the current query again (the library changed)."""
        if self._current_query is not None and not self._current_query.is_empty:
            self.search(self._current_query)

    # -- writers -----------------------------------------------------------------------------------
    def _enqueue(self, task: WriterTask) -> None:
        if self._stopping:
            return
        self._writer_queue.append(task)
        if self._writer is None:
            QTimer.singleShot(0, self._next_writer)

    def _next_writer(self) -> None:
        if self._writer is not None or not self._writer_queue or self._stopping or self.lib is None:
            return
        task = self._writer_queue.pop(0)
        self._writer = task
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
        self._writer = None
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
        changed = task.kind == "folder" or (
            last is not None and any(
                getattr(last.counts, k, 0) for k in ("added", "updated", "moved", "removed", "embedded")
            )
        )
        self.refresh_counts()
        if changed:
            self.library_changed.emit()
        if self._stopping:
            self._maybe_stopped()
            return
        QTimer.singleShot(0, self._next_writer)

    def index(self, paths: Iterable[str] | None = None, label: str = "Indexing…") -> None:
        """Scan the watched folders (or only ``paths``) and embed what is new."""
        if self.lib is None:
            return
        lib = self.lib
        wanted = list(paths) if paths is not None else None
        # an identical scan already waiting covers this one
        for queued in self._writer_queue:
            if queued.kind == "index" and (queued.paths == set(wanted or ()) or not queued.paths):
                return
        self._enqueue(WriterTask("index", label, lambda token: lib.index(wanted, cancel=token), set(wanted or ())))

    def apply_changes(self, paths: Iterable[str]) -> None:
        """Re-examine these paths; merges with a change job that has not started yet."""
        if self.lib is None:
            return
        new = set(paths)
        if not new:
            return
        for queued in self._writer_queue:
            if queued.kind == "changes":
                queued.paths |= new
                return
        lib = self.lib
        task = WriterTask("changes", "Updating changed photos…", lambda token: None, new)
        task.run = lambda token, t=task: lib.apply_changes(sorted(t.paths), cancel=token)  # type: ignore[misc]  # mypy#15459: lambda default arg
        self._enqueue(task)

    def add_folder(self, path: str, exclusions: Iterable[str] = ()) -> None:
        """Add a watched folder, then index it."""
        if self.lib is None:
            return
        lib = self.lib
        excl = list(dict.fromkeys([*exclusions, *self.global_exclusions]))

        def done(info: FolderInfo) -> None:
            self.message.emit(f"Added {info.path}", "info")
            self.index([info.path], label=f"Indexing {os.path.basename(info.path) or info.path}…")

        self._enqueue(WriterTask("folder", "Adding folder…", lambda token: lib.add_folder(path, excl), on_done=done))

    def remove_folder(self, path: str) -> None:
        if self.lib is None:
            return
        lib = self.lib

        def done(_: object) -> None:
            self.message.emit(f"Removed {path}; its photos are no longer searched", "info")

        # a scan of this folder that has not started yet is pointless now
        self._writer_queue = [t for t in self._writer_queue if not (t.kind == "index" and t.paths == {path})]
        self._enqueue(WriterTask("folder", "Removing folder…", lambda token: lib.remove_folder(path), on_done=done))

    def set_exclusions(self, path: str, exclusions: Iterable[str]) -> None:
        if self.lib is None:
            return
        lib = self.lib
        excl = list(exclusions)
        self._enqueue(WriterTask("folder", "Saving exclusions…", lambda token: lib.set_exclusions(path, excl),
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

        self._enqueue(WriterTask("folder", "Saving exclusions…", apply, on_done=done))

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
            self._enqueue(WriterTask("index", "Re-indexing with the new model…", lambda token: lib.index(None, cancel=token),
                                     on_done=lambda _: self.model_state.emit("ready", lib.model_name)))

        self._enqueue(WriterTask("folder", "Switching model…", switch, on_done=done))

    def rescan(self, paths: Iterable[str] | None = None) -> None:
        self.index(paths, label="Rescanning…")

    # -- pause / cancel ----------------------------------------------------------------------------
    def pause(self) -> None:
        if not self._paused:
            self._paused = True
            if self._writer is not None:
                self._writer.token.pause()
            self.paused_changed.emit(True)

    def resume(self) -> None:
        if self._paused:
            self._paused = False
            if self._writer is not None:
                self._writer.token.resume()
            self.paused_changed.emit(False)

    def cancel_indexing(self) -> None:
        """Stop the running job (what is done is kept; the rest is indexed next time) and drop
        queued scans."""
        self._writer_queue = [t for t in self._writer_queue if t.kind not in ("index", "changes")]
        if self._writer_job is not None:
            self._writer_job.cancel()
        if self._paused:
            self.resume()

    # -- counts ------------------------------------------------------------------------------------
    def refresh_counts(self) -> None:
        """Re-read the folder counts and the library status on a worker (coalesced)."""
        if self.lib is None or self._stopping:
            return
        if self._counts_job is not None:
            self._counts_dirty = True
            return
        lib = self.lib
        self._counts_job = self.jobs.start(
            lambda: (lib.folders(), lib.status()),
            name="counts",
            on_result=self._counts_ready,
            on_error=lambda exc: self.message.emit(f"Cannot read the library: {user_message(exc)}", "error"),
            on_finished=self._counts_finished,
        )

    def _counts_ready(self, value: tuple[list[FolderInfo], LibraryStatus]) -> None:
        self._folders, self._status = value
        self.folders_changed.emit(list(self._folders))
        self.status_changed.emit(self._status)
        self._sync_watcher()

    def _counts_finished(self) -> None:
        self._counts_job = None
        if self._counts_dirty:
            self._counts_dirty = False
            self.refresh_counts()

    # -- watching ----------------------------------------------------------------------------------
    def _start_watcher(self) -> None:
        if not self.watch_enabled or self.lib is None or self._stopping:
            return
        from desktop_search.core.library.watcher import FolderWatcher

        root = str(self.lib.root)
        self.watcher = FolderWatcher(
            self._watch_batch.emit,  # runs on the watcher's thread: a queued signal, nothing else
            quiet_s=self.watch_quiet_s,
            poll_interval_s=self.poll_interval_s,
            on_status=self._watch_message.emit,
            ignore=[root],
        )
        self._watched = sorted(f.path for f in self._folders)
        self.watcher.start(self._watched)

    def _sync_watcher(self) -> None:
        wanted = sorted(f.path for f in self._folders)
        if self.watcher is not None and wanted != self._watched:
            self._watched = wanted
            self.watcher.set_folders(wanted)

    def set_watching(self, enabled: bool) -> None:
        self.watch_enabled = enabled
        if enabled and self.watcher is None:
            self._start_watcher()
        elif not enabled and self.watcher is not None:
            self.watcher.stop()
            self.watcher = None

    def _on_watch_batch(self, batch: ChangeBatch) -> None:
        if self._stopping:
            return
        self.apply_changes(batch.paths)

    # -- shutdown ----------------------------------------------------------------------------------
    def _jobs_changed(self) -> None:
        self.busy_changed.emit(self.jobs.busy())
        if self._stopping:
            self._maybe_stopped()

    def request_shutdown(self) -> None:
        """Stop watching, cancel every job; ``stopped`` follows once all threads have ended."""
        if self._stopping:
            self._maybe_stopped()
            return
        self._stopping = True
        self._writer_queue.clear()
        self._waiting_query = None
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None
        self.jobs.begin_shutdown()
        self._maybe_stopped()

    def _maybe_stopped(self) -> None:
        if self._stopped or self.jobs.busy():
            return
        self._stopped = True
        self._close_library()
        self.stopped.emit()

    def shutdown_now(self, timeout_s: float | None = None) -> bool:
        """Blocking shutdown: cancel and join every job, close the library."""
        self._stopping = True
        self._writer_queue.clear()
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None
        ok = self.jobs.shutdown(timeout_s)
        if ok and not self._stopped:
            self._stopped = True
            self._close_library()
        return ok

    def _close_library(self) -> None:
        if self.lib is not None:
            try:
                self.lib.close()
            except Exception:
                log.exception("closing the library")
            self.lib = None
