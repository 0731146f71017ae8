"""The one bridge between the Qt-free core and the window: run work off the GUI thread.

A :class:`Job` runs a plain function or a generator function on its own ``QThread``. Items a
generator yields (the core's ``IndexProgress`` events, for example) are put on a thread-safe queue
and handed to the GUI thread in time-boxed batches by a timer, so thousands of events never flood
the event loop. The return value or the exception comes back as a value (``succeeded`` /
``failed``), then ``finished`` is always emitted exactly once.

Cancelling is cooperative: :meth:`Job.cancel` sets the job's cancel token (anything with a
``cancel()`` method, such as the core's ``CancelToken``) and stops pulling items from a generator
between items. :class:`JobManager` tracks every live job so the window can stop and join them all
before it goes away (a ``QThread`` destroyed while running aborts the process).
"""

from __future__ import annotations

import collections
import inspect
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from PySide6.QtCore import QCoreApplication, QObject, QThread, QTimer, Signal

from desktop_search.core.errors import ModelUnavailable, UserError, describe_database_error

log = logging.getLogger(__name__)

#: how long one drain of the event queue may take on the GUI thread
DRAIN_BUDGET_S = 0.015
#: how often the GUI thread looks at a running job's queue
POLL_INTERVAL_MS = 30


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class _Done:
    """Queue sentinel: the job ended with a value or an exception."""

    __slots__ = ("error", "value")

    def __init__(self, value: Any = None, error: BaseException | None = None) -> None:
        self.value = value
        self.error = error


class _JobThread(QThread):
    """Runs the job's callable; talks to the GUI thread through a locked deque only."""

    def __init__(self, job: Job) -> None:
        super().__init__()
        self._job = job

    def run(self) -> None:  # runs on the worker thread
        job = self._job
        try:
            result = job._fn(*job._args, **job._kwargs)
            if inspect.isgenerator(result) or isinstance(result, Iterator):
                result = self._drain(result)
            job._put(_Done(value=result))
        except BaseException as exc:
            if isinstance(exc, UserError | ModelUnavailable) or describe_database_error(exc):
                # expected (a damaged library, an unavailable model): the window shows the message
                log.warning("background job %r: %s", job.name, str(exc).splitlines()[0] if str(exc) else exc)
            elif not job.cancelled:
                log.exception("background job %r failed", job.name)
            job._put(_Done(error=exc))

    def _drain(self, gen: Iterator[Any]) -> Any:
        job = self._job
        try:
            while True:
                # with a cancel token the generator itself notices and winds down (it may report
                # how far it got); without one it is closed at the next item
                if job._stop.is_set() and job.cancel_token is None:
                    close = getattr(gen, "close", None)
                    if close is not None:
                        close()  # runs the generator's finally blocks on this thread
                    return None
                try:
                    item = next(gen)
                except StopIteration as stop:
                    return stop.value
                job._put(item)
        finally:
            del gen


class Job(QObject):
    """One unit of background work.

    Signals (always delivered on the GUI thread):
      progress(list)   the items yielded since the last delivery, oldest first
      succeeded(object) the function's return value (a generator's ``return`` value)
      failed(object)   the exception it raised (not emitted for a cancelled job)
      finished()       always, last
    """

    progress = Signal(list)
    succeeded = Signal(object)
    failed = Signal(object)
    finished = Signal()

    def __init__(
        self,
        fn: Callable[..., Any],
        *args: Any,
        name: str = "",
        cancel_token: Cancellable | None = None,
        background: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.name = name or getattr(fn, "__name__", "job")
        #: long work nobody waits for (indexing, model loading). Not given a lower OS priority:
        #: a lowered thread that holds the GIL when it is preempted stalls the GUI thread
        #: (priority inversion; measured worse than no change on a loaded machine)
        self.background = background
        self.cancel_token = cancel_token
        self._fn = fn
        self._args = args
        self._kwargs = kwargs
        self._queue: collections.deque[Any] = collections.deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: _JobThread | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_INTERVAL_MS)
        self._timer.timeout.connect(self._drain)
        self._started = False
        self._done = False
        self.result: Any = None
        self.error: BaseException | None = None

    # -- state ---------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._started and not self._done

    @property
    def done(self) -> bool:
        return self._done

    @property
    def cancelled(self) -> bool:
        return self._stop.is_set()

    # -- control ---------------------------------------------------------------------------------
    def start(self) -> Job:
        if self._started:
            raise RuntimeError(f"job {self.name!r} already started")
        self._started = True
        self._thread = _JobThread(self)
        self._thread.setObjectName(f"job:{self.name}")
        self._thread.start()
        self._timer.start()
        return self

    def cancel(self) -> None:
        """Ask the job to stop at its next checkpoint; ``finished`` follows."""
        self._stop.set()
        if self.cancel_token is not None:
            try:
                self.cancel_token.cancel()
            except Exception:  # a broken token must not break shutdown
                log.exception("cancel token of %r failed", self.name)

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the worker thread has ended, then deliver what is left. True if it ended."""
        if self._thread is None:
            return True
        ended = self._thread.wait() if timeout_s is None else self._thread.wait(int(timeout_s * 1000))
        if not ended:
            return False
        self._drain(budget_s=None)
        return True

    # -- worker side -----------------------------------------------------------------------------
    def _put(self, item: Any) -> None:
        with self._lock:
            self._queue.append(item)

    # -- GUI side --------------------------------------------------------------------------------
    def _drain(self, budget_s: float | None = DRAIN_BUDGET_S) -> None:
        if self._done:
            return
        deadline = None if budget_s is None else time.perf_counter() + budget_s
        batch: list[Any] = []
        end: _Done | None = None
        with self._lock:
            while self._queue:
                item = self._queue.popleft()
                if isinstance(item, _Done):
                    end = item
                    break
                batch.append(item)
                if deadline is not None and len(batch) % 64 == 0 and time.perf_counter() > deadline:
                    break
        if batch:
            self.progress.emit(batch)
        if end is not None:
            self._finish(end)

    def _finish(self, end: _Done) -> None:
        self._done = True
        self._timer.stop()
        if self._thread is not None:
            self._thread.wait()  # it has put its last item: only returning is left
        self.result, self.error = end.value, end.error
        if end.error is None:
            self.succeeded.emit(end.value)
        elif not self.cancelled:
            self.failed.emit(end.error)
        self.finished.emit()


class JobManager(QObject):
    """Starts jobs, keeps them alive while they run, and stops them all at shutdown."""

    jobs_changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._jobs: list[Job] = []
        self._closing = False

    @property
    def jobs(self) -> list[Job]:
        return list(self._jobs)

    @property
    def closing(self) -> bool:
        return self._closing

    def busy(self) -> bool:
        return bool(self._jobs)

    def start(
        self,
        fn: Callable[..., Any],
        *args: Any,
        name: str = "",
        cancel_token: Cancellable | None = None,
        background: bool = False,
        on_progress: Callable[[list], Any] | None = None,
        on_result: Callable[[Any], Any] | None = None,
        on_error: Callable[[BaseException], Any] | None = None,
        on_finished: Callable[[], Any] | None = None,
        **kwargs: Any,
    ) -> Job:
        """Run ``fn(*args, **kwargs)`` on a worker thread and wire the callbacks (GUI thread)."""
        if self._closing:
            raise RuntimeError("shutting down: no new background work")
        job = Job(fn, *args, name=name, cancel_token=cancel_token, background=background, **kwargs)
        if on_progress is not None:
            job.progress.connect(on_progress)
        if on_result is not None:
            job.succeeded.connect(on_result)
        if on_error is not None:
            job.failed.connect(on_error)
        if on_finished is not None:
            job.finished.connect(on_finished)
        job.finished.connect(lambda j=job: self._forget(j))
        self._jobs.append(job)
        job.start()
        self.jobs_changed.emit()
        return job

    def _forget(self, job: Job) -> None:
        if job in self._jobs:
            self._jobs.remove(job)
            job.deleteLater()
            self.jobs_changed.emit()

    def cancel_all(self) -> None:
        for job in list(self._jobs):
            job.cancel()

    def begin_shutdown(self) -> None:
        """Refuse new jobs and cancel the running ones (they finish on their own)."""
        self._closing = True
        self.cancel_all()

    def shutdown(self, timeout_s: float | None = None) -> bool:
        """Cancel every job and join its thread. True if all ended within ``timeout_s``."""
        self.begin_shutdown()
        ok = True
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        for job in list(self._jobs):
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not job.wait(left):
                log.warning("background job %r did not stop in time", job.name)
                ok = False
        app = QCoreApplication.instance()
        if app is not None:
            app.processEvents()
        return ok
