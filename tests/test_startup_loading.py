"""Start-up loading: the vectors read while the model loads (prefetch), the two vector readers
against the original row-by-row read, and the catch-up scan after the first search. (The builtin
model's image encoder built on first use: tests/test_model_builtin_lazy.py.)"""
# ruff: noqa: F811  (pytest fixtures imported from tests.ui_support are parameters here)

from __future__ import annotations

import math
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import tests.fakes  # noqa: F401 - registers the tiny model
from desktop_search.core.app import VECTOR_KEY_META, PhotoLibrary
from desktop_search.core.indexing.pipeline import photo_timestamp
from desktop_search.core.models.registry import load_model, register_model
from desktop_search.core.search import vector_store
from desktop_search.core.search.matrix import Filters, VectorMatrix
from desktop_search.core.search.vector_store import parse_dt as _parse_dt
from tests.fakes import TinyModel
from tests.ui_support import index_library, make_photos, make_window  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(180)

TINY_KEY = load_model("tiny").key


# -- the readers against the original read ------------------------------------------------------
def original_read(conn: sqlite3.Connection, key: str) -> vector_store._Vectors:
    """``PhotoLibrary._load_matrix`` as it was: one row per photo, converted in Python."""
    rows = conn.execute(
        "SELECT v.photo_id, v.image, v.text_vec, v.text_gate, p.date_taken, p.mtime, p.caption "
        "FROM vectors v JOIN photos p ON p.id = v.photo_id WHERE v.model = ? AND p.status = ?",
        (key, "indexed"),
    ).fetchall()
    dim = len(rows[0][1]) // 2 if rows else 0
    return vector_store._Vectors(
        ids=[r[0] for r in rows],
        images=np.frombuffer(b"".join(r[1] for r in rows), np.float16).reshape(len(rows), dim),
        texts=[np.frombuffer(r[2], np.float16) if r[2] is not None else None for r in rows],
        gates=[r[3] for r in rows],
        dates=[photo_timestamp(_parse_dt(r[4]), r[5]) for r in rows],
        # a text is the file name's words where the photo has no caption
        names=[r[2] is not None and not (r[6] and r[6].strip()) for r in rows],
    )


def assert_same(got: vector_store._Vectors, want: vector_store._Vectors) -> None:
    assert got.ids == want.ids
    assert got.images.shape == want.images.shape
    assert np.array_equal(got.images.view(np.uint16), want.images.view(np.uint16))
    assert len(got.texts) == len(want.texts)
    for a, b in zip(got.texts, want.texts, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            assert np.array_equal(np.asarray(a).view(np.uint16), np.asarray(b).view(np.uint16))
    for a, b, text in zip(got.gates, want.gates, want.texts, strict=True):
        if text is not None:  # the matrix reads gates of photos with text only, None as 0.0
            assert (0.0 if a is None else a) == (0.0 if b is None else b)
            assert math.copysign(1, 0.0 if a is None else a) == math.copysign(1, 0.0 if b is None else b)
    for a, b in zip(got.dates, want.dates, strict=True):
        assert (a == b) or (a != a and b != b), (a, b)
    assert got.names == want.names


def matrix_of(v: vector_store._Vectors) -> VectorMatrix:
    m = VectorMatrix(v.images.shape[1], capacity=max(1024, len(v.ids)))
    m.upsert(v.ids, v.images, v.texts, v.gates, v.dates, v.names)
    return m


def new_library(root: Path) -> Path:
    PhotoLibrary.open(root, model_name="tiny").close()
    return root / "library.db"


def fill(db: Path, rows: list[tuple], dim: int = 8, key: str = TINY_KEY) -> None:  # type: ignore[type-arg]
    """Insert (date_taken, mtime, text_gate, has_text) rows as indexed photos with random vectors; a
    third have a caption, a third a blank one, a third none (their texts are file names)."""
    rng = np.random.default_rng(len(rows))
    conn = sqlite3.connect(str(db))
    folder = conn.execute("INSERT INTO folders (path, exclusions, added_at) VALUES ('/p', '[]', '2024-01-01')").lastrowid
    for i, (date, mtime, gate, has_text) in enumerate(rows):
        pid = 10 + 3 * i  # ids with gaps
        caption = (f"a caption {i}", "  ", None)[i % 3]
        conn.execute(
            "INSERT INTO photos (id, folder_id, path, size, mtime, content_hash, date_taken, caption, status, updated_at) "
            "VALUES (?, ?, ?, 1, ?, ?, ?, ?, 'indexed', '2024-01-01')",
            (pid, folder, f"/p/{i}.jpg", mtime, f"{i:040x}", date, caption),
        )
        image = rng.standard_normal(dim).astype(np.float16).tobytes()
        text = rng.standard_normal(dim).astype(np.float16).tobytes() if has_text else None
        conn.execute("INSERT INTO vectors (photo_id, model, image, text_vec, text_gate) VALUES (?, ?, ?, ?, ?)",
                     (pid, key, image, text, gate))
    # a photo not indexed and a vector of another model: neither is read
    conn.execute("INSERT INTO photos (id, folder_id, path, size, mtime, content_hash, status, updated_at) "
                 "VALUES (5, ?, '/p/pending.jpg', 1, 1.0, 'x', 'pending', '2024-01-01')", (folder,))
    conn.execute("INSERT INTO vectors (photo_id, model, image) VALUES (5, ?, ?)", (key, bytes(2 * dim)))
    conn.execute("INSERT INTO vectors (photo_id, model, image) VALUES (10, 'other@1', ?)", (bytes(2 * dim),))
    conn.commit()
    conn.close()


def regular_rows(n: int = 400) -> list[tuple]:  # type: ignore[type-arg]
    """What indexing writes: float32 gates, file mtimes with nanoseconds, SQLAlchemy's dates."""
    rng = np.random.default_rng(7)
    out = []
    for i in range(n):
        mtime = 1.7e9 + rng.uniform(0, 3e7) if i % 7 else float(1_600_000_000 + i)
        date = None
        if i % 3 == 0:
            date = f"20{10 + i % 14:02d}-{1 + i % 12:02d}-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:{(7 * i) % 60:02d}.{i:06d}"
        elif i % 3 == 1 and i % 2:
            date = f"2019-03-{1 + i % 28:02d} 0{i % 10}:30:00"
        gate = float(np.float32(rng.normal(0, 3))) if i % 4 else None
        out.append((date, mtime, gate, i % 5 != 0))
    # clock changes (Europe, US), the end of a month, a leap day
    out += [("2023-03-26 02:30:00.000000", 1.7e9, 1.5, True), ("2023-10-29 02:30:00.000000", 1.7e9, -2.25, False),
            ("2024-02-29 23:59:59.999999", 1.7e9, 0.0, True), ("2023-11-05 01:30:00.500000", 1.7e9, 3.0, True)]
    return out


def odd_rows() -> list[tuple]:  # type: ignore[type-arg]
    """Values the columnar read cannot carry or that _parse_dt treats specially."""
    return [
        ("2024-05-01T10:00:00", 1.7e9, 0.5, True),  # ISO with a T
        ("2024-05-01 10:00:00+02:00", 1.7e9, 0.5, True),  # aware
        ("not a date", 1.7e9, 0.5, True),
        ("2024-02-30 10:00:00.000000", 1.7e9, 0.5, True),  # no such day
        ("", 1.7e9, 0.5, True),
        (20240501, 1.7e9, 0.5, True),  # a number where a date should be
        (None, 12345, 7, True),  # integers
        (None, -86400.25, -0.0, True),
        (None, 1.7e9, 1e-30, True),  # a gate too small for the pieces
        (None, 1.7e9, 0.1 + 0.2, True),  # float64 gates
        (None, 1.7e9, 1e300, False),  # no text: not read
    ]


def test_both_readers_give_what_the_original_read_gave(tmp_path: Path) -> None:
    db = new_library(tmp_path / "lib")
    fill(db, regular_rows())
    with sqlite3.connect(str(db)) as conn:
        want = original_read(conn, TINY_KEY)
        columnar = vector_store._read_vectors_columnar(conn, TINY_KEY)
        assert columnar is not None, "the regular values must take the columnar path"
        assert_same(columnar, want)
        assert_same(vector_store._read_vectors_rows(conn, TINY_KEY), want)
        assert vector_store._read_vectors_columnar(conn, "nothing@0").ids == []


def test_the_columnar_read_falls_back_where_it_cannot_be_exact(tmp_path: Path) -> None:
    for i, row in enumerate(odd_rows()):
        db = new_library(tmp_path / f"lib{i}")
        fill(db, [*regular_rows(20), row])
        with sqlite3.connect(str(db)) as conn:
            want = original_read(conn, TINY_KEY)
            columnar = vector_store._read_vectors_columnar(conn, TINY_KEY)
            if columnar is not None:
                assert_same(columnar, want)
            assert_same(vector_store._read_vectors_rows(conn, TINY_KEY), want)
            for use_columnar in (True, False):
                matrix = vector_store._read_matrix(conn, TINY_KEY, columnar=use_columnar)
                assert matrix is not None
                assert_same_searches(matrix, matrix_of(want))
    # the tiny gate and the dates stored as numbers do fall back; the float64 gate does not
    assert_falls_back(tmp_path / "x1", (None, 1.7e9, 1e-30, True))
    assert_falls_back(tmp_path / "x2", (20240501, 1.7e9, 0.5, True))


def assert_falls_back(root: Path, row: tuple) -> None:  # type: ignore[type-arg]
    db = new_library(root)
    fill(db, [row])
    with sqlite3.connect(str(db)) as conn:
        assert vector_store._read_vectors_columnar(conn, TINY_KEY) is None


def assert_same_searches(a: VectorMatrix, b: VectorMatrix) -> None:
    rng = np.random.default_rng(3)
    fusion = TinyModel().fusion
    for _ in range(5):
        q = rng.standard_normal(a.dim).astype(np.float32)
        q /= np.linalg.norm(q)
        for filters in (Filters(), Filters(after=1.5e9, before=1.72e9)):
            assert a.search([(q, 1.0, False)], fusion, 50, filters, None) == b.search([(q, 1.0, False)], fusion, 50,
                                                                                      filters, None)


# -- the prefetch ---------------------------------------------------------------------------------
class GatedTiny(TinyModel):
    """The tiny model, built only when the test lets it (a slow model load, under control)."""

    name = "gatedtiny"
    gate = threading.Event()
    building = threading.Event()


def _gated(name: str, device: str | None) -> GatedTiny:
    GatedTiny.building.set()
    assert GatedTiny.gate.wait(30)
    return GatedTiny()


register_model("gatedtiny", _gated)


@pytest.fixture
def indexed(tmp_path: Path) -> Path:
    photos = tmp_path / "photos"
    make_photos(photos, n_each=2)
    root = tmp_path / "lib"
    GatedTiny.gate.set()
    index_library(root, photos, model="gatedtiny")
    return root


def count_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    original = PhotoLibrary._load_matrix

    def counted(self: PhotoLibrary, key: str) -> VectorMatrix:
        calls.append(key)
        return original(self, key)

    monkeypatch.setattr(PhotoLibrary, "_load_matrix", counted)
    return calls


def search_names(lib: PhotoLibrary, text: str = "red") -> list[tuple[str, float]]:
    from desktop_search.core.types import SearchQuery

    return [(Path(r.path).name, r.score) for r in lib.search(SearchQuery(text=text, limit=50))]


def test_a_start_reads_the_remembered_key_while_the_model_loads(indexed: Path, monkeypatch) -> None:
    GatedTiny.gate.set()
    with PhotoLibrary.open(indexed) as lib:  # the first start after indexing: nothing remembered
        lib.load_model()
        assert lib._get_meta(VECTOR_KEY_META + "gatedtiny") == GatedTiny().key
        want = search_names(lib)
    calls = count_reads(monkeypatch)
    prefetched = []
    monkeypatch.setattr(vector_store.Prefetch, "take", _recording(vector_store.Prefetch.take, prefetched))
    with PhotoLibrary.open(indexed) as lib:
        lib.load_model()
        assert calls == [], "the vectors were read again after the model loaded"
        assert prefetched and prefetched[0] is not None
        assert search_names(lib) == want
    assert not [t for t in threading.enumerate() if t.name == "prefetch-vectors"]


def _recording(take, out: list):  # type: ignore[no-untyped-def]
    def wrapper(self):  # type: ignore[no-untyped-def]
        matrix = take(self)
        out.append(matrix)
        return matrix

    return wrapper


@pytest.mark.parametrize("writer", ["sqlite3", "engine"])
def test_a_commit_while_the_model_loads_makes_the_prefetch_unused(indexed: Path, monkeypatch, writer: str) -> None:
    GatedTiny.gate.set()
    with PhotoLibrary.open(indexed) as lib:
        lib.load_model()  # remembers the key
    calls = count_reads(monkeypatch)
    read = threading.Event()
    original_run = vector_store.Prefetch._run

    def run(self):  # type: ignore[no-untyped-def]
        original_run(self)
        read.set()

    monkeypatch.setattr(vector_store.Prefetch, "_run", run)
    GatedTiny.gate.clear()
    GatedTiny.building.clear()
    with PhotoLibrary.open(indexed) as lib:
        worker = threading.Thread(target=lib.load_model)
        worker.start()
        try:
            assert read.wait(30) and GatedTiny.building.wait(30)
            # the prefetched vectors include this photo; then it goes, before the model is ready
            conn = sqlite3.connect(str(indexed / "library.db"))
            pid = conn.execute("SELECT id FROM photos WHERE path LIKE '%red_000.jpg'").fetchone()[0]
            if writer == "sqlite3":
                conn.execute("DELETE FROM photos WHERE id = ?", (pid,))
                conn.commit()
            else:
                with lib.engine.begin() as c:
                    c.exec_driver_sql("DELETE FROM photos WHERE id = ?", (pid,))
            conn.close()
        finally:
            GatedTiny.gate.set()
            worker.join(30)
        assert calls == [GatedTiny().key], "a stale prefetch was used"
        assert lib._matrix(GatedTiny().key).image_vector(pid) is None
        assert "red_000.jpg" not in [n for n, _ in search_names(lib)]


def test_a_changed_model_key_reads_again_and_is_remembered(indexed: Path, monkeypatch) -> None:
    GatedTiny.gate.set()
    with PhotoLibrary.open(indexed) as lib:
        lib._set_meta(VECTOR_KEY_META + "gatedtiny", "gatedtiny@0-old")
    calls = count_reads(monkeypatch)
    with PhotoLibrary.open(indexed) as lib:
        lib.load_model()
        assert calls == [GatedTiny().key]
        assert lib._get_meta(VECTOR_KEY_META + "gatedtiny") == GatedTiny().key
        assert search_names(lib)[0][0].startswith("red_")


def test_a_read_only_library_still_loads(indexed: Path, monkeypatch) -> None:
    GatedTiny.gate.set()

    def refuse(self, key, value):  # type: ignore[no-untyped-def]
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(PhotoLibrary, "_set_meta", refuse)
    with PhotoLibrary.open(indexed) as lib:
        lib.load_model()
        assert search_names(lib)[0][0].startswith("red_")


# -- the window: the catch-up scan waits for the first search ----------------------------------
def _order(window) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    events: list[tuple[str, str]] = []
    c = window.controller
    c.results_ready.connect(lambda query, results, more: events.append(("results", str(len(results)))))
    c.search_failed.connect(lambda message: events.append(("failed", message)))
    c.job_started.connect(lambda kind, label: events.append(("job", kind)))
    return events


def test_the_catch_up_scan_starts_after_the_first_search(qtbot, make_window, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    make_photos(photos, n_each=2)
    root = tmp_path / "lib"
    index_library(root, photos)
    window = make_window(root, start=False)
    events = _order(window)
    window.start("red")
    qtbot.waitUntil(lambda: ("job", "index") in events, timeout=15000)
    first_results = next(i for i, e in enumerate(events) if e[0] == "results" and e[1] != "0")
    assert first_results < events.index(("job", "index")), events
    qtbot.waitUntil(lambda: not window.controller.busy(), timeout=15000)


def test_the_catch_up_scan_runs_when_the_first_search_fails(qtbot, make_window, tmp_path: Path, monkeypatch) -> None:
    photos = tmp_path / "photos"
    make_photos(photos, n_each=1)
    root = tmp_path / "lib"
    index_library(root, photos)

    def broken(self, query):  # type: ignore[no-untyped-def]
        time.sleep(0.2)
        raise RuntimeError("no search today")

    monkeypatch.setattr(PhotoLibrary, "search", broken)
    window = make_window(root, start=False)
    events = _order(window)
    window.start("red")
    qtbot.waitUntil(lambda: ("job", "index") in events, timeout=15000)
    assert [e[0] for e in events].index("failed") < events.index(("job", "index")), events
    qtbot.waitUntil(lambda: not window.controller.busy(), timeout=15000)


def test_without_a_query_the_catch_up_scan_starts_with_the_model(qtbot, make_window, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    make_photos(photos, n_each=1)
    root = tmp_path / "lib"
    index_library(root, photos)
    window = make_window(root, start=False)
    events = _order(window)
    window.start(None)
    qtbot.waitUntil(lambda: ("job", "index") in events, timeout=15000)
    qtbot.waitUntil(lambda: not window.controller.busy(), timeout=15000)
