"""The bar above the results: the search field, the example chip and button, sort order, the
relevance cutoff, and the folders and settings buttons. Widgets only; the window connects them."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QSlider, QToolButton, QWidget

from desktop_search.core.wording import counted

from .icons import icon
from .results_model import SortOrder
from .widgets import ExampleChip

CUTOFF_TIP = "Relevance cutoff: slide right to hide weaker matches"
#: where the cutoff starts: a good match (relevance 50 of 100, core/search/relevance.py)
DEFAULT_CUTOFF = 50


def _tool_button(name: str, tip: str) -> QToolButton:
    button = QToolButton()
    button.setIcon(icon(name))
    button.setIconSize(QSize(22, 22))
    button.setAutoRaise(True)
    button.setToolTip(tip)
    return button


class SearchBar(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("searchBar")
        top = QHBoxLayout(self)
        top.setContentsMargins(12, 10, 12, 10)
        top.setSpacing(8)

        self.search_field = QLineEdit()
        self.search_field.setPlaceholderText("Describe a photo — “a dog running on the beach” — or drop one here")
        self.search_field.setClearButtonEnabled(True)
        self.search_field.addAction(icon("search"), QLineEdit.ActionPosition.LeadingPosition)
        self.search_field.setMinimumHeight(34)
        self.search_field.setMinimumWidth(260)
        self.search_field.setToolTip("Type what you remember; results update as you type (Ctrl+F)")
        self.search_field.setAccessibleName("Search")
        font = self.search_field.font()
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.search_field.setFont(font)

        self.chip = ExampleChip()
        self.example_button = _tool_button("image-search", "Search by example: choose a photo (or drop one on the "
                                           "window, or paste one with Ctrl+V)")
        self.example_button.setAccessibleName("Search by example photo")

        self.sort_combo = QComboBox()
        self.sort_combo.addItem("Best match", SortOrder.RELEVANCE)
        self.sort_combo.addItem("Newest first", SortOrder.NEWEST)
        self.sort_combo.addItem("Oldest first", SortOrder.OLDEST)
        self.sort_combo.setToolTip("Sort results by relevance or by date: when the photo was taken, else its file's date")

        self.cutoff_slider = QSlider(Qt.Orientation.Horizontal)
        self.cutoff_slider.setRange(0, 100)
        self.cutoff_slider.setValue(DEFAULT_CUTOFF)
        self.cutoff_slider.setFixedWidth(120)
        self.cutoff_slider.setToolTip(CUTOFF_TIP)
        self.cutoff_slider.setAccessibleName("Relevance cutoff")
        cutoff_label = QLabel("Cutoff")
        cutoff_label.setBuddy(self.cutoff_slider)
        cutoff_label.setToolTip(self.cutoff_slider.toolTip())

        self.folders_button = _tool_button("folders", "Folders: add or remove photo folders, see indexing problems")
        self.settings_button = _tool_button("settings", "Settings")

        top.addWidget(self.search_field, 1)
        top.addWidget(self.chip)
        top.addWidget(self.example_button)
        top.addSpacing(8)
        top.addWidget(self.sort_combo)
        top.addSpacing(4)
        top.addWidget(cutoff_label)
        top.addWidget(self.cutoff_slider)
        top.addSpacing(4)
        top.addWidget(self.folders_button)
        top.addWidget(self.settings_button)

    def show_sort(self, order: SortOrder) -> None:
        """The combo shows ``order`` (without announcing a change)."""
        i = self.sort_combo.findData(order)
        if i >= 0 and self.sort_combo.currentIndex() != i:
            self.sort_combo.blockSignals(True)
            self.sort_combo.setCurrentIndex(i)
            self.sort_combo.blockSignals(False)

    def set_searching(self, on: bool) -> None:
        """Sort and cutoff apply to results: off while there can be none (loading, welcome)."""
        self.sort_combo.setEnabled(on)
        self.cutoff_slider.setEnabled(on)

    def show_cutoff(self, value: int, threshold: float | None, hidden: int, rated: bool = False) -> None:
        if rated:
            words = f"\nrelevance {value} or more (50: a good match, 75: a strong one): {counted(hidden, 'weaker result')} hidden"
        elif threshold is not None:
            words = (f"\n{2 * value - 100}% of the way from the weakest to the best match shown: "
                     f"{counted(hidden, 'weaker result')} hidden (score below {threshold:.2f})")
        else:
            words = ""
        self.cutoff_slider.setToolTip(CUTOFF_TIP + words)
