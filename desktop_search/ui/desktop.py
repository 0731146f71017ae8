"""Handing photos to the rest of the desktop: the system viewer, the file manager, the clipboard.

External programs are started with an argument list (``QProcess.startDetached(program, args)``),
never through a shell, so no file name can be misread as a command.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from PySide6.QtCore import QDir, QProcess, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication

#: replaced by tests; returns True when the URL was handed to an application
open_url: Callable[[QUrl], bool] = QDesktopServices.openUrl


def _start(program: str, args: list[str]) -> bool:
    result = QProcess.startDetached(program, args)
    return bool(result[0] if isinstance(result, tuple) else result)


#: replaced by tests; starts a program detached with an argument list
start_detached: Callable[[str, list[str]], bool] = _start


def open_file(path: str) -> bool:
    """Open the photo in the system's default viewer."""
    return bool(open_url(QUrl.fromLocalFile(path)))


def _show_items_dbus(path: str) -> bool:
    """org.freedesktop.FileManager1.ShowItems: selects the file in Nautilus, Dolphin, Nemo, …"""
    try:
        from PySide6.QtDBus import QDBusConnection, QDBusInterface, QDBusMessage
    except ImportError:
        return False
    bus = QDBusConnection.sessionBus()
    if not bus.isConnected():
        return False
    iface = QDBusInterface("org.freedesktop.FileManager1", "/org/freedesktop/FileManager1",
                           "org.freedesktop.FileManager1", bus)
    if not iface.isValid():
        return False
    reply = iface.call("ShowItems", [QUrl.fromLocalFile(path).toString()], "")
    return reply.type() != QDBusMessage.MessageType.ErrorMessage


def reveal_in_file_manager(path: str) -> bool:
    """Show the photo in the platform's file manager, selected where the platform allows."""
    if sys.platform == "win32":
        return start_detached("explorer.exe", ["/select,", QDir.toNativeSeparators(path)])
    if sys.platform == "darwin":
        return start_detached("open", ["-R", path])
    if os.path.exists(path) and _show_items_dbus(path):
        return True
    folder = os.path.dirname(path)
    return bool(open_url(QUrl.fromLocalFile(folder)))


def copy_paths(paths: list[str]) -> None:
    clipboard = QGuiApplication.clipboard()
    clipboard.setText("\n".join(paths))
