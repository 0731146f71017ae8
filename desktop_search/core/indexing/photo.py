"""One photo read for the index, in a decode thread: decoded (reduced-size JPEG decoding, EXIF
orientation), its metadata read, its thumbnail written, its pixels preprocessed for the model; and
the thumbnails' files (named by content, shared by copies)."""

from __future__ import annotations

import contextlib
import errno
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ..db import Photo
from ..errors import LibraryWriteError
from ..library.formats import IPTC_EXTENSIONS
from ..library.imageio import (
    ImageDecodeError,
    decode,
    make_thumbnail,
    may_carry_iptc,
    thumbnail_ok,
    thumbnail_size,
)
from ..library.metadata import photo_text, read_meta
from ..models.base import EmbeddingModel

log = logging.getLogger(__name__)

THUMBNAIL_SIZE = 256


@dataclass
class PhotoWork:
    id: int
    path: str
    content_hash: str
    caption: str | None


@dataclass
class PreparedPhoto:
    id: int
    path: str
    array: np.ndarray | None
    width: int = 0
    height: int = 0
    date_taken: datetime | None = None
    camera: str | None = None
    caption: str | None = None
    text: str | None = None
    thumbnail: str | None = None
    mtime: float = 0.0
    error: str | None = None
    vanished: bool = False


def prepare_photo(model: EmbeddingModel, work: PhotoWork, min_side: int, thumbnails_dir: Path) -> PreparedPhoto:
    """Decode one photo, read its metadata, write its thumbnail and preprocess it for ``model``.
    Runs in a decode thread: never raises but :class:`LibraryWriteError` (the library's disk)."""
    path = Path(work.path)
    try:
        decoded = decode(path, min_side=min_side)
        # IPTC is read only from JPEG and TIFF names (read_meta opens the file again for it)
        look_for_iptc = path.suffix.lower() in IPTC_EXTENSIONS and may_carry_iptc(decoded)
        meta = read_meta(path, decoded.exif, decoded.info, look_for_iptc)
        thumb = thumbnail_file(thumbnails_dir, work.content_hash)
        if not thumbnail_ok(thumb, thumbnail_size(decoded.image.width, decoded.image.height, THUMBNAIL_SIZE)):
            write_thumbnail(decoded.image, thumb, thumbnails_dir)
        array = model.preprocess(decoded.image)
        mtime = path.stat().st_mtime
    except ImageDecodeError as exc:
        return PreparedPhoto(work.id, work.path, None, error=str(exc), vanished=not path.exists())
    except LibraryWriteError:
        raise  # the library's disk, not the photo: the job stops with one message
    except Exception as exc:  # a bug or an exotic file must not stop the run
        log.warning("failed to read %s: %r", path, exc)
        return PreparedPhoto(work.id, work.path, None, error=f"unreadable: {exc}", vanished=not path.exists())
    caption = meta.caption
    return PreparedPhoto(
        work.id,
        work.path,
        array,
        width=decoded.width,
        height=decoded.height,
        date_taken=meta.date_taken,
        camera=meta.camera,
        caption=caption,
        text=photo_text(caption, path.name),
        thumbnail=str(thumb),
        mtime=mtime,
    )

def write_thumbnail(image: Image.Image, thumb: Path, thumbnails_dir: Path) -> None:
    """Write a thumbnail into the library; a system error doing so (a full disk, a read-only or
    failing one) is the library's problem, raised as :class:`LibraryWriteError`."""
    try:
        make_thumbnail(image, thumb, THUMBNAIL_SIZE)
    except OSError as exc:
        if exc.errno is None:  # Pillow's own complaint about the image, not the disk
            raise
        with contextlib.suppress(OSError):
            thumb.unlink()  # nothing half-written stays behind
        advice = "free some space" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "check that it is writable"
        raise LibraryWriteError(
            f"cannot write to the library {thumbnails_dir.parent} ({exc.strerror or exc}); "
            f"{advice} and index again: the photos not yet indexed are kept for then"
        ) from exc


def thumbnail_file(thumbnails_dir: Path, content_hash: str) -> Path:
    """Where the thumbnail of a photo's contents is kept (named by content: copies share one)."""
    return thumbnails_dir / content_hash[:2] / f"{content_hash}.jpg"


def drop_unused_thumbnails(engine: Engine, thumbnails_dir: Path, hashes: list[str]) -> int:
    """Delete the thumbnails (named by content hash) of these contents unless a photo still uses
    them (same content, or its ``thumbnail`` column names the file). Returns how many went."""
    wanted = sorted(set(h for h in hashes if h))
    if not wanted:
        return 0
    files = {h: thumbnail_file(thumbnails_dir, h) for h in wanted}
    used: set[str] = set()
    with Session(engine) as s:
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            used.update(s.scalars(select(Photo.content_hash).where(Photo.content_hash.in_(chunk))))
            names = [str(files[h]) for h in chunk]
            used.update(Path(t).stem for t in s.scalars(select(Photo.thumbnail).where(Photo.thumbnail.in_(names))) if t)
    gone = 0
    for h, path in files.items():
        if h in used:
            continue
        try:
            path.unlink()
            gone += 1
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.debug("could not delete the thumbnail %s: %s", path, exc)
    return gone
