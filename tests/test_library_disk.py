"""What is not the photos' fault (issue 13): HEIC support not installed, a full disk under the library,
a damaged thumbnail, a photo too large to decode whole."""

from __future__ import annotations

import errno
import logging
from pathlib import Path

import pytest
from PIL import Image

from desktop_search.core.app import PhotoLibrary
from desktop_search.core.errors import UserError
from desktop_search.core.indexing import photo as indexed_photo
from desktop_search.core.indexing.photo import thumbnail_file
from desktop_search.core.library import formats
from tests.fakes import last_counts as run
from tests.fakes import solid_image


def test_heic_photos_without_heic_support_are_mentioned_once(
    lib: PhotoLibrary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(formats, "heif_available", lambda: False)
    photos = tmp_path / "photos"
    (photos / "trip").mkdir(parents=True)
    solid_image(photos / "a.jpg", (200, 20, 20))
    solid_image(photos / "b.jpg", (20, 200, 20))
    for name in ("IMG_1.HEIC", "IMG_2.heic", "trip/IMG_3.heif"):
        (photos / name).write_bytes(b"\x00\x00\x00\x18ftypheic")  # never opened: no HEIC support
    lib.add_folder(photos)
    counts = run(lib.index())
    assert counts.added == 2 and counts.failed == 1
    errors = lib.errors()
    assert len(errors) == 1 and errors[0].path == photos.as_posix()
    assert errors[0].reason.startswith("HEIC support is not installed") and "3 HEIC photos were skipped" in errors[0].reason
    assert "[heic]" in errors[0].reason
    assert lib.status().errors == 1
    assert run(lib.index()).failed == 0 and len(lib.errors()) == 1  # said once
    (photos / "b.jpg").unlink()  # the notice keeps nothing: a deleted photo still leaves
    assert run(lib.index()).removed == 1
    for name in ("IMG_1.HEIC", "IMG_2.heic", "trip/IMG_3.heif"):
        (photos / name).unlink()
    run(lib.index())
    assert lib.errors() == []


# -- the library's disk ------------------------------------------------------------------------------
def test_a_full_disk_under_the_library_is_one_message_not_a_failure_per_photo(
    lib: PhotoLibrary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(12):
        solid_image(photos / f"p{i:02d}.jpg", (20 * i, 100, 200), size=(300, 200))
    lib.add_folder(photos)
    real = indexed_photo.make_thumbnail
    written: list[Path] = []

    def disk_full(image: Image.Image, target: Path, size: int = 256) -> None:
        if written:  # the first thumbnail got half-way (an older version, or a crash), then the disk filled
            raise OSError(errno.ENOSPC, "No space left on device", str(target))
        real(image, target, size)
        target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
        written.append(target)
        raise OSError(errno.ENOSPC, "No space left on device", str(target))

    monkeypatch.setattr(indexed_photo, "make_thumbnail", disk_full)
    with caplog.at_level(logging.INFO), pytest.raises(UserError) as raised:
        run(lib.index())
    message = str(raised.value)
    assert "No space left on device" in message and str(lib.root) in message and "\n" not in message
    assert not [r for r in caplog.records if "failed to read" in r.getMessage() or "skipped a photo" in r.getMessage()]
    assert lib.errors() == [] and lib.status().errors == 0  # no photo blamed
    assert lib.status().pending == 12  # kept for the next run
    # space again: everything indexed, and the truncated thumbnail made again
    monkeypatch.setattr(indexed_photo, "make_thumbnail", real)
    counts = run(lib.index())
    assert counts.embedded == 12 and counts.failed == 0
    for p in sorted(photos.iterdir()):
        from desktop_search.core.library.scanner import content_hash

        thumb = thumbnail_file(lib.thumbnails_dir, content_hash(str(p)))
        with Image.open(thumb) as im:
            im.load()  # decodes whole (a truncated JPEG raises)
            assert im.size == (256, 171)


def test_a_damaged_or_wrong_sized_thumbnail_is_made_again(lib: PhotoLibrary, tmp_path: Path) -> None:
    from desktop_search.core.library.scanner import content_hash

    photos = tmp_path / "photos"
    photos.mkdir()
    solid_image(photos / "a.jpg", (200, 20, 20), size=(400, 300))
    solid_image(photos / "b.jpg", (20, 200, 20), size=(400, 300))
    bad = {name: thumbnail_file(lib.thumbnails_dir, content_hash(str(photos / name))) for name in ("a.jpg", "b.jpg")}
    for thumb in bad.values():
        thumb.parent.mkdir(parents=True, exist_ok=True)
    solid_image(bad["a.jpg"], (0, 0, 0), size=(256, 192))
    bad["a.jpg"].write_bytes(bad["a.jpg"].read_bytes()[:300])  # truncated
    solid_image(bad["b.jpg"], (0, 0, 0), size=(40, 30), fmt="JPEG")  # decodes, but the wrong size
    lib.add_folder(photos)
    assert run(lib.index()).embedded == 2
    for thumb in bad.values():
        with Image.open(thumb) as im:
            im.load()
            assert im.size == (256, 192)


# -- very large photos -------------------------------------------------------------------------------
def _big_png(path: Path, w: int, h: int, orientation: int | None = None) -> None:
    import numpy as np

    y, x = np.mgrid[0:h, 0:w]
    arr = np.stack([x * 255 // w, y * 255 // h, (x + y) % 256], -1).astype(np.uint8)
    arr[: h // 4, : w // 4] = (255, 0, 0)  # a red top-left corner, to see which way it was turned
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    Image.fromarray(arr).save(path, exif=exif.tobytes() if orientation else b"", compress_level=1)


def test_a_large_png_is_reduced_and_oriented(tmp_path: Path) -> None:
    from desktop_search.core.library.imageio import decode

    path = tmp_path / "big.png"
    _big_png(path, 3000, 2000, orientation=6)  # shown turned 90° clockwise: 2000 x 3000
    d = decode(path, min_side=256)
    assert (d.width, d.height) == (2000, 3000)
    assert d.image.size == (667, 1000) and min(d.image.size) >= 2 * 256  # reduced 3x (rounded up)
    corner = d.image.getpixel((d.image.width - 5, 5))  # the red corner is now top right
    assert isinstance(corner, tuple) and corner[0] > 200 and corner[1] < 40
    small = tmp_path / "small.png"
    _big_png(small, 900, 700)
    assert decode(small, min_side=256).image.size == (900, 700)  # under 4x min_side: as it was


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM (Linux)")
def test_a_large_png_is_not_copied_whole(tmp_path: Path) -> None:
    """Peak memory of decoding a 25-megapixel PNG (75 MB of RGB pixels) in a fresh process: the
    pixels once, not a full-size copy per step (it was 2x and more; bench/decode_memory.py measures
    the 121-megapixel case)."""
    import json
    import subprocess
    import sys

    from bench.decode_memory import CHILD

    path = tmp_path / "big.png"
    _big_png(path, 5000, 5000)
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), "256"], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    result = json.loads(out.stdout)
    assert result["above_baseline_mb"] < 75 * 1.5, result
    assert result["decoded"] == [556, 556]  # reduced 9x
