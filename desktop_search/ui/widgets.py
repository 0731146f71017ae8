"""Small widgets of the main window: the results view, the example chip, the drop overlay, the
empty and message pages, and the indexing status area of the status bar."""

from __future__ import annotations

import os

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QKeyEvent,
    QKeySequence,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
    QPixmap,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListView,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_search.core.types import IndexProgress

from .icons import app_icon, icon, std


class ResultsView(QListView):
    """The results grid: IconMode, static layout, uniform cells, virtualised painting."""

    open_requested = Signal()
    preview_requested = Signal()
    copy_requested = Signal()
    leave_up = Signal()  # Up pressed on the first row: back to the search field

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setMovement(QListView.Movement.Static)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(True)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.SinglePass)
        self.setSelectionMode(QListView.SelectionMode.ExtendedSelection)
        self.setSelectionRectVisible(True)
        self.setVerticalScrollMode(QListView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(24)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.setMouseTracking(True)  # hover highlight
        self.setWordWrap(False)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setSpacing(0)
        # drags out of the grid carry file URLs; drops go to the window (search by example)
        self.setDragEnabled(True)
        self.setDragDropMode(QListView.DragDropMode.DragOnly)
        self.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.setAcceptDrops(False)
        self.viewport().setAcceptDrops(False)
        self.setAccessibleName("Search results")
        self.doubleClicked.connect(lambda _: self.open_requested.emit())
        self._cell = QSize(200, 220)

    def set_cell_size(self, cell: QSize) -> None:
        """The smallest cell; columns are widened to share the row's spare width evenly."""
        self._cell = QSize(cell)
        self._fit_grid()

    def _fit_grid(self) -> None:
        available = self.viewport().width() - 2
        if not self.verticalScrollBar().isVisible():
            # the icon-mode layout keeps room for a scroll bar it may need: without this, the last
            # column wraps and leaves a column-wide empty band on the right
            available -= self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
        if available <= 0:
            return
        columns = max(1, available // max(1, self._cell.width()))
        width = max(self._cell.width(), available // columns)
        grid = QSize(width, self._cell.height())
        if grid != self.gridSize():
            self.setGridSize(grid)

    def resizeEvent(self, event: QResizeEvent) -> None:
        self._fit_grid()
        super().resizeEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self.open_requested.emit()
            return
        if key == Qt.Key.Key_Space and self.currentIndex().isValid():
            self.preview_requested.emit()
            return
        if event.matches(QKeySequence.StandardKey.Copy):
            self.copy_requested.emit()
            return
        if key == Qt.Key.Key_Up and self.currentIndex().isValid():
            before = self.currentIndex()
            super().keyPressEvent(event)
            if self.currentIndex() == before:
                self.leave_up.emit()
            return
        super().keyPressEvent(event)


class ExampleChip(QFrame):
    """The example photo next to the search field: a thumbnail, its name and a remove button."""

    removed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("exampleChip")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 2, 2)
        layout.setSpacing(6)
        self.thumb = QLabel()
        self.thumb.setFixedSize(24, 24)
        self.thumb.setScaledContents(False)
        self.thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label = QLabel()
        self.label.setMaximumWidth(220)
        self.close_button = QToolButton()
        self.close_button.setIcon(icon("close"))
        self.close_button.setIconSize(QSize(14, 14))
        self.close_button.setAutoRaise(True)
        self.close_button.setToolTip("Remove the example photo")
        self.close_button.setAccessibleName("Remove example")
        self.close_button.clicked.connect(self.removed)
        layout.addWidget(self.thumb)
        layout.addWidget(self.label)
        layout.addWidget(self.close_button)
        self._apply_style()
        self.hide()

    def _apply_style(self) -> None:
        pal = self.palette()
        base = pal.color(QPalette.ColorRole.Highlight)
        rgb = f"{base.red()}, {base.green()}, {base.blue()}"
        self.setStyleSheet(
            f"#exampleChip {{ background: rgba({rgb}, 40); border: 1px solid rgba({rgb}, 110);"
            " border-radius: 14px; }"
        )

    def set_example(self, name: str, tooltip: str, pixmap: QPixmap | None) -> None:
        metrics = self.label.fontMetrics()
        self.label.setText(metrics.elidedText(name, Qt.TextElideMode.ElideMiddle, 200))
        self.setToolTip(tooltip)
        self.set_pixmap(pixmap)
        self.show()

    def set_pixmap(self, pixmap: QPixmap | None) -> None:
        if pixmap is None or pixmap.isNull():
            self.thumb.setPixmap(icon("image-search").pixmap(20, 20))
        else:
            self.thumb.setPixmap(pixmap.scaled(24, 24, Qt.AspectRatioMode.KeepAspectRatio,
                                               Qt.TransformationMode.SmoothTransformation))


class DropOverlay(QWidget):
    """Shown over the window while an image is dragged over it."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.text = "Drop a photo to find similar ones"
        self.hide()

    def paintEvent(self, event: object) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        highlight = pal.color(QPalette.ColorRole.Highlight)
        fill = QColor(pal.color(QPalette.ColorRole.Base))
        fill.setAlpha(215)
        rect = QRectF(self.rect()).adjusted(12, 12, -12, -12)
        path = QPainterPath()
        path.addRoundedRect(rect, 14, 14)
        painter.fillPath(path, fill)
        pen = QPen(highlight, 3, Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.drawPath(path)
        font = painter.font()
        font.setPointSizeF(font.pointSizeF() * 1.5)
        painter.setFont(font)
        painter.setPen(pal.color(QPalette.ColorRole.Text))
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, self.text)


class MessagePage(QWidget):
    """A centred icon, headline, explanation and optional buttons (empty states)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.addStretch(3)
        self.icon_label = QLabel()
        self.icon_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title = QLabel()
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.45)
        font.setWeight(font.Weight.DemiBold)
        self.title.setFont(font)
        self.body = QLabel()
        self.body.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.body.setWordWrap(True)
        self.body.setFixedWidth(520)
        muted = self.body.palette()
        colour = muted.color(QPalette.ColorRole.WindowText)
        colour.setAlpha(170)
        muted.setColor(QPalette.ColorRole.WindowText, colour)
        self.body.setPalette(muted)
        self.buttons = QHBoxLayout()
        self.buttons.setSpacing(10)
        self.buttons.addStretch(1)
        outer.addWidget(self.icon_label)
        outer.addSpacing(12)
        outer.addWidget(self.title)
        outer.addSpacing(6)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.body)
        row.addStretch(1)
        outer.addLayout(row)
        outer.addSpacing(18)
        outer.addLayout(self.buttons)
        outer.addStretch(4)
        self.buttons.addStretch(1)

    def set_content(self, title: str, body: str, pixmap: QPixmap | None = None) -> None:
        self.title.setText(title)
        self.body.setText(body)
        if pixmap is not None:
            self.icon_label.setPixmap(pixmap)
        self.icon_label.setVisible(pixmap is not None)

    def add_button(self, text: str, tooltip: str = "", default: bool = False) -> QPushButton:
        button = QPushButton(text)
        button.setToolTip(tooltip)
        button.setMinimumHeight(34)
        button.setDefault(default)
        button.setAutoDefault(default)
        self.buttons.insertWidget(self.buttons.count() - 1, button)
        return button


def welcome_pixmap(size: int = 96) -> QPixmap:
    return app_icon().pixmap(size, size)


def _fmt_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def describe_progress(event: IndexProgress, paused: bool = False) -> str:
    """One status-bar line for an indexing event."""
    if paused:
        prefix = "Paused"
    elif event.phase == "scan":
        prefix = "Looking for photos"
    elif event.phase == "embed":
        prefix = "Indexing"
    elif event.phase == "text" and event.total and event.message:
        return ("Paused: " if paused else "") + event.message
    else:
        prefix = event.message or event.phase.capitalize()
    parts = [prefix]
    if event.phase == "scan" and event.done:
        parts.append(f"{event.done:,} files found")
    elif event.phase == "embed" and event.total:
        parts.append(f"{event.done:,} of {event.total:,} photos")
        if event.rate > 0 and not paused:
            parts.append(f"{event.rate:.1f} photos/s")
        if event.eta_s is not None and event.done < event.total and not paused:
            parts.append(f"about {_fmt_duration(event.eta_s)} left")
    return " · ".join(parts)


class IndexStatus(QWidget):
    """Progress bar, pause/resume and cancel buttons for the running job (in the status bar)."""

    pause_clicked = Signal()
    resume_clicked = Signal()
    cancel_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.bar = QProgressBar()
        self.bar.setFixedWidth(160)
        self.bar.setMaximumHeight(16)
        self.bar.setTextVisible(False)
        self.pause_button = QToolButton()
        self.pause_button.setAutoRaise(True)
        self.cancel_button = QToolButton()
        self.cancel_button.setAutoRaise(True)
        self.cancel_button.setIcon(std(QStyle.StandardPixmap.SP_MediaStop))
        self.cancel_button.setToolTip("Stop indexing (what is done is kept; the rest is indexed next time)")
        self.cancel_button.setAccessibleName("Stop indexing")
        layout.addWidget(self.bar)
        layout.addWidget(self.pause_button)
        layout.addWidget(self.cancel_button)
        self.cancel_button.clicked.connect(self.cancel_clicked)
        self.pause_button.clicked.connect(self._toggle)
        self._paused = False
        self.set_paused(False)

    def _toggle(self) -> None:
        (self.resume_clicked if self._paused else self.pause_clicked).emit()

    def set_paused(self, paused: bool) -> None:
        self._paused = paused
        if paused:
            self.pause_button.setIcon(std(QStyle.StandardPixmap.SP_MediaPlay))
            self.pause_button.setToolTip("Resume indexing")
            self.pause_button.setAccessibleName("Resume indexing")
        else:
            self.pause_button.setIcon(std(QStyle.StandardPixmap.SP_MediaPause))
            self.pause_button.setToolTip("Pause indexing")
            self.pause_button.setAccessibleName("Pause indexing")

    def set_progress(self, event: IndexProgress | None) -> None:
        if event is None or event.phase not in ("embed", "text") or not event.total:
            self.bar.setRange(0, 0)  # busy indicator
        else:
            self.bar.setRange(0, event.total)
            self.bar.setValue(event.done)


def short_path(path: str, home: str | None = None) -> str:
    home = home or os.path.expanduser("~")
    if path == home:
        return "~"
    if path.startswith(home + os.sep):
        return "~" + path[len(home):]
    return path


class ProblemDialog(QDialog):
    """A message a user has to act on, whole: never cut off by the status bar, never gone before it
    is read. The text is selectable and a button copies it (a folder to copy files into, a command
    to run); the dialog stays until closed and does not block the window."""

    def __init__(self, title: str, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setModal(False)
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        badge = QLabel()
        badge.setPixmap(std(QStyle.StandardPixmap.SP_MessageBoxWarning).pixmap(40, 40))
        badge.setAlignment(Qt.AlignmentFlag.AlignTop)
        row.addWidget(badge)
        self.text = QLabel(text)
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                          | Qt.TextInteractionFlag.TextSelectableByKeyboard)
        self.text.setMinimumWidth(420)
        row.addWidget(self.text, 1)
        layout.addLayout(row)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = buttons.addButton("Copy Message", QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.clicked.connect(self.copy)
        buttons.rejected.connect(self.close)
        layout.addWidget(buttons)

    def copy(self) -> None:
        QApplication.clipboard().setText(self.text.text())
        self.copy_button.setText("Copied")
