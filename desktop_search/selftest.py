"""``desktop-search --self-test``: a headless end-to-end check of an installed or frozen app.

Generates a handful of small images in a temporary library, indexes them with the default model,
runs one text query and one example-image query, and checks the answers. Exit code 0 on success.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw

if TYPE_CHECKING:
    from .core.app import PhotoLibrary


def _scene(path: Path, sky: tuple[int, int, int], ground: tuple[int, int, int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    im = Image.new("RGB", (320, 240), sky)
    draw = ImageDraw.Draw(im)
    draw.rectangle((0, 150, 320, 240), fill=ground)
    for _ in range(6):
        x, y, r = (int(v) for v in rng.integers((0, 0, 8), (320, 240, 40)))
        draw.ellipse((x, y, x + r, y + r), fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
    im.save(path, quality=90)


def run_self_test(model_name: str | None = None) -> int:
    from .core.app import PhotoLibrary
    from .core.library.formats import heif_available
    from .core.types import SearchQuery

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="desktop-search-selftest-") as tmp:
        root = Path(tmp)
        os.environ.setdefault("DESKTOP_SEARCH_HOME", str(root / "home"))
        photos = root / "photos"
        photos.mkdir()
        scenes = {
            "blue sky over green grass.jpg": ((90, 150, 240), (40, 160, 50)),
            "sandy beach by the sea.jpg": ((120, 180, 250), (230, 210, 150)),
            "snowy field.jpg": ((200, 210, 220), (250, 250, 250)),
            "IMG_0001.jpg": ((20, 20, 40), (30, 30, 30)),
            "IMG_0002.jpg": ((250, 140, 60), (90, 60, 30)),
        }
        heic = heif_available()  # pillow-heif (the ``heic`` extra; in the packaged app)
        heic_name = "mountain lake at dusk.heic"
        if heic:
            scenes[heic_name] = ((70, 60, 120), (30, 70, 110))  # saved as HEIF by its extension
        for i, (name, (sky, ground)) in enumerate(scenes.items()):
            _scene(photos / name, sky, ground, i)
        lib = PhotoLibrary.open(root / "library", model_name=model_name)
        try:
            lib.add_folder(photos)
            for _event in lib.index():
                pass
            status = lib.status()
            checks = {
                "indexed every photo": status.indexed == len(scenes) and status.errors == 0,
            }
            text_hits = lib.search(SearchQuery(text="a sandy beach", limit=10))
            checks["text query answers"] = len(text_hits) == len(scenes) and all(np.isfinite(h.score) for h in text_hits)
            checks["caption text counts"] = bool(text_hits) and Path(text_hits[0].path).name == "sandy beach by the sea.jpg"
            example = root / "example.jpg"
            Image.open(photos / "IMG_0002.jpg").resize((200, 150)).save(example, quality=60)
            image_hits = lib.search(SearchQuery(image_paths=(str(example),), limit=3))
            checks["example image finds its original"] = bool(image_hits) and Path(image_hits[0].path).name == "IMG_0002.jpg"
            if heic:
                checks["HEIC photos indexed"] = any(Path(h.path).name == heic_name for h in text_hits)
            checks["thumbnails written"] = all(h.thumbnail_path and os.path.exists(h.thumbnail_path) for h in text_hits)
            _check_text_in_photos(lib, photos, checks)
        finally:
            lib.close()
    ok = all(checks.values())
    for name, passed in checks.items():
        print(f"{'ok  ' if passed else 'FAIL'} {name}")
    if not heic:
        print("--   HEIC photos: not checked (pillow-heif is not installed: pip install 'desktop-search[heic]')")
    print(f"self-test {'passed' if ok else 'FAILED'} in {time.monotonic() - started:.1f} s (model {status.model})")
    sys.stdout.flush()
    return 0 if ok else 1


def _check_text_in_photos(lib: PhotoLibrary, photos: Path, checks: dict[str, bool]) -> None:
    """A sign reading HOTEL MIRAMAR, indexed and read by the text job, is found by a word of it
    (proves the text recognition models are in the bundle: docs/TEXT.md)."""
    from PIL import ImageFont

    from .core.types import SearchQuery

    if not lib.text.can_read():
        checks["text in photos readable (onnxruntime and the PP-OCR models)"] = False
        return
    sign = Image.new("RGB", (480, 160), (250, 250, 250))
    ImageDraw.Draw(sign).text((30, 50), "HOTEL MIRAMAR", font=ImageFont.load_default(size=44), fill=(10, 10, 10))
    sign.save(photos / "IMG_0003.png")
    for _event in lib.index():
        pass
    for _event in lib.text.read():
        pass
    hits = lib.search(SearchQuery(text="miramar", limit=3))
    checks["text in photos found"] = bool(hits) and Path(hits[0].path).name == "IMG_0003.png" and bool(hits[0].text_match)
