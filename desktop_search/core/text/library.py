"""The text in a library's photos, as the library facade uses it (``PhotoLibrary``): the matching
lines for a search, a photo's recognised text, and how far the text job is. Each call takes a pooled
connection of the library's engine for its length; where the text tables are missing (SQLite < 3.34)
everything answers "nothing" rather than fail."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Engine

from ..cancel import CancelToken
from ..filelock import WriterLock
from ..types import IndexProgress
from . import store

log = logging.getLogger(__name__)
T = TypeVar("T")


class LibraryText:
    def __init__(self, engine: Engine, job_lock: threading.Lock, writer_lock: WriterLock,
                 check_writable: Callable[[], None]) -> None:
        self._engine = engine
        self._job_lock = job_lock
        self._writer_lock = writer_lock
        self._check_writable = check_writable

    def read(self, cancel: CancelToken | None = None, poll_s: float = 0.5) -> Iterator[IndexProgress]:
        """The text job that follows ``PhotoLibrary.index`` (``indexing/text_job.py``): reads the text
        of the photos not read yet or changed since; phase "text"; pausable, cancellable, resumable;
        one job at a time with indexing."""
        from ..indexing.job import exclusive
        from ..indexing.text_job import read_texts

        yield from exclusive(self._job_lock, self._check_writable,
                             lambda: read_texts(self._engine, self._writer_lock, cancel, poll_s))

    def status_fields(self) -> dict[str, int | None]:
        """``LibraryStatus``'s text_pending and text_read."""
        pending, read = self.status()
        return {"text_pending": pending, "text_read": read}

    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection | None]:
        raw = self._engine.raw_connection()
        try:
            conn: sqlite3.Connection = raw.driver_connection  # type: ignore[assignment]
            yield conn if store.has_text_tables(conn) else None
        finally:
            raw.close()

    def _with(self, fn: Callable[[sqlite3.Connection], T], default: T) -> T:
        with self._conn() as conn:
            return default if conn is None else fn(conn)

    def hits(self, text: str, limit: int) -> list[tuple[int, float, str]]:
        """Photos whose recognised text holds the query's words: (id, score 0..1, the matching
        line); [] where text search is unavailable. Never fails a search."""
        try:
            return self._with(lambda c: store.search_text(c, text, limit=limit), [])
        except (sqlite3.Error, ValueError):
            log.warning("searching the text in photos failed", exc_info=True)
            return []

    def photo_text(self, photo_id: int) -> str | None:
        """A photo's recognised lines, one a line ("" when it has none); None when not read (yet)."""
        lines = self._with(lambda c: store.load_text(c, photo_id), None)
        return None if lines is None else "\n".join(ln.text for ln in lines)

    def status(self) -> tuple[int | None, int | None]:
        """(photos whose text is still to read, photos read); (None, None) where text search or
        recognition is unavailable."""
        from .recognize import available

        none: tuple[int | None, int | None] = (None, None)
        if not available():
            return none
        return self._with(lambda c: (store.pending_count(c), store.read_count(c)[0]), none)

    def can_read(self) -> bool:
        """Whether text recognition is installed and this library has the text tables."""
        return self.status()[0] is not None
