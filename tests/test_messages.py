"""Messages a user can act on: whole, lasting, and saying what to do."""
# ruff: noqa: F811  (pytest fixtures imported from tests.ui_support are parameters here)

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from desktop_search.cli import main
from desktop_search.commands import models as models_command
from desktop_search.core.models import download
from tests.loopback_hub import closed_port_url
from tests.ui_support import index_library, make_photos, make_window  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(120)

OFFLINE = ("cannot reach huggingface.co (name lookup failed): no network? Connect and retry, or copy "
           "open_clip_model.safetensors into /home/someone/.local/share/desktop-search/models/openclip/"
           "MobileCLIP-S2--datacompdr")


@pytest.fixture(autouse=True)
def _never_the_real_hub(monkeypatch):
    monkeypatch.setenv(download.HUB_ENV, closed_port_url())


@pytest.fixture
def library(tmp_path: Path) -> Path:
    photos = tmp_path / "photos"
    make_photos(photos, n_each=2)
    root = tmp_path / "lib"
    index_library(root, photos)
    return root


def test_an_offline_model_switch_says_it_all_in_a_dialog_with_a_copy_button(qtbot, make_window, library) -> None:
    """The status bar cut the message before the folder to copy the weights into, and dropped it
    after 10 s: a dialog keeps it whole until closed, and copies it."""
    from desktop_search.core.errors import ModelUnavailable
    from desktop_search.core.models.registry import register_model

    def offline(name, device):  # type: ignore[no-untyped-def]
        raise ModelUnavailable(OFFLINE)

    register_model("offline-clip", offline)
    window = make_window(library)
    qtbot.waitUntil(lambda: window.controller.model_ready and not window.controller.busy(), timeout=15000)
    window.controller.set_model("offline-clip")
    qtbot.waitUntil(lambda: window.problem_dialog is not None and window.problem_dialog.isVisible(), timeout=10000)
    dialog = window.problem_dialog
    assert dialog is not None and not dialog.isModal()
    text = dialog.text.text()
    assert "Cannot switch to offline-clip" in text and text.endswith("still using tiny")
    assert "models/openclip/MobileCLIP-S2--datacompdr" in text  # the folder, whole
    window.status_area.message_timer.timeout.emit()  # the status bar's message times out...
    assert dialog.isVisible()  # ...the dialog stays
    dialog.copy_button.click()
    assert QApplication.clipboard().text() == text
    assert dialog.isVisible()


def test_searching_an_empty_library_says_why_and_what_to_do(tmp_path: Path, capsys) -> None:
    empty = tmp_path / "empty"
    assert main(["folders", "list", "--library", str(empty)]) == 0
    capsys.readouterr()
    assert main(["search", "a dog", "--library", str(empty)]) == 1
    err = capsys.readouterr().err
    assert "no photos yet" in err and f"desktop-search --library {empty} index DIR" in err


def test_searching_a_folder_outside_the_library_says_so(library: Path, tmp_path: Path, capsys) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert main(["search", "red", "--library", str(library), "--folder", str(elsewhere)]) == 1
    err = capsys.readouterr().err
    assert f"{elsewhere} is not in the library" in err and f"index {elsewhere}" in err
    # a search the filters leave empty says which filter
    assert main(["search", "red", "--library", str(library), "--after", "2100-01-01"]) == 0
    out = capsys.readouterr().out
    assert "no photos found: none dated from 2100-01-01" in out


def test_models_list_shows_the_builtin_model_and_short_names(capsys) -> None:
    assert main(["models", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["builtin"]["downloaded"] is True
    assert rows["clip:MobileCLIP-S2/datacompdr"]["short_name"] == "MobileCLIP-S2"
    assert main(["models", "list"]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[1].split()[:2] == ["builtin", "builtin"]
    assert any(line.split()[:2] == ["clip:MobileCLIP-S2/datacompdr", "MobileCLIP-S2"] for line in table.splitlines())


@pytest.mark.parametrize("typed", ["MobileCLIP-S2", "mobileclip-s2", "MobileCLIP-S2/datacompdr",
                                   "clip:MobileCLIP-S2/datacompdr"])
def test_models_download_accepts_the_names_the_list_shows(typed: str, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("DESKTOP_SEARCH_HOME", str(tmp_path / "home"))
    assert models_command.resolve_name(typed) == "clip:MobileCLIP-S2/datacompdr"
    assert main(["models", "download", typed]) == 1  # offline here: the download itself fails...
    err = capsys.readouterr().err
    assert "cannot reach" in err and "MobileCLIP-S2--datacompdr" in err  # ...not the name
    assert main(["models", "download", "builtin"]) == 0
    assert "nothing to download" in capsys.readouterr().out
    assert main(["models", "download", "MobileCLIP"]) == 1
    assert "choose one of builtin, MobileCLIP-S2, ViT-B-32" in capsys.readouterr().err
