"""The window runs the text job after indexing (issue 16): its own progress line, pausable, and it
gives way to an indexing job. pytest-qt, real images of text, the tiny model."""

from __future__ import annotations

# ruff: noqa: F811  (pytest fixtures imported from tests.ui_support are parameters here)
from pathlib import Path

import pytest

from desktop_search.core.app import PhotoLibrary
from desktop_search.core.job_queue import JobKind
from desktop_search.core.text import recognize
from desktop_search.core.types import SearchQuery
from tests.test_text_library import make_folder
from tests.ui_support import make_window  # noqa: F401 - fixture

pytestmark = pytest.mark.skipif(not recognize.available(), reason="text recognition not installed")


def _indexed(photos: Path, root: Path) -> Path:
    """``root``: a library of ``photos``, indexed (its text not read yet)."""
    lib = PhotoLibrary.open(root, model_name="tiny")
    lib.add_folder(photos)
    for _ in lib.index():
        pass
    lib.close()
    return root


def _library(tmp_path: Path) -> Path:
    photos = tmp_path / "photos"
    make_folder(photos)
    return _indexed(photos, tmp_path / "lib")


def test_the_window_reads_the_text_after_indexing_with_its_own_progress(qtbot, make_window, tmp_path) -> None:
    window = make_window(_library(tmp_path))
    progress = []
    window.controller.job_progress.connect(progress.append)
    finished = []
    window.controller.job_finished.connect(lambda kind, last, error: finished.append((str(kind), error)))
    qtbot.waitUntil(lambda: ("text", "") in finished, timeout=60000)
    texts = [e for e in progress if e.phase == "text" and e.total]
    # the status area's line (the window shows the latest event of each batch it receives)
    assert texts and texts[-1].message.startswith("Reading text in photos: ") and texts[-1].message.endswith(" / 6")
    lib = window.controller.lib
    assert lib.status().text_pending == 0
    results = lib.search(SearchQuery("hotel miramar"))
    assert Path(results[0].path).name == "receipt.jpg" and results[0].text_match


def test_the_setting_turns_the_text_job_off_in_the_window(qtbot, make_window, tmp_path) -> None:
    from desktop_search.core import settings

    window = make_window(_library(tmp_path), settings=settings.Settings(read_text_in_photos=False))
    finished = []
    window.controller.job_finished.connect(lambda kind, last, error: finished.append(str(kind)))
    qtbot.waitUntil(lambda: "index" in finished, timeout=30000)
    qtbot.wait(500)
    assert "text" not in finished
    assert window.controller.lib.status().text_pending == 6


def test_the_preview_shows_the_recognised_text_selectable(qtbot, make_window, tmp_path) -> None:
    from PySide6.QtWidgets import QApplication

    window = make_window(_library(tmp_path))
    finished = []
    window.controller.job_finished.connect(lambda kind, last, error: finished.append(str(kind)))
    qtbot.waitUntil(lambda: "text" in finished, timeout=60000)
    result = window.controller.lib.search(SearchQuery("hotel miramar"))[0]
    pane = window.results
    from desktop_search.ui.preview import PreviewDialog

    preview = PreviewDialog(None, window)
    qtbot.addWidget(preview)
    preview.text_of = pane._photo_text
    preview.show_result(result)
    assert "MIRAMAR" in preview.photo_text.toPlainText()
    assert preview.photo_text.isReadOnly()
    preview.photo_text.selectAll()
    preview.photo_text.copy()
    assert "MIRAMAR" in QApplication.clipboard().text()


def test_the_settings_dialog_has_the_read_text_switch(qtbot) -> None:
    from desktop_search.core.settings import Settings
    from desktop_search.ui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(Settings())
    qtbot.addWidget(dialog)
    assert dialog.read_text.isChecked()
    dialog.read_text.click()
    assert dialog.settings().read_text_in_photos is False


def _click_read_text_in_settings(qtbot, window) -> None:
    """As a user: Settings… (the menu action), the "Read text in photos" switch, OK."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QDialogButtonBox

    from desktop_search.ui.settings_dialog import SettingsDialog

    clicked = []

    def in_dialog() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, SettingsDialog):
            QTimer.singleShot(20, in_dialog)
            return
        dialog.read_text.click()
        buttons = dialog.findChild(QDialogButtonBox)
        buttons.button(QDialogButtonBox.StandardButton.Ok).click()
        clicked.append(dialog.read_text.isChecked())

    QTimer.singleShot(0, in_dialog)
    window.action("settings").trigger()  # modal: returns once OK was clicked
    assert clicked


def _pages_library(tmp_path: Path) -> Path:
    """24 indexed pages of text whose text is not read yet: enough to keep the text job busy for
    several seconds."""
    from tests.test_text_library import render

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(24):
        render(photos / f"page{i:02}.jpg", [f"Page {i} of the ledger", "HOTEL MIRAMAR receipts", f"Total {i}.40 EUR",
                                            "Boarding pass Gate B12", "Seat 14C row 7"])
    return _indexed(photos, tmp_path / "lib")


def test_the_search_count_stays_while_the_text_job_reads_beside_the_library_count(qtbot, make_window, tmp_path) -> None:
    window = make_window(_pages_library(tmp_path))
    progress = []
    window.controller.job_progress.connect(progress.append)
    qtbot.waitUntil(lambda: any(e.phase == "text" and e.done >= 1 for e in progress), timeout=60000)
    with qtbot.waitSignal(window.results_shown, timeout=10000):
        window.search_field.setText("page")
    qtbot.wait(600)  # a few more photos read: their progress must not cover the count
    assert window.message_label.text().endswith(("result", "results")) or "hidden by the cutoff" in window.message_label.text()
    assert "Reading text in photos: " in window.count_label.text() and " / 24" in window.count_label.text()
    assert window.count_label.text().startswith("Library: 24 photos")


def test_turning_the_setting_off_stops_a_running_text_job_and_on_resumes_it(qtbot, make_window, tmp_path) -> None:
    import time

    window = make_window(_pages_library(tmp_path))
    progress = []
    window.controller.job_progress.connect(progress.append)
    finished = []
    window.controller.job_finished.connect(lambda kind, last, error: finished.append((str(kind), time.monotonic())))
    qtbot.waitUntil(lambda: any(e.phase == "text" and e.done >= 2 for e in progress), timeout=60000)
    assert window.settings.read_text_in_photos

    _click_read_text_in_settings(qtbot, window)
    turned_off = time.monotonic()
    assert window.settings.read_text_in_photos is False
    # the job stops within about a second (not after the photos left)
    qtbot.waitUntil(lambda: any(kind == "text" for kind, _ in finished), timeout=1500)
    stopped_after = next(t for kind, t in finished if kind == "text") - turned_off
    assert stopped_after < 1.5
    status = window.controller.lib.status()
    read = status.text_read
    assert read >= 2 and status.text_pending == 24 - read  # what was read stays read
    qtbot.wait(1500)
    assert window.controller.lib.status().text_read == read  # and nothing more is read
    assert window.controller.writer_kind is None and JobKind.TEXT not in window.controller.waiting_writers()

    _click_read_text_in_settings(qtbot, window)
    assert window.settings.read_text_in_photos is True
    qtbot.waitUntil(lambda: sum(kind == "text" for kind, _ in finished) == 2, timeout=120000)
    assert window.controller.lib.status().text_pending == 0
    assert window.controller.lib.status().text_read == 24
    results = window.controller.lib.search(SearchQuery("ledger"))
    assert results and results[0].text_match
