"""Live watching of the library's folders (Qt-free).

watchdog's observer threads only push ``(kind, path, dest, is_directory)`` tuples onto a
thread-safe queue. One coalescing thread of our own drains that queue, keeps the latest kind per
path (a copy of 5,000 photos, or an editor saving one file ten times, fires many events) and, once
the folders have been quiet for ``quiet_s`` seconds (or at the latest ``max_wait_s`` after the first
event of a batch, so a long stream of changes is still applied as it goes), hands one
:class:`ChangeBatch` to the consumer. The consumer runs on that coalescing thread; in the window it
only forwards the batch to the GUI thread, in ``desktop-search watch`` it puts it on a queue for the
main thread, which calls ``lib.apply_changes(batch.paths)``. Nothing here touches Qt or the database.

A sidecar caption file (``NAME.txt`` or ``NAME.ext.txt``) created, changed, deleted or renamed
is reported as a change of the photo(s) beside it that it captions (looked up once a batch is due:
one listing of its folder), so the photo's caption is read again; other files are ignored.

Moves report both the old and the new path. A directory that is deleted or moved away is reported
by its own path (the files inside it produce no events of their own).

Native watching (inotify, FSEvents, ReadDirectoryChangesW) is not always available: inotify has a
per-user limit of watches (``OSError`` ENOSPC) and of instances (EMFILE), and network filesystems
deliver no events for changes made by other machines. Such folders are watched by periodic rescans
(watchdog's polling observer, which compares directory snapshots) and the ``on_status`` callback
says so. Changes made while nothing was watching are the caller's business: run a reconciling
``lib.index()`` at start-up.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.polling import PollingObserver

from ..wording import counted
from .formats import BASE_EXTENSIONS, HEIF_EXTENSIONS
from .scanner import sidecar_names

log = logging.getLogger(__name__)

CREATED = "created"
MODIFIED = "modified"
DELETED = "deleted"
MOVED = "moved"

#: errnos meaning "the native watcher has run out of watches or instances"
LIMIT_ERRNOS = frozenset({errno.ENOSPC, errno.EMFILE, errno.ENFILE})
#: filesystem types (as in /proc/mounts) that deliver no events for remote changes
NETWORK_FS_TYPES = frozenset(
    {
        "nfs", "nfs4", "cifs", "smb", "smb2", "smb3", "smbfs", "ncpfs", "afs", "9p", "coda",
        "davfs", "fuse.sshfs", "sshfs", "fuse.rclone", "fuse.s3fs", "glusterfs", "fuse.glusterfs",
        "ceph", "fuse.ceph", "lustre", "fuse.gvfsd-fuse", "fuse.davfs", "beegfs", "gpfs",
    }
)  # fmt: skip
_WATCHED_KINDS = {
    "created": CREATED,
    "modified": MODIFIED,
    "closed": MODIFIED,  # IN_CLOSE_WRITE: a copy or a save has finished
    "attrib": MODIFIED,  # touch, or a tool that sets the mtime afterwards
    "deleted": DELETED,
    "moved": MOVED,
}


@dataclass(frozen=True)
class ChangeBatch:
    """Paths that changed during one burst, each once, sorted.

    ``paths`` holds every affected path: created, modified and deleted ones, and both ends of a
    move. ``kinds`` maps each path to its last kind of change (a move's old path is ``deleted``,
    its new path ``created``); ``moves`` keeps the (old, new) pairs; ``events`` is how many raw
    events were coalesced into this batch.
    """

    paths: tuple[str, ...]
    kinds: dict[str, str] = field(default_factory=dict)
    moves: tuple[tuple[str, str], ...] = ()
    events: int = 0

    def __len__(self) -> int:
        return len(self.paths)


class _Handler(FileSystemEventHandler):
    """Runs on watchdog's threads: push the raw event, nothing else."""

    def __init__(self, sink: queue.SimpleQueue[Any]) -> None:
        super().__init__()
        self._sink = sink

    def dispatch(self, event: FileSystemEvent) -> None:
        kind = _WATCHED_KINDS.get(event.event_type)
        if kind is not None:
            self._sink.put((kind, os.fsdecode(event.src_path), os.fsdecode(event.dest_path or ""),
                            event.is_directory))


class _Reconfigure:
    def __init__(self, folders: list[str]) -> None:
        self.folders = folders


_STOP = object()


class _ShutdownNoise(logging.Filter):
    """watchdog's inotify emitter logs an *error* when an event arrives while it is being stopped
    (a race inside watchdog, harmless: the event is dropped, and the next start-up reconciles)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "called when the thread is inactive" not in record.getMessage()


logging.getLogger("watchdog.observers.inotify").addFilter(_ShutdownNoise())


def _mount_types() -> list[tuple[str, str]]:
    """(mount point, filesystem type) pairs, longest mount point first (Linux only)."""
    try:
        with open("/proc/mounts", encoding="utf-8", errors="replace") as fh:
            rows = []
            for line in fh:
                parts = line.split()
                if len(parts) >= 3:
                    mount = parts[1].replace("\\040", " ")
                    rows.append((mount, parts[2]))
    except OSError:
        return []
    rows.sort(key=lambda r: len(r[0]), reverse=True)
    return rows


def network_filesystem(path: str) -> str | None:
    """The network filesystem type ``path`` lives on, or None for a local disk (or when unknown)."""
    if sys.platform == "win32":
        drive = os.path.splitdrive(os.path.abspath(path))[0]
        return "smb" if drive.startswith(("\\\\", "//")) else None
    real = os.path.realpath(path)
    for mount, fstype in _mount_types():
        if real == mount or real.startswith(mount.rstrip("/") + "/"):
            return fstype if fstype in NETWORK_FS_TYPES else None
    return None


class WatchState(StrEnum):
    """What a watcher's status message is about."""

    WATCHING = "watching"  # the folders are set up (natively; some may be polled)
    POLLING = "polling"  # a folder cannot be watched live: it is checked every few seconds
    UNAVAILABLE = "unavailable"  # a folder cannot be watched at all (missing, unmounted, error)


@dataclass(frozen=True)
class WatchStatus:
    """One status report of the watcher: its kind, the sentence for people, the folder (if one)."""

    state: WatchState
    text: str
    folder: str | None = None

    @property
    def is_problem(self) -> bool:
        """Something the user may want to act on (a folder not watched live)."""
        return self.state != WatchState.WATCHING

    def __str__(self) -> str:
        return self.text


class FolderWatcher:
    """Watches folders recursively and hands coalesced :class:`ChangeBatch` objects to ``consumer``.

    ``consumer(batch)`` and ``on_status(status)`` (a :class:`WatchStatus`) are called on the watcher's own thread.
    ``observer_factory`` and ``polling_factory`` exist for tests (and for platforms where the
    native observer is known to be unreliable).
    """

    def __init__(
        self,
        consumer: Callable[[ChangeBatch], None],
        *,
        quiet_s: float = 1.0,
        max_wait_s: float = 10.0,
        poll_interval_s: float = 30.0,
        on_status: Callable[[WatchStatus], None] | None = None,
        extensions: Iterable[str] | None = None,
        ignore: Iterable[str] = (),
        observer_factory: Callable[[], BaseObserver] | None = None,
        polling_factory: Callable[[float], BaseObserver] | None = None,
    ) -> None:
        self.consumer = consumer
        self.quiet_s = quiet_s
        self.max_wait_s = max_wait_s
        self.poll_interval_s = poll_interval_s
        self.on_status = on_status
        self.extensions = frozenset(e.lower() for e in (extensions or BASE_EXTENSIONS | HEIF_EXTENSIONS))
        self._ignore = tuple(os.path.normpath(p) + os.sep for p in ignore)
        self._observer_factory = observer_factory or Observer
        self._polling_factory = polling_factory or (lambda interval: PollingObserver(timeout=interval))
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._handler = _Handler(self._queue)
        self._thread: threading.Thread | None = None
        self._native: BaseObserver | None = None
        self._polling: BaseObserver | None = None
        self._watches: dict[str, tuple[str, ObservedWatch]] = {}
        self._modes_lock = threading.Lock()
        self._modes: dict[str, str] = {}
        self._ready = threading.Event()
        self.batches_delivered = 0

    # -- public API ----------------------------------------------------------------------------
    def start(self, folders: Iterable[str]) -> None:
        """Start watching; returns at once (setting up watches walks the folders, off this thread)."""
        if self._thread is not None:
            raise RuntimeError("watcher already started")
        self._queue.put(_Reconfigure([str(f) for f in folders]))
        self._thread = threading.Thread(target=self._main, name="desktop-search-watcher", daemon=True)
        self._thread.start()

    def set_folders(self, folders: Iterable[str]) -> None:
        """Watch exactly these folders from now on (added ones start, removed ones stop)."""
        self._queue.put(_Reconfigure([str(f) for f in folders]))

    def wait_ready(self, timeout_s: float | None = None) -> bool:
        """Wait until the first set of folders is being watched (tests, the ``watch`` command)."""
        return self._ready.wait(timeout_s)

    def modes(self) -> dict[str, str]:
        """Folder -> ``"native"``, ``"polling"`` or ``"unavailable"``."""
        with self._modes_lock:
            return dict(self._modes)

    def push(self, kind: str, path: str, dest: str | None = None, is_directory: bool = False) -> None:
        """Feed one change by hand (tests; callers that learn of changes another way)."""
        self._queue.put((kind, path, dest or "", is_directory))

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the observers and the coalescing thread; pending changes are dropped (the next
        start-up reconciles them)."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.warning("the folder watcher did not stop within %.1f s", timeout_s)
        self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- the watcher thread --------------------------------------------------------------------
    def _status(self, state: WatchState, message: str, folder: str | None = None) -> None:
        log.info("%s", message)
        if self.on_status is not None:
            try:
                self.on_status(WatchStatus(state, message, folder))
            except Exception:
                log.exception("status callback failed")

    def _main(self) -> None:
        pending: dict[str, str] = {}
        captions: set[str] = set()  # sidecar caption files changed: their photos join the batch
        moves: list[tuple[str, str]] = []
        events = 0
        first_at = last_at = 0.0
        try:
            while True:
                if pending or captions:
                    due = min(last_at + self.quiet_s, first_at + self.max_wait_s)
                    timeout = max(0.0, due - time.monotonic())
                else:
                    timeout = None
                try:
                    item = self._queue.get(timeout=timeout) if timeout is None or timeout > 0 else None
                except queue.Empty:
                    item = None
                if item is _STOP:
                    return
                if isinstance(item, _Reconfigure):
                    self._reconfigure(item.folders)
                    self._ready.set()
                    continue
                now = time.monotonic()
                if item is not None and self._record(item, pending, moves, captions):
                    events += 1
                    if events == 1:
                        first_at = now
                    last_at = now
                if (pending or captions) and (now - last_at >= self.quiet_s or now - first_at >= self.max_wait_s):
                    for photo in self._captioned(captions):
                        pending.setdefault(photo, MODIFIED)
                    captions = set()
                    if not pending:  # text files that caption no photo
                        moves, events = [], 0
                        continue
                    batch = ChangeBatch(tuple(sorted(pending)), dict(pending), tuple(moves), events)
                    pending, moves, events = {}, [], 0
                    self.batches_delivered += 1
                    try:
                        self.consumer(batch)
                    except Exception:
                        log.exception("the change consumer failed on a batch of %d paths", len(batch))
        finally:
            self._stop_observers()

    def _wanted(self, path: str, is_directory: bool) -> bool:
        if not path or (self._ignore and path.startswith(self._ignore)):
            return False
        if is_directory:
            return True
        return os.path.splitext(path)[1].lower() in self.extensions

    def _caption_file(self, path: str, is_directory: bool) -> bool:
        """Whether ``path`` may be a photo's sidecar caption (``scanner.sidecar_names``)."""
        return (not is_directory and path[-4:].lower() == ".txt"
                and not (self._ignore and path.startswith(self._ignore)))

    def _captioned(self, caption_files: set[str]) -> list[str]:
        """The photos that these sidecar caption files caption (``NAME.txt``: the photos named
        ``NAME.<ext>``; ``NAME.ext.txt``: the photo ``NAME.ext``), found with one listing per folder."""
        bases: dict[str, set[str]] = {}
        for path in caption_files:
            folder, name = os.path.split(path)
            bases.setdefault(folder, set()).add(os.path.normcase(name[: -len(".txt")]))
        out = []
        for folder, names in sorted(bases.items()):
            try:
                listed = os.listdir(folder)
            except OSError:
                continue  # the folder is gone: its own event says so
            for name in listed:
                ext = os.path.splitext(name)[1].lower()
                if ext in self.extensions and not name.startswith(".") and any(
                        os.path.normcase(caption)[: -len(".txt")] in names for caption in sidecar_names(name)):
                    out.append(os.path.join(folder, name))
        return out

    def _record(self, item: tuple[str, str, str, bool], pending: dict[str, str],
                moves: list[tuple[str, str]], captions: set[str]) -> bool:
        kind, src, dest, is_dir = item
        if kind == MOVED:
            src_ok, dest_ok = self._wanted(src, is_dir), self._wanted(dest, is_dir)
            captioned = False
            for end in (src, dest):
                if end and self._caption_file(end, is_dir):
                    captions.add(end)
                    captioned = True
            if not (src_ok or dest_ok):
                return captioned
            if src_ok:
                pending[src] = DELETED
            if dest_ok:
                pending[dest] = CREATED
            if src_ok and dest_ok:
                moves.append((src, dest))
            return True
        if is_dir and kind not in (DELETED,):
            return False  # a new directory's files report themselves; a dir's mtime means nothing
        if self._caption_file(src, is_dir):
            captions.add(src)
            return True
        if not self._wanted(src, is_dir):
            return False
        previous = pending.get(src)
        if previous == CREATED and kind == MODIFIED:
            kind = CREATED  # still new, however often it is written
        pending[src] = kind
        return True

    # -- observers -------------------------------------------------------------------------------
    def _ensure_native(self) -> BaseObserver:
        if self._native is None:
            self._native = self._observer_factory()
            self._native.daemon = True
            self._native.start()
        return self._native

    def _ensure_polling(self) -> BaseObserver:
        if self._polling is None:
            self._polling = self._polling_factory(self.poll_interval_s)
            self._polling.daemon = True
            self._polling.start()
        return self._polling

    def _reconfigure(self, folders: list[str]) -> None:
        wanted = {os.path.normpath(os.path.abspath(f)) for f in folders}
        for folder in list(self._watches):
            if folder not in wanted:
                kind, watch = self._watches.pop(folder)
                observer = self._native if kind == "native" else self._polling
                with contextlib.suppress(Exception):
                    if observer is not None:
                        observer.unschedule(watch)
                with self._modes_lock:
                    self._modes.pop(folder, None)
        for folder in sorted(wanted - set(self._watches)):
            self._watch(folder)
        modes = self.modes()
        native = sum(1 for m in modes.values() if m == "native")
        polled = sum(1 for m in modes.values() if m == "polling")
        if modes:
            text = f"Watching {counted(native, 'folder')} for changes"
            if polled:
                text += f"; {polled} checked every {self.poll_interval_s:g} s"
            self._status(WatchState.WATCHING, text + ".")

    def _watch(self, folder: str) -> None:
        if not os.path.isdir(folder):
            self._set_mode(folder, "unavailable")
            self._status(WatchState.UNAVAILABLE, f"Cannot watch {folder}: the folder does not exist or is not mounted.", folder)
            return
        reason = None
        fstype = network_filesystem(folder)
        if fstype is not None:
            reason = f"it is on a network filesystem ({fstype})"
        else:
            try:
                watch = self._ensure_native().schedule(self._handler, folder, recursive=True)
                self._watches[folder] = ("native", watch)
                self._set_mode(folder, "native")
                return
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    reason = ("the system limit of watched folders is reached "
                              "(raise fs.inotify.max_user_watches)")
                elif exc.errno in LIMIT_ERRNOS:
                    reason = "the system limit of file watchers is reached"
                else:
                    reason = f"native watching failed ({exc.strerror or exc})"
            except Exception as exc:  # an observer that cannot run here at all
                reason = f"native watching failed ({exc})"
        try:
            watch = self._ensure_polling().schedule(self._handler, folder, recursive=True)
        except Exception as exc:
            self._set_mode(folder, "unavailable")
            self._status(WatchState.UNAVAILABLE, f"Cannot watch {folder}: {exc}. Use Rescan to pick up changes.", folder)
            return
        self._watches[folder] = ("polling", watch)
        self._set_mode(folder, "polling")
        self._status(
            WatchState.POLLING,
            f"Live watching is unavailable for {folder} because {reason}; "
            f"checking it for changes every {self.poll_interval_s:g} s instead.",
            folder,
        )

    def _set_mode(self, folder: str, mode: str) -> None:
        with self._modes_lock:
            self._modes[folder] = mode

    def _stop_observers(self) -> None:
        for observer in (self._native, self._polling):
            if observer is None:
                continue
            with contextlib.suppress(Exception):
                observer.stop()
            with contextlib.suppress(Exception):
                observer.join(5.0)
        self._native = self._polling = None
        self._watches.clear()
