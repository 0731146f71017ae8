"""The vector store's reader: every vector of one model key, read into a :class:`VectorMatrix`.

Two readers give the same values: row by row (:func:`_read_vectors_rows`), and columnar
(:func:`_read_vectors_columnar`: SQLite concatenates each column in one statement step with the GIL
released), which :class:`Prefetch` runs on a thread of its own while the model loads
(``PhotoLibrary.load_model``).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from ..db import PhotoStatus
from ..db.engine import connect
from ..indexing.pipeline import photo_timestamp
from .matrix import VectorMatrix

log = logging.getLogger(__name__)


def load_matrix(db: Path, key: str, dim: int, read_only: bool = False) -> VectorMatrix:
    """Every vector of ``key`` in ``db`` (straight through sqlite3 for speed); an empty matrix of
    ``dim`` columns when there is none."""
    raw = connect(db, read_only)
    try:
        matrix = _read_matrix(raw, key)
    finally:
        raw.close()
    return matrix if matrix is not None else VectorMatrix(dim, capacity=1024)


def parse_dt(value: object) -> datetime | None:
    """A stored date (ISO text, or a datetime) as a datetime; None for none or one that is not a date."""
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


# -- reading a key's vectors ------------------------------------------------------------------
# Both readers give what the original row-by-row read gave, value for value and in the query's
# order: the photo ids, float16 image rows, a text vector or None per photo, its gate, and the
# photo's timestamp, photo_timestamp(parse_dt(date_taken), mtime).
#
# _read_vectors_rows fetches a row per photo (the least work in all, but Python builds every row,
# holding the GIL); _read_vectors_columnar has SQLite concatenate each column in one statement step
# (more work in all, but with the GIL released), for the prefetch that overlaps the torch import.
#
# Whether a photo's text is the words of its file name rather than a caption (the matrix floors
# those at the image-only score) is no stored column: a photo's text is its caption, else its file
# name's words (``metadata.photo_text``), so it is a name exactly when the photo has no caption. Libraries
# indexed before this was read need no migration and no new embedding.

_VECTORS_FROM = "FROM vectors v JOIN photos p ON p.id = v.photo_id WHERE v.model = :key AND p.status = :status"
#: 1 where the photo's text vector was made from its file name (it has text and no caption), else 0
_NAME_SQL = "(v.text_vec IS NOT NULL AND (p.caption IS NULL OR trim(p.caption) = ''))"
#: separates the dates in the columnar read (a date holding it makes the read fall back)
_DATE_SEP = "\x1f"
#: the columnar read is used up to this many bytes of image vectors (SQLite builds each column whole)
_COLUMNAR_MAX_BYTES = 256 << 20
#: a REAL travels exactly as integers (decimal text would round it): x = i0 + i1 * 2**-62 (+ i2 * 2**-124)
#: where i0 is x's integer part and each further integer the next 62 bits of its fraction; SQL checks
#: that nothing is left over (always so for |x| >= 2**-10 with one fraction part, 2**-72 with two)
_PIECE = 2.0**62


@dataclass
class _Vectors:
    ids: list[int]
    images: np.ndarray  # (n, dim) float16
    texts: list[np.ndarray | None]
    gates: list[float | None]
    dates: list[float]
    #: per photo: its text is the words of its file name (see _NAME_SQL)
    names: list[bool]


def _read_matrix(conn: sqlite3.Connection, key: str, columnar: bool = False) -> VectorMatrix | None:
    """Every vector of ``key`` in a new matrix; None when there is none."""
    vectors = _read_vectors_columnar(conn, key) if columnar else None
    if vectors is None:
        vectors = _read_vectors_rows(conn, key)
    return _matrix_of(vectors)


def _matrix_of(vectors: _Vectors) -> VectorMatrix | None:
    n = len(vectors.ids)
    if n == 0:
        return None
    matrix = VectorMatrix(vectors.images.shape[1], capacity=max(1024, n))
    matrix.upsert(vectors.ids, vectors.images, vectors.texts, vectors.gates, vectors.dates, vectors.names)
    return matrix


def _read_vectors_rows(conn: sqlite3.Connection, key: str) -> _Vectors:
    """A row per photo, as ever; the text vectors in one join and one ``frombuffer``. (Dates stay a
    ``fromisoformat`` per photo: ~1 µs each, no slower than any bulk conversion measured.)"""
    rows = conn.execute(
        f"SELECT v.photo_id, v.image, v.text_vec, v.text_gate, p.date_taken, p.mtime, {_NAME_SQL} " + _VECTORS_FROM,
        {"key": key, "status": PhotoStatus.INDEXED},
    ).fetchall()
    dim = len(rows[0][1]) // 2 if rows else 0
    return _Vectors(
        ids=[r[0] for r in rows],
        images=np.frombuffer(b"".join(r[1] for r in rows), np.float16).reshape(len(rows), dim),
        texts=_text_vectors([r[2] for r in rows], dim),
        gates=[r[3] for r in rows],
        dates=[photo_timestamp(parse_dt(r[4]), r[5]) for r in rows],
        names=[bool(r[6]) for r in rows],
    )


def _text_vectors(blobs: list[bytes | None], dim: int) -> list[np.ndarray | None]:
    """Each photo's text vector (or None): one join and one frombuffer for them all."""
    present = [b for b in blobs if b is not None]
    if not present:
        return [None] * len(blobs)
    if any(len(b) != 2 * dim for b in present):  # odd sizes: as stored, one by one
        return [np.frombuffer(b, np.float16) if b is not None else None for b in blobs]
    vectors = iter(np.frombuffer(b"".join(present), np.float16).reshape(len(present), dim))
    return [next(vectors) if b is not None else None for b in blobs]


def _real_sql(x: str, parts: int) -> tuple[list[str], str]:
    """SQL for a REAL expression carried exactly: its integer pieces, and 1 where they do not add up
    to it. Each step is exact in IEEE arithmetic: x minus its integer part, and scaling by 2**62."""
    pieces = [f"CAST({x} AS INTEGER)"]
    rest = x
    for _ in range(parts):
        rest = f"(({rest}) - CAST({rest} AS INTEGER)) * :piece"
        pieces.append(f"CAST({rest} AS INTEGER)")
    return pieces, f"(abs({x}) >= :piece OR ({rest}) != CAST({rest} AS INTEGER))"


def _columnar_sql() -> str:
    has_text = "v.text_vec IS NOT NULL"
    gate_pieces, gate_bad = _real_sql("ifnull(v.text_gate, 0.0)", 2)
    mtime_pieces, mtime_bad = _real_sql("p.mtime", 1)
    columns = [
        "count(*)",
        "min(length(v.image))",
        "max(length(v.image))",
        "sum(typeof(v.image) != 'blob')",
        "group_concat(v.photo_id)",
        "CAST(group_concat(v.image, '') AS BLOB)",
        f"group_concat({has_text}, '')",
        f"group_concat({_NAME_SQL}, '')",
        "min(length(v.text_vec))",
        "max(length(v.text_vec))",
        f"sum({has_text} AND typeof(v.text_vec) != 'blob')",
        "CAST(group_concat(v.text_vec, '') AS BLOB)",
        f"sum({has_text} AND (typeof(v.text_gate) NOT IN ('real', 'integer', 'null') OR {gate_bad}))",
        f"sum(typeof(p.mtime) NOT IN ('real', 'integer') OR {mtime_bad})",
        "count(p.date_taken)",
        "sum(typeof(p.date_taken) NOT IN ('text', 'null'))",
        "group_concat(ifnull(p.date_taken, ''), :sep)",
        *(f"group_concat(CASE WHEN {has_text} THEN {piece} END)" for piece in gate_pieces),
        *(f"group_concat({piece})" for piece in mtime_pieces),
    ]
    return "SELECT " + ", ".join(columns) + " " + _VECTORS_FROM


_COLUMNAR_SQL = _columnar_sql()


def _read_vectors_columnar(conn: sqlite3.Connection, key: str) -> _Vectors | None:
    """The same values as :func:`_read_vectors_rows` from one row of concatenated columns.

    SQLite builds each column within one statement step, with the GIL released, and numpy splits
    them: no Python per photo but the ``_parse_dt`` of each date. None (read row by row instead)
    where this could differ in any way: a database in UTF-16 (a BLOB read as text is its bytes only
    in UTF-8), over :data:`_COLUMNAR_MAX_BYTES` of vectors, vectors of unequal sizes, a REAL that its
    pieces do not carry exactly, a date stored as other than text, or any error. Gates are given for
    the photos with text only (the matrix reads no other).
    """
    row = _query_columns(conn, key)
    return _split_columns(row) if row is not None else None


def _query_columns(conn: sqlite3.Connection, key: str) -> tuple | None:
    """The SQLite part of :func:`_read_vectors_columnar`: one row of concatenated columns."""
    try:
        if conn.execute("PRAGMA encoding").fetchone()[0] != "UTF-8":
            return None
        count, longest = conn.execute(
            "SELECT count(*), max(length(image)) FROM vectors WHERE model = ?", (key,)
        ).fetchone()
        if count and count * (longest or 0) > _COLUMNAR_MAX_BYTES:
            return None
        params = {"key": key, "status": PhotoStatus.INDEXED, "piece": _PIECE, "sep": _DATE_SEP}
        return conn.execute(_COLUMNAR_SQL, params).fetchone()
    except (sqlite3.Error, MemoryError):
        log.debug("columnar vector read failed; reading row by row", exc_info=True)
        return None


def _split_columns(row: tuple) -> _Vectors | None:
    """The columns of :func:`_query_columns` as one value per photo (see :func:`_read_vectors_columnar`)."""
    try:
        return _split(row)
    except (ValueError, OverflowError, OSError, UnicodeError):
        log.debug("columnar vector read failed; reading row by row", exc_info=True)
        return None


def _split(row: tuple) -> _Vectors | None:
    (n, short, long, not_blob, ids_text, images, has_text, name_text, t_short, t_long, t_not_blob, texts_blob,
     gate_bad, mtime_bad, n_dates, not_text, dates_text, *pieces) = row
    if not n:
        return _Vectors([], np.zeros((0, 0), np.float16), [], [], [], [])
    if not_blob or t_not_blob or gate_bad or mtime_bad or not_text or short != long or not short or short % 2:
        return None
    dim = short // 2
    ids = _integers(ids_text)
    if len(ids) != n or len(images) != n * short:
        return None
    has = np.frombuffer(has_text.encode("ascii"), np.uint8) == ord("1")
    names = np.frombuffer(name_text.encode("ascii"), np.uint8) == ord("1")
    k = int(has.sum())
    if len(has) != n or len(names) != n or (k and (t_short != short or t_long != short or len(texts_blob) != k * short)):
        return None
    gates = _reals(pieces[:3], k)
    mtimes = _reals(pieces[3:], n)
    if gates is None or mtimes is None:
        return None
    stamps = mtimes.tolist()
    if n_dates:  # as photo_timestamp(parse_dt(date_taken), mtime); "" parses to None, as None does
        dates = dates_text.split(_DATE_SEP)
        if len(dates) != n:
            return None
        for i, d in enumerate(dates):
            if d:
                stamps[i] = photo_timestamp(parse_dt(d), stamps[i])
    text_rows = np.frombuffer(texts_blob, np.float16).reshape(k, dim) if k else ()
    texts: list[np.ndarray | None] = [None] * n
    gate_list: list[float | None] = [None] * n
    for i, vec, gate in zip(np.flatnonzero(has).tolist(), text_rows, gates.tolist(), strict=True):
        texts[i] = vec
        gate_list[i] = gate
    return _Vectors(
        ids=ids.tolist(),
        images=np.frombuffer(images, np.float16).reshape(n, dim),
        texts=texts,
        gates=gate_list,
        dates=stamps,
        names=names.tolist(),
    )


def _integers(text: str | None) -> np.ndarray:
    """Comma-separated integers (group_concat's text) → int64, parsed in C."""
    return np.fromstring(text, dtype=np.int64, sep=",") if text else np.zeros(0, np.int64)


def _reals(pieces: list[str | None], n: int) -> np.ndarray | None:
    """Doubles from the integer pieces of :func:`_real_sql`. Each piece has at most 53 significant
    bits (it is a slice of one double's), so it converts exactly, scaling by 2**-62 is exact, and
    each partial sum is a prefix of the value's bits: every addition is exact."""
    parts = [_integers(p) for p in pieces]
    if any(len(p) != n for p in parts):
        return None
    value = parts[0].astype(np.float64)
    scale = 1.0
    for part in parts[1:]:
        scale /= _PIECE
        value = value + part.astype(np.float64) * scale
    return value


class Prefetch:
    """The SQLite part of one key's columnar read (:func:`_query_columns`) on a thread of its own,
    while the model loads (see :meth:`PhotoLibrary.load_model`).

    Only that part runs beside the model load: it releases the GIL for its whole length. Splitting
    the columns and filling the matrix hold the GIL in short pieces between numpy calls, and done
    beside the torch import they slowed it by more than they cost (0.7 s in one A/B at 100,000
    photos), so :meth:`take` does them, once the model is there.
    """

    def __init__(self, db: Path, key: str, read_only: bool = False) -> None:
        self.key = key
        self._db = db
        self._read_only = read_only
        self._row: tuple | None = None
        self._conn: sqlite3.Connection | None = None
        self._version: int | None = None
        self._thread = threading.Thread(target=self._run, name="prefetch-vectors", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            conn = self._conn = connect(self._db, self._read_only, check_same_thread=False)
            # taken before reading: any commit after it, by any connection, changes it
            self._version = conn.execute("PRAGMA data_version").fetchone()[0]
            self._row = _query_columns(conn, self.key)
        except Exception:
            log.debug("prefetching the vectors of %s failed", self.key, exc_info=True)
            self._row = None

    def take(self) -> VectorMatrix | None:
        """A matrix of the vectors read, if nothing has been committed to the database since; else
        None (the caller reads them again)."""
        self._thread.join()
        try:
            if self._row is None or self._conn is None:
                return None
            if self._conn.execute("PRAGMA data_version").fetchone()[0] != self._version:
                return None
            vectors = _split_columns(self._row)
            return _matrix_of(vectors) if vectors is not None else None
        except sqlite3.Error:
            return None
        finally:
            self.discard()

    def discard(self) -> None:
        self._thread.join()
        self._row = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
