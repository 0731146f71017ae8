"""The CPU indexing path's efficiency measures: chunking, IPTC look-ups, the allocator settings."""

from __future__ import annotations

import io
import sqlite3
import struct
from pathlib import Path

import pytest
from PIL import Image

from desktop_search.core.app import PhotoLibrary
from desktop_search.core.indexing.pipeline import cpu_chunk_bounds
from desktop_search.core.library import metadata
from desktop_search.core.library.imageio import decode, may_carry_iptc
from desktop_search.core.models import device


@pytest.mark.parametrize("n", [0, 1, 2, 5, 8, 16, 33, 200, 1001])
@pytest.mark.parametrize("workers", [1, 2, 4])
def test_cpu_chunks_cover_every_photo_once_and_shrink_at_the_end(n: int, workers: int) -> None:
    bounds = cpu_chunk_bounds(n, 4, workers)
    assert [i for i, _ in bounds] == [0, *[j for _, j in bounds[:-1]]][: len(bounds)]
    assert (bounds[-1][1] if bounds else 0) == n
    sizes = [j - i for i, j in bounds]
    assert all(1 <= s <= 4 for s in sizes)
    assert sizes == sorted(sizes, reverse=True)
    if n >= 2 * workers:
        assert sizes[-workers:] == [1] * workers
    if n >= 64:
        assert sizes.count(4) >= (n - 8 * workers) // 4


def _jpeg_with_iptc_caption(path: Path, caption: str, rgb: tuple[int, int, int]) -> None:
    """A JPEG with an APP13 Photoshop block holding an IPTC caption (2:120)."""
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), rgb).save(buf, "JPEG")
    text = caption.encode()
    iptc = b"\x1c\x02\x78" + struct.pack(">H", len(text)) + text
    resource = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(iptc)) + iptc
    if len(iptc) % 2:
        resource += b"\x00"
    app13 = b"Photoshop 3.0\x00" + resource
    segment = b"\xff\xed" + struct.pack(">H", len(app13) + 2) + app13
    data = buf.getvalue()
    path.write_bytes(data[:2] + segment + data[2:])


def test_iptc_is_read_only_where_a_jpeg_carries_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    _jpeg_with_iptc_caption(photos / "IMG_0001.jpg", "A lighthouse in the fog", (200, 30, 30))
    Image.new("RGB", (40, 30), (30, 200, 30)).save(photos / "IMG_0002.jpg")
    Image.new("RGB", (40, 30), (30, 30, 200)).save(photos / "IMG_0003.png")
    assert may_carry_iptc(decode(photos / "IMG_0001.jpg"))
    assert not may_carry_iptc(decode(photos / "IMG_0002.jpg"))
    assert may_carry_iptc(decode(photos / "IMG_0003.png"))  # not a JPEG: no shortcut

    opened: list[str] = []
    real = metadata._iptc_caption

    def counting(path: Path) -> str | None:
        opened.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(metadata, "_iptc_caption", counting)
    lib = PhotoLibrary.open(tmp_path / "lib", model_name="tiny")
    try:
        lib.add_folder(photos)
        for _ in lib.index():
            pass
        raw = sqlite3.connect(lib.root / "library.db")
        captions = dict(raw.execute("SELECT path, caption FROM photos").fetchall())
        raw.close()
    finally:
        lib.close()
    assert opened == ["IMG_0001.jpg"]  # the JPEG without an APP13 block is not opened again
    by_name = {Path(p).name: c for p, c in captions.items()}
    assert by_name == {"IMG_0001.jpg": "A lighthouse in the fog", "IMG_0002.jpg": None, "IMG_0003.png": None}


def test_cpu_allocator_settings_are_idempotent(monkeypatch: pytest.MonkeyPatch) -> None:
    first = device.tune_cpu_allocator()
    assert device.tune_cpu_allocator() is first
    device.release_cpu_memory()  # harmless anywhere
    if device._libc() is not None:
        assert first is (device._malloc_tuned is True)


def test_cpu_allocator_settings_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device, "_malloc_tuned", None)
    monkeypatch.setenv(device.MALLOC_TUNING_ENV, "0")
    calls: list[object] = []
    monkeypatch.setattr(device, "_libc", lambda: calls.append(1))
    assert device.tune_cpu_allocator() is False
    assert calls == []
