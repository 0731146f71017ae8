"""Paints one result cell: the thumbnail centred in a square, then optional score and date lines.

Every cell has the same size (the view uses uniform item sizes). While painting, the delegate asks
the :class:`ThumbnailLoader` for the thumbnail; a missing one is queued for decoding and a
placeholder is drawn until ``thumbnails_ready`` makes the view repaint.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from desktop_search.core.types import SearchResult

from .results_model import Roles, format_date
from .thumbnails import ThumbnailLoader

PADDING = 8
TEXT_GAP = 4
RADIUS = 6.0


class ThumbnailDelegate(QStyledItemDelegate):
    def __init__(self, loader: ThumbnailLoader, parent=None) -> None:
        super().__init__(parent)
        self.loader = loader
        self.show_score = True
        self.show_date = True
        self.show_name = False
        #: side of the thumbnail square in device-independent pixels (the loader decodes at
        #: ``side * devicePixelRatio``)
        self.side = loader.side
        self._broken_icon = QApplication.style().standardIcon(QStyle.StandardPixmap.SP_FileIcon)

    # -- geometry ----------------------------------------------------------------------------
    def text_lines(self) -> int:
        return int(self.show_score or self.show_date) + int(self.show_name)

    def cell_size(self, option_font_metrics: QFontMetrics | None = None) -> QSize:
        fm = option_font_metrics or QFontMetrics(QApplication.font())
        lines = self.text_lines()
        text_h = (lines * fm.height() + TEXT_GAP) if lines else 0
        return QSize(self.side + 2 * PADDING, self.side + 2 * PADDING + text_h)

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return self.cell_size(option.fontMetrics)

    # -- painting ----------------------------------------------------------------------------
    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        result: SearchResult | None = index.data(Roles.RESULT)
        if result is None:
            return
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        palette: QPalette = option.palette
        rect: QRect = option.rect
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hovered = bool(option.state & QStyle.StateFlag.State_MouseOver)
        focused = bool(option.state & QStyle.StateFlag.State_HasFocus)

        cell = QRectF(rect.adjusted(2, 2, -2, -2))
        if selected or hovered:
            colour = QColor(palette.color(QPalette.ColorRole.Highlight))
            colour.setAlpha(90 if selected else 35)
            path = QPainterPath()
            path.addRoundedRect(cell, RADIUS, RADIUS)
            painter.fillPath(path, colour)
        if focused and selected:
            pen = QPen(palette.color(QPalette.ColorRole.Highlight), 2)
            painter.setPen(pen)
            painter.drawRoundedRect(cell.adjusted(1, 1, -1, -1), RADIUS, RADIUS)

        side = self.side
        square = QRect(rect.x() + (rect.width() - side) // 2, rect.y() + PADDING, side, side)
        key = self.loader.key_for(result.path, result.size)
        pixmap = self.loader.request(key, result.thumbnail_path, result.path)
        if pixmap is not None and not pixmap.isNull():
            dpr = pixmap.devicePixelRatio() or 1.0
            w, h = pixmap.width() / dpr, pixmap.height() / dpr
            scale = min(side / w, side / h)
            tw, th = round(w * scale), round(h * scale)
            target = QRect(square.x() + (side - tw) // 2, square.y() + (side - th) // 2, tw, th)
            painter.drawPixmap(target, pixmap)
        else:
            placeholder = QColor(palette.color(QPalette.ColorRole.Mid))
            placeholder.setAlpha(60)
            path = QPainterPath()
            path.addRoundedRect(QRectF(square.adjusted(6, 6, -6, -6)), 4, 4)
            painter.fillPath(path, placeholder)
            if self.loader.is_known(key):  # decoding failed: say so with an icon
                icon_rect = QRect(0, 0, 32, 32)
                icon_rect.moveCenter(square.center())
                self._broken_icon.paint(painter, icon_rect)

        lines: list[str] = []
        if self.show_name:
            lines.append(os.path.basename(result.path))
        details = []
        if self.show_score:
            details.append(f"{result.score:.2f}" if result.relevance is None else f"{int(result.relevance)} {result.strength}")
        if self.show_date:
            # the photo's date (taken, else the file's); a photo without one is named instead, so
            # the line never stands empty
            details.append(format_date(result.date)[:10] if result.date else os.path.basename(result.path))
        if details:
            if result.text_match is not None:  # found by the text in it (docs/TEXT.md)
                details.insert(0, "T")
            lines.append("  ·  ".join(details))
        if lines:
            fm = option.fontMetrics
            painter.setPen(palette.color(QPalette.ColorRole.Text))
            y = square.bottom() + TEXT_GAP
            for i, line in enumerate(lines):
                text_rect = QRect(rect.x() + PADDING, y + i * fm.height(), rect.width() - 2 * PADDING, fm.height())
                muted = i == len(lines) - 1 and bool(details)
                if muted:
                    colour = QColor(palette.color(QPalette.ColorRole.Text))
                    colour.setAlpha(170)
                    painter.setPen(colour)
                if muted and len(details) == 2:
                    # score · name: shorten the name, never the score or the separator
                    head = f"{details[0]}  ·  "
                    rest = fm.elidedText(details[1], Qt.TextElideMode.ElideMiddle,
                                         max(0, text_rect.width() - fm.horizontalAdvance(head)))
                    elided = head + rest if rest else fm.elidedText(line, Qt.TextElideMode.ElideRight, text_rect.width())
                else:
                    elided = fm.elidedText(line, Qt.TextElideMode.ElideMiddle, text_rect.width())
                painter.drawText(text_rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter, elided)
        painter.restore()
