"""Indexing bookkeeping through the real SQLite library and real files (with the tiny model)."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from desktop_search.core.app import PhotoLibrary
from desktop_search.core.types import IndexCounts, SearchQuery
from tests.fakes import TinyModel, last_counts, solid_image
from tests.hostile import BAD_FILES, ODD_GOOD_FILES, make_hostile_corpus

COLOURS = {"red": (230, 20, 20), "green": (20, 220, 30), "blue": (20, 30, 230), "yellow": (230, 230, 20)}


def make_photos(folder: Path, n_each: int = 3) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, rgb in COLOURS.items():
        for i in range(n_each):
            p = folder / f"IMG_{name[:1].upper()}{i:03d}.jpg"
            solid_image(p, rgb)
            out.append(p)
    return out


def run(lib: PhotoLibrary, **kw) -> IndexCounts:
    return last_counts(lib.index(**kw))



def paths_of(results) -> list[str]:
    return [Path(r.path).name for r in results]


def test_first_index_then_nothing_to_do(lib: PhotoLibrary, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    make_photos(photos)
    lib.add_folder(photos)
    first = run(lib)
    assert (first.added, first.embedded, first.failed) == (12, 12, 0)
    second = run(lib)
    assert second.embedded == 0 and second.added == 0 and second.unchanged == 12
    status = lib.status()
    assert (status.photos, status.indexed, status.pending, status.errors) == (12, 12, 0, 0)
    top = lib.search(SearchQuery(text="red", limit=3))
    assert [n[4] for n in paths_of(top)] == ["R", "R", "R"]
    assert all(r.thumbnail_path and os.path.exists(r.thumbnail_path) for r in top)


def test_rename_move_delete_modify(lib: PhotoLibrary, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    files = make_photos(photos)
    lib.add_folder(photos)
    run(lib)
    encoded_before = TinyModel.images_encoded if hasattr(TinyModel, "images_encoded") else None
    (photos / "sub").mkdir()
    reds = [f for f in files if f.name.startswith("IMG_R")]
    reds[0].rename(photos / "renamed red.jpg")
    reds[1].rename(photos / "sub" / reds[1].name)
    greens = [f for f in files if f.name.startswith("IMG_G")]
    greens[0].unlink()
    blue = next(f for f in files if f.name.startswith("IMG_B"))
    solid_image(blue, (240, 240, 30))  # now yellow
    counts = run(lib)
    assert counts.moved == 2
    assert counts.removed == 1
    assert counts.updated == 1
    assert counts.embedded == 1  # only the changed file went through the network
    del encoded_before
    names = paths_of(lib.search(SearchQuery(text="red", limit=3)))
    assert "renamed red.jpg" in names and reds[1].name in names
    assert greens[0].name not in paths_of(lib.search(SearchQuery(text="green", limit=20)))
    top_yellow = paths_of(lib.search(SearchQuery(text="yellow", limit=4)))
    assert blue.name in top_yellow


def test_hostile_files_are_reported_once_and_good_ones_indexed(lib: PhotoLibrary, tmp_path: Path) -> None:
    folder = make_hostile_corpus(tmp_path / "hostile")
    lib.add_folder(folder)
    counts = run(lib)
    assert counts.failed == len(BAD_FILES)
    assert counts.embedded == len(ODD_GOOD_FILES)
    errors = {Path(e.path).name: e.reason for e in lib.errors()}
    assert set(errors) == set(BAD_FILES)
    assert "empty" in errors["zero-byte.jpg"]
    assert "too large" in errors["bomb.png"]
    assert lib.status().errors == len(BAD_FILES)
    again = run(lib)
    assert again.failed == 0 and again.embedded == 0
    indexed = {Path(r.path).name for r in lib.search(SearchQuery(text="red", limit=100))}
    assert indexed == set(ODD_GOOD_FILES)  # the hidden folder and the symlink loop add nothing
    rotated = next(r for r in lib.search(SearchQuery(text="red", limit=100)) if r.path.endswith("rotated-exif.jpg"))
    assert (rotated.width, rotated.height) == (40, 80)


def test_file_deleted_while_indexing(lib: PhotoLibrary, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    files = make_photos(photos, n_each=20)
    lib.add_folder(photos)
    events = lib.index()
    for event in events:
        if event.phase == "embed" and event.done == 0:
            files[-1].unlink()  # gone between the scan and its decoding
    assert event.counts.failed == 0
    assert lib.status().photos == len(files) - 1


def test_cancel_and_resume(lib: PhotoLibrary, tmp_path: Path) -> None:
    from desktop_search.core.cancel import CancelToken

    photos = tmp_path / "photos"
    make_photos(photos, n_each=30)
    lib.add_folder(photos)
    token = CancelToken()
    phases = []
    for event in lib.index(cancel=token):
        phases.append(event.phase)
        if event.phase == "embed" and event.done >= 32:
            token.cancel()
    assert phases[-1] == "cancelled"
    partial = lib.status()
    assert 0 < partial.indexed < 120
    counts = run(lib)
    assert counts.embedded == 120 - partial.indexed
    assert lib.status().indexed == 120


def test_removed_folder_leaves_results(lib: PhotoLibrary, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    make_photos(a, 1)
    solid_image(b / "x.jpg" if b.mkdir() is None else b, (250, 0, 0))
    lib.add_folder(a)
    lib.add_folder(b)
    run(lib)
    assert lib.status().photos == 5
    lib.remove_folder(b)
    assert "x.jpg" not in paths_of(lib.search(SearchQuery(text="red", limit=10)))
    assert lib.status().photos == 4


def test_unavailable_folder_keeps_its_photos(lib: PhotoLibrary, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    make_photos(photos, 1)
    lib.add_folder(photos)
    run(lib)
    shutil.move(photos, tmp_path / "unplugged")
    counts = run(lib)
    assert counts.removed == 0  # an unplugged drive is not a deletion
    assert lib.status().photos == 4


def test_apply_changes_only_looks_at_given_paths(lib: PhotoLibrary, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    files = make_photos(photos, 1)
    lib.add_folder(photos)
    run(lib)
    new = photos / "new red.jpg"
    solid_image(new, (250, 5, 5))
    files[0].unlink()
    events = list(lib.apply_changes([str(new), str(files[0])]))
    last = events[-1]
    assert (last.counts.added, last.counts.removed, last.counts.embedded) == (1, 1, 1)
    assert "new red.jpg" in paths_of(lib.search(SearchQuery(text="red", limit=2)))


def test_database_settings(lib: PhotoLibrary) -> None:
    with lib.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    raw = sqlite3.connect(lib.root / "library.db")
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    raw.close()


def test_exclusion_takes_indexed_photos_out(lib: PhotoLibrary, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    make_photos(photos, 1)
    make_photos(photos / "private", 1)
    lib.add_folder(photos)
    run(lib)
    assert lib.status().photos == 8
    lib.set_exclusions(photos, [(photos / "private").as_posix()])
    counts = run(lib)
    assert counts.removed == 4 and counts.embedded == 0
    assert all("/private/" not in r.path for r in lib.search(SearchQuery(text="red", limit=20)))
    lib.set_exclusions(photos, [])
    assert run(lib).added == 4


def test_cancelled_event_keeps_counts(lib: PhotoLibrary, tmp_path: Path) -> None:
    from desktop_search.core.cancel import CancelToken

    photos = tmp_path / "photos"
    make_photos(photos, n_each=30)
    lib.add_folder(photos)
    token = CancelToken()
    last = None
    for last in lib.index(cancel=token):
        if last.phase == "embed" and last.done >= 32:
            token.cancel()
    assert last is not None and last.phase == "cancelled"
    assert last.counts.added == 120 and last.counts.embedded >= 32


def test_repeated_query_is_encoded_once(lib: PhotoLibrary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    photos = tmp_path / "photos"
    make_photos(photos, n_each=1)
    lib.add_folder(photos)
    run(lib)
    model = lib.get_model()
    calls: list[list[str]] = []
    real = model.encode_queries

    def counting(texts):  # type: ignore[no-untyped-def]
        calls.append(list(texts))
        return real(texts)

    monkeypatch.setattr(model, "encode_queries", counting)
    first = lib.search(SearchQuery(text="green", limit=2))
    again = lib.search(SearchQuery(text="green", limit=2))  # e.g. the window refreshing after a change
    lib.search(SearchQuery(text="blue", limit=2))
    assert calls == [["green"], ["blue"]]
    assert [(r.path, r.score) for r in first] == [(r.path, r.score) for r in again]
    assert paths_of(first)[0].startswith("IMG_G")
    assert first[0].date_taken is None or first[0].date_taken.year > 1900
