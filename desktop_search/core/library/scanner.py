"""Walk watched folders and list their photos with (size, mtime) without decoding anything."""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import logging
import os
import posixpath
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .formats import HEIF_EXTENSIONS, is_photo_name, photo_extensions

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
    #: the caption file beside it as found (:func:`sidecar_stamp`), None for none
    sidecar: str | None = None


#: a sidecar caption larger than this is not read (``metadata.sidecar_caption``)
MAX_SIDECAR_BYTES = 64_000


def sidecar_names(name: str) -> tuple[str, str]:
    """The names of a photo's sidecar caption files, in the order they are looked for:
    ``NAME.txt`` then ``NAME.ext.txt`` (``beach.jpg``: ``beach.txt``, ``beach.jpg.txt``)."""
    return os.path.splitext(name)[0] + ".txt", name + ".txt"


def _stamp(which: int, st: os.stat_result) -> str | None:
    if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_SIDECAR_BYTES:
        return None  # not read as a caption (metadata.sidecar_caption): looks on to the next
    return f"{which}:{st.st_size}:{st.st_mtime_ns}"


def sidecar_stamp(path: str, listed: dict[str, os.DirEntry[str]] | None = None) -> str | None:
    """What identifies the sidecar caption file of the photo ``path`` as it is now (which one, its
    size and mtime), or None when it has none: a caption written, edited, replaced or deleted
    beside an unchanged photo changes it. ``listed``: the ``.txt`` entries of the photo's folder
    as a walk listed them, by ``os.path.normcase`` of their names (only those are looked at: no stat
    for a photo without one)."""
    folder, name = os.path.split(path)
    for which, candidate in enumerate(sidecar_names(name)):
        try:
            if listed is None:
                st = os.stat(os.path.join(folder, candidate))
            else:
                entry = listed.get(os.path.normcase(candidate))
                if entry is None:
                    continue
                st = entry.stat()
        except OSError:
            continue
        found = _stamp(which, st)
        if found is not None:
            return found
    return None


@dataclass(frozen=True)
class ScanProblem:
    path: str
    reason: str
    #: whether the library keeps the photos it knows at or below ``path`` (they could not be looked
    #: at this time); False for a notice that says nothing of them (HEIC support missing)
    protects: bool = True


#: the start of the notice for HEIC photos skipped because HEIC support is not installed
HEIC_NEEDS_EXTRA = "HEIC support is not installed"


def heic_notice(count: int) -> str:
    photos = "1 HEIC photo was" if count == 1 else f"{count:,} HEIC photos were"
    return (f"{HEIC_NEEDS_EXTRA}: {photos} skipped here (install Desktop Search with the [heic] extra, "
            "pip install 'desktop-search[heic]', or the pillow-heif package, then index again)")


def normalise(path: str | Path) -> str:
    """The one form paths are stored in: absolute, POSIX separators, no trailing slash."""
    return Path(os.path.abspath(os.path.expanduser(str(path)))).as_posix()


def is_hidden(name: str) -> bool:
    return name.startswith(".") or name.lower() in SYSTEM_FOLDERS


_GLOB_CHARS = frozenset("*?[")


def _has_glob(pattern: str) -> bool:
    return any(c in _GLOB_CHARS for c in pattern)


_ESCAPED_GLOB_CHAR = re.compile(r"\[([\[*?])\]")


def literal_of(pattern: str) -> str | None:
    """The path a pattern whose glob characters are all escaped (``glob.escape``: ``[[]``, ``[*]``,
    ``[?]``) stands for, or None for a real glob: a folder chosen in the window to be left out is
    written so, and ``/W/[[]ab]`` means the folder ``/W/[ab]``, not ``/W/a`` and ``/W/b``."""
    if _has_glob(_ESCAPED_GLOB_CHAR.sub("", pattern)):
        return None
    return _ESCAPED_GLOB_CHAR.sub(r"\1", pattern)


def folder_exclusion(path: str) -> str:
    """The exclusion that leaves out exactly the folder (or file) ``path``: its glob characters, if
    any, escaped (see :func:`literal_of`), so a folder named ``[ab]`` or ``Best*`` is not a pattern."""
    text = os.path.normpath(path)
    return glob.escape(text) if _has_glob(text) else text


def is_below(path: str, root: str) -> bool:
    """Whether ``path`` lies strictly inside ``root`` (both normalised)."""
    return path.startswith(root.rstrip("/") + "/")


def below_bounds(root: str) -> tuple[str, str]:
    """(low, high): the paths strictly inside ``root`` are exactly those with ``low < path < high``
    ("0" follows "/"), a range a database index can answer (LIKE would ignore case)."""
    prefix = root.rstrip("/")
    return prefix + "/", prefix + "0"


def clean_exclusion(pattern: str) -> str:
    """The stored form of an exclusion: absolute paths normalised; relative ones with ``/``
    separators, no trailing slash, ``./`` kept only on a single name (``./sub``: that sub-folder,
    not every folder named ``sub``); globs as given (only the separators unified); "" for nothing."""
    text = str(pattern).strip()
    if not text:
        return ""
    if os.sep != "/":
        text = text.replace(os.sep, "/")
    if _has_glob(text):
        return text
    if os.path.isabs(text) or text.startswith("~"):
        return normalise(text)
    rel = posixpath.normpath(text)
    if rel in (".", "") or rel.startswith("../"):
        return ""
    # "./name" says "this sub-folder of the watched folder", not "any folder of that name"
    return "./" + rel if text.startswith("./") and "/" not in rel else rel


def _is_absolute(pattern: str) -> bool:
    return pattern.startswith("/") or os.path.isabs(pattern)


def anchored(patterns: Iterable[str], root: str | None) -> list[str]:
    """``patterns`` (cleaned) of the watched folder ``root`` in a form that means the same below any
    folder inside it: relative paths made absolute against ``root``; bare names, globs and absolute
    paths as they are. Without a root, relative paths stay relative (and then never match)."""
    base = root.rstrip("/") if root else None
    out = []
    for raw in patterns:
        pattern = clean_exclusion(raw)
        if base is not None and "/" in pattern and not (_has_glob(pattern) or _is_absolute(pattern)):
            pattern = base + "/" + pattern.removeprefix("./")
        if pattern:
            out.append(pattern)
    return out


@dataclass(frozen=True)
class Exclusions:
    """A watched folder's exclusions, resolved once against the folder (``root``):

    * a bare name (no separator, no glob characters) leaves out every file or folder of that name
      below the watched folder;
    * a relative path is taken relative to the watched folder;
    * an absolute path leaves out that file or folder and everything below it;
    * a glob is matched against the absolute path (and, given a root, the path below it).
    """

    names: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    exact: frozenset[str] = frozenset()
    globs: tuple[str, ...] = ()
    root: str | None = None

    @staticmethod
    def of(patterns: Iterable[str], root: str | None = None) -> Exclusions:
        names: set[str] = set()
        exact: set[str] = set()
        globs: list[str] = []
        base = root.rstrip("/") if root else None
        for pattern in anchored(patterns, root):
            if _has_glob(pattern):
                literal = literal_of(pattern)
                if literal is None:
                    globs.append(pattern)
                    continue
                pattern = literal  # an escaped path: that very file or folder, or name
                if base is not None and "/" in pattern and not _is_absolute(pattern):
                    pattern = base + "/" + pattern.removeprefix("./")
            if _is_absolute(pattern):
                exact.add(pattern.rstrip("/") or "/")
            elif "/" not in pattern:
                names.add(os.path.normcase(pattern))
            else:
                exact.add(pattern)  # relative, with nothing to resolve it against: never matches
        return Exclusions(
            frozenset(names), tuple(e.rstrip("/") + "/" for e in sorted(exact)), frozenset(exact), tuple(globs), base
        )

    def __bool__(self) -> bool:
        return bool(self.names or self.exact or self.globs)

    def match(self, path: str) -> bool:
        if path in self.exact or (self.prefixes and path.startswith(self.prefixes)):
            return True
        rel = None
        if self.names:
            if self.root is not None and path.startswith(self.root + "/"):
                rel = path[len(self.root) + 1 :]
                parts = rel.split("/")
            else:
                parts = path.split("/")
            if any(os.path.normcase(part) in self.names for part in parts):
                return True
        for pattern in self.globs:
            if fnmatch.fnmatch(path, pattern):
                return True
            if self.root is not None:
                if rel is None and path.startswith(self.root + "/"):
                    rel = path[len(self.root) + 1 :]
                if rel is not None and fnmatch.fnmatch(rel, pattern):
                    return True
        return False


def is_excluded(path: str, exclusions: Iterable[str] | Exclusions, root: str | None = None) -> bool:
    """Whether ``path`` (normalised, absolute) is left out by ``exclusions`` of the watched folder
    ``root`` (see :class:`Exclusions`)."""
    rules = exclusions if isinstance(exclusions, Exclusions) else Exclusions.of(exclusions, root)
    return bool(rules) and rules.match(path)


def walk(
    root: str,
    exclusions: Iterable[str] | Exclusions = (),
    problems: list[ScanProblem] | None = None,
    skip: Iterable[str] = (),
) -> Iterator[FoundFile]:
    """Yield every photo below ``root``: hidden and system folders skipped, symlink loops broken,
    unreadable folders reported in ``problems`` and skipped. Folders in ``skip`` (e.g. other
    watched folders nested inside this one, scanned on their own) are not entered."""
    exts = photo_extensions()
    heic_missing = not exts >= HEIF_EXTENSIONS
    heic_skipped = 0
    excl = exclusions if isinstance(exclusions, Exclusions) else Exclusions.of(exclusions, root)
    skipped = frozenset(s.rstrip("/") for s in skip)
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
        # the folder's .txt files: the only ones a photo's sidecar caption can be (sidecar_stamp)
        texts = {os.path.normcase(e.name): e for e in entries if e.name[-4:].lower() == ".txt"}
        subdirs = []
        denied: list[str] = []  # photos whose details this user may not read
        listed = 0
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            path = current.rstrip("/") + "/" + name
            try:
                if entry.is_dir():
                    if not is_hidden(name) and path not in skipped and not (excl and excl.match(path)):
                        subdirs.append(path)
                    continue
                if not is_photo_name(name, exts) or not entry.is_file():
                    if heic_missing and is_photo_name(name, HEIF_EXTENSIONS) and not (excl and excl.match(path)):
                        heic_skipped += 1  # said once for the folder below (HEIC_NEEDS_EXTRA)
                    continue
                if excl and excl.match(path):
                    continue
                listed += 1
                est = entry.stat()
            except PermissionError:
                denied.append(path)  # e.g. a folder that may be listed but not entered (r-- without x)
                continue
            except OSError:
                continue  # vanished or a dangling link: nothing to index
            yield FoundFile(path, est.st_size, est.st_mtime, sidecar_stamp(path, texts) if texts else None)
        if denied and problems is not None:
            if len(denied) == listed and len(denied) > 1:  # the folder itself: one line, not one a photo
                problems.append(ScanProblem(current, f"permission denied: its {len(denied)} photos cannot be read"))
            else:
                problems.extend(ScanProblem(path, "permission denied") for path in denied)
        stack.extend(sorted(subdirs, reverse=True))
    if heic_skipped and problems is not None:
        problems.append(ScanProblem(root, heic_notice(heic_skipped), protects=False))


def stat_file(path: str) -> FoundFile | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not os.path.isfile(path):
        return None
    found = normalise(path)
    return FoundFile(found, st.st_size, st.st_mtime, sidecar_stamp(found))


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
