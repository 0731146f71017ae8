"""The recognised text in the library database: pending photos, the FTS5 index and search_text."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from desktop_search.core.db.engine import connect, open_database
from desktop_search.core.text import store
from desktop_search.core.text.recognize import TextLine

BOX = ((0.1, 0.1), (0.9, 0.1), (0.9, 0.2), (0.1, 0.2))


def _line(text: str, conf: float = 0.95) -> TextLine:
    return TextLine(text, conf, BOX)


@pytest.fixture
def conn(tmp_path: Path) -> sqlite3.Connection:
    """A real library database (the app's schema) with ten indexed photos and the text tables."""
    path = tmp_path / "library.db"
    open_database(path).dispose()
    c = connect(path)
    c.execute("PRAGMA foreign_keys = ON")
    with c:
        c.execute("INSERT INTO folders (id, path, exclusions, added_at) VALUES (1, '/p', '[]', '2026-01-01')")
        for i in range(1, 11):
            c.execute(
                "INSERT INTO photos (id, folder_id, path, size, mtime, content_hash, status, updated_at) "
                "VALUES (?, 1, ?, 1, 0, ?, 'indexed', '2026-01-01')",
                (i, f"/p/{i}.jpg", f"hash{i}"),
            )
    store.ensure_text_schema(c)
    yield c
    c.close()


def _ids(hits: list[tuple[int, float, str]]) -> list[int]:
    return [h[0] for h in hits]


def test_schema_is_idempotent_and_needs_trigram(conn: sqlite3.Connection) -> None:
    store.ensure_text_schema(conn)
    store.ensure_text_schema(conn)
    assert store.trigram_supported(conn)  # SQLite >= 3.34 (Python 3.10+ ships newer)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert {"photo_text", "photo_text_fts", "photo_text_fts_delete"} <= names


def test_pending_is_unread_or_changed_and_a_read_photo_is_never_read_again(conn: sqlite3.Connection) -> None:
    assert store.pending_count(conn) == 10
    store.save_text(conn, 1, "hash1", [_line("HOTEL MIRAMAR")], "test")
    store.save_text(conn, 2, "hash2", [], "test")  # read, no text: not pending either
    assert store.pending_count(conn) == 8
    assert [p[0] for p in store.pending(conn)] == list(range(3, 11))
    assert store.pending(conn, limit=2) == [(3, "/p/3.jpg", "hash3"), (4, "/p/4.jpg", "hash4")]
    # its contents change (an edit, a re-save): pending again, and read again
    with conn:
        conn.execute("UPDATE photos SET content_hash = 'new' WHERE id = 1")
    assert 1 in [p[0] for p in store.pending(conn)]
    # a photo not yet indexed is not the text stage's business
    with conn:
        conn.execute("UPDATE photos SET status = 'pending' WHERE id = 10")
    assert 10 not in [p[0] for p in store.pending(conn)]
    assert store.read_count(conn) == (2, 1)


def test_lines_round_trip_with_boxes_and_confidences(conn: sqlite3.Connection) -> None:
    lines = [TextLine("Gate B12", 0.91, BOX), TextLine("北京大学", 0.88, BOX)]
    store.save_text(conn, 3, "hash3", lines, "test")
    back = store.load_text(conn, 3)
    assert back is not None and [ln.text for ln in back] == ["Gate B12", "北京大学"]
    assert back[0].confidence == pytest.approx(0.91) and back[0].box == BOX
    assert store.load_text(conn, 4) is None
    # reading again replaces, never duplicates
    store.save_text(conn, 3, "hash3", [_line("Gate C7")], "test")
    assert [ln.text for ln in store.load_text(conn, 3) or []] == ["Gate C7"]
    assert _ids(store.search_text(conn, "B12")) == []
    assert conn.execute("SELECT COUNT(*) FROM photo_text_fts").fetchone()[0] == 1


def test_a_removed_photo_leaves_the_text_index(conn: sqlite3.Connection) -> None:
    store.save_text(conn, 5, "hash5", [_line("wifi password sunflower")], "test")
    assert _ids(store.search_text(conn, "sunflower")) == [5]
    with conn:
        conn.execute("DELETE FROM photos WHERE id = 5")
    assert _ids(store.search_text(conn, "sunflower")) == []
    assert store.load_text(conn, 5) is None


@pytest.fixture
def filled(conn: sqlite3.Connection) -> sqlite3.Connection:
    store.save_text(conn, 1, "hash1", [_line("HOTELMIRAMAR"), _line("Receipt No 0012"), _line("TOTAL 48.50")])
    store.save_text(conn, 2, "hash2", [_line("MIRAMAR BEACH CLUB")])
    store.save_text(conn, 3, "hash3", [_line("RE16 TGK")])
    store.save_text(conn, 4, "hash4", [_line("Gate B12"), _line("Boarding 10:45")])
    store.save_text(conn, 5, "hash5", [_line("Gate B13 closed")])
    store.save_text(conn, 6, "hash6", [_line("北京大学图书馆")])
    store.save_text(conn, 7, "hash7", [_line("Café Crème Brûlée")])
    store.save_text(conn, 8, "hash8", [_line("HOT DOGS")])
    store.save_text(conn, 9, "hash9", [])
    return conn


def test_words_rank_the_photo_that_holds_more_of_them_first(filled: sqlite3.Connection) -> None:
    hits = store.search_text(filled, "receipt hotel miramar")
    assert _ids(hits)[:2] == [1, 2]
    # all three words are there; two only as parts of "HOTELMIRAMAR", which counts a shade less
    assert 0.95 < hits[0][1] < 1.0
    assert store.search_text(filled, "receipt")[0][1] == pytest.approx(1.0)
    assert hits[0][2] == "HOTELMIRAMAR"  # the line holding most of the query
    assert 0 < hits[1][1] < hits[0][1]


def test_a_part_of_a_recognised_string_finds_it(filled: sqlite3.Connection) -> None:
    assert _ids(store.search_text(filled, "RE16")) == [3]
    assert _ids(store.search_text(filled, "miramar"))[:2] in ([1, 2], [2, 1])
    assert store.search_text(filled, "tgk")[0][:1] == (3,)


def test_case_accents_and_ocr_confusions_are_forgiven(filled: sqlite3.Connection) -> None:
    assert _ids(store.search_text(filled, "creme brulee")) == [7]
    assert _ids(store.search_text(filled, "REl6"))[:1] == [3]  # l read for 1
    assert _ids(store.search_text(filled, "B0ARDING")) == [4]  # 0 read for O
    # the confusion-folded match counts a little less than the exact one
    exact_score = store.search_text(filled, "boarding")[0][1]
    folded_score = store.search_text(filled, "b0arding")[0][1]
    assert folded_score < exact_score


def test_a_long_word_read_one_letter_off_is_found_below_a_true_reading(conn: sqlite3.Connection) -> None:
    # small thin or slanted print: a letter dropped, changed or added by the recogniser
    store.save_text(conn, 1, "hash1", [_line("Beinut 14 km"), _line("STASBOURG")])
    store.save_text(conn, 2, "hash2", [_line("orange mamalade")])
    store.save_text(conn, 3, "hash3", [_line("Beirut")])
    store.save_text(conn, 4, "hash4", [_line("Kathmandru cafe")])
    store.save_text(conn, 5, "hash5", [_line("BEAGH dag")])
    hits = store.search_text(conn, "beirut")
    assert _ids(hits) == [3, 1]  # the true reading first
    assert hits[1][1] < hits[0][1]
    assert hits[1][2] == "Beinut 14 km"  # the line that holds it
    assert _ids(store.search_text(conn, "strasbourg")) == [1]
    assert _ids(store.search_text(conn, "marmalade")) == [2]
    assert _ids(store.search_text(conn, "kathmandu")) == [4]
    # short words must be read as written, and two letters off is another word
    assert store.search_text(conn, "beach") == []
    assert store.search_text(conn, "dog") == []
    assert store.search_text(conn, "bairot") == []
    # a quoted phrase still asks for the text as written
    assert store.search_text(conn, '"beirut 14"') == []


def test_a_quoted_phrase_asks_for_that_text(filled: sqlite3.Connection) -> None:
    assert _ids(store.search_text(filled, '"gate B12"')) == [4]
    assert _ids(store.search_text(filled, '"Gate B13"')) == [5]
    assert _ids(store.search_text(filled, '"gate b14"')) == []
    # unquoted, both gates hold "gate"
    assert set(_ids(store.search_text(filled, "gate"))) == {4, 5}


def test_chinese_is_matched_without_spaces(filled: sqlite3.Connection) -> None:
    assert _ids(store.search_text(filled, "北京")) == [6]  # two characters: below a trigram
    assert _ids(store.search_text(filled, "图书馆")) == [6]
    assert _ids(store.search_text(filled, "北京大学")) == [6]


def test_describing_words_find_no_text(filled: sqlite3.Connection) -> None:
    assert store.search_text(filled, "the of on a") == []
    # "dog on the beach": only the photos that say DOG or BEACH, never the others
    assert set(_ids(store.search_text(filled, "dog on the beach"))) == {2, 8}
    assert store.search_text(filled, "") == []


def test_fusion_raises_photos_that_hold_the_words_and_leaves_descriptions_alone() -> None:
    from desktop_search.core.text.fusion import fuse

    meaning = {10: 9.0, 11: 8.5, 12: 5.0, 14: 3.0}  # logits of no fixed scale
    # "receipt hotel miramar": photo 12 says it all, photo 13 (no meaning candidate) most of it, 11 a part
    fused = fuse(meaning, [(12, 1.0, "HOTEL MIRAMAR"), (13, 0.8, "MIRAMAR"), (11, 0.4, "HOTEL")])
    assert [f[0] for f in fused] == [12, 10, 11, 13, 14]
    assert fused[0][2] == "HOTEL MIRAMAR" and fused[1][2] is None
    assert fused[3][2] == "MIRAMAR"
    # "dog on the beach": a photo that only says BEACH (t = 0.63) keeps its meaning rank
    assert [f[0] for f in fuse(meaning, [(12, 0.63, "BEACH")])] == [10, 11, 12, 14]
    assert fuse({}, []) == []


def test_fusion_keeps_a_word_as_written_above_a_reading_one_letter_off() -> None:
    from desktop_search.core.text.fusion import fuse

    meaning = {20: 9.0, 21: 3.0, 22: 2.0}
    # "kathmandu": photo 21 says it (low meaning score), photo 20 reads "Kathmandru" (0.8) and looks the part
    fused = fuse(meaning, [(21, 1.0, "Kathmandu"), (20, 0.8, "Kathmandru")])
    assert [f[0] for f in fused] == [21, 20, 22]
    assert fused[0][2] == "Kathmandu" and fused[1][2] == "Kathmandru"
