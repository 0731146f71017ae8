"""The example photo of a search: dropped on the window (or the search field), pasted from the
clipboard, picked in a file dialog, given on the command line, or a library photo ("Find
Similar"), shown in the chip beside the search field.

:class:`ExampleInput` watches the window and the search field (an event filter), shows the drop
overlay while an image is dragged over, saves pasted pixels to a temporary file for the core
(removed at :meth:`ExampleInput.close`), keeps the example in the search session and the chip in
step, and says ``changed`` when the search should run again; what it cannot use becomes a
``message``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QEvent, QMimeData, QObject, Qt, Signal
from PySide6.QtGui import QDragMoveEvent, QDropEvent, QGuiApplication, QImage, QKeyEvent, QKeySequence
from PySide6.QtWidgets import QFileDialog, QLineEdit, QWidget

from desktop_search.core.library.formats import photo_extensions
from desktop_search.core.types import SearchResult

from .folders_dialog import pictures_folder
from .search_session import Example, SearchSession
from .thumbnails import ThumbKey, ThumbnailLoader
from .widgets import DropOverlay, ExampleChip


def image_suffixes() -> frozenset[str]:
    """The photo extensions this installation reads (``core/library/formats.py``: HEIC / HEIF only
    with pillow-heif), asked when an example arrives, not when the window starts."""
    return photo_extensions()


def image_filter() -> str:
    return "Images (" + " ".join(f"*{s}" for s in sorted(image_suffixes())) + ");;All files (*)"


def mime_has_image(mime: QMimeData) -> bool:
    if mime.hasImage():
        return True
    return any(url.isLocalFile() and Path(url.toLocalFile()).suffix.lower() in image_suffixes()
               for url in mime.urls()) if mime.hasUrls() else False


def unusable(path: str) -> str | None:
    """Why ``path`` cannot be an example (None: it can)."""
    if not os.path.isfile(path):
        return f"Cannot use {path} as an example: the file does not exist"
    if Path(path).suffix.lower() not in image_suffixes():
        return f"{os.path.basename(path)} is not a photo Desktop Search can read"
    return None


class ExampleInput(QObject):
    """Drop, paste and the file dialog, for one window."""

    #: the example changed: search again
    changed = Signal()
    #: a line for the status bar: text, level
    message = Signal(str, str)

    def __init__(self, window: QWidget, field: QLineEdit, overlay: DropOverlay, covered: QWidget, chip: ExampleChip,
                 loader: ThumbnailLoader, session: SearchSession) -> None:
        super().__init__(window)
        self.window = window
        self.field = field
        self.overlay = overlay
        #: what the overlay covers (the window's central widget)
        self.covered = covered
        self.chip = chip
        self.loader = loader
        self.session = session
        self._paste_dir: str | None = None
        chip.removed.connect(self.clear)
        loader.thumbnails_ready.connect(self._thumbnails_ready)
        window.setAcceptDrops(True)
        window.installEventFilter(self)
        field.installEventFilter(self)
        covered.installEventFilter(self)  # the overlay follows its size

    # -- the example -----------------------------------------------------------------------------
    @property
    def example(self) -> Example | None:
        return self.session.example

    def set_file(self, path: str, run: bool = True) -> bool:
        """Use an image file as the example (drop, paste, file dialog, command line)."""
        problem = unusable(path)
        if problem:
            self.message.emit(problem, "error")
            return False
        self.session.example = Example(path, None, os.path.getsize(path))
        pasted = self.is_pasted(path)
        self.chip.set_example("Pasted image" if pasted else os.path.basename(path),
                              "Searching for photos like this one" + ("" if pasted else f":\n{path}"), None)
        self._request_chip_thumbnail()
        if run:
            self.changed.emit()
        return True

    def set_photo(self, result: SearchResult, run: bool = True) -> None:
        """Photos similar to a library photo (its stored vector)."""
        self.session.example = Example(result.path, result.photo_id, result.size)
        self.chip.set_example(os.path.basename(result.path), f"Photos like {result.path}", None)
        self._request_chip_thumbnail(result.thumbnail_path)
        if run:
            self.changed.emit()

    def clear(self) -> None:
        if self.session.example is None:
            return
        self.session.example = None
        self.chip.hide()
        self.changed.emit()

    def _chip_key(self) -> ThumbKey | None:
        example = self.session.example
        return self.loader.key_for(example.path, example.size) if example is not None else None

    def _request_chip_thumbnail(self, thumbnail_path: str | None = None) -> None:
        key = self._chip_key()
        if key is not None:
            pix = self.loader.request(key, thumbnail_path, key.path)
            if pix is not None:
                self.chip.set_pixmap(pix)

    def _thumbnails_ready(self, keys: list[ThumbKey]) -> None:
        key = self._chip_key()
        if key is not None and key in keys:
            self.chip.set_pixmap(self.loader.cached(key))

    # -- sources ---------------------------------------------------------------------------------
    def is_pasted(self, path: str) -> bool:
        return self._paste_dir is not None and path.startswith(self._paste_dir)

    def from_mime(self, mime: QMimeData) -> str | None:
        """A local image file from dropped/pasted data (an image's pixels are saved to a temporary
        file for the core); None when there is none."""
        if mime.hasUrls():
            for url in mime.urls():
                if url.isLocalFile():
                    path = url.toLocalFile()
                    if Path(path).suffix.lower() in image_suffixes() and os.path.isfile(path):
                        return path
        if mime.hasImage():
            image = mime.imageData()
            if isinstance(image, QImage) and not image.isNull():
                return self._save_pasted(image)
        return None

    def _save_pasted(self, image: QImage) -> str | None:
        if self._paste_dir is None:
            self._paste_dir = tempfile.mkdtemp(prefix="desktop-search-paste-")
        path = os.path.join(self._paste_dir, f"pasted-{time.strftime('%Y%m%d-%H%M%S')}-{id(image) & 0xFFFF:04x}.png")
        if not image.save(path, "PNG"):  # type: ignore[call-overload]  # PySide6 stub: format (const char*) also takes str
            self.message.emit("The pasted image could not be saved for searching", "error")
            return None
        return path

    def paste(self) -> None:
        mime = QGuiApplication.clipboard().mimeData()
        path = self.from_mime(mime) if mime is not None else None
        if path is None:
            self.message.emit("The clipboard holds no image to search with", "warning")
            return
        self.set_file(path)

    def choose(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Choose an Example Photo",
                                              pictures_folder() or os.path.expanduser("~"), image_filter())
        if path:
            self.set_file(path)

    def close(self) -> None:
        """Remove the pasted images' temporary files."""
        if self._paste_dir is not None:
            shutil.rmtree(self._paste_dir, ignore_errors=True)
            self._paste_dir = None

    # -- drag and drop ---------------------------------------------------------------------------
    def _drop(self, event: QDropEvent) -> None:
        self.show_overlay(False)
        mime = event.mimeData()
        path = self.from_mime(mime)
        if path is None:
            if mime.hasUrls() and any(not u.isLocalFile() for u in mime.urls()):
                self.message.emit("Only photos on this computer can be used as examples", "warning")
            else:
                self.message.emit("That is not a photo Desktop Search can read", "warning")
            event.ignore()
            return
        event.setDropAction(Qt.DropAction.CopyAction)
        event.accept()
        self.set_file(path)

    def show_overlay(self, visible: bool) -> None:
        if visible:
            self.overlay.setGeometry(self.covered.rect())
            self.overlay.raise_()
            self.overlay.show()
        else:
            self.overlay.hide()

    def _window_event(self, event: QEvent) -> bool:
        etype = event.type()
        if etype in (QEvent.Type.DragEnter, QEvent.Type.DragMove) and isinstance(event, QDragMoveEvent):
            if mime_has_image(event.mimeData()):
                event.setDropAction(Qt.DropAction.CopyAction)
                event.accept()
                if etype == QEvent.Type.DragEnter:
                    self.show_overlay(True)
                return True
            if etype == QEvent.Type.DragEnter and event.mimeData().hasUrls():
                event.ignore()
                return True
        elif etype == QEvent.Type.DragLeave:
            self.show_overlay(False)
        elif etype == QEvent.Type.Drop and isinstance(event, QDropEvent):
            self._drop(event)
            return True
        return False

    def _field_event(self, event: QEvent) -> bool:
        etype = event.type()
        if etype in (QEvent.Type.DragEnter, QEvent.Type.DragMove) and isinstance(event, QDragMoveEvent) \
                and mime_has_image(event.mimeData()):
            event.setDropAction(Qt.DropAction.CopyAction)
            event.accept()
            if etype == QEvent.Type.DragEnter:
                self.show_overlay(True)
            return True
        if etype == QEvent.Type.Drop and isinstance(event, QDropEvent) and mime_has_image(event.mimeData()):
            self._drop(event)
            return True
        if etype == QEvent.Type.DragLeave:
            self.show_overlay(False)
        if etype == QEvent.Type.KeyPress:
            key_event: QKeyEvent = event  # type: ignore[assignment]
            if key_event.matches(QKeySequence.StandardKey.Paste):
                mime = QGuiApplication.clipboard().mimeData()
                # an image (not text) on the clipboard, or image files: the example; text: typed
                if mime is not None and mime_has_image(mime) and (not mime.hasText() or mime.hasUrls()):
                    self.paste()
                    return True
        return False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.window:
            return self._window_event(event)
        if watched is self.field:
            return self._field_event(event)
        if watched is self.covered and event.type() == QEvent.Type.Resize and self.overlay.isVisible():
            self.overlay.setGeometry(self.covered.rect())
        return super().eventFilter(watched, event)
