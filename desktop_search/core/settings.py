"""Typed user settings, stored as JSON in the config folder (``paths.settings_file()``). Qt-free.

Declared once, as a dataclass with defaults. The file carries ``schema_version``; :func:`load`
migrates older files step by step, ignores unknown keys and replaces values of the wrong type by
their defaults, so a hand-edited or damaged file never stops the app from starting. A file written by
a newer version is read as far as it can be and left untouched (``save`` refuses to downgrade it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import paths

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

DEVICES = ("auto", "cpu", "cuda", "mps")
SORT_ORDERS = ("relevance", "newest", "oldest")
THUMBNAIL_SIZES = (96, 320)  # smallest and largest thumbnail side in the grid
RESULTS_PER_PAGE = (20, 5000)


@dataclass
class Settings:
    #: ``builtin`` or a CLIP-family model ``clip:ARCH/PRETRAINED``
    model: str = "builtin"
    #: where the network runs: ``auto`` picks CUDA/MPS when present
    device: str = "auto"
    #: side of a thumbnail in the results grid, in device-independent pixels
    thumbnail_size: int = 180
    #: results fetched per query; scrolling to the end fetches the next page
    results_per_page: int = 200
    #: folders (anywhere below a watched folder) never indexed
    excluded_folders: list[str] = field(default_factory=list)
    #: results grid
    show_score: bool = False
    show_date: bool = True
    sort_order: str = "relevance"
    #: watch the folders for changes while the window is open
    watch_folders: bool = True
    #: read the text in photos after indexing them (screenshots, receipts, signs: docs/TEXT.md), so
    #: that words written in a photo find it; off: no new text is read (what was read still answers)
    read_text_in_photos: bool = True
    #: the main window's size and place when it was last closed (Qt's ``saveGeometry``, base64);
    #: empty: the default size, centred
    window_geometry: str = ""
    schema_version: int = SCHEMA_VERSION

    def device_or_none(self) -> str | None:
        """The device for ``PhotoLibrary.open`` (None lets the core choose)."""
        return None if self.device == "auto" else self.device

    def normalised(self) -> Settings:
        """A copy with every value inside its allowed range."""
        lo, hi = THUMBNAIL_SIZES
        plo, phi = RESULTS_PER_PAGE
        return dataclasses.replace(
            self,
            device=self.device if self.device in DEVICES else "auto",
            thumbnail_size=min(hi, max(lo, int(self.thumbnail_size))),
            results_per_page=min(phi, max(plo, int(self.results_per_page))),
            sort_order=self.sort_order if self.sort_order in SORT_ORDERS else "relevance",
            model=self.model.strip() or "builtin",
            excluded_folders=[str(p) for p in dict.fromkeys(self.excluded_folders) if str(p).strip()],
            schema_version=SCHEMA_VERSION,
        )


def _migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring an older settings dict up to :data:`SCHEMA_VERSION` (one step per version)."""
    version = int(data.get("schema_version", 0) or 0)
    if version < 1:
        # version 0 (before the version field): "thumb_size" and "exclusions"
        if "thumb_size" in data and "thumbnail_size" not in data:
            data["thumbnail_size"] = data.pop("thumb_size")
        if "exclusions" in data and "excluded_folders" not in data:
            data["excluded_folders"] = data.pop("exclusions")
        data["schema_version"] = 1
    return data


def from_dict(data: dict[str, Any]) -> Settings:
    data = _migrate(dict(data))
    defaults = Settings()
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Settings):
        if f.name not in data or f.name == "schema_version":
            continue
        value, default = data[f.name], getattr(defaults, f.name)
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, list):
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        else:
            ok = isinstance(value, type(default))
        if ok:
            values[f.name] = value
        else:
            log.warning("settings: ignoring %s=%r (expected %s)", f.name, value, type(default).__name__)
    return Settings(**values).normalised()


def load(path: Path | None = None) -> Settings:
    """The saved settings, or the defaults when there are none (or they cannot be read)."""
    path = path or paths.settings_file()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Settings()
    except (OSError, ValueError) as exc:
        log.warning("settings: cannot read %s (%s); using defaults", path, exc)
        return Settings()
    if not isinstance(data, dict):
        return Settings()
    return from_dict(data)


def save(settings: Settings, path: Path | None = None) -> None:
    """Write atomically (a temporary file renamed over the old one)."""
    path = path or paths.settings_file()
    try:
        existing = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(existing, dict) and int(existing.get("schema_version", 0) or 0) > SCHEMA_VERSION:
            log.warning("settings: %s was written by a newer version; not overwriting it", path)
            return
    except (OSError, ValueError):
        pass
    paths.ensure(path.parent)
    data = dataclasses.asdict(settings.normalised())
    fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
