"""Versioned schema migrations.

Version 0 is an empty file. Each entry of MIGRATIONS moves the schema from its index to index + 1;
a backup copy of the database file is taken before any step runs on an existing library.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection

from .schema import Base


def _create_v1(conn: Connection) -> None:
    Base.metadata.create_all(conn)


MIGRATIONS: list[Callable[[Connection], None]] = [_create_v1]
