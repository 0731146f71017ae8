"""Icons: the desktop theme's where it has one, else our own SVGs in ``resources/icons``."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QStyle

#: our icon name -> freedesktop theme name tried first
_THEME_NAMES = {
    "search": "edit-find",
    "image-search": "",
    "settings": "preferences-system",
    "folders": "folder",
    "close": "window-close",
}


@functools.cache
def resources_dir() -> Path | None:
    """The ``resources`` folder, from a source checkout, an installed package or a frozen bundle."""
    try:  # the project's resource finder, where it exists
        from desktop_search import resources as _resources

        finder = getattr(_resources, "resources_dir", None) or getattr(_resources, "resource_dir", None)
        if callable(finder):
            found = Path(finder())
            if found.is_dir():
                return found
    except ImportError:
        pass
    here = Path(__file__).resolve()
    candidates = [
        Path(getattr(sys, "_MEIPASS", "")) / "resources" if hasattr(sys, "_MEIPASS") else None,
        here.parents[1] / "resources",  # desktop_search/resources (installed package data)
        here.parents[2] / "resources",  # repository root
    ]
    for candidate in candidates:
        if candidate is not None and (candidate / "icons").is_dir():
            return candidate
    return None


def resource_path(*parts: str) -> Path | None:
    root = resources_dir()
    if root is None:
        return None
    path = root.joinpath(*parts)
    return path if path.exists() else None


@functools.cache
def icon(name: str) -> QIcon:
    """A named icon: theme first (native look), then ``resources/icons/NAME.svg``."""
    theme = _THEME_NAMES.get(name, name)
    if theme and QIcon.hasThemeIcon(theme):
        return QIcon.fromTheme(theme)
    path = resource_path("icons", f"{name}.svg")
    return QIcon(str(path)) if path is not None else QIcon()


def app_icon() -> QIcon:
    path = resource_path("icons", "desktop-search.svg")
    if path is not None:
        return QIcon(str(path))
    return QIcon.fromTheme("desktop-search")


def std(pixmap: QStyle.StandardPixmap) -> QIcon:
    """One of the style's standard icons."""
    return QApplication.style().standardIcon(pixmap)
