"""File names find their files: a query that is a photo's file name (whole, with or without its
extension, or a distinctive part of it) puts that photo first; the model's scores stay as they are."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from desktop_search.core.app import PhotoLibrary
from desktop_search.core.search.filenames import DISTINCTIVE_MAX, FileNames, merge
from desktop_search.core.types import SearchQuery
from tests.fakes import solid_image
from tests.ui_support import index_library, make_photos

NAMES = ["/p/IMG_0001.jpg", "/p/IMG_0002.jpg", "/p/IMG_00010.JPG", "/p/renamed_5.jpg", "/p/renamed_50.jpg",
         "/p/1019077836_6fc9b15408.jpg", "/q/greyhound_on_the_lawn.jpg", "/q/GreyhoundOnLawn.png",
         "/q/bluegreyhound.jpg", "/q/notes.jpg.txt"]


def named(fn: FileNames, query: str) -> list[tuple[str, int]]:
    return [(Path(NAMES[pid - 1]).name, tier) for pid, tier in fn.matches(query)]


def test_whole_names_then_distinctive_parts() -> None:
    fn = FileNames(range(1, len(NAMES) + 1), NAMES)
    assert named(fn, "IMG_0001") == [("IMG_0001.jpg", 0), ("IMG_00010.JPG", 1)]
    assert named(fn, "img0001")[0] == ("IMG_0001.jpg", 0)
    assert named(fn, "IMG_0001.jpg")[0] == ("IMG_0001.jpg", 0)
    assert named(fn, "renamed_5") == [("renamed_5.jpg", 0), ("renamed_50.jpg", 1)]
    assert named(fn, "1019077836_6fc9b15408.jpg") == [("1019077836_6fc9b15408.jpg", 0)]
    assert named(fn, "1019077836") == [("1019077836_6fc9b15408.jpg", 1)]
    # a word that starts a word of the name; not one inside another word
    assert named(fn, "greyhound") == [("greyhound_on_the_lawn.jpg", 1), ("GreyhoundOnLawn.png", 1)]
    assert named(fn, "greyhound on the lawn") == [("greyhound_on_the_lawn.jpg", 0)]
    assert named(fn, "a dog running on the grass") == []
    assert named(fn, "on") == []  # too short to be a part
    assert named(fn, "notes") == [("notes.jpg.txt", 1)]


def test_an_empty_library_has_no_names() -> None:
    assert FileNames([], []).matches("IMG_0001") == []
    assert FileNames([7], ["/a/x.jpg"]).matches("x") == [(7, 0)]


def test_a_part_many_names_share_is_not_distinctive() -> None:
    paths = [f"/cam/IMG_{i:04d}.jpg" for i in range(DISTINCTIVE_MAX + 5)]
    fn = FileNames(range(len(paths)), paths)
    assert fn.matches("IMG") == []
    assert fn.matches("IMG_0007") == [(7, 0)]


def test_merge_puts_named_photos_first_with_their_own_scores() -> None:
    ranked = [(10, 0.9), (11, 0.8), (12, 0.7), (13, 0.6)]
    assert merge([(12, 0.7, 1), (99, 0.1, 0)], ranked, limit=4) == [(99, 0.1), (12, 0.7), (10, 0.9), (11, 0.8)]


@pytest.fixture
def library(tmp_path: Path) -> Path:
    photos = tmp_path / "photos"
    make_photos(photos, n_each=6)  # red_000.jpg ... yellow_005.jpg
    other = tmp_path / "other"
    other.mkdir()
    solid_image(photos / "IMG_0001.jpg", (20, 30, 230))  # a blue photo with a camera's name
    solid_image(photos / "renamed_5.jpg", (230, 230, 20))
    solid_image(photos / "1019077836_6fc9b15408.jpg", (20, 220, 30))
    solid_image(photos / "zoe_greyhound_on_the_lawn.jpg", (20, 220, 30))  # sorts last: no tie puts it first
    solid_image(other / "IMG_0001.jpg", (230, 20, 20))  # the same name in another folder
    root = tmp_path / "lib"
    index_library(root, photos)
    lib = PhotoLibrary.open(root)
    try:
        lib.add_folder(other)
        for _ in lib.index():
            pass
    finally:
        lib.close()
    return root


@pytest.mark.parametrize("query, expected", [
    ("IMG_0001", "IMG_0001.jpg"),
    ("renamed_5", "renamed_5.jpg"),
    ("1019077836_6fc9b15408.jpg", "1019077836_6fc9b15408.jpg"),
    ("greyhound", "zoe_greyhound_on_the_lawn.jpg"),
    ("red greyhound", None),  # no file is named so: the model's ranking alone
])
def test_a_query_that_names_a_file_puts_it_first(library: Path, query: str, expected: str | None) -> None:
    with PhotoLibrary.open(library) as lib:
        results = lib.search(SearchQuery(text=query, limit=10))
        assert results
        if expected is None:
            assert "greyhound" not in Path(results[0].path).name
            return
        assert Path(results[0].path).name == expected
        # the model's score of that photo, as a search without the name match gives it
        lib._file_names.matches = lambda text: []  # type: ignore[method-assign]
        model_only = lib.search(SearchQuery(text=query, limit=1000))
        assert [r.score for r in model_only] == sorted((r.score for r in model_only), reverse=True)
        assert results[0].score == pytest.approx({r.photo_id: r.score for r in model_only}[results[0].photo_id])
        assert len(results) == 10


def test_filters_still_apply_to_a_named_file(library: Path, tmp_path: Path) -> None:
    with PhotoLibrary.open(library) as lib:
        both = [r.path for r in lib.search(SearchQuery(text="IMG_0001", limit=5))]
        assert {Path(p).parent.name for p in both[:2]} == {"photos", "other"}
        only = lib.search(SearchQuery(text="IMG_0001", folder=str(tmp_path / "other"), limit=5))
        assert [Path(r.path).parent.name for r in only] == ["other"]


def test_a_renamed_file_is_found_by_its_new_name(library: Path, tmp_path: Path) -> None:
    with PhotoLibrary.open(library) as lib:
        assert Path(lib.search(SearchQuery(text="renamed_5", limit=3))[0].path).name == "renamed_5.jpg"
        shutil.move(tmp_path / "photos" / "renamed_5.jpg", tmp_path / "photos" / "sunflower_field.jpg")
        for _ in lib.index():
            pass
        assert Path(lib.search(SearchQuery(text="sunflower", limit=3))[0].path).name == "sunflower_field.jpg"
