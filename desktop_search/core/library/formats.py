"""Which files are photos, and optional format plug-ins."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

# The one list of photo file extensions (lower case, with the dot). Indexing, the command line and
# the window take them from here: photo_extensions() is what this installation can read.
BASE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
#: readable with the [heic] extra (pillow-heif) only
HEIF_EXTENSIONS = frozenset({".heic", ".heif"})
#: formats whose files may carry an IPTC caption (read from these only)
IPTC_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".tif", ".tiff"})
#: image files this app does not index, whose names a query may still quote (``search/filenames.py``)
OTHER_IMAGE_EXTENSIONS = frozenset(
    {".jfif", ".avif", ".dng", ".raw", ".cr2", ".cr3", ".nef", ".arw", ".orf", ".rw2", ".raf"}
)

_heif_checked = False
_heif_available = False


def heif_available() -> bool:
    """Register pillow-heif's opener once, if it is installed."""
    global _heif_checked, _heif_available
    if not _heif_checked:
        _heif_checked = True
        try:
            from pillow_heif import register_heif_opener

            register_heif_opener()
            _heif_available = True
        except Exception:  # not installed, or its native library is missing
            _heif_available = False
    return _heif_available


def photo_extensions() -> frozenset[str]:
    """The extensions of the photos this installation reads: HEIC / HEIF only with pillow-heif."""
    return BASE_EXTENSIONS | HEIF_EXTENSIONS if heif_available() else BASE_EXTENSIONS


def is_photo_name(name: str, extensions: frozenset[str] | None = None) -> bool:
    dot = name.rfind(".")
    if dot <= 0:
        return False
    return name[dot:].lower() in (extensions or photo_extensions())
