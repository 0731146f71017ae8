"""Every folder the app uses, from one place.

``DESKTOP_SEARCH_HOME`` moves everything (data, config, cache) under one folder: tests and portable
installs use it. Without it the platform's user folders are used (platformdirs).

Photos are private: on POSIX every folder the app makes is 0700 and every file it writes 0600
(:func:`ensure`, :func:`make_private`); folders and files left readable to others by an older
version are tightened when a library opens (``PhotoLibrary``). Windows keeps its ACLs (the user
profile is private already).
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from platformdirs import PlatformDirs

from .. import APP_ID

log = logging.getLogger(__name__)

HOME_ENV = "DESKTOP_SEARCH_HOME"
#: whether folders and files are made private with POSIX permission bits
POSIX_PERMISSIONS = os.name != "nt"
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
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
    """Create ``path`` and its missing parents as private folders (0700: only this user may enter)."""
    try:
        path.mkdir(mode=PRIVATE_DIR)
    except FileNotFoundError:
        if path.parent == path:
            raise
        ensure(path.parent)
        path.mkdir(mode=PRIVATE_DIR, exist_ok=True)
    except FileExistsError:
        if not path.is_dir():
            raise
    return path


def is_private(path: Path) -> bool:
    """False when ``path`` exists with any permission for the group or others (POSIX)."""
    if not POSIX_PERMISSIONS:
        return True
    try:
        return not os.lstat(path).st_mode & 0o077
    except OSError:
        return True


def make_private(path: Path, recursive: bool = False) -> int:
    """Take every permission of the group and others off ``path`` (and, ``recursive``, everything
    below it; links are not followed), where this user owns it. Returns how many changed; never
    raises (a read-only library stays as it is)."""
    if not POSIX_PERMISSIONS:
        return 0
    changed = 0
    todo = [str(path)]
    uid = os.geteuid()
    while todo:
        current = todo.pop()
        try:
            st = os.lstat(current)
        except OSError:
            continue
        if stat.S_ISLNK(st.st_mode):
            continue
        if st.st_mode & 0o077 and st.st_uid == uid:
            try:
                os.chmod(current, stat.S_IMODE(st.st_mode) & 0o700)
                changed += 1
            except OSError as exc:
                log.debug("cannot make %s private: %s", current, exc)
        if recursive and stat.S_ISDIR(st.st_mode):
            try:
                with os.scandir(current) as it:
                    todo.extend(entry.path for entry in it)
            except OSError:
                continue
    return changed


def private_file(path: Path) -> None:
    """Create ``path`` empty if it does not exist, readable by this user only (0600), so that what
    another library writes into it later (SQLite: the database, and its -wal and -shm, which take the
    database's permissions) starts private."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
    except OSError as exc:
        log.debug("cannot create %s: %s", path, exc)


_tightened: set[str] = set()


def make_app_folders_private(extra: Iterable[Path] = ()) -> None:
    """Once a process: the data, config and cache folders (and ``extra``) private, with what they
    hold where a folder was readable by others (made so by an older version)."""
    for folder in (data_dir(), config_dir(), cache_dir(), *extra):
        key = str(folder)
        if key in _tightened:
            continue
        _tightened.add(key)
        if folder.exists() and not is_private(folder):
            make_private(folder, recursive=True)
