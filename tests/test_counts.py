# ruff: noqa: F811  (pytest fixtures imported from tests.ui_support are parameters here)
"""Counts that agree: one definition of each count, told the same way in the status bar, the
folders dialog and the command line; a page of results is never given as the number of results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from desktop_search.cli import main
from desktop_search.ui.main_window import MainWindow
from tests.ui_support import index_library, make_photos, make_window  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def library(tmp_path: Path) -> Path:
    photos = tmp_path / "photos"
    make_photos(photos, n_each=8)  # 32 photos
    for i in range(3):  # and 3 files that are not photos at all
        (photos / f"broken_{i}.jpg").write_bytes(b"not a jpeg" * 50)
    root = tmp_path / "lib"
    index_library(root, photos)
    return root


def ready(qtbot, make_window, root: Path) -> MainWindow:
    window = make_window(root)
    qtbot.waitUntil(lambda: window.controller.model_ready and not window.controller.busy()
                    and window.library_status is not None, timeout=15000)
    return window


def test_a_page_of_results_is_shown_as_a_page_of_the_total(qtbot, make_window, library: Path) -> None:
    window = ready(qtbot, make_window, library)
    window.settings.results_per_page = 20
    with qtbot.waitSignal(window.results_shown, timeout=10000):
        window.search_field.setText("red")
    assert window.model.rowCount() == 20
    assert window.message_label.text() == "20 of 32 results"
    with qtbot.waitSignal(window.results_shown, timeout=10000):
        window.model.fetchMore(window.model.index(-1, -1).parent())
    assert window.model.rowCount() == 32
    assert window.message_label.text() == "32 results"


def test_the_folders_dialog_and_the_status_bar_give_the_same_counts(qtbot, make_window, library: Path) -> None:
    window = ready(qtbot, make_window, library)
    assert window.message_label.text() == "32 photos indexed in 1 folder · 3 could not be read"
    qtbot.mouseClick(window.bar.folders_button, Qt.MouseButton.LeftButton)
    dialog = window.folders_dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.tree.topLevelItemCount() == 1, timeout=5000)
    item = dialog.tree.topLevelItem(0)
    header = dialog.tree.headerItem()
    cells = {header.text(c): item.text(c) for c in range(1, 4)}
    assert cells == {"Indexed": "32", "Pending": "0", "Could not be read": "3"}
    assert dialog.summary.text() == window.message_label.text()
    dialog.close()


def test_the_command_line_counts_the_same_way(library: Path, tmp_path: Path, capsys) -> None:
    photos = tmp_path / "photos"
    assert main(["folders", "list", "--library", str(library)]) == 0
    assert "32 photos indexed · 3 could not be read" in capsys.readouterr().out
    assert main(["status", "--library", str(library)]) == 0
    assert "Photos:  32 photos indexed · 3 could not be read" in capsys.readouterr().out

    # a new batch with one unreadable file: "added" counts the photos added, not the failed file
    make_photos(photos / "more", n_each=1)
    (photos / "more" / "broken.jpg").write_bytes(b"not a jpeg" * 50)
    assert main(["index", "--library", str(library), "--json"]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert (counts["added"], counts["failed"], counts["embedded"]) == (4, 1, 4)
