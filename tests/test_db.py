"""Database versioning: migrations run in order, with a backup first; newer files are refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from desktop_search.core.db import engine as engine_mod
from desktop_search.core.db import migrations
from desktop_search.core.db.engine import NewerDatabaseError, open_database
from desktop_search.core.db.schema import SCHEMA_VERSION


def test_fresh_database_is_at_current_version(tmp_path: Path) -> None:
    engine = open_database(tmp_path / "library.db")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA user_version").scalar() == SCHEMA_VERSION
    engine.dispose()


def test_migration_backs_up_and_keeps_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "library.db"
    engine = open_database(path)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO folders (path, exclusions, added_at) VALUES ('/photos', '[]', '2024-01-01')"))
    engine.dispose()

    def add_column(conn) -> None:
        conn.execute(text("ALTER TABLE folders ADD COLUMN label TEXT"))

    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, add_column])
    monkeypatch.setattr(engine_mod, "MIGRATIONS", [*migrations.MIGRATIONS])
    monkeypatch.setattr(engine_mod, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    engine = open_database(path)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA user_version").scalar() == SCHEMA_VERSION + 1
        assert conn.exec_driver_sql("SELECT path, label FROM folders").all() == [("/photos", None)]
    engine.dispose()
    backups = list(tmp_path.glob(f"library.db.v{SCHEMA_VERSION}-*.bak"))
    assert len(backups) == 1
    old = sqlite3.connect(backups[0])
    assert old.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert old.execute("SELECT path FROM folders").fetchall() == [("/photos",)]
    old.close()


def test_newer_database_refused(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    open_database(path).dispose()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(NewerDatabaseError, match="newer version"):
        open_database(path)
