"""Advisory file locks between processes: taken without waiting, dropped by the operating system
when the holder exits (even killed), so a crash never leaves anything locked.

Used for a model download's ``.part`` file (two app instances never append to one) and for the
library's indexing job (:class:`WriterLock`: the window and ``desktop-search index`` in a terminal
never reconcile the same library at once).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def lock_nowait(fd: int) -> None:
        """Lock the open file ``fd``; OSError when another process holds it."""
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

    def unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def lock_nowait(fd: int) -> None:
        """Lock the open file ``fd``; OSError when another process holds it."""
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class WriterLock:
    """A lock file held while a job writes. ``acquire()`` does not wait: True when this process may
    write (also when no lock file can be made, e.g. a read-only library: writing then fails with its
    own message)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._depth = 0  # acquired this many times by this holder (released when it drops to 0)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> bool:
        if self._fd is not None:
            self._depth += 1
            return True
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            log.debug("no lock file %s: %s", self.path, exc)
            return True
        try:
            lock_nowait(fd)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        self._depth = 1
        return True

    @contextmanager
    def waiting(self, poll_s: float) -> Iterator[None]:
        """Hold the lock, waiting (looking again every ``poll_s`` seconds) while another program
        holds it. Re-entrant."""
        while not self.acquire():
            time.sleep(poll_s)
        try:
            yield
        finally:
            self.release()

    def busy(self) -> bool:
        """Whether another program holds the lock now."""
        if self.held:
            return False
        if self.acquire():
            self.release()
            return False
        return True

    def release(self) -> None:
        if self._fd is None:
            return
        self._depth -= 1
        if self._depth > 0:
            return
        fd, self._fd = self._fd, None
        try:
            unlock(fd)
        finally:
            os.close(fd)
