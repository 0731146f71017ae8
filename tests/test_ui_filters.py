# ruff: noqa: F811  (pytest fixtures imported from tests.ui_support are parameters here)
"""The window's filter bar, built from the filter declarations: picked by clicking, it narrows
the results, with a text query and with an example photo."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QComboBox

from desktop_search.core.search import filters as F
from desktop_search.ui.filter_bar import CONTROLS, ChoiceControl, DateRangeControl, FlagControl
from desktop_search.ui.pages import Page
from tests.test_search_filters import photo
from tests.test_ui_main_window import drop_file
from tests.ui_support import index_library, make_window  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(120)

RED, BLUE = (230, 20, 20), (20, 30, 230)
CANON, NIKON = ("Canon", "Canon EOS 5D"), ("NIKON CORPORATION", "D750")


@pytest.fixture
def library(tmp_path: Path) -> Path:
    recent = datetime.now() - timedelta(days=5)
    old = datetime(2019, 5, 1, 10)
    root = tmp_path / "photos"
    photo(root / "red_canon_wide_new.jpg", RED, (80, 40), camera=CANON, taken=recent)
    photo(root / "red_canon_tall_new.jpg", RED, (40, 80), camera=CANON, taken=recent)
    photo(root / "red_nikon_wide_new.jpg", RED, (80, 40), camera=NIKON, taken=recent)
    photo(root / "red_canon_wide_old.jpg", RED, (80, 40), camera=CANON, taken=old)
    photo(root / "blue_canon_wide_new.jpg", BLUE, (80, 40), camera=CANON, taken=recent)
    photo(root / "blue_nikon_tall_old.jpg", BLUE, (40, 80), camera=NIKON, taken=old)
    lib = tmp_path / "lib"
    index_library(lib, root)
    return lib


def names(window) -> list[str]:
    return [os.path.basename(r.path) for r in window.model.results()]


def pick(qtbot, combo: QComboBox, text: str) -> None:
    """Open the combo's list and click the item that starts with ``text``."""
    i = combo.findText(text, Qt.MatchFlag.MatchStartsWith)
    assert i >= 0, f"{text!r} not offered: {[combo.itemText(j) for j in range(combo.count())]}"
    qtbot.mouseClick(combo, Qt.MouseButton.LeftButton)
    view = combo.view()
    qtbot.waitUntil(view.isVisible, timeout=2000)
    # the list ignores a release that comes within a double-click time of opening (the opening click's own)
    qtbot.wait(QApplication.doubleClickInterval() + 100)
    rect = view.visualRect(view.model().index(i, 0))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: combo.currentIndex() == i, timeout=2000)


def test_the_bar_has_one_control_per_declared_filter(qtbot) -> None:
    """Generated: a new declaration of a known kind needs no window code."""
    assert set(CONTROLS) == set(F.Widget)
    from desktop_search.ui.filter_bar import FilterBar

    bar = FilterBar()
    qtbot.addWidget(bar)
    assert list(bar.controls) == [f.name for f in F.FILTERS]
    for f in F.FILTERS:
        assert isinstance(bar.controls[f.name], CONTROLS[f.widget])


def test_picking_camera_orientation_and_date_narrows_the_results(qtbot, make_window, library: Path,
                                                                 tmp_path: Path) -> None:
    window = make_window(library)
    qtbot.waitUntil(lambda: window.controller.model_ready and not window.controller.busy(), timeout=15000)
    with qtbot.waitSignal(window.results_shown, timeout=10000):
        qtbot.keyClicks(window.search_field, "red")
    assert len(names(window)) == 6 and names(window)[0].startswith("red")

    bar = window.filter_bar
    camera = bar.controls["camera"]
    assert isinstance(camera, ChoiceControl)
    qtbot.waitUntil(lambda: camera.findText("Canon EOS 5D", Qt.MatchFlag.MatchStartsWith) >= 0, timeout=10000)
    assert camera.itemText(camera.findText("Canon EOS 5D", Qt.MatchFlag.MatchStartsWith)) == "Canon EOS 5D (4)"
    with qtbot.waitSignal(window.results_shown, timeout=10000):
        pick(qtbot, camera, "Canon EOS 5D")
    assert sorted(names(window)) == ["blue_canon_wide_new.jpg", "red_canon_tall_new.jpg",
                                     "red_canon_wide_new.jpg", "red_canon_wide_old.jpg"]
    orientation = bar.controls["orientation"]
    assert isinstance(orientation, ChoiceControl)
    with qtbot.waitSignal(window.results_shown, timeout=10000):
        pick(qtbot, orientation, "Landscape")
    assert sorted(names(window)) == ["blue_canon_wide_new.jpg", "red_canon_wide_new.jpg", "red_canon_wide_old.jpg"]
    date = bar.controls["date"]
    assert isinstance(date, DateRangeControl)
    with qtbot.waitSignal(window.results_shown, timeout=10000):
        pick(qtbot, date.combo, "Last 30 days")
    # combined with the text: the red one first, the blue one still a result
    assert names(window) == ["red_canon_wide_new.jpg", "blue_canon_wide_new.jpg"]
    query = window.shown_query
    assert query is not None and query.text == "red"
    assert query.filters.get("camera") == "Canon EOS 5D" and query.filters.get("orientation") == "landscape"
    assert "2 results" in window.message_label.text()

    # a filter that leaves nothing says so, and which filters
    with qtbot.waitSignal(window.results_shown, timeout=10000):
        pick(qtbot, orientation, "Square")
    assert window.stack.currentIndex() == Page.NO_RESULTS
    body = window.no_results_page.body.text()
    assert "taken with Canon EOS 5D" in body and "square" in body and "Clear Filters" in body
    with qtbot.waitSignal(window.results_shown, timeout=10000):
        pick(qtbot, orientation, "Landscape")
    assert names(window) == ["red_canon_wide_new.jpg", "blue_canon_wide_new.jpg"]

    # with an example photo too: the same photos, the blue one first
    example = tmp_path / "example.png"
    photo(example, BLUE, (64, 48), fmt="PNG")
    window.search_field.clear()
    with qtbot.waitSignal(window.results_shown, timeout=10000):
        drop_file(window, example)
    assert names(window) == ["blue_canon_wide_new.jpg", "red_canon_wide_new.jpg"]
    query = window.shown_query
    assert query is not None and query.image_paths == (str(example),) and query.filters.get("camera")

    # Clear Filters: every photo again
    with qtbot.waitSignal(window.results_shown, timeout=10000):
        qtbot.mouseClick(bar.clear_button, Qt.MouseButton.LeftButton)
    assert len(names(window)) == 6 and not window.shown_query.filters


def test_a_flag_filter_is_a_check_box(qtbot, make_window, library: Path) -> None:
    window = make_window(library)
    flag = next(c for c in window.filter_bar.controls.values() if isinstance(c, FlagControl))
    assert flag.value() is None
    flag.click()
    assert flag.value() is True
