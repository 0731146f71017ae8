"""The library's tables.

Paths are stored as absolute POSIX-style text (``Path.as_posix()``), one form everywhere; names that
are not valid Unicode are escaped losslessly (``pathtext.PathText``; raw SQL uses ``to_db`` / ``from_db``).
Vectors are float16 blobs tied to the model key (``name@version``) that made them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from .pathtext import PathText

#: bump together with a new step in migrations.MIGRATIONS
SCHEMA_VERSION = 3


class Base(DeclarativeBase):
    pass


class Meta(Base):
    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String, primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Folder(Base):
    __tablename__ = "folders"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(PathText, unique=True)
    #: JSON list of absolute paths or glob patterns excluded below this folder
    exclusions: Mapped[str] = mapped_column(Text, default="[]")
    added_at: Mapped[datetime] = mapped_column(default=datetime.now)
    photos: Mapped[list[Photo]] = relationship(back_populates="folder", cascade="all, delete-orphan", passive_deletes=True)


class PhotoStatus:
    PENDING = "pending"
    INDEXED = "indexed"
    ERROR = "error"


class Photo(Base):
    __tablename__ = "photos"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    folder_id: Mapped[int] = mapped_column(ForeignKey("folders.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(PathText, unique=True)
    size: Mapped[int] = mapped_column(Integer)
    mtime: Mapped[float] = mapped_column(Float)
    content_hash: Mapped[str] = mapped_column(String(40), index=True)
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    date_taken: Mapped[datetime | None] = mapped_column(nullable=True, index=True)
    camera: Mapped[str | None] = mapped_column(Text, nullable=True)
    caption: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: the text embedded beside the image: the caption, else the words of the file name
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: the sidecar caption file (``NAME.txt`` / ``NAME.ext.txt``) as last seen: which, size and
    #: mtime (``scanner.sidecar_stamp``), NULL for none; a rescan that finds another reads the caption again
    sidecar: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default=PhotoStatus.PENDING, index=True)
    #: why it could not be indexed (may quote its path: stored as losslessly as one)
    error: Mapped[str | None] = mapped_column(PathText, nullable=True)
    thumbnail: Mapped[str | None] = mapped_column(PathText, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(default=datetime.now, onupdate=datetime.now)

    folder: Mapped[Folder] = relationship(back_populates="photos")
    vectors: Mapped[list[Vector]] = relationship(back_populates="photo", cascade="all, delete-orphan", passive_deletes=True)


class Problem(Base):
    """Something found while scanning that is not a photo row: an unreadable folder, say."""

    __tablename__ = "problems"
    path: Mapped[str] = mapped_column(PathText, primary_key=True)
    reason: Mapped[str] = mapped_column(PathText)
    when: Mapped[datetime] = mapped_column(default=datetime.now)


class Vector(Base):
    __tablename__ = "vectors"
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    #: float16, L2-normalised image vector
    image: Mapped[bytes] = mapped_column(LargeBinary)
    #: float16 vector of the photo's text, or NULL when it has none
    text_vec: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    text_gate: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: the text that text_vec was made from (re-embedded when the caption changes)
    text_source: Mapped[str | None] = mapped_column(Text, nullable=True)

    photo: Mapped[Photo] = relationship(back_populates="vectors")

    __table_args__ = (Index("ix_vectors_model", "model"),)
