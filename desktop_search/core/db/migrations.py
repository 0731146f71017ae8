"""Versioned schema migrations.

Version 0 is an empty file. Each entry of MIGRATIONS moves the schema from its index to index + 1;
a backup copy of the database file is taken before any step runs on an existing library.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import Connection

from .schema import Base

log = logging.getLogger(__name__)


def _create_v1(conn: Connection) -> None:
    Base.metadata.create_all(conn)


def _text_tables_v2(conn: Connection) -> None:
    """The recognised text of photos and its full-text index (core/text/store.py, docs/TEXT.md § 4).

    Inside the migration's transaction. A SQLite without FTS5's trigram tokenizer (< 3.34) gets no
    text tables: text search is then off (``store.has_text_tables`` is False) and nothing else changes."""
    from ..text.store import TextSearchUnavailable, create_text_tables

    raw = conn.connection.driver_connection
    try:
        create_text_tables(raw)  # type: ignore[arg-type]
    except TextSearchUnavailable as exc:
        log.warning("text search is off: %s", exc)


def _sidecar_v3(conn: Connection) -> None:
    """``photos.sidecar``: the caption file beside each photo as last seen, so that a rescan notices
    a caption written, edited or deleted beside an unchanged photo. NULL (none seen) for the photos
    indexed before: the first rescan reads the captions of those that have one again (text only)."""
    columns = {row[1] for row in conn.exec_driver_sql("PRAGMA table_info(photos)")}
    if "sidecar" not in columns:  # a library created at version 3 has it from _create_v1
        conn.exec_driver_sql("ALTER TABLE photos ADD COLUMN sidecar TEXT")


MIGRATIONS: list[Callable[[Connection], None]] = [_create_v1, _text_tables_v2, _sidecar_v3]
