"""Everything the window does with the library, off the GUI thread, in one QObject.

The controller owns the :class:`PhotoLibrary` and every background job:

* opening the library, then loading the model on a worker (``lib.load_model()``), then a
  reconciling ``lib.index()`` that catches what changed while the app was closed (after the first
  search when a query is waiting for the model);
* searches: at most one runs at a time; a newer query replaces any waiting one, and results of a
  query that is no longer current are dropped;
* writers (indexing, applied changes, folder edits) run one at a time from a
  :class:`~desktop_search.core.job_queue.WriterQueue` (Qt-free: which jobs merge, which wait,
  what a cancel drops); the controller only runs its next task on a worker and turns the task's
  life into signals;
* live watching (:class:`FolderWatcher`): its callbacks run on the watcher's thread and only emit a
  queued signal; its reports are typed (:class:`WatchStatus`), passed on as they are;
* shutdown: :meth:`request_shutdown` cancels everything and emits ``stopped`` once every thread
  has ended, without blocking the event loop; :meth:`shutdown_now` blocks (for teardown paths).

Nothing here imports torch; ``desktop_search.core.app`` is imported when the library is opened.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from desktop_search.core.types import (
    ErrorInfo,
    FolderInfo,
    IndexProgress,
    LibraryStatus,
    SearchQuery,
    SearchResult,
)

from .worker import Job, JobManager
from .writers import WriterBridge, user_message

if TYPE_CHECKING:
    from desktop_search.core.app import PhotoLibrary
    from desktop_search.core.library.watcher import ChangeBatch, FolderWatcher
    from desktop_search.core.search.filters import Choice

__all__ = ["LibraryController", "user_message"]

log = logging.getLogger(__name__)


class LibraryController(WriterBridge, QObject):
    opened = Signal()
    open_failed = Signal(str)
    #: a model switch failed (offline, missing weights): the library stays on this model name
    model_switch_failed = Signal(str)
    #: "loading", "ready" or "failed", plus a message
    model_state = Signal(str, str)
    folders_changed = Signal(list)
    status_changed = Signal(object)  # LibraryStatus
    #: a writer job started: its JobKind (a str enum) and a label
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
    watch_status = Signal(object)  # WatchStatus
    paused_changed = Signal(bool)
    busy_changed = Signal(bool)
    #: every background thread has ended after request_shutdown()
    stopped = Signal()

    _watch_batch = Signal(object)  # from the watcher's thread (queued)
    _watch_message = Signal(object)  # WatchStatus

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
        self._init_writers()
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
        self.jobs.jobs_changed.connect(self._jobs_changed)
        self._watch_batch.connect(self._on_watch_batch)
        self._watch_message.connect(self.watch_status)

    # -- state -----------------------------------------------------------------------------------
    def busy(self) -> bool:
        return self.jobs.busy()

    @property
    def library_open(self) -> bool:
        return self.lib is not None

    @property
    def model_name(self) -> str | None:
        """The open library's model (None before it is open)."""
        return self.lib.model_name if self.lib is not None else None

    @property
    def watching(self) -> bool:
        return self.watcher is not None

    def watch_modes(self) -> dict[str, str]:
        """Folder -> "native", "polling" or "unavailable" (empty while not watching)."""
        return self.watcher.modes() if self.watcher is not None else {}

    def wait_watching(self, timeout_s: float | None = None) -> bool:
        """Wait until the watcher has set its first folders up (tests)."""
        return self.watcher is not None and self.watcher.wait_ready(timeout_s)

    def run_in_background(self, fn: Callable[..., Any], *args: Any, name: str,
                          on_result: Callable[[Any], Any] | None = None,
                          on_error: Callable[[BaseException], Any] | None = None) -> bool:
        """Run a read (a preview image, a folder's problems) on a worker; False while closing
        (the caller then does without, or does it at once)."""
        if self.jobs.closing:
            return False
        self.jobs.start(fn, *args, name=name, on_result=on_result, on_error=on_error)
        return True

    def load_filter_choices(self, name: str, on_result: Callable[[list[Choice]], Any]) -> bool:
        """The values search filter ``name`` offers in this library, read on a worker; False when
        the library is not open."""
        lib = self.lib
        if lib is None:
            return False
        return self.run_in_background(lib.filter_choices, name, name=f"filter-choices:{name}", on_result=on_result,
                                      on_error=lambda exc: log.warning("cannot list the %s filter's values: %s",
                                                                       name, exc))

    def load_errors(self, folder: str, on_result: Callable[[list[ErrorInfo]], Any],
                    on_error: Callable[[BaseException], Any]) -> bool:
        """A folder's problems, read on a worker; False when the library is not open."""
        lib = self.lib
        if lib is None:
            return False
        return self.run_in_background(lib.errors, folder, name="folder-problems", on_result=on_result,
                                      on_error=on_error)

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
        self._writers.clear()
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
        self._writers.clear()
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
