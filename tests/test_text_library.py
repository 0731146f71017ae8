"""Text in photos, wired into the library (issue 16): the text job after the embeddings (resumable,
pausable, never re-reading), the search fusion, status and the command line. Real SQLite, real
images of text rendered with PIL and read by the real engine; real Flickr8k photos where the meaning
model matters (skipped when absent)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from desktop_search.cli import main
from desktop_search.core import settings
from desktop_search.core.app import PhotoLibrary
from desktop_search.core.cancel import CancelToken
from desktop_search.core.filelock import WriterLock
from desktop_search.core.text import recognize, store
from desktop_search.core.types import SearchQuery
from tests.fakes import last_counts, solid_image

pytestmark = pytest.mark.skipif(not recognize.available(), reason="text recognition (onnxruntime + models) not installed")

REPO = Path(__file__).resolve().parent.parent
TEXTS = {
    "receipt.jpg": ["HOTEL MIRAMAR", "Receipt 0012", "Total 123.40 EUR"],
    "dog_sign.png": ["DOG"],
    "boarding.png": ["Boarding pass", "Gate B12  Seat 14C"],
}


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for name in ("DejaVuSans.ttf", "LiberationSans-Regular.ttf", "Arial.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


def render(path: Path, lines: list[str], size: int = 30) -> None:
    img = Image.new("RGB", (640, 60 + len(lines) * 2 * size), (250, 250, 250))
    draw = ImageDraw.Draw(img)
    for i, text in enumerate(lines):
        draw.text((30, 30 + i * 2 * size), text, font=_font(size), fill=(10, 10, 10))
    img.save(path, quality=90)


def make_folder(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rgb in (("red", (220, 30, 30)), ("green", (30, 200, 40)), ("blue", (30, 40, 220))):
        solid_image(folder / f"{name}.jpg", rgb)
    for name, lines in TEXTS.items():
        render(folder / name, lines)


def open_tiny(root: Path) -> PhotoLibrary:
    return PhotoLibrary.open(root, model_name="tiny")


@pytest.fixture
def indexed(tmp_path: Path) -> tuple[PhotoLibrary, Path]:
    """A tiny-model library of 3 colour photos and 3 images of text, indexed (text not read yet)."""
    photos = tmp_path / "photos"
    make_folder(photos)
    lib = open_tiny(tmp_path / "lib")
    lib.add_folder(photos)
    last_counts(lib.index())
    yield lib, photos
    lib.close()


def _id(lib: PhotoLibrary, name: str) -> int:
    rows = lib._fetch("SELECT id, path FROM photos", ())
    return next(pid for pid, path in rows if path.endswith("/" + name))


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    read: list[str] = []
    real = recognize.read_text

    def counting(image, **kw):  # type: ignore[no-untyped-def]
        read.append(os.path.basename(str(image)))
        return real(image, **kw)

    monkeypatch.setattr(recognize, "read_text", counting)
    return read


def test_searchable_by_meaning_before_the_text_is_read(indexed: tuple[PhotoLibrary, Path]) -> None:
    lib, _ = indexed
    status = lib.status()
    assert status.indexed == 6 and status.text_pending == 6 and status.text_read == 0
    assert Path(lib.search(SearchQuery("red", limit=1))[0].path).name == "red.jpg"  # meaning answers already
    nice_before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) if hasattr(os, "getpriority") else 0
    events = list(lib.text.read())
    if hasattr(os, "getpriority"):  # the reading ran at low priority on its own thread, not the caller's
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == nice_before
    texts = [e for e in events if e.phase == "text"]
    assert texts[0].message == "Reading text in photos: 0 / 6"
    assert texts[-1].done == 6 and texts[-1].message == "Reading text in photos: 6 / 6"
    assert events[-1].phase == "done"
    status = lib.status()
    assert status.text_pending == 0 and status.text_read == 6
    assert "MIRAMAR" in (lib.text.photo_text(_id(lib, "receipt.jpg")) or "")
    assert lib.text.photo_text(_id(lib, "red.jpg")) == ""  # read, no text


def test_receipt_hotel_miramar_ranks_the_receipt_first(indexed: tuple[PhotoLibrary, Path]) -> None:
    lib, _ = indexed
    list(lib.text.read())
    results = lib.search(SearchQuery("receipt hotel miramar"))
    assert Path(results[0].path).name == "receipt.jpg"
    assert results[0].text_match is not None and "MIRAMAR" in results[0].text_match.upper()
    assert results[0].relevance is not None and results[0].relevance >= 75  # a strong match, found by its text
    assert all(r.text_match is None for r in results[1:])
    # a part of a recognised string; case forgiven
    assert Path(lib.search(SearchQuery("miramar"))[0].path).name == "receipt.jpg"
    # a quoted phrase asks for that text exactly
    assert Path(lib.search(SearchQuery('"gate B12"'))[0].path).name == "boarding.png"
    assert all(r.text_match is None for r in lib.search(SearchQuery('"gate B13"')))
    # filters apply to photos found by their text too
    other = lib.search(SearchQuery("miramar", filters={"type": "png"}))
    assert all(Path(r.path).name != "receipt.jpg" for r in other)


def test_the_text_job_survives_a_kill_and_never_reads_a_photo_twice(
    indexed: tuple[PhotoLibrary, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    lib, _ = indexed
    root = lib.root
    lib.close()
    # another process reads two photos, then is killed (SIGKILL: no clean-up at all)
    script = (
        "import os, signal, sys; import tests.fakes; from desktop_search.core.app import PhotoLibrary\n"
        f"lib = PhotoLibrary.open({str(root)!r}, model_name='tiny')\n"
        "for e in lib.text.read():\n"
        "    if e.phase == 'text' and e.done == 2: os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    lib = open_tiny(root)
    try:
        assert lib.status().text_pending == 4 and lib.status().text_read == 2
        already = {Path(p).name for (p,) in lib._fetch(
            "SELECT p.path FROM photos p JOIN photo_text t ON t.photo_id = p.id", ())}
        read = _count_reads(monkeypatch)
        list(lib.text.read())
        assert len(read) == 4 and not already & set(read)  # resumed: only the four not read
        assert lib.status().text_pending == 0
        del read[:]
        list(lib.text.read())  # nothing changed: nothing read again
        assert read == []
    finally:
        lib.close()


def test_a_changed_photo_is_read_again_and_a_deleted_ones_text_goes(
    indexed: tuple[PhotoLibrary, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    lib, photos = indexed
    list(lib.text.read())
    render(photos / "boarding.png", ["Boarding pass", "Gate C7  Seat 2A"])
    receipt = _id(lib, "receipt.jpg")
    (photos / "receipt.jpg").unlink()
    last_counts(lib.index())
    assert lib.status().text_pending == 1
    read = _count_reads(monkeypatch)
    list(lib.text.read())
    assert read == ["boarding.png"]
    assert "C7" in (lib.text.photo_text(_id(lib, "boarding.png")) or "")
    assert lib.text.photo_text(receipt) is None
    assert not any(Path(r.path).name == "receipt.jpg" for r in lib.search(SearchQuery("miramar")))
    raw = sqlite3.connect(lib.root / "library.db")
    try:
        assert raw.execute("SELECT COUNT(*) FROM photo_text_fts WHERE rowid = ?", (receipt,)).fetchone()[0] == 0
    finally:
        raw.close()


def test_pausing_holds_the_job_without_the_writer_lock_and_resuming_finishes_it(
    indexed: tuple[PhotoLibrary, Path]
) -> None:
    lib, _ = indexed
    token = CancelToken()
    events: list = []
    job = threading.Thread(target=lambda: events.extend(e for e in lib.text.read(token)), daemon=True)
    token.pause()
    job.start()
    time.sleep(1.0)
    assert lib.status().text_read == 0  # paused before the first photo
    # while paused another program can take the library's writer lock (an indexing job would)
    other = WriterLock(lib.root / "index.lock")
    assert other.acquire()
    other.release()
    token.resume()
    job.join(60)
    assert not job.is_alive() and events[-1].phase == "done"
    assert lib.status().text_pending == 0


def test_cancelling_stops_between_photos_and_keeps_what_was_read(indexed: tuple[PhotoLibrary, Path]) -> None:
    lib, _ = indexed
    token = CancelToken()
    last = None
    for event in lib.text.read(token):
        last = event
        if event.phase == "text" and event.done == 1:
            token.cancel()
    assert last is not None and last.phase == "cancelled"
    assert lib.status().text_read == 1 and lib.status().text_pending == 5


def test_cli_index_reads_text_unless_turned_off_and_json_carries_the_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = tmp_path / "photos"
    make_folder(photos)
    lib = str(tmp_path / "lib")
    assert main(["index", "--library", lib, "--model", "tiny", str(photos), "--no-text", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["text_read"] is None
    assert main(["status", "--library", lib, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["text_pending"] == 6
    assert main(["status", "--library", lib]) == 0
    assert "Text:    0 photos read · 6 still to read" in capsys.readouterr().out

    settings.save(settings.Settings(read_text_in_photos=False))  # the setting turns it off too
    assert main(["index", "--library", lib, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["text_read"] is None
    settings.save(settings.Settings(read_text_in_photos=True))
    assert main(["index", "--library", lib, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["text_read"] == 6
    assert main(["status", "--library", lib, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["text_pending"] == 0

    assert main(["search", "--library", lib, "hotel miramar", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert Path(out["results"][0]["path"]).name == "receipt.jpg"
    assert "MIRAMAR" in out["results"][0]["text"].upper()
    assert all(r["text"] is None for r in out["results"][1:])
    assert main(["search", "--library", lib, "hotel miramar", "--limit", "2"]) == 0
    assert "text: HOTEL MIRAMAR" in capsys.readouterr().out


def test_the_setting_defaults_on_and_old_files_migrate(tmp_path: Path) -> None:
    assert settings.Settings().read_text_in_photos is True
    old = tmp_path / "settings.json"
    old.write_text(json.dumps({"schema_version": 1, "thumbnail_size": 200}))
    assert settings.load(old).read_text_in_photos is True
    old.write_text(json.dumps({"schema_version": 1, "read_text_in_photos": "no"}))  # wrong type: the default
    assert settings.load(old).read_text_in_photos is True


def test_a_library_of_the_previous_schema_gains_the_text_tables(tmp_path: Path) -> None:
    lib = open_tiny(tmp_path / "lib")
    lib.close()
    db = tmp_path / "lib" / "library.db"
    raw = sqlite3.connect(db)
    with raw:
        for name in ("photo_text_fts", "photo_text", "photo_text_meta"):
            raw.execute(f"DROP TABLE {name}")
        raw.execute("PRAGMA user_version = 1")
    raw.close()
    lib = open_tiny(tmp_path / "lib")
    try:
        assert lib.status().text_pending == 0 and lib.text.can_read()
        raw = sqlite3.connect(db)
        assert store.has_text_tables(raw)
        raw.close()
    finally:
        lib.close()


def test_dog_on_the_beach_is_not_disturbed_by_a_photo_of_the_word_dog(tmp_path: Path, flickr8k: Path) -> None:
    """Real photos and the builtin model: a sign saying DOG (and one saying BEACH) must not enter
    the results of a description; the receipt is still found by its words."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for src in sorted((flickr8k / "images").glob("*.jpg"))[:40]:
        shutil.copy(src, photos / src.name)
    render(photos / "dog_sign.png", ["DOG"])
    render(photos / "beach_sign.png", ["BEACH"])
    render(photos / "receipt.jpg", TEXTS["receipt.jpg"])
    lib = PhotoLibrary.open(tmp_path / "lib")
    try:
        lib.add_folder(photos)
        last_counts(lib.index())
        before = [r.path for r in lib.search(SearchQuery("dog on the beach", limit=10))]
        list(lib.text.read())
        after = lib.search(SearchQuery("dog on the beach", limit=10))
        assert [r.path for r in after] == before
        assert all(r.text_match is None for r in after)
        assert Path(lib.search(SearchQuery("receipt hotel miramar"))[0].path).name == "receipt.jpg"
    finally:
        lib.close()
