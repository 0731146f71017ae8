"""A caption written, edited or deleted in its sidecar file (``NAME.txt``, ``NAME.ext.txt``) beside an
unchanged photo reaches the search: by a rescan (also after the library was closed) and through the
folder watcher; text only, the image is not embedded again. Real files, real SQLite, the tiny model
(its search takes the better of a photo's image and text matches: a grey photo captioned "a red
car" comes first for "red")."""

from __future__ import annotations

import os
import queue
import sqlite3
import time
from pathlib import Path

import pytest
from PIL import Image

from desktop_search.core.app import PhotoLibrary
from desktop_search.core.library.watcher import ChangeBatch, FolderWatcher
from desktop_search.core.types import SearchQuery
from tests import fakes
from tests.fakes import last_counts, solid_image

pytestmark = pytest.mark.timeout(120)

GREY = (128, 128, 128)


def album(folder: Path) -> Path:
    """Coloured photos with camera names, and a grey one named with words ("white sheep")."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rgb in {"IMG_0001.jpg": (230, 20, 20), "IMG_0002.jpg": (20, 220, 30), "IMG_0003.jpg": (20, 30, 230)}.items():
        solid_image(folder / name, rgb)
    grey = folder / "white_sheep.jpg"
    solid_image(grey, GREY)
    return grey


def closed_library(photos: Path, root: Path) -> Path:
    """The album in ``photos`` indexed in a library at ``root``, closed again; its grey photo."""
    lib = PhotoLibrary.open(root, model_name="tiny")
    try:
        return indexed_album(lib, photos)
    finally:
        lib.close()


def indexed_album(lib: PhotoLibrary, photos: Path) -> Path:
    """The album made in ``photos``, added to ``lib`` and indexed; its grey photo."""
    grey = album(photos)
    lib.add_folder(photos)
    last_counts(lib.index())
    return grey


def top(lib: PhotoLibrary, text: str) -> tuple[str, str | None]:
    first = lib.search(SearchQuery(text=text, limit=1))[0]
    return Path(first.path).name, first.caption


def stored(lib: PhotoLibrary, photo: Path) -> tuple[str | None, str | None]:
    """The photo's (caption, text) as the library keeps them."""
    with sqlite3.connect(lib.root / "library.db") as conn:
        row = conn.execute("SELECT caption, text FROM photos WHERE path = ?", (photo.as_posix(),)).fetchone()
    return row[0], row[1]


def test_a_caption_written_edited_and_deleted_beside_an_unchanged_photo_reaches_the_search_on_rescan(
    lib: PhotoLibrary, tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    grey = indexed_album(lib, photos)
    assert stored(lib, grey) == (None, "white sheep")
    assert top(lib, "red")[0] == "IMG_0001.jpg"
    images = fakes._SHARED.images_encoded

    (photos / "white_sheep.txt").write_text("A red car parked by the sea\n", encoding="utf-8")
    counts = last_counts(lib.index())
    assert stored(lib, grey) == ("A red car parked by the sea", "A red car parked by the sea")
    assert top(lib, "red") == ("white_sheep.jpg", "A red car parked by the sea")
    # its entry was updated; nothing went through the image network
    assert (counts.updated, counts.unchanged, counts.embedded) == (1, 3, 0)
    assert fakes._SHARED.images_encoded == images  # the text alone was embedded again

    # edited: the same size, another word (an edit within the same second is still seen)
    (photos / "white_sheep.txt").write_text("A blue car parked by the sea\n", encoding="utf-8")
    last_counts(lib.index())
    assert stored(lib, grey)[0] == "A blue car parked by the sea"
    assert top(lib, "red")[0] == "IMG_0001.jpg"
    assert top(lib, "blue") == ("white_sheep.jpg", "A blue car parked by the sea")

    # deleted: the file name's words are the photo's text again
    (photos / "white_sheep.txt").unlink()
    last_counts(lib.index())
    assert stored(lib, grey) == (None, "white sheep")
    assert top(lib, "blue")[0] == "IMG_0003.jpg"
    assert fakes._SHARED.images_encoded == images


def test_a_name_ext_txt_caption_written_while_the_library_was_closed_is_read_at_the_next_rescan(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    grey = closed_library(photos, tmp_path / "lib")
    (photos / "white_sheep.jpg.txt").write_text("a yellow kite", encoding="utf-8")
    (photos / "notes.txt").write_text("not a caption: no photo is called notes", encoding="utf-8")
    lib = PhotoLibrary.open(tmp_path / "lib", model_name="tiny")
    try:
        counts = last_counts(lib.index())
        assert counts.embedded == 0
        assert stored(lib, grey)[0] == "a yellow kite"
        assert top(lib, "yellow") == ("white_sheep.jpg", "a yellow kite")
        assert lib.photo(lib.search(SearchQuery(text="yellow", limit=1))[0].photo_id).caption == "a yellow kite"  # type: ignore[union-attr]
    finally:
        lib.close()


def test_a_library_of_the_previous_schema_opens_and_reads_the_captions_beside_its_photos(tmp_path: Path) -> None:
    """Libraries indexed before captions were followed know no caption file: they open (upgraded in
    place) and their first rescan reads the sidecar captions there are."""
    photos = tmp_path / "photos"
    grey = closed_library(photos, tmp_path / "lib")
    with sqlite3.connect(tmp_path / "lib" / "library.db") as conn:  # as version 2 left it
        conn.execute("ALTER TABLE photos DROP COLUMN sidecar")
        conn.execute("PRAGMA user_version = 2")
    (photos / "white_sheep.txt").write_text("a red balloon", encoding="utf-8")
    lib = PhotoLibrary.open(tmp_path / "lib", model_name="tiny")
    try:
        assert last_counts(lib.index()).embedded == 0
        assert stored(lib, grey) == ("a red balloon", "a red balloon")
        assert top(lib, "red") == ("white_sheep.jpg", "a red balloon")
    finally:
        lib.close()


def test_deleting_a_caption_file_brings_back_the_caption_the_photo_itself_carries(lib: PhotoLibrary, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    album(photos)
    exif = Image.Exif()
    exif[0x010E] = "A green field in spring"  # ImageDescription
    described = photos / "IMG_0100.jpg"
    Image.new("RGB", (64, 48), GREY).save(described, exif=exif)
    lib.add_folder(photos)
    last_counts(lib.index())
    assert stored(lib, described)[0] == "A green field in spring"
    caption = photos / "IMG_0100.txt"
    caption.write_text("a red umbrella", encoding="utf-8")  # the sidecar comes first
    last_counts(lib.index())
    assert top(lib, "red") == ("IMG_0100.jpg", "a red umbrella")
    caption.unlink()
    last_counts(lib.index())
    assert stored(lib, described) == ("A green field in spring", "A green field in spring")
    assert top(lib, "red")[0] == "IMG_0001.jpg"


def test_a_photo_moved_away_from_its_caption_file_loses_that_caption(lib: PhotoLibrary, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    grey = album(photos)
    (photos / "white_sheep.txt").write_text("a red car", encoding="utf-8")
    lib.add_folder(photos)
    last_counts(lib.index())
    assert top(lib, "red") == ("white_sheep.jpg", "a red car")
    (photos / "sub").mkdir()
    moved = photos / "sub" / "white_sheep.jpg"
    grey.rename(moved)
    counts = last_counts(lib.index())
    assert counts.moved == 1 and counts.embedded == 0
    assert stored(lib, moved) == (None, "white sheep")
    assert top(lib, "red")[0] == "IMG_0001.jpg"


def _watch(lib: PhotoLibrary, folder: Path) -> tuple[FolderWatcher, queue.SimpleQueue[ChangeBatch]]:
    batches: queue.SimpleQueue[ChangeBatch] = queue.SimpleQueue()
    watcher = FolderWatcher(batches.put, quiet_s=0.3, ignore=[str(lib.root)])
    watcher.start([str(folder)])
    assert watcher.wait_ready(10)
    return watcher, batches


def _apply_until(lib: PhotoLibrary, batches: queue.SimpleQueue[ChangeBatch], photo: Path, done) -> ChangeBatch:  # type: ignore[no-untyped-def]
    """Apply the watcher's batches as the window does until ``done()``; the last batch."""
    deadline = time.monotonic() + 20
    while True:
        batch = batches.get(timeout=max(0.1, deadline - time.monotonic()))
        last_counts(lib.apply_changes(batch.paths))
        if done() or time.monotonic() > deadline:
            assert str(photo) in batch.paths
            return batch


def test_the_watcher_reads_a_caption_file_created_modified_renamed_and_deleted_beside_a_photo(
    lib: PhotoLibrary, tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    grey = indexed_album(lib, photos)
    images = fakes._SHARED.images_encoded
    watcher, batches = _watch(lib, photos)
    try:
        caption = photos / "white_sheep.txt"
        caption.write_text("a red car", encoding="utf-8")
        batch = _apply_until(lib, batches, grey, lambda: stored(lib, grey)[0] == "a red car")
        assert batch.paths == (str(grey),)  # the photo it captions, not the text file
        assert top(lib, "red") == ("white_sheep.jpg", "a red car")

        with open(caption, "w", encoding="utf-8") as fh:  # edited in place
            fh.write("a blue boat")
        _apply_until(lib, batches, grey, lambda: stored(lib, grey)[0] == "a blue boat")
        assert top(lib, "blue") == ("white_sheep.jpg", "a blue boat")

        # an editor's safe save: a temporary file renamed over NAME.ext.txt
        tmp = photos / ".white_sheep.jpg.txt.swp"
        tmp.write_text("a yellow flower", encoding="utf-8")
        caption.unlink()
        os.replace(tmp, photos / "white_sheep.jpg.txt")
        _apply_until(lib, batches, grey, lambda: stored(lib, grey)[0] == "a yellow flower")
        assert top(lib, "yellow") == ("white_sheep.jpg", "a yellow flower")

        (photos / "white_sheep.jpg.txt").unlink()
        _apply_until(lib, batches, grey, lambda: stored(lib, grey) == (None, "white sheep"))
        assert top(lib, "white") == ("white_sheep.jpg", None)  # its name's words again
        assert fakes._SHARED.images_encoded == images
    finally:
        watcher.stop()


def test_the_watcher_leaves_text_files_that_caption_no_photo_alone(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    solid_image(folder / "beach.jpg", GREY)
    batches: queue.SimpleQueue[ChangeBatch] = queue.SimpleQueue()
    watcher = FolderWatcher(batches.put, quiet_s=0.2)
    watcher.start([str(folder)])
    try:
        assert watcher.wait_ready(10)
        (folder / "notes.txt").write_text("shopping list", encoding="utf-8")
        with pytest.raises(queue.Empty):
            batches.get(timeout=1.0)
        (folder / "beach.jpg.txt").write_text("sand", encoding="utf-8")
        assert batches.get(timeout=10).paths == (str(folder / "beach.jpg"),)
    finally:
        watcher.stop()
