"""Watched folders inside each other, photos moved between watched folders, removing folders, and
exclusions by name: through the real SQLite library and real files (with the tiny model)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from desktop_search.core.app import PhotoLibrary
from desktop_search.core.errors import UserError
from desktop_search.core.types import IndexCounts, SearchQuery
from tests.fakes import solid_image
from tests.test_indexing import make_photos


def run(lib: PhotoLibrary, paths: list[Path] | None = None) -> IndexCounts:
    last = None
    for event in lib.index([str(p) for p in paths] if paths is not None else None):
        last = event
    assert last is not None and last.phase == "done", last
    return last.counts


def index(lib: PhotoLibrary, *folders: Path, exclude: tuple[str, ...] = ()) -> IndexCounts:
    """What ``desktop-search index DIR... [--exclude X]`` does."""
    for f in folders:
        lib.add_folder(f, exclusions=exclude)
    return run(lib, list(folders))


def per_folder(lib: PhotoLibrary) -> dict[str, int]:
    return {Path(f.path).name: f.photos for f in lib.folders()}


def all_paths(lib: PhotoLibrary) -> list[str]:
    return sorted(r.path for r in lib.search(SearchQuery(text="red", limit=1000)))


def vector_of(lib: PhotoLibrary, photo_id: int) -> bytes:
    with lib.engine.connect() as conn:
        blob = conn.exec_driver_sql("SELECT image FROM vectors WHERE photo_id = ?", (photo_id,)).scalar()
    assert blob
    return bytes(blob)



@pytest.fixture
def nested(tmp_path: Path) -> tuple[Path, Path]:
    parent = tmp_path / "p"
    make_photos(parent, 1)  # 4 photos in p
    make_photos(parent / "sub", 2)  # 8 in p/sub
    return parent, parent / "sub"


# -- 1: nested watched folders ---------------------------------------------------------------------
@pytest.mark.parametrize("order", ["parent first", "child first"])
def test_indexing_nested_folders_in_either_order(lib: PhotoLibrary, nested: tuple[Path, Path], order: str) -> None:
    parent, child = nested
    first, second = (parent, child) if order == "parent first" else (child, parent)
    index(lib, first)
    counts = index(lib, second)  # failed with "UNIQUE constraint failed: photos.path"
    assert counts.added == (0 if order == "parent first" else 4)
    assert counts.embedded == (0 if order == "parent first" else 4)
    assert counts.removed == 0
    assert per_folder(lib) == {"p": 4, "sub": 8}
    assert lib.status().photos == 12
    assert len(all_paths(lib)) == len(set(all_paths(lib))) == 12
    # every way of rescanning afterwards is a no-op
    for paths in (None, [parent], [child]):
        again = run(lib, paths)
        assert (again.added, again.removed, again.moved, again.embedded) == (0, 0, 0, 0)
        assert per_folder(lib) == {"p": 4, "sub": 8}


def test_changes_inside_a_nested_folder_are_seen_from_either_folder(lib: PhotoLibrary, nested: tuple[Path, Path]) -> None:
    parent, child = nested
    index(lib, parent, child)
    solid_image(child / "new red.jpg", (240, 10, 10))
    (child / "IMG_G000.jpg").unlink()
    counts = run(lib, [parent])  # scanning the parent also scans the folder nested in it
    assert (counts.added, counts.removed, counts.embedded) == (1, 1, 1)
    assert per_folder(lib) == {"p": 4, "sub": 8}
    solid_image(child / "another red.jpg", (250, 0, 0))
    counts = run(lib, [child])
    assert (counts.added, counts.removed, counts.embedded) == (1, 0, 1)
    assert per_folder(lib) == {"p": 4, "sub": 9}


def test_child_added_after_parent_was_indexed_takes_its_photos(lib: PhotoLibrary, nested: tuple[Path, Path]) -> None:
    parent, child = nested
    index(lib, parent)
    assert per_folder(lib) == {"p": 12}
    lib.add_folder(child)  # `folders add`: the counts are right before any rescan
    assert per_folder(lib) == {"p": 4, "sub": 8}
    (child / "IMG_R001.jpg").unlink()
    counts = run(lib, [child])
    assert (counts.removed, counts.added) == (1, 0)
    assert per_folder(lib) == {"p": 4, "sub": 7}


# -- 2: a photo moved from one watched folder to another ---------------------------------------------
def test_move_between_watched_folders_is_recognised_when_only_the_destination_is_indexed(
    lib: PhotoLibrary, tmp_path: Path
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    make_photos(a, 2)
    make_photos(b, 3)
    index(lib, a, b)
    before = {r.path: r.photo_id for r in lib.search(SearchQuery(text="red", limit=100))}
    vector = vector_of(lib, before[str(a / "IMG_R000.jpg")])
    moved_from = a / "IMG_R000.jpg"
    moved_to = b / "moved red.jpg"
    shutil.move(moved_from, moved_to)
    counts = run(lib, [b])
    assert (counts.moved, counts.added, counts.embedded, counts.removed) == (1, 0, 0, 0)
    assert lib.status().photos == 20  # not 21: the old path is gone from the index
    paths = all_paths(lib)
    assert str(moved_from) not in paths and str(moved_to) in paths
    after = {r.path: r.photo_id for r in lib.search(SearchQuery(text="red", limit=100))}
    assert after[str(moved_to)] == before[str(moved_from)]  # the same photo...
    assert vector_of(lib, after[str(moved_to)]) == vector  # ...with the same vector
    assert per_folder(lib) == {"a": 7, "b": 13}
    again = run(lib)
    assert (again.added, again.removed, again.moved, again.embedded) == (0, 0, 0, 0)


def test_a_copy_is_not_a_move_and_an_unplugged_folder_keeps_its_photos(lib: PhotoLibrary, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    make_photos(a, 1)
    b.mkdir()
    index(lib, a, b)
    shutil.copy(a / "IMG_R000.jpg", b / "copy.jpg")
    counts = run(lib, [b])
    assert (counts.added, counts.moved) == (1, 0)
    shutil.copy(a / "IMG_G000.jpg", b / "copy2.jpg")
    shutil.move(a, tmp_path / "unplugged")  # the source folder is away: not evidence of a move
    counts = run(lib, [b])
    assert (counts.added, counts.moved) == (1, 0)
    assert per_folder(lib) == {"a": 4, "b": 2}


# -- 3 and 4: removing a folder ---------------------------------------------------------------------
def test_removing_the_parent_keeps_the_watched_child_with_its_vectors(lib: PhotoLibrary, nested: tuple[Path, Path]) -> None:
    parent, child = nested
    index(lib, parent, child)
    lib.remove_folder(parent)
    assert per_folder(lib) == {"sub": 8}
    assert lib.status().photos == 8
    paths = all_paths(lib)
    assert len(paths) == 8 and all(p.startswith(str(child) + "/") for p in paths)
    counts = run(lib)
    assert (counts.added, counts.embedded, counts.removed) == (0, 0, 0)


def test_removing_the_child_leaves_its_photos_to_the_parent(lib: PhotoLibrary, nested: tuple[Path, Path]) -> None:
    parent, child = nested
    index(lib, parent, child)
    assert per_folder(lib) == {"p": 4, "sub": 8}
    lib.remove_folder(child)
    assert per_folder(lib) == {"p": 12}
    assert len(all_paths(lib)) == 12
    counts = run(lib)
    assert (counts.added, counts.embedded, counts.removed) == (0, 0, 0)


def test_removing_a_folder_forgets_its_problems_and_thumbnails(lib: PhotoLibrary, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    make_photos(a, 1)
    make_photos(b, 1)
    shutil.copy(a / "IMG_R000.jpg", b / "same as a red.jpg")  # one thumbnail file for two photos
    index(lib, a, b)
    results = lib.search(SearchQuery(text="red", limit=100))
    thumbs_a = {r.thumbnail_path for r in results if r.path.startswith(str(a) + "/")}
    assert len(thumbs_a) == 4 and all(t and Path(t).exists() for t in thumbs_a)
    shared = next(r.thumbnail_path for r in results if r.path.endswith("same as a red.jpg"))
    assert shared in thumbs_a
    shutil.move(a, tmp_path / "unplugged")
    run(lib)
    assert [e.path for e in lib.errors()] == [str(a)] and lib.status().errors == 1  # "folder is not available"
    lib.remove_folder(a)
    assert not lib.errors() and lib.status().errors == 0
    assert shared and all(not Path(t).exists() for t in thumbs_a if t and t != shared)
    assert Path(shared).exists()  # still the thumbnail of b's copy
    assert per_folder(lib) == {"b": 5}


def test_a_rescan_drops_thumbnails_of_deleted_and_replaced_photos(lib: PhotoLibrary, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    files = make_photos(photos, 1)
    index(lib, photos)
    thumb = {Path(r.path).name: r.thumbnail_path for r in lib.search(SearchQuery(text="red", limit=100))}
    files[0].unlink()  # IMG_R000
    solid_image(files[1], (10, 240, 10))  # IMG_G000: new contents
    counts = run(lib)
    assert (counts.removed, counts.updated) == (1, 1)
    assert not Path(thumb[files[0].name]).exists()
    assert not Path(thumb[files[1].name]).exists()
    assert all(Path(thumb[f.name]).exists() for f in files[2:])
    new_thumb = {Path(r.path).name: r.thumbnail_path for r in lib.search(SearchQuery(text="green", limit=100))}
    assert new_thumb[files[1].name] and Path(new_thumb[files[1].name]).exists()


# -- 5: exclusions ----------------------------------------------------------------------------------
@pytest.fixture
def with_private(tmp_path: Path) -> Path:
    photos = tmp_path / "photos"
    make_photos(photos, 1)
    make_photos(photos / "private", 1)
    make_photos(photos / "2020" / "private", 1)
    make_photos(photos / "2020" / "trips", 1)
    return photos


def test_exclude_a_bare_name_leaves_out_every_folder_of_that_name(lib: PhotoLibrary, with_private: Path) -> None:
    counts = index(lib, with_private, exclude=("private",))  # `index DIR --exclude private`
    assert counts.added == 8
    assert all("/private/" not in p for p in all_paths(lib))
    assert lib.folders()[0].exclusions == ("private",)


def test_exclude_a_relative_path_is_relative_to_the_watched_folder(lib: PhotoLibrary, with_private: Path) -> None:
    counts = index(lib, with_private, exclude=("2020/private", "./private/"))
    assert counts.added == 8
    paths = all_paths(lib)
    assert not any("/private/" in p for p in paths) and sum("/2020/trips/" in p for p in paths) == 4


def test_absolute_and_glob_exclusions_keep_working(lib: PhotoLibrary, with_private: Path) -> None:
    counts = index(lib, with_private, exclude=(str(with_private / "2020") + "/", "*/private/*"))
    assert counts.added == 4
    assert lib.folders()[0].exclusions == tuple(sorted((str(with_private / "2020"), "*/private/*")))


def test_exclusions_from_the_window_and_the_watcher_match_the_same(lib: PhotoLibrary, with_private: Path) -> None:
    index(lib, with_private)
    assert lib.status().photos == 16
    lib.set_exclusions(with_private, ["trips"])  # the Exclusions dialog / the global setting
    counts = run(lib)
    assert counts.removed == 4
    new = with_private / "2020" / "trips" / "new red.jpg"
    solid_image(new, (250, 0, 0))
    events = list(lib.apply_changes([str(new), str(new.parent)]))  # what the watcher sends
    assert events[-1].counts.added == 0
    assert all("/trips/" not in p for p in all_paths(lib))


def test_is_excluded_rules() -> None:
    from desktop_search.core.library.scanner import clean_exclusion, is_excluded

    root = "/home/me/Pictures"
    assert is_excluded(f"{root}/a/private/x.jpg", ["private"], root)
    assert is_excluded(f"{root}/private", ["private"], root)
    assert not is_excluded(f"{root}/privateer/x.jpg", ["private"], root)
    assert not is_excluded("/home/private/Pictures/x.jpg", ["private"], "/home/private/Pictures")  # above the root
    assert is_excluded(f"{root}/a/b/x.jpg", ["a/b"], root)
    assert not is_excluded(f"{root}/c/a/b/x.jpg", ["a/b"], root)
    assert is_excluded(f"{root}/a/x.jpg", [f"{root}/a"], root)
    assert is_excluded(f"{root}/a/x.png", ["*.png"], root)
    assert is_excluded(f"{root}/a/Screenshots/x.png", ["*/Screenshots/*"], root)
    assert is_excluded(f"{root}/a/x.png", ["a/*.png"], root)
    assert clean_exclusion(" sub/ ") == "sub" and clean_exclusion("./sub") == "./sub" and clean_exclusion(".") == ""


def test_a_folder_reached_through_a_link_is_not_watched_twice(tmp_path: Path) -> None:
    """The same photos under two names would be indexed (and found) twice: refused with a message."""
    real = tmp_path / "real"
    (real / "sub").mkdir(parents=True)
    (tmp_path / "link").symlink_to(real)
    (tmp_path / "sublink").symlink_to(real / "sub")
    lib = PhotoLibrary.open(tmp_path / "lib", model_name="tiny")
    try:
        lib.add_folder(real)
        lib.add_folder(real / "sub")  # plain nesting stays allowed
        with pytest.raises(UserError, match="through a link"):
            lib.add_folder(tmp_path / "link")
        with pytest.raises(UserError, match="through a link"):
            lib.add_folder(tmp_path / "sublink")
        assert [f.path for f in lib.folders()] == [real.as_posix(), (real / "sub").as_posix()]
    finally:
        lib.close()


def test_two_programs_never_index_one_library_at_once(tmp_path: Path) -> None:
    """The window (watching) and `desktop-search index` in a terminal: the second job waits for the
    first, saying so, instead of reconciling the same folders at the same time (which inserted
    photos twice); nothing it was asked to do is dropped."""
    photos = tmp_path / "photos"
    make_photos(photos, 1)
    first = PhotoLibrary.open(tmp_path / "lib", model_name="tiny")
    second = PhotoLibrary.open(tmp_path / "lib", model_name="tiny")  # as another process would
    try:
        first.add_folder(photos)
        job = first.index()
        next(job)  # the first job has started and holds the library
        waiting = second.index()
        assert "Waiting for another program" in (next(waiting).message or "")
        for _ in job:
            pass
        counts = [e.counts for e in waiting][-1]  # then it runs
        assert counts.unchanged == 4 and counts.added == 0
    finally:
        first.close()
        second.close()


def test_a_watched_sub_folder_keeps_its_parents_exclusions(tmp_path: Path) -> None:
    """/p leaves out every folder called 'private' and its own 'sub/drafts': watching /p/sub as well
    does not bring them back, whichever folder is indexed."""
    parent = tmp_path / "p"
    sub = parent / "sub"
    for folder in (sub, sub / "private", sub / "drafts", sub / "kept"):
        folder.mkdir(parents=True, exist_ok=True)
        solid_image(folder / f"{folder.name}.jpg", (200, 30, 30))
    lib = PhotoLibrary.open(tmp_path / "lib", model_name="tiny")
    try:
        lib.add_folder(parent, exclusions=["private", "sub/drafts"])
        lib.add_folder(sub)
        for target in ([str(sub)], [str(parent)], None):
            for _ in lib.index(target):
                pass
            names = sorted(Path(r.path).name for r in lib.search(SearchQuery(text="red", limit=20)))
            assert names == ["kept.jpg", "sub.jpg"], target
    finally:
        lib.close()
