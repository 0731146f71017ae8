"""A corpus of awkward files every photo indexer meets sooner or later."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

#: files that cannot be indexed and must each be reported once with a reason
BAD_FILES = ("zero-byte.jpg", "truncated.jpg", "text-renamed.jpg", "bomb.png")
#: odd but valid photos that must be indexed
ODD_GOOD_FILES = (
    "cmyk.jpg",
    "sixteen-bit.png",
    "palette-transparent.png",
    "animated.gif",
    "rotated-exif.jpg",
    "Ünïcödé name with spaces ☀.jpg",
    "tiff-photo.tif",
    "webp-photo.webp",
    "bitmap.bmp",
)


def _gradient(w: int, h: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    arr = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x + y) % 256], -1).astype(np.uint8)
    return np.clip(arr.astype(int) + rng.integers(-8, 8, arr.shape), 0, 255).astype(np.uint8)


def bomb_png(path: Path, side: int = 40_000) -> None:
    """A tiny PNG whose header claims side x side pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def make_hostile_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "zero-byte.jpg").write_bytes(b"")
    buf = io.BytesIO()
    Image.fromarray(_gradient(320, 240, 1)).save(buf, "JPEG", quality=90)
    (folder / "truncated.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 3])
    (folder / "text-renamed.jpg").write_text("this is not a photo\n" * 20)
    bomb_png(folder / "bomb.png")

    Image.fromarray(_gradient(64, 48, 2)).convert("CMYK").save(folder / "cmyk.jpg", "JPEG")
    arr16 = (_gradient(64, 48, 3)[..., 0].astype(np.uint16) * 257)
    Image.fromarray(arr16).save(folder / "sixteen-bit.png")
    pal = Image.fromarray(_gradient(64, 48, 4)).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    pal.info["transparency"] = 0
    pal.save(folder / "palette-transparent.png", transparency=0)
    frames = [Image.fromarray(_gradient(40, 30, s)) for s in range(3)]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    rotated = Image.fromarray(_gradient(80, 40, 5))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    rotated.save(folder / "rotated-exif.jpg", "JPEG", exif=exif)
    Image.fromarray(_gradient(50, 50, 6)).save(folder / "Ünïcödé name with spaces ☀.jpg", "JPEG")
    Image.fromarray(_gradient(50, 40, 7)).save(folder / "tiff-photo.tif")
    Image.fromarray(_gradient(50, 40, 8)).save(folder / "webp-photo.webp")
    Image.fromarray(_gradient(50, 40, 9)).save(folder / "bitmap.bmp")

    loop = folder / "loop"
    loop.mkdir(exist_ok=True)
    if not (loop / "back").exists():
        os.symlink(folder, loop / "back")
    hidden = folder / ".hidden"
    hidden.mkdir(exist_ok=True)
    Image.fromarray(_gradient(20, 20, 10)).save(hidden / "secret.jpg")
    return folder
