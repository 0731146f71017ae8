"""An advisory lock file beside the library database, held while an indexing job writes.

Within one process ``PhotoLibrary`` already runs one job at a time; this keeps two *processes* (the
window watching its folders and ``desktop-search index`` in a terminal, say) from reconciling the
same folders at once, which would insert the same new photo twice. The operating system drops the
lock when the holder exits, even killed, so a crash never leaves the library locked.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

log = logging.getLogger(__name__)


class WriterLock:
    """``acquire()`` without waiting: True when this process may write (also when no lock file can
    be made, e.g. a read-only library: writing then fails with its own message)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self._fd is not None:
            return True
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            log.debug("no lock file %s: %s", self.path, exc)
            return True
        try:
            if sys.platform == "win32":
                import msvcrt

                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if sys.platform == "win32":
                import msvcrt

                os.lseek(fd, 0, os.SEEK_SET)
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
            else:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
