"""Walk watched folders and list their photos with (size, mtime) without decoding anything."""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .formats import is_photo_name, photo_extensions

log = logging.getLogger(__name__)

#: folders that hold no user photos (system, trash, NAS metadata, thumbnail caches)
SYSTEM_FOLDERS = frozenset(
    {
        "$recycle.bin",
        "system volume information",
        "lost+found",
        "@eadir",
        "#recycle",
        "__macosx",
        "node_modules",
        "appdata",
    }
)

HASH_HEAD = 1 << 20
HASH_TAIL = 64 << 10


@dataclass(frozen=True)
class FoundFile:
    path: str
    size: int
    mtime: float


@dataclass(frozen=True)
class ScanProblem:
    path: str
    reason: str


def normalise(path: str | Path) -> str:
    """The one form paths are stored in: absolute, POSIX separators, no trailing slash."""
    return Path(os.path.abspath(os.path.expanduser(str(path)))).as_posix()


def is_hidden(name: str) -> bool:
    return name.startswith(".") or name.lower() in SYSTEM_FOLDERS


def is_excluded(path: str, exclusions: Iterable[str]) -> bool:
    for pattern in exclusions:
        if path == pattern or path.startswith(pattern.rstrip("/") + "/") or fnmatch.fnmatch(path, pattern):
            return True
    return False


def walk(root: str, exclusions: Iterable[str] = (), problems: list[ScanProblem] | None = None) -> Iterator[FoundFile]:
    """Yield every photo below ``root``: hidden and system folders skipped, symlink loops broken,
    unreadable folders reported in ``problems`` and skipped."""
    exts = photo_extensions()
    excl = tuple(exclusions)
    seen_dirs: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        current = stack.pop()
        try:
            st = os.stat(current)
        except OSError as exc:
            if problems is not None and current != root:
                problems.append(ScanProblem(current, f"folder cannot be read: {exc.strerror or exc}"))
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs:
            log.debug("skipping %s: already visited (symlink loop)", current)
            continue
        seen_dirs.add(key)
        try:
            with os.scandir(current) as it:
                entries = list(it)
        except OSError as exc:
            if problems is not None:
                problems.append(ScanProblem(current, f"folder cannot be read: {exc.strerror or exc}"))
            continue
        subdirs = []
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            path = current.rstrip("/") + "/" + name
            try:
                if entry.is_dir():
                    if not is_hidden(name) and not is_excluded(path, excl):
                        subdirs.append(path)
                    continue
                if not is_photo_name(name, exts) or not entry.is_file():
                    continue
                if excl and is_excluded(path, excl):
                    continue
                est = entry.stat()
            except OSError:
                continue  # vanished or a dangling link: nothing to index
            yield FoundFile(path, est.st_size, est.st_mtime)
        stack.extend(sorted(subdirs, reverse=True))


def stat_file(path: str) -> FoundFile | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not os.path.isfile(path):
        return None
    return FoundFile(normalise(path), st.st_size, st.st_mtime)


def content_hash(path: str, size: int | None = None) -> str:
    """A fingerprint of the contents: size + first MiB + last 64 KiB (fast on large files, and
    enough to recognise a moved or renamed photo)."""
    h = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as f:
        if size is None:
            size = os.fstat(f.fileno()).st_size
        h.update(str(size).encode())
        h.update(f.read(HASH_HEAD))
        if size > HASH_HEAD + HASH_TAIL:
            f.seek(-HASH_TAIL, os.SEEK_END)
            h.update(f.read(HASH_TAIL))
    return h.hexdigest()
