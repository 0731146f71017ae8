"""Preferences: model, device, thumbnail size, results per page, excluded folders, watching."""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QSlider,
    QSpinBox,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from desktop_search.core import settings as settings_mod
from desktop_search.core.library.scanner import folder_exclusion
from desktop_search.core.settings import Settings

from .folders_dialog import choose_folder
from .icons import std

DEVICE_LABELS = {
    "auto": "Automatic (GPU when available)",
    "cpu": "CPU",
    "cuda": "NVIDIA GPU (CUDA)",
    "mps": "Apple GPU (Metal)",
}


def model_choices() -> list[tuple[str, str, str]]:
    """(name, label, tooltip) for the model picker: the built-in model, then the CLIP catalog."""
    choices = [("builtin", "Built-in (fast, works offline)",
                "The network that ships with Desktop Search: small, quick on a CPU, no download.")]
    try:
        from desktop_search.core.models import catalog
    except Exception:  # the catalog is optional
        return choices
    try:
        for entry in catalog.entries():
            name = catalog.clip_name(entry.arch, entry.pretrained)
            downloaded = catalog.is_downloaded(entry)
            state = "downloaded" if downloaded else f"{entry.size_mb} MB download"
            label = f"{entry.arch} ({entry.speed}, {state})"
            tip = f"{name}\n{entry.figures.summary()}"
            if entry.notes:
                tip += f"\n{entry.notes}"
            if not downloaded:
                tip += "\nDownloaded on first use when online, or with 'desktop-search models download'."
            choices.append((name, label, tip))
    except Exception:
        pass
    return choices


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(560)
        self._original = settings

        self.model = QComboBox()
        for name, label, tip in model_choices():
            self.model.addItem(label, name)
            self.model.setItemData(self.model.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        if self.model.findData(settings.model) < 0:
            self.model.addItem(settings.model, settings.model)
        self.model.setCurrentIndex(self.model.findData(settings.model))
        self.model.setToolTip("The network that understands your photos and queries. Changing it "
                              "re-indexes the library in the background; searches keep working meanwhile.")

        self.device = QComboBox()
        for key, label in DEVICE_LABELS.items():
            self.device.addItem(label, key)
        self.device.setCurrentIndex(max(0, self.device.findData(settings.device)))
        self.device.setToolTip("Where the network runs. Takes effect the next time Desktop Search starts.")

        lo, hi = settings_mod.THUMBNAIL_SIZES
        self.thumb = QSlider(Qt.Orientation.Horizontal)
        self.thumb.setRange(lo, hi)
        self.thumb.setSingleStep(8)
        self.thumb.setPageStep(32)
        self.thumb.setValue(settings.thumbnail_size)
        self.thumb_label = QLabel()
        self.thumb_label.setMinimumWidth(60)
        self.thumb.valueChanged.connect(lambda v: self.thumb_label.setText(f"{v} px"))
        self.thumb_label.setText(f"{settings.thumbnail_size} px")
        thumb_row = QHBoxLayout()
        thumb_row.addWidget(self.thumb, 1)
        thumb_row.addWidget(self.thumb_label)

        plo, phi = settings_mod.RESULTS_PER_PAGE
        self.per_page = QSpinBox()
        self.per_page.setRange(plo, phi)
        self.per_page.setSingleStep(50)
        self.per_page.setValue(settings.results_per_page)
        self.per_page.setToolTip("How many results a search fetches at once; scrolling to the end fetches more.")

        self.watch = QCheckBox("Watch folders and update the index as photos change")
        self.watch.setChecked(settings.watch_folders)
        self.read_text = QCheckBox("Read text in photos (screenshots, receipts, signs) to find them by their words")
        self.read_text.setChecked(settings.read_text_in_photos)
        self.read_text.setToolTip("After indexing, a background job reads the text in each photo; off: no new "
                                  "text is read (what was read is still searched)")

        self.excluded = QListWidget()
        self.excluded.addItems(settings.excluded_folders)
        self.excluded.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.excluded.setMaximumHeight(130)
        self.excluded.setToolTip("Photos in these folders are never indexed, whichever watched folder they are in.")
        add = QPushButton(std(QStyle.StandardPixmap.SP_DirIcon), "Add…")
        remove = QPushButton("Remove")
        add.clicked.connect(self._add_excluded)
        remove.clicked.connect(self._remove_excluded)
        remove.setEnabled(False)  # until a folder of the list is selected
        self.excluded.itemSelectionChanged.connect(lambda: remove.setEnabled(bool(self.excluded.selectedItems())))
        self.remove_excluded_button = remove
        excl_buttons = QVBoxLayout()
        excl_buttons.addWidget(add)
        excl_buttons.addWidget(remove)
        excl_buttons.addStretch(1)
        excl_row = QHBoxLayout()
        excl_row.addWidget(self.excluded, 1)
        excl_row.addLayout(excl_buttons)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setVerticalSpacing(12)
        form.addRow("Model:", self.model)
        form.addRow("Device:", self.device)
        form.addRow("Thumbnail size:", thumb_row)
        form.addRow("Results per page:", self.per_page)
        form.addRow("Excluded folders:", excl_row)
        form.addRow("", self.watch)
        form.addRow("", self.read_text)

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.RestoreDefaults
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(self._defaults)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addSpacing(8)
        layout.addWidget(buttons)

    def _add_excluded(self) -> None:
        path = choose_folder(self, "Choose a Folder to Leave Out")
        if path:
            self.excluded.addItem(folder_exclusion(path))  # '[ab]' is that folder, not a pattern

    def _remove_excluded(self) -> None:
        for item in self.excluded.selectedItems():
            self.excluded.takeItem(self.excluded.row(item))

    def _defaults(self) -> None:
        d = Settings()
        self.model.setCurrentIndex(max(0, self.model.findData(d.model)))
        self.device.setCurrentIndex(max(0, self.device.findData(d.device)))
        self.thumb.setValue(d.thumbnail_size)
        self.per_page.setValue(d.results_per_page)
        self.watch.setChecked(d.watch_folders)
        self.read_text.setChecked(d.read_text_in_photos)
        self.excluded.clear()
        self.excluded.addItems(d.excluded_folders)

    def settings(self) -> Settings:
        """The edited settings (the dialog's other fields keep their original values)."""
        return dataclasses.replace(
            self._original,
            model=str(self.model.currentData()),
            device=str(self.device.currentData()),
            thumbnail_size=self.thumb.value(),
            results_per_page=self.per_page.value(),
            excluded_folders=[self.excluded.item(i).text() for i in range(self.excluded.count())],
            watch_folders=self.watch.isChecked(),
            read_text_in_photos=self.read_text.isChecked(),
        ).normalised()
