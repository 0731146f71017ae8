"""Photo metadata: date taken, camera, and the text that describes a photo.

Captions come from (first found): a sidecar ``NAME.txt`` (or ``NAME.ext.txt``), EXIF
ImageDescription, EXIF XPComment, XMP ``dc:description``, IPTC caption. A file name that carries words
(``beach_sunset_2019.jpg``) counts as text; one that carries none (``IMG_1234.JPG``, ``DSC00042.jpg``,
hashes) does not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import cast

from PIL import Image

from .formats import IPTC_EXTENSIONS
from .scanner import MAX_SIDECAR_BYTES, sidecar_names

EXIF_IFD = 0x8769
TAG_IMAGE_DESCRIPTION = 0x010E
TAG_MAKE = 0x010F
TAG_MODEL = 0x0110
TAG_DATETIME = 0x0132
TAG_XP_COMMENT = 0x9C9C
TAG_XP_TITLE = 0x9C9B
TAG_DATETIME_ORIGINAL = 0x9003
TAG_DATETIME_DIGITIZED = 0x9004

MAX_CAPTION = 2000

#: tokens that camera, phone and app file names are made of; they say nothing about the photo
CAMERA_TOKENS = frozenset(
    ["img", "image", "dsc", "dscn", "dscf", "dcim", "pict", "pic", "pxl", "mvimg", "vid", "video", "pano", "gopr", "gp", "dji", "sam", "wp", "photo", "screenshot", "scan", "jpg", "jpeg", "png", "heic", "edit", "edited", "copy", "final", "raw", "cimg", "imgp", "p", "mg", "sdc", "dcp", "dc", "hdr", "burst", "cover", "portrait", "bokeh", "lrg", "orig", "original", "large", "small", "thumb", "resized", "untitled", "new", "file"]
)
_HEXLIKE = re.compile(r"^[a-f]{6,}$")
_HASHLIKE = re.compile(r"^(?=.*\d)(?=.*[a-fA-F])[0-9a-fA-F]{6,}$")
#: kana, CJK ideographs and Hangul: file names in Chinese, Japanese, Korean ("海滩_2019.jpg")
_CJK = "\u3040-\u30FF\u3400-\u4DBF\u4E00-\u9FFF\uAC00-\uD7AF"
_SPLIT = re.compile(r"[^A-Za-z\u00C0-\u024F\u0370-\u03FF\u0400-\u04FF" + _CJK + "]+")
_WORDS = re.compile(r"[^0-9A-Za-z\u00C0-\u024F\u0370-\u03FF\u0400-\u04FF" + _CJK + "]+")
_IDEOGRAPHIC = re.compile("[" + _CJK + "]")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_VOWELS = set("aeiouyàáâäãåæèéêëìíîïòóôöõøùúûüœ")


@dataclass(frozen=True)
class PhotoMeta:
    date_taken: datetime | None = None
    camera: str | None = None
    caption: str | None = None


def filename_words(name: str) -> str | None:
    """The words a file name carries, or None for camera-style names and hashes."""
    stem = Path(name).stem
    # drop hash-like runs of hex digits ("693b08cb0e", "d41d8cd98f00b204...") before splitting
    stem = " ".join(t for t in _WORDS.split(stem) if not _HASHLIKE.match(t))
    words: list[str] = []
    for part in _SPLIT.split(_CAMEL.sub(" ", stem)):
        for token in part.split():
            low = token.lower()
            if _IDEOGRAPHIC.search(low) or not all(ch <= "\u024f" for ch in low):
                if len(low) >= 3 or (len(low) >= 1 and _IDEOGRAPHIC.search(low)):
                    words.append(low)  # Greek, Cyrillic (no Latin vowels), CJK (one sign is a word)
                continue
            if len(low) < 3 or low in CAMERA_TOKENS or _HEXLIKE.match(low):
                continue
            if not (_VOWELS & set(low)):
                continue  # "dsc", "xyzzt": consonant soup, not a word
            words.append(low)
    return " ".join(words) if words else None


def _clean(text: object) -> str | None:
    if text is None:
        return None
    if isinstance(text, bytes):
        for enc in ("utf-8", "latin-1"):
            try:
                text = cast(bytes, text).decode(enc)  # still bytes: the loop breaks once decoded
                break
            except UnicodeDecodeError:
                continue
    value = " ".join(str(text).replace("\x00", " ").split())
    if not value or value.lower() in {"default", "oi", "camera", "digital camera", "olympus digital camera"}:
        return None
    return value[:MAX_CAPTION]


def _xp_text(value: object) -> str | None:
    """XP* tags are UTF-16LE bytes (or a tuple of ints)."""
    if isinstance(value, tuple):
        value = bytes(value)
    if isinstance(value, bytes):
        return _clean(value.decode("utf-16-le", errors="ignore"))
    return _clean(value)


def _parse_exif_date(value: object) -> datetime | None:
    if not value:
        return None
    text = str(value).strip().replace("\x00", "")
    for fmt in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y:%m:%d %H:%M", "%Y-%m-%dT%H:%M:%S"):
        try:
            parsed = datetime.strptime(text[:19], fmt)
        except ValueError:
            continue
        if 1900 < parsed.year < 2200:
            return parsed
    return None


_XMP_DESCRIPTION = re.compile(
    r"<dc:description[^>]*>.*?<rdf:li[^>]*>(.*?)</rdf:li>.*?</dc:description>", re.S | re.I
)
_XMP_DESCRIPTION_ATTR = re.compile(r'dc:description="([^"]+)"', re.I)


def _xmp_description(info: dict) -> str | None:
    raw = info.get("xmp") or info.get("XML:com.adobe.xmp")
    if not raw:
        return None
    text = raw.decode("utf-8", errors="ignore") if isinstance(raw, bytes) else str(raw)
    match = _XMP_DESCRIPTION.search(text) or _XMP_DESCRIPTION_ATTR.search(text)
    if not match:
        return None
    import html

    return _clean(html.unescape(match.group(1)))


def _iptc_caption(path: Path) -> str | None:
    try:
        from PIL import IptcImagePlugin

        with Image.open(path) as im:
            iptc = IptcImagePlugin.getiptcinfo(im)
    except Exception:
        return None
    if not iptc:
        return None
    value = iptc.get((2, 120))
    if isinstance(value, list):
        value = value[0] if value else None
    return _clean(value)


def sidecar_paths(path: Path) -> tuple[Path, Path]:
    first, second = sidecar_names(path.name)
    return path.with_name(first), path.with_name(second)


def sidecar_caption(path: Path) -> str | None:
    for candidate in sidecar_paths(path):
        try:
            if candidate.is_file() and candidate.stat().st_size <= MAX_SIDECAR_BYTES:
                return _clean(candidate.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
    return None


def read_meta(path: Path, exif: Image.Exif | None, info: dict, fmt_is_jpeg_or_tiff: bool = True) -> PhotoMeta:
    """Extract date, camera and caption from an opened photo's EXIF/XMP/IPTC and its sidecar."""
    date = camera = None
    caption = sidecar_caption(path)
    if exif:
        sub = exif.get_ifd(EXIF_IFD) if EXIF_IFD in exif else {}
        date = (
            _parse_exif_date(sub.get(TAG_DATETIME_ORIGINAL))
            or _parse_exif_date(sub.get(TAG_DATETIME_DIGITIZED))
            or _parse_exif_date(exif.get(TAG_DATETIME))
        )
        make = _clean(exif.get(TAG_MAKE))
        model = _clean(exif.get(TAG_MODEL))
        if model and make and not model.lower().startswith(make.lower().split()[0]):
            camera = f"{make} {model}"
        else:
            camera = model or make
        caption = caption or _clean(exif.get(TAG_IMAGE_DESCRIPTION)) or _xp_text(exif.get(TAG_XP_COMMENT))
    caption = caption or _xmp_description(info)
    if caption is None and fmt_is_jpeg_or_tiff:
        caption = _iptc_caption(path)
    return PhotoMeta(date_taken=date, camera=camera, caption=caption)


def read_caption(path: Path) -> str | None:
    """A photo's caption read again without decoding its pixels (its sidecar changed): the sidecar's,
    else the one its EXIF, XMP or IPTC carries (the file's header only); None when it has none or
    cannot be read."""
    caption = sidecar_caption(path)
    if caption is not None:
        return caption
    try:
        with Image.open(path) as im:
            exif = im.getexif()
            info = dict(im.info)
    except Exception:
        return None
    try:
        return read_meta(path, exif, info, path.suffix.lower() in IPTC_EXTENSIONS).caption
    except Exception:
        return None


def photo_text(caption: str | None, file_name: str) -> str | None:
    """The text embedded beside a photo's image: its caption, else its file name's words."""
    return caption or filename_words(file_name)


def is_name_text(text: str | None, caption: str | None) -> bool:
    """Whether a photo's text (:func:`photo_text`) is its file name's words: it has text and no
    caption. A name is a hint, not a description: search never lets it lower its photo's score
    (``search/matrix.py``); the vector store reads the same rule in SQL (``vector_store._NAME_SQL``)."""
    return bool(text) and not (caption and caption.strip())
