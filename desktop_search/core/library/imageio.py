"""Defensive image decoding: reduced-size JPEG decoding, EXIF orientation, odd modes, bombs."""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile

from .. import paths
from ..resize import resize_rgb
from .formats import HEIF_EXTENSIONS, heif_available

#: photos larger than this are refused (Pillow raises DecompressionBombError beyond it)
MAX_PIXELS = 250_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS // 2  # Pillow errors at twice this value
ImageFile.LOAD_TRUNCATED_IMAGES = False


class ImageDecodeError(Exception):
    """A file that cannot be used as a photo; the message is the reason shown to the user."""


@dataclass
class Decoded:
    """A decoded photo, oriented and in RGB, possibly reduced in size for speed."""

    image: Image.Image
    #: full-resolution size of the file (after orientation)
    width: int
    height: int
    exif: Image.Exif | None
    info: dict
    #: the file's format as Pillow identified it ("JPEG", "PNG", ...), None if unknown
    format: str | None = None


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode == "RGB":
        return im
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, dtype=np.float32)
        hi = float(arr.max()) or 1.0
        scale = 255.0 / (65535.0 if hi > 255 else 255.0)
        return Image.fromarray(np.clip(arr * scale, 0, 255).astype(np.uint8)).convert("RGB")
    if im.mode == "F":
        arr = np.asarray(im, dtype=np.float32)
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) / ((hi - lo) or 1.0) * 255.0
        return Image.fromarray(arr.astype(np.uint8)).convert("RGB")
    if im.mode == "P" or im.mode in ("LA", "RGBA", "PA") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")


#: EXIF orientation → the transpose that shows the photo upright (as ``ImageOps.exif_transpose``)
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
#: modes ``Image.reduce`` works in
_REDUCIBLE = frozenset({"L", "LA", "La", "RGB", "RGBA", "RGBa", "CMYK", "YCbCr", "I", "F"})


def _reduced(im: Image.Image, min_side: int) -> Image.Image:
    """``im`` box-reduced by a whole factor where its shorter side is over four times ``min_side``,
    keeping at least twice ``min_side`` for the antialiased resize that follows; else ``im`` itself.

    Formats other than JPEG cannot be decoded at reduced size (``draft``), so a 121-megapixel PNG is
    decoded whole once; it must not also be copied whole by every later step (orientation, RGB
    conversion, the copy that outlives the file), nor handed on at full size."""
    factor = min(im.size) // (2 * min_side)
    if factor < 2:
        return im
    if im.mode not in _REDUCIBLE:  # palette, 1-bit, 16-bit: to RGB first (one full-size copy)
        rgb = _to_rgb(im)
        return rgb.reduce(factor)
    return im.reduce(factor)


def decode(path: str | Path, min_side: int = 256) -> Decoded:
    """Open a photo and return it oriented, in RGB, at least ``min_side`` on its shorter side
    where the file is that large (JPEGs are decoded at reduced size with ``draft``)."""
    if Path(path).suffix.lower() in HEIF_EXTENSIONS:
        heif_available()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(path)
            try:
                full_w, full_h = im.size
                if full_w * full_h > MAX_PIXELS:
                    raise ImageDecodeError(f"image too large ({full_w}x{full_h} pixels)")
                exif = im.getexif()
                info = dict(im.info)
                fmt = im.format
                if im.format == "JPEG" and min(full_w, full_h) > 2 * min_side:
                    scale = min(full_w, full_h) / min_side
                    im.draft("RGB", (max(1, int(full_w / scale)), max(1, int(full_h / scale))))
                im.seek(0)  # first frame of animations
                im.load()
                orientation = exif.get(0x0112, 1) if exif else 1
                small = _reduced(im, min_side)
                if small is not im:
                    im.close()  # the full-size pixels go before anything else is made of them
                turn = _TRANSPOSE.get(orientation)
                oriented = small.transpose(turn) if turn is not None else small
                rgb = _to_rgb(oriented)
                if rgb is im:
                    rgb = im.copy()
            finally:
                im.close()
    except ImageDecodeError:
        raise
    except FileNotFoundError as exc:
        raise ImageDecodeError("file disappeared while indexing") from exc
    except PermissionError as exc:
        raise ImageDecodeError("permission denied") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageDecodeError(f"image too large (decompression bomb guard): {exc}") from exc
    except Image.UnidentifiedImageError as exc:
        size = Path(path).stat().st_size if Path(path).exists() else -1
        reason = "empty file" if size == 0 else "not an image, or a format that is not supported"
        raise ImageDecodeError(reason) from exc
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
        raise ImageDecodeError(f"damaged or truncated image ({exc})") from exc
    if orientation in (5, 6, 7, 8):
        full_w, full_h = full_h, full_w
    return Decoded(rgb, full_w, full_h, exif, info, fmt)


def may_carry_iptc(decoded: Decoded) -> bool:
    """False where the photo certainly has no IPTC record: a JPEG keeps IPTC only in a Photoshop
    APP13 block, which Pillow has already read into ``info`` (so reading IPTC again, which opens
    the file once more, would find nothing)."""
    if decoded.format == "JPEG":
        photoshop = decoded.info.get("photoshop") or {}
        return 0x0404 in photoshop
    return True


def thumbnail_size(width: int, height: int, size: int) -> tuple[int, int]:
    """The size Pillow's ``Image.thumbnail((size, size))`` gives: longest side ``size``, aspect kept,
    never enlarged."""
    if width <= size and height <= size:
        return width, height
    aspect = width / height
    if aspect >= 1:
        return size, _round_aspect(size / aspect, lambda n: 0 if n == 0 else abs(aspect - size / n))
    return _round_aspect(size * aspect, lambda n: abs(aspect - n / size)), size


def _round_aspect(number: float, key: Callable[[int], float]) -> int:
    return max(min(math.floor(number), math.ceil(number), key=key), 1)


def thumbnail_ok(path: Path, expected: tuple[int, int]) -> bool:
    """Whether the thumbnail at ``path`` decodes whole and has the ``expected`` size (a pixel of
    rounding either way allowed): a file cut short by a full disk or a crash is made again."""
    try:
        with Image.open(path) as im:
            if abs(im.width - expected[0]) > 1 or abs(im.height - expected[1]) > 1:
                return False
            im.load()
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
        return False
    return True


def make_thumbnail(image: Image.Image, target: Path, size: int = 256) -> None:
    """Write a JPEG thumbnail (longest side ``size``) atomically."""
    dims = thumbnail_size(image.width, image.height, size)
    thumb = image if dims == image.size else resize_rgb(image, dims, "bilinear", reducing_gap=2.0)
    paths.ensure(target.parent)
    # a private (0600) temporary file, named after the thumbnail so that one left by a killed run is
    # written over when that photo is indexed again; a failed write leaves nothing behind
    tmp = target.with_name(target.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, paths.PRIVATE_FILE)
    try:
        with os.fdopen(fd, "wb") as fh:
            if paths.POSIX_PERMISSIONS:
                os.fchmod(fh.fileno(), paths.PRIVATE_FILE)  # one an older version left readable
            thumb.save(fh, "JPEG", quality=85)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
