"""Every folder the app uses, from one place.

``DESKTOP_SEARCH_HOME`` moves everything (data, config, cache) under one folder: tests and portable
installs use it. Without it the platform's user folders are used (platformdirs).
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import PlatformDirs

from .. import APP_ID

HOME_ENV = "DESKTOP_SEARCH_HOME"
_dirs = PlatformDirs(APP_ID, appauthor=False)


def _home() -> Path | None:
    value = os.environ.get(HOME_ENV)
    return Path(value).expanduser() if value else None


def data_dir() -> Path:
    home = _home()
    return home / "data" if home else Path(_dirs.user_data_dir)


def config_dir() -> Path:
    home = _home()
    return home / "config" if home else Path(_dirs.user_config_dir)


def cache_dir() -> Path:
    home = _home()
    return home / "cache" if home else Path(_dirs.user_cache_dir)


def default_library_dir() -> Path:
    """The library used when ``--library`` is not given."""
    return data_dir() / "library"


def models_dir() -> Path:
    """Downloaded model weights (CLIP-family checkpoints)."""
    return data_dir() / "models"


def features_cache_dir() -> Path:
    """Cached frozen-encoder features for training and evaluation."""
    return cache_dir() / "features"


def settings_file() -> Path:
    return config_dir() / "settings.json"


def ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
