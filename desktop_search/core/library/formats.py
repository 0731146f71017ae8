"""Which files are photos, and optional format plug-ins."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

BASE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
HEIF_EXTENSIONS = frozenset({".heic", ".heif"})

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
    return BASE_EXTENSIONS | HEIF_EXTENSIONS if heif_available() else BASE_EXTENSIONS


def is_photo_name(name: str, extensions: frozenset[str] | None = None) -> bool:
    dot = name.rfind(".")
    if dot <= 0:
        return False
    return name[dot:].lower() in (extensions or photo_extensions())
