"""Background work in the window: live watching, a responsive event loop while indexing, closing
cleanly in the middle of a job."""
# ruff: noqa: F811  (pytest fixtures imported from tests.ui_support are parameters here)

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer

from desktop_search.core.app import PhotoLibrary
from desktop_search.ui.main_window import MainWindow
from tests.fakes import solid_image
from tests.ui_support import index_library, make_photos, make_window  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(120)


def names(window: MainWindow) -> list[str]:
    return [os.path.basename(r.path) for r in window.model.results()]


def test_watched_folder_changes_reach_the_results_without_a_restart(qtbot, make_window, tmp_path) -> None:
    photos = tmp_path / "photos"
    make_photos(photos, n_each=2)
    root = tmp_path / "lib"
    index_library(root, photos)
    window = make_window(root, watch=True, watch_quiet_s=0.3)
    qtbot.waitUntil(lambda: window.controller.model_ready and window.controller.watcher is not None, timeout=15000)
    assert window.controller.watcher.wait_ready(10)
    qtbot.waitUntil(lambda: not window.controller.busy(), timeout=15000)
    with qtbot.waitSignal(window.results_shown, timeout=10000):
        window.search_field.setText("magenta")
    assert "new_magenta.jpg" not in names(window)

    # a photo copied into the watched folder appears
    source = tmp_path / "elsewhere.jpg"
    solid_image(source, (235, 20, 230))
    shutil.copy(source, photos / "new_magenta.jpg")
    qtbot.waitUntil(lambda: names(window)[:1] == ["new_magenta.jpg"], timeout=15000)

    # a renamed photo keeps its place (same vector, same score); its open preview follows the name
    before = names(window)
    row = before.index("blue_001.jpg")
    old_id = window.model.result(row).photo_id
    window.view.setCurrentIndex(window.model.index(row, 0))
    qtbot.keyClick(window.view, Qt.Key.Key_Space)  # Space previews the current photo
    preview = window.preview
    assert preview is not None and preview.isVisible()
    os.rename(photos / "blue_001.jpg", photos / "renamed_blue.jpg")
    qtbot.waitUntil(lambda: "renamed_blue.jpg" in names(window), timeout=15000)
    after = names(window)
    assert "blue_001.jpg" not in after
    assert after.index("renamed_blue.jpg") == row
    assert window.model.result(row).photo_id == old_id
    assert preview.result is not None and preview.result.path.endswith("renamed_blue.jpg")
    assert preview.name.text() == "renamed_blue.jpg"

    # a deleted photo disappears, and so does its preview
    window.view.setCurrentIndex(window.model.index(names(window).index("new_magenta.jpg"), 0))
    qtbot.keyClick(window.view, Qt.Key.Key_Space)
    os.remove(photos / "new_magenta.jpg")
    qtbot.waitUntil(lambda: "new_magenta.jpg" not in names(window), timeout=15000)
    assert len(names(window)) == 8
    qtbot.waitUntil(lambda: not preview.isVisible(), timeout=5000)
    assert "no longer in the library" in window.message_label.text()


def test_event_loop_stays_responsive_while_indexing(qtbot, make_window, tmp_path) -> None:
    """The GUI thread's longest stall while a real index job (scan, decode, thumbnails, embed,
    commit) runs and a search refreshes its results, measured with a timer ticking every 10 ms.

    One unlucky measurement (a stall of 100 ms or more) is repeated once on a fresh library and
    the better figure counts; both are printed. A GUI thread that really blocks fails both: on this
    machine the worst tick is 43-95 ms, and 133 ms was seen once on a busy CI run (load 1.4).
    """
    from desktop_search.ui.app import tune_interpreter_for_gui

    previous = tune_interpreter_for_gui()  # as run_gui() does for the real window
    try:
        figures = [_stall_while_indexing(qtbot, make_window, tmp_path / "first")]
        if figures[0] >= 100:
            figures.append(_stall_while_indexing(qtbot, make_window, tmp_path / "second"))
    finally:
        sys.setswitchinterval(previous)
    assert min(figures) < 100, f"the GUI thread stalled for {min(figures):.0f} ms"


def _stall_while_indexing(qtbot, make_window, base: Path) -> float:
    photos = base / "photos"
    make_photos(photos, n_each=75, size=(320, 240))  # 300 photos
    root = base / "lib"
    PhotoLibrary.open(root, model_name="tiny").close()
    window = make_window(root)
    qtbot.waitUntil(lambda: window.controller.model_ready and not window.controller.busy(), timeout=15000)
    # something to paint meanwhile: results whose thumbnails load as photos get indexed
    window.search_field.setText("red")

    gaps: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    events = []
    window.controller.job_progress.connect(events.append)
    timer.start()
    started = time.perf_counter()
    with qtbot.waitSignal(window.controller.job_finished, timeout=60000,
                          check_params_cb=lambda kind, last, error: kind == "index"):
        window.add_folder(str(photos))
    elapsed = time.perf_counter() - started
    timer.stop()
    worst_ms = max(gaps) * 1000
    print(f"\nevent-loop stall while indexing 300 photos in {elapsed:.1f} s: "
          f"max {worst_ms:.1f} ms over {len(gaps)} ticks (median {sorted(gaps)[len(gaps) // 2] * 1000:.1f} ms; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    assert any(e.phase == "embed" for e in events)
    qtbot.waitUntil(lambda: len(window.model.results()) >= 75, timeout=10000)
    return worst_ms


def test_closing_the_window_during_indexing_stops_cleanly_and_loses_nothing(
    qtbot, make_window, tmp_path, capfd
) -> None:
    photos = tmp_path / "photos"
    make_photos(photos, n_each=50)  # 200 photos, ~10 ms each to embed
    root = tmp_path / "lib"
    lib = PhotoLibrary.open(root, model_name="slowtiny")
    lib.add_folder(photos)
    lib.close()
    window = make_window(root)
    embedding = []
    window.controller.job_progress.connect(lambda e: embedding.append(e) if e.phase == "embed" and e.done else None)
    qtbot.waitUntil(lambda: bool(embedding), timeout=20000)
    assert window.controller.indexing
    window.close()
    assert not window.closed  # it waits for the job to stop, without blocking the event loop
    assert "Stopping" in window.message_label.text()
    qtbot.waitUntil(lambda: window.closed, timeout=20000)
    assert not window.isVisible()
    assert window.controller.lib is None and not window.controller.busy()
    assert "QThread" not in capfd.readouterr().err

    lib = PhotoLibrary.open(root)
    try:
        status = lib.status()
        assert status.photos == 200
        assert 0 < status.indexed < 200  # what was done is kept
        assert status.indexed + status.pending == 200
        events = list(lib.index())
        last = events[-1] if events else None
        assert last is not None and last.counts.embedded == 200 - status.indexed
        assert lib.status().indexed == 200
    finally:
        lib.close()


def test_pause_resume_and_cancel_indexing(qtbot, make_window, tmp_path) -> None:
    photos = tmp_path / "photos"
    make_photos(photos, n_each=50)
    root = tmp_path / "lib"
    lib = PhotoLibrary.open(root, model_name="slowtiny")
    lib.add_folder(photos)
    lib.close()
    window = make_window(root)
    progress = []
    window.controller.job_progress.connect(progress.append)
    qtbot.waitUntil(lambda: any(e.phase == "embed" and e.done for e in progress), timeout=20000)
    assert window.index_status.isVisible()
    window.index_status.pause_button.click()
    assert window.controller.paused
    assert window.message_label.text().startswith("Paused")
    qtbot.wait(300)
    count = len(progress)
    qtbot.wait(400)
    assert len(progress) <= count + 1  # at most the batch in flight reports
    window.index_status.pause_button.click()
    assert not window.controller.paused
    qtbot.waitUntil(lambda: len(progress) > count + 1, timeout=10000)
    with qtbot.waitSignal(window.controller.job_finished, timeout=20000):
        window.index_status.cancel_button.click()
    assert not window.index_status.isVisible()
    assert "stopped" in window.message_label.text().lower()
