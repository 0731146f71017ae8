"""Shared fixtures: every test gets its own DESKTOP_SEARCH_HOME, and Qt runs offscreen."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import tests.fakes  # noqa: F401  (registers the "tiny" model)

REPO = Path(__file__).resolve().parent.parent


def flickr8k_dir() -> Path:
    return Path(os.environ.get("FLICKR8K_DIR", REPO.parent / "shared" / "data" / "flickr8k"))


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("DESKTOP_SEARCH_HOME", str(home))
    return home


@pytest.fixture
def flickr8k() -> Path:
    root = flickr8k_dir()
    if not (root / "captions.csv").exists():
        pytest.skip(f"Flickr8k not found at {root} (set FLICKR8K_DIR)")
    return root


@pytest.fixture
def lib(tmp_path: Path):
    """A new library with the test suite's tiny model (``tests.fakes``), closed afterwards."""
    from desktop_search.core.app import PhotoLibrary
    from tests import fakes  # noqa: F401 (registers the tiny model)

    library = PhotoLibrary.open(tmp_path / "lib", model_name="tiny")
    yield library
    library.close()
