"""Folders dialog (counts, problems, add, remove, exclusions), settings dialog and the settings file."""
# ruff: noqa: F811  (pytest fixtures imported from tests.ui_support are parameters here)

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from desktop_search.core import settings as settings_mod
from desktop_search.core.settings import Settings
from desktop_search.ui.folders_dialog import ErrorsDialog, FoldersDialog
from desktop_search.ui.settings_dialog import SettingsDialog
from tests.fakes import solid_image
from tests.ui_support import index_library, make_photos, make_window  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(120)


def idle(qtbot, window) -> None:
    qtbot.waitUntil(lambda: window.controller.model_ready and not window.controller.busy(), timeout=20000)


def names(window) -> set[str]:
    return {os.path.basename(r.path) for r in window.model.results()}


def test_folders_dialog_counts_problems_add_exclude_and_remove(qtbot, make_window, tmp_path: Path) -> None:
    first = tmp_path / "first"
    make_photos(first, n_each=2)
    (first / "broken.jpg").write_bytes(b"this is not a photo")
    root = tmp_path / "lib"
    index_library(root, first)
    window = make_window(root)
    idle(qtbot, window)
    dialog = FoldersDialog(window.controller, window)
    qtbot.addWidget(dialog)
    dialog.show()
    item = dialog.tree.topLevelItem(0)
    # indexed, pending, could not be read: the broken file is not among the indexed (as in the status bar)
    assert [item.text(c) for c in (1, 2, 3)] == ["8", "0", "1"]
    assert item.toolTip(0) == first.as_posix()
    item.setSelected(True)
    assert dialog.errors_button.isEnabled()
    errors = window.controller.lib.errors(str(first))
    assert errors and errors[0].path.endswith("broken.jpg") and errors[0].reason
    ErrorsDialog(str(first), errors, dialog).close()
    shown: list[list] = []  # Problems…: read on a worker, then the (modal) dialog
    monkey = pytest.MonkeyPatch()
    monkey.setattr(ErrorsDialog, "exec", lambda self: shown.append(self.findChildren(object)) or 0)
    try:
        dialog.show_errors()
        qtbot.waitUntil(lambda: bool(shown), timeout=5000)
    finally:
        monkey.undo()

    second = tmp_path / "second"
    (second / "skip").mkdir(parents=True)
    solid_image(second / "cyan_1.jpg", (20, 230, 230))
    solid_image(second / "skip" / "cyan_2.jpg", (20, 230, 230))
    with qtbot.waitSignal(window.controller.job_finished, timeout=20000,
                          check_params_cb=lambda kind, last, error: kind == "index"):
        dialog.add_folder(str(second))
    qtbot.waitUntil(lambda: dialog.tree.topLevelItemCount() == 2, timeout=5000)
    with qtbot.waitSignal(window.results_shown, timeout=10000):
        window.search_field.setText("cyan")
    assert {"cyan_1.jpg", "cyan_2.jpg"} <= names(window)

    # removing a folder: its photos leave the results; the files stay
    info = next(f for f in window.controller.folders() if f.path.endswith("second"))
    dialog.remove_folder(info, confirm=False)
    qtbot.waitUntil(lambda: "cyan_1.jpg" not in names(window) and dialog.tree.topLevelItemCount() == 1, timeout=10000)
    assert (second / "cyan_1.jpg").exists()


def test_a_folder_exclusion_takes_its_photos_out_of_the_results(qtbot, make_window, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    (photos / "skip").mkdir(parents=True)
    solid_image(photos / "cyan_1.jpg", (20, 230, 230))
    solid_image(photos / "skip" / "cyan_2.jpg", (20, 230, 230))
    root = tmp_path / "lib"
    index_library(root, photos)
    window = make_window(root)
    idle(qtbot, window)
    with qtbot.waitSignal(window.results_shown, timeout=10000):
        window.search_field.setText("cyan")
    assert names(window) == {"cyan_1.jpg", "cyan_2.jpg"}
    window.controller.set_exclusions(str(photos), [str(photos / "skip")])
    qtbot.waitUntil(lambda: names(window) == {"cyan_1.jpg"}, timeout=4000)


def test_excluded_folders_from_settings_apply_to_every_folder(qtbot, make_window, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    make_photos(photos, n_each=2)
    (photos / "private").mkdir()
    solid_image(photos / "private" / "red_secret.jpg", (230, 20, 20))
    root = tmp_path / "lib"
    index_library(root, photos)
    window = make_window(root)
    idle(qtbot, window)
    with qtbot.waitSignal(window.results_shown, timeout=10000):
        window.search_field.setText("red")
    assert "red_secret.jpg" in names(window)
    new = Settings(excluded_folders=[str(photos / "private")])
    window.apply_settings(new)
    qtbot.waitUntil(lambda: "red_secret.jpg" not in names(window), timeout=4000)
    assert settings_mod.load().excluded_folders == [str(photos / "private")]
    # taking the exclusion away brings the photo back
    window.apply_settings(Settings(excluded_folders=[]))
    qtbot.waitUntil(lambda: "red_secret.jpg" in names(window), timeout=15000)


def test_settings_dialog_edits_every_setting(qtbot) -> None:
    dialog = SettingsDialog(Settings(model="builtin", thumbnail_size=180, results_per_page=200))
    qtbot.addWidget(dialog)
    models = [dialog.model.itemData(i) for i in range(dialog.model.count())]
    assert models[0] == "builtin"
    assert all(m == "builtin" or m.startswith("clip:") for m in models)
    dialog.thumb.setValue(240)
    dialog.per_page.setValue(500)
    dialog.device.setCurrentIndex(dialog.device.findData("cpu"))
    dialog.excluded.addItem("/photos/private")
    dialog.watch.setChecked(False)
    edited = dialog.settings()
    assert (edited.thumbnail_size, edited.results_per_page, edited.device) == (240, 500, "cpu")
    assert edited.excluded_folders == ["/photos/private"] and edited.watch_folders is False
    assert dialog.thumb_label.text() == "240 px"
    assert not dialog.remove_excluded_button.isEnabled()  # nothing selected
    dialog.excluded.setCurrentRow(0)
    assert dialog.remove_excluded_button.isEnabled()
    dialog._defaults()
    assert dialog.settings().thumbnail_size == Settings().thumbnail_size
    assert dialog.settings().excluded_folders == Settings().excluded_folders


def test_settings_file_round_trip_migration_and_damage(tmp_path: Path) -> None:
    path = tmp_path / "config" / "settings.json"
    assert settings_mod.load(path) == Settings()
    s = Settings(model="clip:ViT-B-32/laion2b_s34b_b79k", thumbnail_size=5000, excluded_folders=["/a", "/a"])
    settings_mod.save(s, path)
    loaded = settings_mod.load(path)
    assert loaded.model == s.model
    assert loaded.thumbnail_size == settings_mod.THUMBNAIL_SIZES[1]  # clamped
    assert loaded.excluded_folders == ["/a"]
    assert json.loads(path.read_text())["schema_version"] == settings_mod.SCHEMA_VERSION
    # a version-0 file (before the version field) is migrated
    path.write_text(json.dumps({"thumb_size": 128, "exclusions": ["/x"], "unknown": 1}))
    old = settings_mod.load(path)
    assert old.thumbnail_size == 128 and old.excluded_folders == ["/x"]
    # wrong types fall back to defaults, a damaged file to the defaults
    path.write_text(json.dumps({"schema_version": 1, "results_per_page": "many", "show_score": 1}))
    assert settings_mod.load(path).results_per_page == Settings().results_per_page
    path.write_text("{not json")
    assert settings_mod.load(path) == Settings()
    # a file from a newer version is not overwritten
    path.write_text(json.dumps({"schema_version": 99, "model": "future"}))
    settings_mod.save(Settings(), path)
    assert json.loads(path.read_text())["schema_version"] == 99
