"""Watched folders: add, remove, exclusions, rescan, and per-folder counts with error reasons."""

from __future__ import annotations

import os
from collections.abc import Sequence

from PySide6.QtCore import QStandardPaths, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QListWidget,
    QMessageBox,
    QPushButton,
    QStyle,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_search.core.library.scanner import folder_exclusion
from desktop_search.core.types import ErrorInfo, FolderInfo, count_summary
from desktop_search.core.wording import counted

from .controller import LibraryController
from .icons import std
from .widgets import short_path

WATCH_LABELS: dict[str | None, str] = {
    "native": "Live",
    "polling": "Every {interval} s",
    "unavailable": "Not watched",
}


def pictures_folder() -> str | None:
    """The user's Pictures folder, when it exists."""
    for location in QStandardPaths.standardLocations(QStandardPaths.StandardLocation.PicturesLocation):
        if location and os.path.isdir(location):
            return location
    return None


def choose_folder(parent: QWidget | None, title: str = "Choose a Folder of Photos", start: str | None = None) -> str | None:
    path = QFileDialog.getExistingDirectory(parent, title, start or pictures_folder() or os.path.expanduser("~"))
    return path or None


class ExclusionsDialog(QDialog):
    """Edit one folder's exclusions: sub-folders or name patterns (``*.tmp``, ``*/Screenshots/*``)."""

    def __init__(self, folder: str, exclusions: Sequence[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.folder = folder
        self.setWindowTitle("Exclusions")
        self.resize(560, 380)
        intro = QLabel(f"Photos in these places under <b>{short_path(folder)}</b> are not indexed:")
        intro.setWordWrap(True)
        self.list = QListWidget()
        self.list.addItems(list(exclusions))
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        add_folder = QPushButton(std(QStyle.StandardPixmap.SP_DirIcon), "Add Folder…")
        add_folder.setToolTip("Leave out a sub-folder and everything in it")
        add_pattern = QPushButton("Add Pattern…")
        add_pattern.setToolTip("Leave out paths matching a pattern, e.g. */Screenshots/* or *.png")
        remove = QPushButton("Remove")
        remove.setEnabled(False)
        self.list.itemSelectionChanged.connect(lambda: remove.setEnabled(bool(self.list.selectedItems())))
        add_folder.clicked.connect(self._add_folder)
        add_pattern.clicked.connect(self._add_pattern)
        remove.clicked.connect(self._remove)
        side = QVBoxLayout()
        for b in (add_folder, add_pattern, remove):
            side.addWidget(b)
        side.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.list, 1)
        row.addLayout(side)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(row, 1)
        layout.addWidget(buttons)

    def exclusions(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]

    def _add_folder(self) -> None:
        path = choose_folder(self, "Choose a Folder to Leave Out", self.folder)
        if path:
            self.list.addItem(folder_exclusion(path))  # '[ab]' is that folder, not a pattern

    def _add_pattern(self) -> None:
        text, ok = QInputDialog.getText(self, "Add Pattern", "Leave out paths matching (* matches anything):")
        if ok and text.strip():
            self.list.addItem(text.strip())

    def _remove(self) -> None:
        for item in self.list.selectedItems():
            self.list.takeItem(self.list.row(item))


class ErrorsDialog(QDialog):
    def __init__(self, folder: str, errors: Sequence[ErrorInfo], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Problems in {short_path(folder)}")
        self.resize(820, 420)
        tree = QTreeWidget()
        tree.setHeaderLabels(["Photo", "Reason", "When"])
        tree.setRootIsDecorated(False)
        tree.setUniformRowHeights(True)
        tree.setAlternatingRowColors(True)
        for e in errors:
            item = QTreeWidgetItem([e.path, e.reason, e.when.strftime("%Y-%m-%d %H:%M") if e.when else ""])
            item.setToolTip(0, e.path)
            item.setToolTip(1, e.reason)
            tree.addTopLevelItem(item)
        tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        label = QLabel(f"{counted(len(errors), 'photo')} could not be indexed. "
                       "Fix or remove them, then rescan the folder." if errors else "No problems.")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(label)
        layout.addWidget(tree, 1)
        layout.addWidget(buttons)


class FoldersDialog(QDialog):
    """The watched folders with their counts; edits go through the controller's writer queue."""

    COLUMNS = ("Folder", "Indexed", "Pending", "Could not be read", "Watching")

    def __init__(self, controller: LibraryController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.setWindowTitle("Folders")
        self.resize(820, 440)
        intro = QLabel("Desktop Search indexes the photos in these folders and their sub-folders, "
                       "and keeps the index up to date while it runs.")
        intro.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(list(self.COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.tree.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, len(self.COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemSelectionChanged.connect(self._selection_changed)
        self.tree.itemDoubleClicked.connect(lambda *_: self.edit_exclusions())

        self.add_button = QPushButton(std(QStyle.StandardPixmap.SP_DirIcon), "Add Folder…")
        self.add_button.setToolTip("Add a folder of photos to the library")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Stop searching this folder (the photos themselves are not touched)")
        self.exclusions_button = QPushButton("Exclusions…")
        self.exclusions_button.setToolTip("Leave sub-folders or name patterns out of this folder")
        self.rescan_button = QPushButton(std(QStyle.StandardPixmap.SP_BrowserReload), "Rescan")
        self.rescan_button.setToolTip("Look through this folder for new, changed and deleted photos")
        self.errors_button = QPushButton(std(QStyle.StandardPixmap.SP_MessageBoxWarning), "Problems…")
        self.errors_button.setToolTip("Photos that could not be indexed, and why")
        self.rescan_all_button = QPushButton("Rescan All")
        self.rescan_all_button.setToolTip("Look through every folder for changes")
        self.add_button.clicked.connect(self.add_folder)
        self.remove_button.clicked.connect(lambda: self.remove_folder())
        self.exclusions_button.clicked.connect(self.edit_exclusions)
        self.rescan_button.clicked.connect(self.rescan)
        self.errors_button.clicked.connect(self.show_errors)
        self.rescan_all_button.clicked.connect(lambda: self.controller.rescan())
        side = QVBoxLayout()
        for b in (self.add_button, self.remove_button, self.exclusions_button, self.rescan_button,
                  self.errors_button):
            side.addWidget(b)
        side.addStretch(1)
        side.addWidget(self.rescan_all_button)
        row = QHBoxLayout()
        row.addWidget(self.tree, 1)
        row.addLayout(side)
        self.summary = QLabel()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(row, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.summary, 1)
        bottom.addWidget(buttons)
        layout.addLayout(bottom)

        controller.folders_changed.connect(self.set_folders)
        # the "Watching" column changes once the watcher has set a folder up
        controller.watch_status.connect(self._watch_status_changed)
        self.set_folders(controller.folders())

    # -- content -----------------------------------------------------------------------------
    def selected_folder(self) -> FolderInfo | None:
        items = self.tree.selectedItems()
        return items[0].data(0, Qt.ItemDataRole.UserRole) if items else None

    def set_folders(self, folders: list[FolderInfo]) -> None:
        selected = self.selected_folder()
        modes = self.controller.watch_modes()
        self.tree.clear()
        for f in folders:
            mode = modes.get(os.path.normpath(f.path))
            watching = (WATCH_LABELS.get(mode, "Starting…") if self.controller.watch_enabled else "Off").format(
                interval=f"{self.controller.poll_interval_s:g}")
            item = QTreeWidgetItem([short_path(f.path), f"{f.indexed:,}", f"{f.pending:,}", f"{f.errors:,}", watching])
            item.setData(0, Qt.ItemDataRole.UserRole, f)
            tip = f.path
            if f.exclusions:
                tip += "\nExcluding: " + ", ".join(f.exclusions)
            item.setToolTip(0, tip)
            item.setIcon(0, std(QStyle.StandardPixmap.SP_DirIcon))
            if not os.path.isdir(f.path):
                item.setIcon(0, std(QStyle.StandardPixmap.SP_MessageBoxWarning))
                item.setToolTip(0, f"{f.path}\nThis folder is missing (an unplugged drive?). "
                                   "Its photos stay in the library until you remove it.")
            if mode == "polling":
                item.setToolTip(4, "Live watching is not available for this folder (network filesystem or "
                                   "the system's watch limit); it is checked for changes periodically.")
            for col in (1, 2, 3):
                item.setTextAlignment(col, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.tree.addTopLevelItem(item)
            if selected is not None and selected.path == f.path:
                item.setSelected(True)
        # the same figures, told the same way, as the status bar's
        self.summary.setText(count_summary(sum(f.indexed for f in folders), sum(f.pending for f in folders),
                                           sum(f.errors for f in folders), folders=len(folders)))
        self._selection_changed()

    def _watch_status_changed(self, _status: object) -> None:
        self.set_folders(self.controller.folders())

    def _selection_changed(self) -> None:
        folder = self.selected_folder()
        for b in (self.remove_button, self.exclusions_button, self.rescan_button):
            b.setEnabled(folder is not None)
        self.errors_button.setEnabled(folder is not None and folder.errors > 0)

    # -- actions -----------------------------------------------------------------------------
    def add_folder(self, path: str | None = None) -> None:
        path = path or choose_folder(self)
        if path:
            self.controller.add_folder(path)

    def remove_folder(self, folder: FolderInfo | None = None, confirm: bool = True) -> None:
        folder = folder or self.selected_folder()
        if folder is None:
            return
        if confirm:
            answer = QMessageBox.question(
                self,
                "Remove Folder",
                f"Stop searching {folder.path}?\n\nIts {folder.photos:,} photos leave the search results. "
                "The photos themselves are not touched.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.controller.remove_folder(folder.path)

    def edit_exclusions(self) -> None:
        folder = self.selected_folder()
        if folder is None:
            return
        dialog = ExclusionsDialog(folder.path, folder.exclusions, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            new = dialog.exclusions()
            if list(new) != list(folder.exclusions):
                self.controller.set_exclusions(folder.path, new)

    def rescan(self) -> None:
        folder = self.selected_folder()
        if folder is not None:
            self.controller.rescan([folder.path])

    def show_errors(self) -> None:
        """The folder's problems, read on a worker (a long list must not freeze the window)."""
        folder = self.selected_folder()
        if folder is None:
            return
        self.controller.load_errors(
            folder.path,
            on_result=lambda errors: ErrorsDialog(folder.path, errors, self).exec(),
            on_error=lambda exc: QMessageBox.warning(self, "Problems", f"Cannot read the problems: {exc}"),
        )
