"""The window's menus and actions, declared as a table and built from it.

Each :class:`ActionSpec` names the window method it calls (a dotted name reaches further, e.g.
``controller.rescan``), its keys, icon and menu role; :data:`MENUS` lays them out. The window
keeps no menu code: :func:`build_menus` makes the QActions, puts them in the menu bar and hands
them back by name (``window.action("rescan")``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMessageBox, QStyle, QWidget

from desktop_search import APP_NAME, __version__

from .results_model import SortOrder

Key = str | QKeySequence.StandardKey


@dataclass(frozen=True)
class ActionSpec:
    """One menu entry."""

    name: str
    text: str
    #: the window's method (dotted: an attribute's method), called with ``args``; a checkable
    #: action with ``setting`` gets its new state instead
    slot: str
    args: tuple[Any, ...] = ()
    keys: tuple[Key, ...] = ()
    #: a standard key gives all the platform's bindings for it (else its first one), and this
    #: key where the platform names none
    every_binding: bool = False
    fallback_key: str | None = None
    #: an icon name of ``icons.icon``, or ``"std:SP_..."`` for a standard pixmap
    icon: str | None = None
    role: QAction.MenuRole | None = None
    #: checkable, checked as this window setting says (toggling calls ``slot(checked)``)
    setting: str | None = None
    #: checkable, one of an exclusive group of this name (``data`` tells which)
    group: str | None = None
    data: Any = None
    #: off until the window turns it on (pause and stop: while indexing)
    enabled: bool = True


SEP = None

MENUS: tuple[tuple[str, tuple[ActionSpec | None, ...]], ...] = (
    ("&File", (
        ActionSpec("add_folder", "&Add Folder…", "add_folder", (None,), ("Ctrl+Shift+A",), icon="std:SP_DirIcon"),
        ActionSpec("folders", "&Folders…", "show_folders", keys=("Ctrl+L",), icon="folders"),
        SEP,
        ActionSpec("example", "Search by &Example Photo…", "examples.choose", keys=("Ctrl+O",), icon="image-search"),
        SEP,
        ActionSpec("settings", "&Settings…", "show_settings", keys=("Ctrl+,",), icon="settings",
                   role=QAction.MenuRole.PreferencesRole),
        SEP,
        # the platform's Quit keys, and Ctrl+Q where the platform names none (offscreen, some desktops)
        ActionSpec("quit", "&Quit", "close", keys=(QKeySequence.StandardKey.Quit,), every_binding=True,
                   fallback_key="Ctrl+Q",
                   role=QAction.MenuRole.QuitRole),
    )),
    ("&Edit", (
        ActionSpec("find", "&Find", "focus_search", keys=(QKeySequence.StandardKey.Find,), icon="search"),
        ActionSpec("paste", "&Paste Image as Example", "examples.paste", keys=(QKeySequence.StandardKey.Paste,)),
        ActionSpec("copy", "&Copy Path", "results.copy_selected_paths"),
        ActionSpec("clear", "C&lear Search", "clear_search", keys=("Ctrl+K",)),
    )),
    ("&View", (
        ActionSpec("score", "Show &Relevance", "set_show_score", setting="show_score"),
        ActionSpec("date", "Show &Date (or Name)", "set_show_date", setting="show_date"),
        SEP,
        ActionSpec("sort_relevance", "Sort by &Relevance", "apply_sort", (SortOrder.RELEVANCE,), group="sort",
                   data=SortOrder.RELEVANCE),
        ActionSpec("sort_newest", "Sort by Date, &Newest First", "apply_sort", (SortOrder.NEWEST,), group="sort",
                   data=SortOrder.NEWEST),
        ActionSpec("sort_oldest", "Sort by Date, &Oldest First", "apply_sort", (SortOrder.OLDEST,), group="sort",
                   data=SortOrder.OLDEST),
        SEP,
        ActionSpec("bigger", "&Larger Thumbnails", "resize_thumbnails", (32,), (QKeySequence.StandardKey.ZoomIn,)),
        ActionSpec("smaller", "&Smaller Thumbnails", "resize_thumbnails", (-32,), (QKeySequence.StandardKey.ZoomOut,)),
    )),
    ("&Index", (
        ActionSpec("rescan", "&Rescan All Folders", "controller.rescan", keys=("Ctrl+R",), icon="std:SP_BrowserReload"),
        ActionSpec("pause", "&Pause Indexing", "toggle_pause", icon="std:SP_MediaPause", enabled=False),
        ActionSpec("stop", "&Stop Indexing", "controller.cancel_indexing", icon="std:SP_MediaStop", enabled=False),
    )),
    ("&Help", (
        ActionSpec("about", f"&About {APP_NAME}", "about", role=QAction.MenuRole.AboutRole),
    )),
)


def _icon(name: str) -> Any:
    from .icons import icon, std

    if name.startswith("std:"):
        return std(getattr(QStyle.StandardPixmap, name[4:]))
    return icon(name)


def _keys(spec: ActionSpec) -> list[QKeySequence]:
    out: list[QKeySequence] = []
    for key in spec.keys:
        if isinstance(key, str):
            out.append(QKeySequence(key))
        elif spec.every_binding:
            out.extend(QKeySequence.keyBindings(key))
        else:
            out.append(QKeySequence(key))
    if not out and spec.fallback_key:
        out.append(QKeySequence(spec.fallback_key))
    return out


def _slot(window: object, dotted: str) -> Callable[..., Any]:
    slot: Callable[..., Any] = functools.reduce(getattr, dotted.split("."), window)  # type: ignore[assignment]
    return slot


def make_action(spec: ActionSpec, window: QMainWindow, settings: object,
                groups: dict[str, QActionGroup]) -> QAction:
    action = QAction(spec.text, window)
    if spec.icon:
        action.setIcon(_icon(spec.icon))
    keys = _keys(spec)
    if keys:
        action.setShortcuts(keys)
    if spec.role is not None:
        action.setMenuRole(spec.role)
    fn = _slot(window, spec.slot)
    if spec.setting:
        action.setCheckable(True)
        action.setChecked(bool(getattr(settings, spec.setting)))
        action.toggled.connect(fn)
    else:
        if spec.group:
            action.setCheckable(True)
            action.setData(spec.data)
            if spec.group not in groups:
                groups[spec.group] = QActionGroup(window)
            groups[spec.group].addAction(action)
        args = spec.args

        def call(_: bool = False) -> None:  # returns None, whatever fn returns (close() a bool)
            fn(*args)

        action.triggered.connect(call)
    action.setEnabled(spec.enabled)
    return action


def build_menus(window: QMainWindow, settings: object) -> tuple[dict[str, QAction], dict[str, QActionGroup]]:
    """Make every action of :data:`MENUS` and fill the window's menu bar; returns the actions and
    the exclusive groups, by name."""
    actions: dict[str, QAction] = {}
    groups: dict[str, QActionGroup] = {}
    bar = window.menuBar()
    for title, specs in MENUS:
        menu = bar.addMenu(title)
        for spec in specs:
            if spec is None:
                menu.addSeparator()
                continue
            actions[spec.name] = make_action(spec, window, settings, groups)
            menu.addAction(actions[spec.name])
    return actions, groups


def show_about(parent: QWidget) -> None:
    QMessageBox.about(
        parent,
        f"About {APP_NAME}",
        f"<h3>{APP_NAME} {__version__}</h3>"
        "<p>Find photos in your own library by what is in them: type what you remember, or give an "
        "example photo.</p><p>Everything runs on this computer; no photo leaves it.</p>",
    )
