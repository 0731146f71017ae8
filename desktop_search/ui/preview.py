"""A large preview of one result with its metadata (Space opens it, Space or Esc closes it)."""

from __future__ import annotations

import os
from collections.abc import Callable

from PySide6.QtCore import QSize, Qt, Signal, SignalInstance
from PySide6.QtGui import QImage, QKeyEvent, QPalette, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from desktop_search.core.types import SearchResult

from .icons import std
from .results_model import describe_date, format_bytes, relevance_words
from .thumbnails import load_thumbnail_image

PREVIEW_SIDE = 1600


class _ImageLabel(QLabel):
    """Shows a pixmap scaled to fit, keeping its aspect ratio, re-scaled on resize."""

    def __init__(self) -> None:
        super().__init__()
        self._pixmap: QPixmap | None = None
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(320, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAutoFillBackground(True)
        pal = self.palette()
        pal.setColor(QPalette.ColorRole.Window, Qt.GlobalColor.black)
        pal.setColor(QPalette.ColorRole.WindowText, Qt.GlobalColor.lightGray)
        self.setPalette(pal)

    def set_image(self, pixmap: QPixmap | None, text: str = "") -> None:
        self._pixmap = pixmap
        if pixmap is None:
            self.setPixmap(QPixmap())
            self.setText(text)
        else:
            self.setText("")
            self._rescale()

    def _rescale(self) -> None:
        if self._pixmap is None:
            return
        dpr = self.devicePixelRatioF()
        target = self.size() * dpr
        scaled = self._pixmap.scaled(target, Qt.AspectRatioMode.KeepAspectRatio,
                                     Qt.TransformationMode.SmoothTransformation)
        scaled.setDevicePixelRatio(dpr)
        self.setPixmap(scaled)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._rescale()


class PreviewDialog(QDialog):
    find_similar = Signal(object)  # SearchResult
    open_requested = Signal(object)
    reveal_requested = Signal(object)
    #: -1 for the previous result, +1 for the next one
    navigate = Signal(int)

    def __init__(self, run_in_background: Callable[..., bool] | None, parent: QWidget | None = None) -> None:
        """``run_in_background(fn, *args, name=, on_result=, on_error=)`` loads the image off the
        GUI thread (the controller's); False (closing) or None: loaded at once."""
        super().__init__(parent)
        self.setWindowTitle("Preview")
        self.setModal(False)
        self.resize(1100, 720)
        self._run = run_in_background
        self._result: SearchResult | None = None
        self._generation = 0
        #: photo id -> its recognised text ("" none, None not read yet): set by the results pane
        self.text_of: Callable[[int], str | None] | None = None

        self.image = _ImageLabel()
        side = QWidget()
        side.setFixedWidth(320)
        form = QFormLayout(side)
        form.setContentsMargins(16, 16, 16, 16)
        form.setVerticalSpacing(10)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.name = QLabel()
        font = self.name.font()
        font.setPointSizeF(font.pointSizeF() * 1.2)
        font.setWeight(font.Weight.DemiBold)
        self.name.setFont(font)
        self.name.setWordWrap(True)
        self.fields: dict[str, QLabel] = {}
        form.addRow(self.name)
        for key, label in (
            ("path", "Path"),
            ("date", "Date"),
            ("camera", "Camera"),
            ("dimensions", "Dimensions"),
            ("size", "File size"),
            ("caption", "Caption"),
            ("score", "Relevance"),
        ):
            value = QLabel()
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.fields[key] = value
            form.addRow(f"{label}:", value)
        # the text read in the photo (docs/TEXT.md): selectable and copyable
        self.photo_text = QPlainTextEdit()
        self.photo_text.setReadOnly(True)
        self.photo_text.setPlaceholderText("No text found in this photo")
        self.photo_text.setMaximumHeight(160)
        form.addRow("Text:", self.photo_text)

        buttons = QDialogButtonBox()
        self.similar_button = QPushButton("Find Similar")
        self.similar_button.setToolTip("Search for photos that look like this one")
        self.open_button = QPushButton(std(QStyle.StandardPixmap.SP_DialogOpenButton), "Open")
        self.open_button.setToolTip("Open in the system's image viewer (Enter)")
        self.reveal_button = QPushButton(std(QStyle.StandardPixmap.SP_DirOpenIcon), "Show in Folder")
        self.reveal_button.setToolTip("Show the photo in the file manager")
        close = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        close.setToolTip("Close the preview (Space or Esc)")
        button: QAbstractButton
        for button in (self.similar_button, self.reveal_button, self.open_button):
            buttons.addButton(button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.close)
        for button in buttons.buttons():
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Space and arrows belong to the dialog
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.similar_button.clicked.connect(lambda: self._emit(self.find_similar))
        self.open_button.clicked.connect(lambda: self._emit(self.open_requested))
        self.reveal_button.clicked.connect(lambda: self._emit(self.reveal_requested))

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.setSpacing(0)
        top.addWidget(self.image, 1)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.VLine)
        top.addWidget(line)
        top.addWidget(side)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 10)
        layout.addLayout(top, 1)
        bottom = QHBoxLayout()
        bottom.setContentsMargins(12, 0, 12, 0)
        hint = QLabel("← → previous / next")
        hint.setEnabled(False)
        bottom.addWidget(hint)
        bottom.addStretch(1)
        bottom.addWidget(buttons)
        layout.addLayout(bottom)

    @property
    def result(self) -> SearchResult | None:  # type: ignore[override]  # shadows QDialog.result() (exit code, unused here) on purpose
        return self._result

    def _emit(self, signal: SignalInstance) -> None:
        if self._result is not None:
            signal.emit(self._result)

    def show_result(self, result: SearchResult) -> None:
        self._result = result
        self._generation += 1
        name = os.path.basename(result.path)
        self.setWindowTitle(f"{name} — Preview")
        self.name.setText(name)
        self.fields["path"].setText(result.path)
        self.fields["date"].setText(describe_date(result))
        self.fields["camera"].setText(result.camera or "Unknown")
        self.fields["dimensions"].setText(f"{result.width} × {result.height} pixels"
                                          if result.width and result.height else "Unknown")
        self.fields["size"].setText(format_bytes(result.size))
        self.fields["caption"].setText(result.caption or "None")
        self.fields["score"].setText(relevance_words(result).removeprefix("relevance "))
        text = self.text_of(result.photo_id) if self.text_of is not None else None
        self.photo_text.setPlainText(text or "")
        self.photo_text.setPlaceholderText("Not read yet" if text is None else "No text found in this photo")
        self.image.set_image(None, "Loading…")
        generation = self._generation
        started = self._run is not None and self._run(
            load_thumbnail_image, result.thumbnail_path if not os.path.exists(result.path) else None,
            result.path, PREVIEW_SIDE, name="preview",
            on_result=lambda image, g=generation: self._shown(g, image),
            on_error=lambda exc, g=generation: self._shown(g, None),
        )
        if not started:  # closing: no worker any more
            self._shown(generation, load_thumbnail_image(None, result.path, PREVIEW_SIDE))

    def _shown(self, generation: int, image: QImage | None) -> None:
        if generation != self._generation:
            return  # the user moved on to another photo
        if image is None or image.isNull():
            self.image.set_image(None, "This photo cannot be shown (missing or unreadable).")
        else:
            self.image.set_image(QPixmap.fromImage(image))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Space, Qt.Key.Key_Escape):
            self.close()
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Up):
            self.navigate.emit(-1)
        elif key in (Qt.Key.Key_Right, Qt.Key.Key_Down):
            self.navigate.emit(1)
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._emit(self.open_requested)
        else:
            super().keyPressEvent(event)

    def sizeHint(self) -> QSize:
        return QSize(1100, 720)
