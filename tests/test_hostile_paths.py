"""Hostile folder and file names: LIKE wildcards, case, quotes, bytes that are not UTF-8, control
characters (issue 13). Real files, the real SQLite library, the tiny model."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from desktop_search.core.app import PhotoLibrary
from desktop_search.core.db import Problem
from desktop_search.core.indexing.bookkeeping import record_problems
from desktop_search.core.library.scanner import ScanProblem, normalise
from desktop_search.core.types import IndexCounts
from tests.fakes import solid_image

#: folder names that a LIKE pattern or a glob would read as wildcards, with their look-alikes
WILD_NAMES = ("a_b", "axb", "A_B", "100%", "1000", "100x", "[ab]", "a", "b", "*", "x", "?", "it's", 'say "hi"', "MiXeD", "mixed")


def run(events) -> IndexCounts:
    last = None
    for event in events:
        last = event
    assert last is not None
    return last.counts


def fill(folder: Path, n: int, colour: tuple[int, int, int] = (200, 40, 40)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        p = folder / f"p{i}.jpg"
        solid_image(p, (colour[0], (colour[1] + 37 * i) % 255, colour[2]))
        out.append(p)
    return out


def photo_paths(lib: PhotoLibrary) -> set[str]:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from desktop_search.core.db import Photo

    with Session(lib.engine) as s:
        return set(s.scalars(select(Photo.path)))


@pytest.fixture
def lib(tmp_path: Path):
    library = PhotoLibrary.open(tmp_path / "lib", model_name="tiny")
    yield library
    library.close()


def test_deleting_a_folder_with_wildcards_in_its_name_removes_only_its_photos(lib: PhotoLibrary, tmp_path: Path) -> None:
    w = tmp_path / "W"
    for name in WILD_NAMES:
        fill(w / name, 2)
    fill(w / "100x" / "sub", 2)
    lib.add_folder(w)
    counts = run(lib.index())
    assert counts.added == 2 * len(WILD_NAMES) + 2
    for name in ("a_b", "100%", "[ab]", "*", "?", "it's", "MiXeD"):
        before = photo_paths(lib)
        shutil.rmtree(w / name)
        counts = run(lib.apply_changes([str(w / name)]))  # what the watcher sends for a deleted folder
        gone = before - photo_paths(lib)
        assert counts.removed == 2, (name, counts)
        assert gone == {normalise(w / name / f"p{i}.jpg") for i in range(2)}, name


def test_errors_of_a_folder_do_not_match_wildcards(lib: PhotoLibrary, tmp_path: Path) -> None:
    w = tmp_path / "W"
    for name in ("a_b", "axb", "A_B", "100%", "1000"):
        (w / name).mkdir(parents=True)
        (w / name / "broken.jpg").write_bytes(b"not a photo")
    lib.add_folder(w)
    run(lib.index())
    assert len(lib.errors()) == 5
    assert [Path(e.path).parent.name for e in lib.errors(str(w / "a_b"))] == ["a_b"]
    assert [Path(e.path).parent.name for e in lib.errors(str(w / "100%"))] == ["100%"]


def test_a_clean_scan_forgets_only_the_problems_below_the_scanned_folder(lib: PhotoLibrary, tmp_path: Path) -> None:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    root = normalise(tmp_path)
    others = [f"{root}/axb/x", f"{root}/A_B/x", f"{root}/a_b0/x"]
    record_problems(lib.engine, [ScanProblem(p, "folder cannot be read") for p in [f"{root}/a_b/x", *others]], [])
    record_problems(lib.engine, [], [f"{root}/a_b"])
    with Session(lib.engine) as s:
        assert sorted(s.scalars(select(Problem.path))) == sorted(others)
