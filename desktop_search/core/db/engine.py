"""Engine set-up: every connection gets WAL, a busy timeout and foreign keys."""

from __future__ import annotations

import logging
import os
import sqlite3
import urllib.parse
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.pool import QueuePool

from .. import paths
from .migrations import MIGRATIONS
from .schema import SCHEMA_VERSION

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000


class DatabaseError(RuntimeError):
    """The library database cannot be used; the message is meant for the user."""


class NewerDatabaseError(DatabaseError):
    pass


def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA journal_mode = WAL")
    cur.execute("PRAGMA synchronous = NORMAL")
    cur.execute("PRAGMA foreign_keys = ON")
    cur.close()


def _on_connect_read_only(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    dbapi_conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")


def connect(path: Path, read_only: bool = False, check_same_thread: bool = True) -> sqlite3.Connection:
    """A plain sqlite3 connection to the database at ``path``; ``read_only``: opened with
    ``mode=ro`` (SQLite then writes nothing there). Without a -wal file (the library was closed
    cleanly: everything is in the database file) also ``immutable=1``: SQLite cannot open a WAL
    database read-only where it may not create the -shm file, which a read-only folder forbids."""
    if read_only:
        wal = path.with_name(path.name + "-wal")
        immutable = "" if wal.exists() and wal.stat().st_size > 0 else "&immutable=1"
        uri = "file:" + urllib.parse.quote(os.fsencode(path)) + "?mode=ro" + immutable
        return sqlite3.connect(uri, uri=True, check_same_thread=check_same_thread, timeout=BUSY_TIMEOUT_MS / 1000)
    return sqlite3.connect(os.fspath(path), check_same_thread=check_same_thread, timeout=BUSY_TIMEOUT_MS / 1000)


def _user_version(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA user_version").scalar() or 0)


def open_database(path: Path, read_only: bool = False) -> Engine:
    """Open (creating or migrating) the library database at ``path``. ``read_only``: a library this
    user cannot write (read-only folder, file or disk) opened for reading only: searching works,
    and it is neither created nor upgraded here."""
    if read_only:
        if not path.exists():
            raise DatabaseError(f"there is no library database at {path}, and its folder is read-only")
        existed = True
    else:
        paths.ensure(path.parent)
        existed = path.exists() and path.stat().st_size > 0
        if not path.exists():
            paths.private_file(path)  # SQLite gives the -wal and -shm files the database's permissions
    engine = create_engine(
        "sqlite://",
        creator=lambda: connect(path, read_only, check_same_thread=False),
        poolclass=QueuePool,
        pool_size=4,
        max_overflow=8,
    )
    event.listen(engine, "connect", _on_connect_read_only if read_only else _on_connect)
    try:
        version = _user_version(engine)
    except Exception as exc:  # not a database at all, or unreadable
        engine.dispose()
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]  # not SQLAlchemy's "Background on this error" line
        raise DatabaseError(f"cannot read the library database {path}: {reason}") from exc
    if version > SCHEMA_VERSION:
        engine.dispose()
        raise NewerDatabaseError(
            f"the library {path} was written by a newer version of Desktop Search "
            f"(schema {version}, this version knows up to {SCHEMA_VERSION}); please upgrade"
        )
    if version < SCHEMA_VERSION and read_only:
        engine.dispose()
        raise DatabaseError(
            f"the library {path} must be upgraded (schema {version} to {SCHEMA_VERSION}) but is read-only; "
            "make it writable and open it again"
        )
    if version < SCHEMA_VERSION:
        try:
            _migrate(engine, path, existed)
        except Exception:
            engine.dispose()
            raise
    return engine


def _migrate(engine: Engine, path: Path, existed: bool) -> None:
    """Create or upgrade the schema in one write transaction taken before the version is read
    again: two programs opening a new library at once never both create its tables (the second
    waits, up to the busy timeout, and then finds the work done)."""
    with engine.connect() as conn:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        version = int(conn.exec_driver_sql("PRAGMA user_version").scalar() or 0)
        if version >= SCHEMA_VERSION:
            conn.rollback()
            return
        if existed and version > 0:
            backup = path.with_name(f"{path.name}.v{version}-{datetime.now():%Y%m%d-%H%M%S}.bak")
            _backup(engine, backup)
            log.info("backed up the library to %s before migrating", backup)
        for step in range(version, SCHEMA_VERSION):
            MIGRATIONS[step](conn)
            conn.execute(text(f"PRAGMA user_version = {step + 1}"))
        conn.commit()


def _backup(engine: Engine, target: Path) -> None:
    """A consistent copy through SQLite's online backup API (safe with WAL)."""
    raw = engine.raw_connection()
    try:
        paths.private_file(target)
        dest = sqlite3.connect(str(target))
        try:
            raw.driver_connection.backup(dest)  # type: ignore[union-attr]
        finally:
            dest.close()
    finally:
        raw.close()
