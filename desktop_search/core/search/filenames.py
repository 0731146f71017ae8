"""File names find their files: a lexical match of the query against the photos' file names.

The network ranks by meaning, so a query such as ``IMG_0001``, ``renamed_5`` or
``1019077836_6fc9b15408.jpg`` (a name the user reads in a file manager) found nothing in particular.
Here such a query finds the photo of that name, and the search puts it first, ahead of the model's
ranking, without changing anybody's score:

* tier 0: the query is the whole file name (with or without its extension);
* tier 1: the query is a distinctive part of it: it starts at a word of the name (``greyhound``
  in ``greyhound_on_the_lawn.jpg``), and at most :data:`DISTINCTIVE_MAX` photos have it (``IMG``
  in a camera folder is not distinctive).

Case does not count, and the query's words may be joined in the name by ``_ - . + ,``, spaces, or
nothing (``img 0001``, ``IMG0001`` and ``IMG_0001.JPG``; ``greyhound on lawn`` and
``GreyhoundOnLawn.png``). The names of a library live in one lower-cased string, searched with a
regular expression in C (tens of ms for a million photos), reloaded when the database changed.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..library.formats import BASE_EXTENSIONS, HEIF_EXTENSIONS, OTHER_IMAGE_EXTENSIONS

#: a part of names shared by more photos than this is not distinctive (only whole names count then)
DISTINCTIVE_MAX = 25
#: shorter queries (after canonicalising) match whole names only
MIN_PART_CHARS = 3
#: a library with more photos than this reloads its names at most every RELOAD_EVERY_S while it changes
LARGE = 100_000
RELOAD_EVERY_S = 20.0

#: image extensions (without the dot) a query may name a file with: photos and other image files
IMAGE_EXTENSIONS = frozenset(e[1:] for e in BASE_EXTENSIONS | HEIF_EXTENSIONS | OTHER_IMAGE_EXTENSIONS)
_SEPARATORS = re.compile(r"[\s_\-.+,]+")
_SEPARATOR_CLASS = r"[\s_\-.+,]"
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_LETTER_DIGIT = re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")
_EXTENSION_TAIL = r"(?:\.[^\W_]{1,5})?"


def stem_of(name: str) -> str:
    """The file name without an image extension (``a.b.jpg`` -> ``a.b``; ``x.txt`` stays)."""
    base, dot, ext = name.rpartition(".")
    return base if dot and base and ext.lower() in IMAGE_EXTENSIONS else name


def canonical(name: str) -> str:
    """A query's words, lower case, one space apart: split at separators, where letters meet
    digits and where a lower-case letter meets a capital."""
    text = unicodedata.normalize("NFC", name)
    text = _CAMEL.sub(" ", text)
    text = _LETTER_DIGIT.sub(" ", text)
    return _SEPARATORS.sub(" ", text.lower()).strip()


class FileNames:
    """The file names of a library's photos, by photo id, lower-cased in one string (``\n`` before
    each name): built in well under a second for a million photos. A query becomes a pattern in
    which its words may be joined by any run of separators, or none (``img 0001`` finds
    ``IMG_0001.jpg`` and ``img0001.jpg``)."""

    def __init__(self, ids: Sequence[int], paths: Sequence[str]) -> None:
        self.ids = np.asarray(ids, np.int64)
        names = [p[max(p.rfind("/"), p.rfind("\\")) + 1:].replace("\n", " ") for p in paths]
        joined = "\n" + "\n".join(names) + "\n" if names else "\n"  # a newline before each name, one after
        self._text = unicodedata.normalize("NFC", joined).lower()
        newlines = np.flatnonzero(np.frombuffer(self._text.encode("utf-32-le"), np.uint32) == 10)
        self._starts = newlines[:-1]  # name i begins after the newline at _starts[i]
        if len(self._starts) != len(self.ids):  # cannot happen (newlines in names are replaced)
            raise ValueError("file names and ids differ in number")

    def __len__(self) -> int:
        return len(self.ids)

    def matches(self, query: str) -> list[tuple[int, int]]:
        """(photo id, tier) of the photos whose file name the query names, tier 0 first."""
        q = canonical(stem_of(query.strip()))
        if not q or not len(self.ids):
            return []
        if self._text.find(max(q.split(" "), key=len)) < 0:
            return []  # most queries: a plain find of their longest word rules them out (C, memchr)
        words = _SEPARATOR_CLASS + "*"
        body = words.join(re.escape(w) for w in q.split(" "))
        whole = re.compile("\n" + words + body + words + _EXTENSION_TAIL + "(?=\n)")
        found = [self._owner(m.start()) for m in whole.finditer(self._text)]
        out = [(int(self.ids[i]), 0) for i in dict.fromkeys(found)]
        if len(q) < MIN_PART_CHARS:
            return out
        seen = set(found)
        part: list[int] = []
        text = self._text
        for m in re.finditer(body, text):
            if not _starts_a_word(text, m.start()):
                continue
            i = self._owner(m.start())
            if i not in seen:
                seen.add(i)
                part.append(i)
                if len(part) > DISTINCTIVE_MAX:
                    return out  # not distinctive: whole names only
        return out + [(int(self.ids[i]), 1) for i in part]

    def _owner(self, pos: int) -> int:
        return int(np.searchsorted(self._starts, pos, side="right")) - 1


def _starts_a_word(text: str, pos: int) -> bool:
    """Whether a match at ``pos`` begins a word of the name: after a separator or the name's start,
    or where letters meet digits (``0001`` in ``img0001``)."""
    before, first = text[pos - 1], text[pos]
    return before == "\n" or not before.isalnum() or before.isdigit() != first.isdigit()


class FileNameIndex:
    """A library's :class:`FileNames`, reloaded when its database has changed (``PRAGMA
    data_version`` on a connection of its own: any commit by another connection changes it)."""

    def __init__(self, db: Path, clock: Callable[[], float] = time.monotonic, read_only: bool = False) -> None:
        self._db = db
        self._read_only = read_only  # a read-only library: opened as the library's engine opens it
        self._clock = clock
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._version: int | None = None
        self._names: FileNames | None = None
        self._loaded_at = 0.0

    def matches(self, query: str) -> list[tuple[int, int]]:
        return self.names().matches(query)

    def names(self) -> FileNames:
        with self._lock:
            if self._conn is None:
                from ..db.engine import connect

                self._conn = connect(self._db, self._read_only, check_same_thread=False)
            version = self._conn.execute("PRAGMA data_version").fetchone()[0]
            stale = self._names is None or version != self._version
            if stale and self._names is not None and len(self._names) > LARGE:
                stale = self._clock() - self._loaded_at >= RELOAD_EVERY_S  # a big library changing: not every search
            if stale:
                rows = self._conn.execute("SELECT id, path FROM photos").fetchall()
                self._names = FileNames([r[0] for r in rows], [r[1] for r in rows])
                self._version = version
                self._loaded_at = self._clock()
            assert self._names is not None
            return self._names

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._names = None


def merge(named: list[tuple[int, float, int]], ranked: list[tuple[int, float]], limit: int) -> list[tuple[int, float]]:
    """The photos the query names (id, score, tier) first — whole names, then parts, each by
    score — then the model's ranking without them; ``limit`` in all. Scores are unchanged."""
    first = sorted(named, key=lambda h: (h[2], -h[1]))
    taken = {pid for pid, _, _ in first}
    out = [(pid, score) for pid, score, _ in first]
    out += [(pid, score) for pid, score in ranked if pid not in taken]
    return out[:limit]
