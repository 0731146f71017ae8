"""The recognised text of each photo in the library database, and the search over it.

Tables (created by `ensure_text_schema(conn)`, idempotent; the lead calls it from the migrations):

- ``photo_text``: one row per photo that was read: the content hash it was read from (a photo whose
  contents change is read again; one that only moves keeps its row, as the id stays), the engine,
  when, and its lines as JSON (text, confidence, box corners relative to the upright image). A photo
  with no text has a row with no lines, so it is never read again.
- ``photo_text_fts``: an FTS5 table (rowid = photo id) with SQLite's trigram tokenizer (SQLite ≥ 3.34),
  two columns: ``exact`` (case, width and accents folded, one space between words: quoted phrases) and
  ``loose`` (OCR confusions folded, no spaces: words, and parts of words, anywhere in a line). Trigrams
  find any substring of three characters or more, which is what "RE16" in "RE16 TGK", "miramar" in
  "HOTELMIRAMAR" and Chinese without spaces need; shorter terms fall back to LIKE on the same table.

`search_text(conn, query)` returns `TextHit(photo_id, score, matched_line)`, best first. The score is in
0..1: the share of the query's terms (weighted by length) that the photo's text holds, a little less when
only the OCR-confusion-folded form matched. A quoted phrase must be there (case and accents forgiven).
"""

from __future__ import annotations

import functools
import json
import re
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from desktop_search.core.text.normalize import Term, exact, loose, query_terms
from desktop_search.core.text.recognize import RecognizedText, TextLine, lines_as_json, lines_from_json

SCHEMA_VERSION = 1
# how many full-text candidates are scored per query (best BM25 first)
CANDIDATES = 2000
# A word of this many letters (after folding) also matches a reading one letter off (a letter dropped,
# added or misread: "Beinut", "mamalade"), at this share of its weight: small, thin or slanted print is
# often read so, and a made-up name has no dictionary word for the recogniser to lean on.
NEAR_MIN_LETTERS = 6
NEAR_WEIGHT = 0.8


class TextSearchUnavailable(RuntimeError):
    """This SQLite has no FTS5 with the trigram tokenizer (SQLite < 3.34)."""


def trigram_supported(conn: sqlite3.Connection) -> bool:
    try:
        conn.execute("CREATE VIRTUAL TABLE temp._ds_trigram_probe USING fts5(x, tokenize='trigram')")
        conn.execute("DROP TABLE temp._ds_trigram_probe")
        return True
    except sqlite3.OperationalError:
        return False


_TEXT_DDL = (
    """CREATE TABLE IF NOT EXISTS photo_text (
        photo_id INTEGER PRIMARY KEY REFERENCES photos(id) ON DELETE CASCADE,
        content_hash TEXT NOT NULL,
        engine TEXT NOT NULL,
        read_at REAL NOT NULL,
        line_count INTEGER NOT NULL,
        lines TEXT NOT NULL
    )""",
    "CREATE VIRTUAL TABLE IF NOT EXISTS photo_text_fts USING fts5(exact, loose, tokenize='trigram')",
    # a photo removed from the library (its photo_text row goes by cascade) leaves the index too
    """CREATE TRIGGER IF NOT EXISTS photo_text_fts_delete AFTER DELETE ON photo_text BEGIN
        DELETE FROM photo_text_fts WHERE rowid = old.photo_id;
    END""",
    "CREATE TABLE IF NOT EXISTS photo_text_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)


def create_text_tables(conn: sqlite3.Connection) -> None:
    """The text tables and triggers, created when missing, in the caller's transaction (the library's
    schema migration, ``db/migrations.py``). Raises :class:`TextSearchUnavailable` on SQLite < 3.34."""
    if not trigram_supported(conn):
        raise TextSearchUnavailable(f"SQLite {sqlite3.sqlite_version} has no FTS5 trigram tokenizer (needs 3.34)")
    for statement in _TEXT_DDL:
        conn.execute(statement)
    conn.execute(
        "INSERT OR IGNORE INTO photo_text_meta (key, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),)
    )


def ensure_text_schema(conn: sqlite3.Connection) -> None:
    """Create the text tables and triggers when missing (safe to call on every open), committed."""
    with conn:
        create_text_tables(conn)


def has_text_tables(conn: sqlite3.Connection) -> bool:
    """Whether this library has the text tables (every library of schema 2 on a SQLite with trigrams)."""
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'photo_text_fts'").fetchone()
    return row is not None


def save_text(
    conn: sqlite3.Connection,
    photo_id: int,
    content_hash: str,
    lines: RecognizedText | Sequence[TextLine],
    engine: str = "",
) -> None:
    """Store what was read from a photo (replacing an earlier reading), in one transaction."""
    items = lines.lines if isinstance(lines, RecognizedText) else list(lines)
    with conn:
        conn.execute("DELETE FROM photo_text_fts WHERE rowid = ?", (photo_id,))
        conn.execute(
            "INSERT OR REPLACE INTO photo_text (photo_id, content_hash, engine, read_at, line_count, lines) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (photo_id, content_hash, engine, time.time(), len(items), json.dumps(lines_as_json(items),
                                                                                 ensure_ascii=False)),
        )
        if items:
            conn.execute(
                "INSERT INTO photo_text_fts (rowid, exact, loose) VALUES (?, ?, ?)",
                (photo_id, "\n".join(exact(ln.text) for ln in items), " ".join(loose(ln.text) for ln in items)),
            )


def load_text(conn: sqlite3.Connection, photo_id: int) -> list[TextLine] | None:
    """The lines read from a photo ([] when it has none), None when it was not read (yet)."""
    row = conn.execute("SELECT lines FROM photo_text WHERE photo_id = ?", (photo_id,)).fetchone()
    return None if row is None else lines_from_json(json.loads(row[0]))


def forget(conn: sqlite3.Connection, photo_ids: Iterable[int]) -> None:
    with conn:
        conn.executemany("DELETE FROM photo_text WHERE photo_id = ?", [(int(i),) for i in photo_ids])


def prune(conn: sqlite3.Connection) -> int:
    """Drop readings of photos no longer in the library (when foreign keys were off); returns how many."""
    with conn:
        cur = conn.execute("DELETE FROM photo_text WHERE photo_id NOT IN (SELECT id FROM photos)")
        conn.execute("DELETE FROM photo_text_fts WHERE rowid NOT IN (SELECT photo_id FROM photo_text)")
        return cur.rowcount


_PENDING_WHERE = (
    "FROM photos p LEFT JOIN photo_text t ON t.photo_id = p.id "
    "WHERE p.status = 'indexed' AND (t.photo_id IS NULL OR t.content_hash != p.content_hash)"
)


def pending(conn: sqlite3.Connection, limit: int | None = None, after_id: int = 0) -> list[tuple[int, str, str]]:
    """Indexed photos not read yet, or whose contents changed since: (photo id, path, content hash),
    by id, those after ``after_id`` only (a job walks the list once, whatever fails on the way).

    Paths are as Python has them (the database's escaped form undone)."""
    from desktop_search.core.db.pathtext import from_db

    sql = f"SELECT p.id, p.path, p.content_hash {_PENDING_WHERE} AND p.id > ? ORDER BY p.id"
    rows = conn.execute(sql + (f" LIMIT {int(limit)}" if limit is not None else ""), (int(after_id),)).fetchall()
    return [(int(i), from_db(path), str(h)) for i, path, h in rows]


def pending_count(conn: sqlite3.Connection) -> int:
    """The `"text_pending"` figure of `status --json`."""
    return int(conn.execute(f"SELECT COUNT(*) {_PENDING_WHERE}").fetchone()[0])


def read_count(conn: sqlite3.Connection) -> tuple[int, int]:
    """(photos read, of which with text)."""
    row = conn.execute("SELECT COUNT(*), COALESCE(SUM(line_count > 0), 0) FROM photo_text").fetchone()
    return int(row[0]), int(row[1])


# ------------------------------------------------------------------------------------------ search


@dataclass(frozen=True)
class TextHit:
    photo_id: int
    score: float  # 0..1: the weighted share of the query's terms found
    matched_line: str  # the recognised line holding most of them, as read


def _fts_string(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _near(t: Term) -> bool:
    return not t.phrase and len(t.text) >= NEAR_MIN_LETTERS and t.text.isascii() and t.text.isalnum()


@functools.lru_cache(maxsize=256)
def _near_pattern(word: str) -> re.Pattern[str]:
    """Any reading of `word` with one letter dropped, added or changed."""
    alts = set()
    for i in range(len(word) + 1):
        if i < len(word):
            alts.add(re.escape(word[:i] + word[i + 1:]))  # dropped
            alts.add(re.escape(word[:i]) + "." + re.escape(word[i + 1:]))  # changed
        alts.add(re.escape(word[:i]) + "." + re.escape(word[i:]))  # added
    return re.compile("|".join(sorted(alts, key=len, reverse=True)))


def _candidates(conn: sqlite3.Connection, terms: Sequence[Term]) -> dict[int, float]:
    """Photo id -> BM25 (lower is better) of the photos that hold at least one term."""
    found: dict[int, float] = {}
    long_parts = [
        ("exact" if t.phrase else "loose") + " : " + _fts_string(t.text) for t in terms if len(t.text) >= 3
    ]
    # a reading one letter off still holds one half of the word as written
    for t in terms:
        if _near(t):
            half = len(t.text) // 2
            long_parts += [f"loose : {_fts_string(t.text[:half])}", f"loose : {_fts_string(t.text[half:])}"]
    if long_parts:
        sql = (
            "SELECT rowid, bm25(photo_text_fts) FROM photo_text_fts WHERE photo_text_fts MATCH ? "
            "ORDER BY bm25(photo_text_fts) LIMIT ?"
        )
        for rowid, rank in conn.execute(sql, (" OR ".join(long_parts), CANDIDATES)):
            found[int(rowid)] = float(rank)
    for t in terms:
        if len(t.text) >= 3:
            continue
        col = "exact" if t.phrase else "loose"
        pattern = "%" + t.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        sql = f"SELECT rowid FROM photo_text_fts WHERE {col} LIKE ? ESCAPE '\\' LIMIT ?"
        for (rowid,) in conn.execute(sql, (pattern, CANDIDATES)):
            found.setdefault(int(rowid), 0.0)
    return found


def _score(terms: Sequence[Term], exact_text: str, loose_text: str) -> tuple[float, list[Term]]:
    total = sum(t.weight for t in terms)
    got: list[Term] = []
    score = 0.0
    exact_nospace = exact_text.replace(" ", "").replace("\n", "")
    exact_words = set(exact_text.split())
    for t in terms:
        if t.phrase:
            if t.text not in exact_text:
                return 0.0, []  # a quoted phrase must be there
            got.append(t)
            score += t.weight
        elif t.text in loose_text:
            got.append(t)
            # a little less when only the confusion-folded form matched (0 read as O, l as 1, ...),
            # and when the word is only a part of a longer one ("linven" in "dolinven")
            w = t.weight if t.plain in exact_nospace else 0.9 * t.weight
            score += w if t.plain in exact_words else 0.97 * w
        elif _near(t) and _near_pattern(t.text).search(loose_text):
            got.append(t)
            score += NEAR_WEIGHT * t.weight
    return (score / total if total else 0.0), got


def search_text(
    conn: sqlite3.Connection, query: str, limit: int = 200, min_score: float = 0.0
) -> list[tuple[int, float, str]]:
    """Photos whose recognised text holds the query's words: (photo id, score 0..1, matched line), best
    first. Words match anywhere in a line (parts of words too), forgiving case, accents and OCR
    confusions; a quoted phrase must be there as written (case and accents forgiven)."""
    return [(h.photo_id, h.score, h.matched_line) for h in search_text_hits(conn, query, limit, min_score)]


def search_text_hits(
    conn: sqlite3.Connection, query: str, limit: int = 200, min_score: float = 0.0
) -> list[TextHit]:
    terms = query_terms(query)
    if not terms:
        return []
    candidates = _candidates(conn, terms)
    if not candidates:
        return []
    hits: list[tuple[float, float, int, list[Term]]] = []
    ids = list(candidates)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        for rowid, ex, lo in conn.execute(
            f"SELECT rowid, exact, loose FROM photo_text_fts WHERE rowid IN ({marks})", chunk
        ):
            score, got = _score(terms, ex, lo)
            if score > min_score and got:
                hits.append((score, candidates[int(rowid)], int(rowid), got))
    hits.sort(key=lambda h: (-h[0], h[1], h[2]))
    out: list[TextHit] = []
    for score, _rank, photo_id, got in hits[:limit]:
        out.append(TextHit(photo_id, round(score, 6), _matched_line(conn, photo_id, got)))
    return out


def _matched_line(conn: sqlite3.Connection, photo_id: int, got: Sequence[Term]) -> str:
    lines = load_text(conn, photo_id) or []
    best, best_w = "", -1.0
    for ln in lines:
        ex, lo = exact(ln.text), loose(ln.text)
        w = sum(t.weight for t in got if (t.text in ex if t.phrase else (
            t.text in lo or (_near(t) and _near_pattern(t.text).search(lo) is not None))))
        if w > best_w:
            best, best_w = ln.text, w
    return best
