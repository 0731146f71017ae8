"""The text in a library's photos, as the library facade uses it (``PhotoLibrary``): the matching
lines for a search, a photo's recognised text, and how far the text job is. Each call takes a pooled
connection of the library's engine for its length; where the text tables are missing (SQLite < 3.34)
everything answers "nothing" rather than fail."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Engine

from . import store

log = logging.getLogger(__name__)
T = TypeVar("T")


class LibraryText:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

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
