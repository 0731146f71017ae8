"""The library's writer queue, without Qt: which jobs run, in what order, which merge, which a
cancel drops.

The library has a single writer (indexing, applied changes, folder edits), so writer jobs run one
at a time, in the order they came, from this queue. The rules:

* a scan (:attr:`JobKind.INDEX`) is not queued when a waiting scan already covers it (the same
  folders, or every folder);
* watcher changes (:attr:`JobKind.CHANGES`) that arrive while a change job waits merge into it
  (one ``apply_changes`` of the union of the paths);
* removing a folder drops a waiting scan of just that folder;
* cancelling indexing drops the waiting scans and change jobs (folder edits stay);
* shutting down drops everything waiting.

The window's controller bridges this to Qt (a worker per job, signals); ``commands`` or tests can
drive it directly. Nothing here runs a job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from desktop_search.core.cancel import CancelToken
from desktop_search.core.types import IndexCounts


class JobKind(StrEnum):
    """What a writer job does (the values are what signals and logs carried as strings)."""

    INDEX = "index"  # scan watched folders (all, or some) and embed what is new
    CHANGES = "changes"  # re-examine paths the watcher reported
    FOLDER = "folder"  # add/remove a folder, edit exclusions, switch the model
    TEXT = "text"  # read the text in photos, after the embeddings (docs/TEXT.md); gives way to the others

    @property
    def indexes(self) -> bool:
        """A job that reads photos (with progress, pause and cancel)."""
        return self in (JobKind.INDEX, JobKind.CHANGES, JobKind.TEXT)


#: counts that mean the set of photos (or their vectors) changed
CHANGING_COUNTS = ("added", "updated", "moved", "removed", "embedded")


def changes_library(kind: JobKind, counts: IndexCounts | None) -> bool:
    """After a job of ``kind`` that ended with ``counts``: must the shown search run again?"""
    return kind == JobKind.FOLDER or (counts is not None and any(getattr(counts, k, 0) for k in CHANGING_COUNTS))


@dataclass(eq=False)
class WriterTask:
    """One unit of work for the library's single writer."""

    kind: JobKind
    label: str
    run: Callable[[CancelToken], Any]  # returns a value, or an iterator of IndexProgress
    #: the paths it is about (a scan: its folders, none for all; changes: the changed paths)
    paths: set[str] = field(default_factory=set)
    on_done: Callable[[Any], None] | None = None
    token: CancelToken = field(default_factory=CancelToken)


class WriterQueue:
    """Waiting writer tasks and the one running."""

    def __init__(self) -> None:
        self._waiting: list[WriterTask] = []
        self.running: WriterTask | None = None

    @property
    def waiting(self) -> tuple[WriterTask, ...]:
        return tuple(self._waiting)

    @property
    def running_kind(self) -> JobKind | None:
        return self.running.kind if self.running is not None else None

    @property
    def indexing(self) -> bool:
        return self.running is not None and self.running.kind.indexes

    def __len__(self) -> int:
        return len(self._waiting)

    # -- adding ------------------------------------------------------------------------------------
    def append(self, task: WriterTask) -> WriterTask:
        """Queue ``task`` as it is (no merging)."""
        self._waiting.append(task)
        return task

    def push(self, task: WriterTask) -> WriterTask | None:
        """Queue ``task`` under the rules: returns it, or None when a waiting task took it over
        (a scan that covers it; a change job that merged its paths)."""
        if task.kind == JobKind.INDEX:
            for queued in self._waiting:
                if queued.kind == JobKind.INDEX and (queued.paths == task.paths or not queued.paths):
                    return None
        elif task.kind == JobKind.CHANGES:
            for queued in self._waiting:
                if queued.kind == JobKind.CHANGES:
                    queued.paths |= task.paths
                    return None
        return self.append(task)

    # -- dropping ----------------------------------------------------------------------------------
    def drop_scans_of(self, folder: str) -> list[WriterTask]:
        """A folder is being removed: a waiting scan of just that folder is pointless."""
        return self._drop(lambda t: t.kind == JobKind.INDEX and t.paths == {folder})

    def drop_kind(self, kind: JobKind) -> list[WriterTask]:
        """Drop the waiting tasks of ``kind`` (the text job, when its setting is turned off)."""
        return self._drop(lambda t: t.kind == kind)

    def cancel_indexing(self) -> WriterTask | None:
        """Drop the waiting scans and change jobs (waiting folder edits stay); returns the running
        task, which the caller cancels."""
        self._drop(lambda t: t.kind.indexes)
        return self.running

    def clear(self) -> None:
        self._waiting.clear()

    def _drop(self, which: Callable[[WriterTask], bool]) -> list[WriterTask]:
        dropped = [t for t in self._waiting if which(t)]
        self._waiting = [t for t in self._waiting if not which(t)]
        return dropped

    # -- running -----------------------------------------------------------------------------------
    def start_next(self) -> WriterTask | None:
        """The next task to run, now running; None while one runs or none waits."""
        if self.running is not None or not self._waiting:
            return None
        self.running = self._waiting.pop(0)
        return self.running

    def finish(self, task: WriterTask) -> None:
        if self.running is task:
            self.running = None

    def kinds(self) -> list[JobKind]:
        """The waiting tasks' kinds, in order (tests, logs)."""
        return [t.kind for t in self._waiting]

    def paths_of(self, kind: JobKind) -> list[set[str]]:
        return [set(t.paths) for t in self._waiting if t.kind == kind]
