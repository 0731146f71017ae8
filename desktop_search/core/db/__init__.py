"""SQLite storage through SQLAlchemy 2: models, engine set-up and versioned migrations."""

from .engine import DatabaseError, NewerDatabaseError, open_database
from .schema import SCHEMA_VERSION, Base, Folder, Meta, Photo, PhotoStatus, Problem, Vector

__all__ = [
    "SCHEMA_VERSION",
    "Base",
    "DatabaseError",
    "Folder",
    "Meta",
    "NewerDatabaseError",
    "Photo",
    "PhotoStatus",
    "Problem",
    "Vector",
    "open_database",
]
