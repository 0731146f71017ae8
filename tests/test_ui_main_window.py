"""The main window end to end, offscreen, on real libraries indexed with the tiny colour model."""
# ruff: noqa: F811  (pytest fixtures imported from tests.ui_support are parameters here)

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QGuiApplication, QImage
from PySide6.QtWidgets import QApplication

from desktop_search.ui import desktop
from desktop_search.ui.main_window import MainWindow, Page
from tests.fakes import solid_image
from tests.ui_support import index_library, make_photos, make_window  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def library(tmp_path: Path) -> Path:
    photos = tmp_path / "photos"
    make_photos(photos, n_each=4)
    root = tmp_path / "lib"
    index_library(root, photos)
    return root


def ready_window(qtbot, make_window, library: Path, **kwargs) -> MainWindow:
    window = make_window(library, **kwargs)
    qtbot.waitUntil(lambda: window.controller.model_ready, timeout=15000)
    qtbot.waitUntil(lambda: not window.controller.busy(), timeout=15000)  # start-up reconcile
    return window


def colours_of(window: MainWindow) -> list[str]:
    return [os.path.basename(r.path).split("_")[0] for r in window.model.results()]


def search(qtbot, window: MainWindow, text: str) -> None:
    with qtbot.waitSignal(window.results_shown, timeout=10000):
        window.search_field.setText(text)


def test_typing_searches_after_a_pause_and_results_come_in_order(qtbot, make_window, library) -> None:
    window = ready_window(qtbot, make_window, library)
    assert window.stack.currentIndex() == Page.HINT
    window.search_field.setFocus()
    with qtbot.waitSignal(window.results_shown, timeout=10000):
        qtbot.keyClicks(window.search_field, "red")
    assert window.stack.currentIndex() == Page.RESULTS
    scores = [r.score for r in window.model.results()]
    assert scores == sorted(scores, reverse=True)
    assert colours_of(window)[:4] == ["red"] * 4
    # Enter runs the search at once and moves to the grid
    window.search_field.setFocus()
    window.search_field.setText("blue")
    with qtbot.waitSignal(window.results_shown, timeout=3000):
        qtbot.keyClick(window.search_field, Qt.Key.Key_Return)
    assert colours_of(window)[:4] == ["blue"] * 4


def test_debounce_runs_one_search_for_a_burst_of_typing(qtbot, make_window, library) -> None:
    window = ready_window(qtbot, make_window, library)
    calls = []
    original = window.controller.search
    window.controller.search = lambda q: (calls.append(q.text), original(q))[1]
    window.search_field.setFocus()
    with qtbot.waitSignal(window.results_shown, timeout=5000):
        qtbot.keyClicks(window.search_field, "green")
    assert calls == ["green"]


def drop_file(window: MainWindow, path: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    pos = QPointF(window.width() / 2, window.height() / 2)
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    assert window.overlay.isVisible()
    drop = QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, drop)
    assert drop.isAccepted()


def test_dropping_an_image_finds_similar_photos_and_the_chip_combines_with_text(
    qtbot, make_window, library, tmp_path
) -> None:
    window = ready_window(qtbot, make_window, library)
    example = tmp_path / "example.png"
    solid_image(example, (25, 210, 40))  # green, not in the library
    with qtbot.waitSignal(window.results_shown, timeout=10000):
        drop_file(window, example)
    assert not window.overlay.isVisible()
    assert window.chip.isVisible() and "example.png" in window.chip.label.text()
    assert colours_of(window)[:4] == ["green"] * 4
    # text and example together: the query carries both
    with qtbot.waitSignal(window.results_shown, timeout=10000):
        window.search_field.setText("yellow")
    query = window.controller.current_query
    assert query is not None and query.text == "yellow" and query.image_paths == (str(example),)
    # removing the chip leaves the text search
    with qtbot.waitSignal(window.results_shown, timeout=10000):
        window.chip.close_button.click()
    assert not window.chip.isVisible()
    assert colours_of(window)[:4] == ["yellow"] * 4


def test_a_dropped_non_image_is_refused_with_a_message(qtbot, make_window, library, tmp_path) -> None:
    window = ready_window(qtbot, make_window, library)
    text_file = tmp_path / "notes.txt"
    text_file.write_text("hello")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(text_file))])
    enter = QDragEnterEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert not enter.isAccepted()
    assert window.example is None


def test_pasting_an_image_searches_with_it(qtbot, make_window, library) -> None:
    window = ready_window(qtbot, make_window, library)
    image = QImage(80, 60, QImage.Format.Format_RGB32)
    image.fill(QColor(30, 30, 225))
    QGuiApplication.clipboard().setImage(image)
    with qtbot.waitSignal(window.results_shown, timeout=10000):
        window.action("paste").trigger()  # Edit ▸ Paste Image as Example
    assert window.chip.isVisible() and window.chip.label.text() == "Pasted image"
    assert window.example is not None and os.path.isfile(window.example.path)
    pasted = window.example.path
    assert colours_of(window)[:4] == ["blue"] * 4
    window.shutdown_now()
    assert not os.path.exists(pasted), "the temporary file of a pasted image is removed at exit"


def test_find_similar_from_the_context_menu(qtbot, make_window, library) -> None:
    window = ready_window(qtbot, make_window, library)
    search(qtbot, window, "yellow")
    first = window.model.result(0)
    assert first is not None
    menu = window.results.build_context_menu(first)
    labels = [a.text() for a in menu.actions() if a.text()]
    assert labels == ["Open", "Show in Folder", "Copy Path", "Find Similar", "Preview"]
    similar = next(a for a in menu.actions() if a.text() == "Find Similar")
    with qtbot.waitSignal(window.results_shown, timeout=10000):
        similar.trigger()
    query = window.controller.current_query
    assert query is not None and query.photo_ids == (first.photo_id,)
    assert query.text is None and window.search_field.text() == ""  # like this photo, not "yellow" too
    assert first.photo_id not in [r.photo_id for r in window.model.results()]
    assert colours_of(window)[:3] == ["yellow"] * 3


def test_context_menu_open_reveal_and_copy(qtbot, make_window, library, monkeypatch) -> None:
    window = ready_window(qtbot, make_window, library)
    search(qtbot, window, "red")
    opened: list[str] = []
    monkeypatch.setattr(desktop, "open_url", lambda url: opened.append(url.toLocalFile()) or True)
    monkeypatch.setattr(desktop, "_show_items_dbus", lambda path: False)
    started: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(desktop, "start_detached", lambda program, args: started.append((program, args)) or True)
    first = window.model.result(0)
    menu = window.results.build_context_menu(first)
    actions = {a.text(): a for a in menu.actions()}
    actions["Open"].trigger()
    actions["Show in Folder"].trigger()
    assert opened == [first.path, os.path.dirname(first.path)]
    window.view.setCurrentIndex(window.model.index(0, 0))
    actions["Copy Path"].trigger()
    assert QGuiApplication.clipboard().text() == first.path


def test_keyboard_ctrl_f_arrows_enter_and_space_preview(qtbot, make_window, library, monkeypatch) -> None:
    window = ready_window(qtbot, make_window, library)
    window.activateWindow()
    opened: list[str] = []
    monkeypatch.setattr(desktop, "open_url", lambda url: opened.append(url.toLocalFile()) or True)
    window.view.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert window.search_field.hasFocus()
    search(qtbot, window, "green")
    qtbot.keyClick(window.search_field, Qt.Key.Key_Down)
    assert window.view.hasFocus()
    assert window.view.currentIndex().row() == 0
    qtbot.keyClick(window.view, Qt.Key.Key_Right)
    assert window.view.currentIndex().row() == 1
    qtbot.keyClick(window.view, Qt.Key.Key_Return)
    assert opened == [window.model.result(1).path]
    qtbot.keyClick(window.view, Qt.Key.Key_Space)
    preview = window.preview
    assert preview is not None and preview.isVisible()
    result = window.model.result(1)
    assert preview.fields["path"].text() == result.path
    assert preview.fields["dimensions"].text().startswith("64 × 48")
    assert preview.fields["size"].text().endswith(("bytes", "KB"))
    qtbot.waitUntil(lambda: preview.image._pixmap is not None, timeout=5000)
    qtbot.keyClick(preview, Qt.Key.Key_Right)  # next result
    assert preview.result == window.model.result(2)
    qtbot.keyClick(preview, Qt.Key.Key_Space)
    assert not preview.isVisible()


def test_sort_by_date_and_relevance_cutoff(qtbot, make_window, library) -> None:
    window = ready_window(qtbot, make_window, library)
    search(qtbot, window, "red")
    total = window.model.rowCount()
    window.cutoff_slider.setValue(90)
    assert 0 < window.model.rowCount() < total
    assert "hidden by the cutoff" in window.message_label.text()
    window.cutoff_slider.setValue(0)
    assert window.model.rowCount() == total
    window.sort_combo.setCurrentIndex(window.sort_combo.findText("Newest first"))
    assert window.settings.sort_order == "newest"
    dates = [r.date_taken for r in window.model.results() if r.date_taken]
    assert dates == sorted(dates, reverse=True)


def test_results_show_thumbnails_loaded_off_the_gui_thread(qtbot, make_window, library) -> None:
    window = ready_window(qtbot, make_window, library)
    search(qtbot, window, "blue")
    window.view.viewport().repaint()
    qtbot.waitUntil(window.results.visible_thumbnails_loaded, timeout=10000)
    assert window.loader.decoded >= 4
    first = window.model.result(0)
    assert window.loader.cached(window.loader.key_for(first.path, first.size)) is not None


def test_first_run_offers_pictures_then_add_folder_indexes_with_progress(qtbot, make_window, tmp_path) -> None:
    photos = tmp_path / "new-photos"
    make_photos(photos, n_each=3)
    root = tmp_path / "empty-lib"
    from desktop_search.core.app import PhotoLibrary

    PhotoLibrary.open(root, model_name="tiny").close()
    window = make_window(root)
    qtbot.waitUntil(lambda: window.stack.currentIndex() == Page.WELCOME, timeout=10000)
    buttons = [window.welcome_page.buttons.itemAt(i).widget() for i in range(window.welcome_page.buttons.count())]
    texts = [b.text() for b in buttons if b is not None]
    assert any(t.startswith(("Choose Another Folder", "Choose a Folder")) for t in texts)
    qtbot.waitUntil(lambda: window.controller.model_ready, timeout=10000)
    progress = []
    window.controller.job_progress.connect(progress.append)
    finished = []
    window.controller.job_finished.connect(lambda kind, last, error: finished.append((kind, last, error)))
    window.add_folder(str(photos))
    qtbot.waitUntil(lambda: any(k == "index" for k, _, _ in finished), timeout=20000)
    assert window.stack.currentIndex() == Page.HINT
    # progress reaches the window in time-boxed batches (newest wins), so on a loaded machine the
    # "embed" events may be folded into the final one: either way the photos went through the network
    assert any(p.phase == "embed" for p in progress) or any(p.counts.embedded for p in progress)
    _, last, error = next(f for f in finished if f[0] == "index")
    assert error == "" and last.counts.added == 12
    search(qtbot, window, "green")
    assert colours_of(window)[:3] == ["green"] * 3
    assert "Library: 12 photos" in window.count_label.text()


def test_a_query_typed_before_the_model_is_ready_runs_when_it_is(qtbot, make_window, tmp_path) -> None:
    photos = tmp_path / "photos"
    make_photos(photos, n_each=2)
    root = tmp_path / "lib"
    index_library(root, photos, model="slowload")
    window = make_window(root)
    qtbot.waitUntil(lambda: window.controller.lib is not None, timeout=10000)
    assert not window.controller.model_ready
    assert window.model_label.text() == "Loading model…"
    with qtbot.waitSignal(window.results_shown, timeout=15000):
        window.search_field.setText("red")
        qtbot.waitUntil(lambda: window.stack.currentIndex() == Page.WAITING, timeout=2000)
        assert "Loading model" in window.waiting_page.title.text()
        assert "Loading model" in window.message_label.text()
    assert colours_of(window)[:2] == ["red", "red"]
    assert "Loading model" not in window.message_label.text()  # the status bar says nothing stale


def test_settings_are_saved_and_applied(qtbot, make_window, library) -> None:
    from desktop_search.core import settings as settings_mod

    window = ready_window(qtbot, make_window, library)
    new = settings_mod.Settings(thumbnail_size=128, results_per_page=20, show_date=False)
    window.apply_settings(new)
    assert window.delegate.side == 128 and window.loader.side == round(128 * window.loader.dpr)
    saved = settings_mod.load()
    assert saved.thumbnail_size == 128 and saved.results_per_page == 20
    search(qtbot, window, "red")
    assert window.controller.current_query.limit == 20


def test_window_size_and_place_are_remembered(qtbot, library) -> None:
    """Closed at 960 × 520, the window opens at 960 × 520 the next time (the offscreen screen is 800 px wide: restoring clamps wider windows to the minimum width); a damaged value in the
    settings file leaves the default size."""
    from desktop_search.core import settings as settings_mod

    first = MainWindow(library=library, watch=False)
    qtbot.addWidget(first)
    first.show()
    first.resize(960, 520)
    qtbot.waitUntil(lambda: first.size().height() == 520)
    first.close()
    assert first.closed
    assert settings_mod.load().window_geometry

    again = MainWindow(library=library, watch=False)
    qtbot.addWidget(again)
    assert (again.size().width(), again.size().height()) == (960, 520)
    again.close()

    settings_mod.save(settings_mod.Settings(window_geometry="not geometry"))
    fresh = MainWindow(library=library, watch=False)
    qtbot.addWidget(fresh)
    assert fresh.size().height() != 520
    fresh.close()


def test_an_empty_library_says_so_instead_of_no_matches(qtbot, make_window, tmp_path) -> None:
    """A query in a library without photos is not a query that missed: the page says what to do."""
    empty = make_window(tmp_path / "empty", model_name="tiny")
    qtbot.waitUntil(lambda: empty.controller.model_ready and empty.library_status is not None, timeout=15000)
    search(qtbot, empty, "red")
    assert empty.stack.currentIndex() == Page.NO_RESULTS
    assert empty.no_results_page.title.text() == "Your library has no photos yet"

    unreadable = tmp_path / "unreadable"
    unreadable.mkdir()
    (unreadable / "broken.jpg").write_bytes(b"not a jpeg at all" * 100)
    root = tmp_path / "broken-lib"
    index_library(root, unreadable)
    broken = make_window(root)
    qtbot.waitUntil(lambda: broken.controller.model_ready and broken.library_status is not None, timeout=15000)
    search(qtbot, broken, "red")
    assert broken.no_results_page.title.text() == "No photos are indexed"
    assert "Problems" in broken.no_results_page.body.text()


def test_enter_selects_the_first_of_the_new_results(qtbot, make_window, library) -> None:
    """Typing a new query and pressing Enter at once: when its results come, the first is selected
    (Space then previews it), not a photo of the previous search."""
    window = ready_window(qtbot, make_window, library)
    search(qtbot, window, "red")
    window.search_field.setFocus()
    with qtbot.waitSignal(window.results_shown, timeout=10000):
        window.search_field.setText("blue")
        qtbot.keyClick(window.search_field, Qt.Key.Key_Return)
    current = window.results.current_result()
    assert current is not None and os.path.basename(current.path).startswith("blue")
    assert window.view.hasFocus() or QApplication.focusWidget() is window.view


def test_clearing_the_search_brings_back_the_library_summary(qtbot, make_window, library) -> None:
    window = ready_window(qtbot, make_window, library)
    search(qtbot, window, "red")
    qtbot.waitUntil(lambda: "result" in window.message_label.text(), timeout=5000)
    window.search_field.clear()
    window.run_search()
    qtbot.waitUntil(lambda: "indexed in 1 folder" in window.message_label.text(), timeout=5000)
    assert "result" not in window.message_label.text()


def test_changing_the_order_keeps_the_selected_photo(qtbot, make_window, library) -> None:
    from desktop_search.ui.results_model import SortOrder

    window = ready_window(qtbot, make_window, library)
    search(qtbot, window, "red")
    window.view.setCurrentIndex(window.model.index(5, 0))
    chosen = window.results.current_result()
    assert chosen is not None
    window.action("sort_oldest").trigger()  # View ▸ Sort by Date, Oldest First
    assert window.sort_combo.currentData() == SortOrder.OLDEST  # the bar follows the menu
    after = window.results.current_result()
    assert after is not None and after.photo_id == chosen.photo_id
    assert {r.photo_id for r in window.results.selected_results()} == {chosen.photo_id}
    window.action("sort_relevance").trigger()


def test_a_library_that_cannot_be_opened_disables_what_needs_it(qtbot, make_window, tmp_path) -> None:
    root = tmp_path / "broken"
    root.mkdir()
    (root / "library.db").write_text("not a database " * 100)
    window = make_window(root)
    qtbot.waitUntil(lambda: window.open_error is not None, timeout=10000)
    assert "cannot be opened" in window.loading_page.title.text()
    assert not window.loading_page.body.text().startswith("Cannot open the library")
    assert not window.action("add_folder").isEnabled() and not window.action("folders").isEnabled()
    assert not window.search_field.isEnabled()


def test_switching_to_a_model_that_cannot_be_had_keeps_the_old_one(qtbot, make_window, library) -> None:
    """Offline, a CLIP model cannot download: the window says so at once, the library stays on its
    model and the label names it (no endless '(re-indexing)'); a switch that works re-indexes, then
    the label drops the note."""
    from desktop_search.core.errors import ModelUnavailable
    from desktop_search.core.models.registry import register_model

    def offline(name, device):  # type: ignore[no-untyped-def]
        raise ModelUnavailable("cannot reach huggingface.co: network is unreachable")

    register_model("offline-model", offline)
    window = ready_window(qtbot, make_window, library)
    window.settings.model = "offline-model"
    window.controller.set_model("offline-model")
    qtbot.waitUntil(lambda: "Cannot switch to offline-model" in window.message_label.text(), timeout=10000)
    assert "cannot reach huggingface.co" in window.message_label.text()
    assert window.controller.lib is not None and window.controller.lib.model_name == "tiny"
    assert window.model_label.text() == "Model: tiny" and window.settings.model == "tiny"

    states: list[str] = []
    window.controller.model_state.connect(lambda state, text: states.append(text))
    window.controller.set_model("tiny2")
    qtbot.waitUntil(lambda: window.model_label.text() == "Model: tiny2" and "tiny2 (re-indexing)" in states,
                    timeout=20000)
    assert states[-1] == "tiny2"


def test_adding_a_folder_already_in_the_library_says_so(qtbot, make_window, library) -> None:
    window = ready_window(qtbot, make_window, library)
    qtbot.waitUntil(lambda: bool(window.folders), timeout=10000)
    window.add_folder(window.folders[0].path + "/")
    assert "already in the library" in window.message_label.text()
    assert not window.controller.busy()  # nothing queued


def test_a_query_entered_while_the_library_opens_runs_as_soon_as_it_is_open(qtbot, make_window, library,
                                                                            monkeypatch) -> None:
    """Typed and entered within a moment of the window appearing (before the library is open): the
    grid shows its results, not "Opening your library…", and the first of them is selected."""
    import time

    from desktop_search.core.app import PhotoLibrary

    real_open = PhotoLibrary.open.__func__  # type: ignore[attr-defined]

    def slow_open(cls, *args, **kwargs):
        time.sleep(0.6)  # a cold disk: the user is quicker than the library
        return real_open(cls, *args, **kwargs)

    monkeypatch.setattr(PhotoLibrary, "open", classmethod(slow_open))
    window = make_window(library)
    assert window.controller.lib is None
    assert window.stack.currentIndex() == Page.LOADING
    window.search_field.setFocus()
    qtbot.keyClicks(window.search_field, "red")
    qtbot.keyClick(window.search_field, Qt.Key.Key_Return)
    assert window.controller.lib is None  # entered before the library was open
    qtbot.waitUntil(lambda: window.stack.currentIndex() == Page.RESULTS, timeout=5000)
    assert colours_of(window)[:4] == ["red"] * 4
    current = window.results.current_result()
    assert current is not None and os.path.basename(current.path).startswith("red")


def test_newest_first_uses_file_dates_without_exif_and_the_preview_says_which(qtbot, make_window, tmp_path) -> None:
    """Photos with no EXIF date sort by their files' dates (as --after filters them), not in the
    best-match order; the preview says which date it shows."""
    import time

    photos = tmp_path / "photos"
    made = make_photos(photos, n_each=3)  # no EXIF dates
    now = time.time()
    # file dates in an order unlike the relevance order of "red"
    for i, path in enumerate(sorted(made, key=lambda p: p.name)):
        os.utime(path, (now - 86400 * ((i * 7) % 12), now - 86400 * ((i * 7) % 12)))
    root = tmp_path / "lib"
    index_library(root, photos)
    window = ready_window(qtbot, make_window, root)
    search(qtbot, window, "red")
    best = [r.path for r in window.model.results()]
    window.sort_combo.setCurrentIndex(window.sort_combo.findText("Newest first"))
    newest = window.model.results()
    assert [r.path for r in newest] != best
    stamps = [os.stat(r.path).st_mtime for r in newest]
    assert stamps == sorted(stamps, reverse=True)
    window.sort_combo.setCurrentIndex(window.sort_combo.findText("Oldest first"))
    assert [os.stat(r.path).st_mtime for r in window.model.results()] == sorted(stamps)

    window.view.setCurrentIndex(window.model.index(0, 0))
    qtbot.keyClick(window.view, Qt.Key.Key_Space)
    preview = window.preview
    assert preview is not None
    text = preview.fields["date"].text()
    first = window.model.result(0)
    assert text.startswith(datetime.fromtimestamp(os.stat(first.path).st_mtime).strftime("%Y-%m-%d"))
    assert "file date" in text
    preview.close()


def test_the_status_bar_says_when_the_model_is_upgrading(qtbot, make_window, tmp_path) -> None:
    from desktop_search.core.app import PhotoLibrary
    from desktop_search.core.types import LibraryStatus

    root = tmp_path / "lib"
    PhotoLibrary.open(root, model_name="tiny").close()
    window = make_window(root)
    qtbot.waitUntil(lambda: window.controller.lib is not None, timeout=10000)
    status = LibraryStatus(photos=40, indexed=40, pending=0, errors=0, model="builtin", folders=1, upgrading=25)
    window.controller.status_changed.emit(status)
    assert "upgrading the model: 25 to go" in window.count_label.text()
    assert "25 photos still to re-embed" in window.count_label.toolTip()
    window.controller.status_changed.emit(LibraryStatus(40, 40, 0, 0, "builtin", 1, None))
    assert "upgrading" not in window.count_label.text()


def test_the_watchers_news_is_a_warning_by_its_state_not_its_words(qtbot, make_window, library) -> None:
    """The level came from the sentence ("unavailable" or "Cannot" in it); now from the state."""
    from desktop_search.core.library.watcher import WatchState, WatchStatus

    window = ready_window(qtbot, make_window, library)
    icon = window.status_area.message_icon
    window.controller.watch_status.emit(WatchStatus(WatchState.WATCHING, "Watching 1 folder for changes."))
    assert window.message_label.text() == "Watching 1 folder for changes." and not icon.isVisible()
    polled = WatchStatus(WatchState.POLLING, "Checking /photos every 30 s (a network filesystem).", "/photos")
    window.controller.watch_status.emit(polled)
    assert window.message_label.text() == polled.text and icon.isVisible()
    window.controller.watch_status.emit(WatchStatus(WatchState.UNAVAILABLE, "/photos is not mounted.", "/photos"))
    assert icon.isVisible()
