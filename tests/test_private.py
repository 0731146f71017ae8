"""The library is private: folders 0700, files 0600, also an older library once opened; another user
account reads nothing of it (issue 13)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from desktop_search.core import paths
from desktop_search.core.app import PhotoLibrary
from tests.fakes import solid_image

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")


@pytest.fixture(autouse=True)
def usual_umask():
    """The usual umask, which leaves new files readable by everyone."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def index_some(lib_dir: Path, photos: Path, n: int = 3) -> None:
    photos.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        solid_image(photos / f"p{i}.jpg", (40 * i, 100, 200))
    with PhotoLibrary.open(lib_dir, model_name="tiny") as lib:
        lib.add_folder(photos)
        for _ in lib.index():
            pass
        assert lib.status().indexed == n
        # the -wal and -shm exist while the library is open: check them here
        for name in ("library.db-wal", "library.db-shm"):
            assert stat.S_IMODE(os.stat(lib_dir / name).st_mode) == 0o600, name


def loose_entries(root: Path) -> list[str]:
    out = []
    for p in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(os.lstat(p).st_mode)
        want = 0o700 if p.is_dir() else 0o600
        if mode & 0o077 or (mode & 0o700) != want:
            out.append(f"{p.relative_to(root.parent)} {oct(mode)}")
    return out


def test_a_new_library_and_the_app_folders_are_private(tmp_path: Path, isolated_home: Path) -> None:
    lib_dir = tmp_path / "new" / "lib"
    index_some(lib_dir, tmp_path / "photos")
    assert list((lib_dir / "thumbnails").rglob("*.jpg"))
    assert loose_entries(lib_dir) == []
    for folder in (paths.data_dir(), paths.config_dir(), paths.cache_dir()):
        paths.ensure(folder)
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700, folder
    with PhotoLibrary.open(None, model_name="tiny"):  # the default library, in the data folder
        pass
    assert loose_entries(paths.data_dir()) == []


def test_an_older_library_is_made_private_when_opened(tmp_path: Path, isolated_home: Path) -> None:
    lib_dir = tmp_path / "lib"
    index_some(lib_dir, tmp_path / "photos")
    (lib_dir / "library.db.v0-20250101-000000.bak").write_bytes(b"old")
    mine = lib_dir / "notes.txt"  # the user's own file beside the library: not ours to change
    mine.write_text("hello")
    for p in [lib_dir, *lib_dir.rglob("*")]:
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    settings = paths.ensure(paths.config_dir()) / "settings.json"
    settings.write_text("{}")
    os.chmod(settings, 0o644)
    os.chmod(paths.config_dir(), 0o755)
    paths._tightened.clear()
    with PhotoLibrary.open(lib_dir, model_name="tiny"):
        pass
    assert stat.S_IMODE(os.stat(mine).st_mode) == 0o644
    mine.unlink()
    assert loose_entries(lib_dir) == []
    assert loose_entries(paths.config_dir()) == []


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to run a check as another user")
def test_another_user_reads_nothing_of_the_library(tmp_path: Path) -> None:
    """A real second account (uid 65534, "nobody"), in a child process: the database, a thumbnail
    and the folder listing all refuse it. The library sits in a folder everyone may enter, so only
    the library's own permissions stand in the way."""
    shared = Path("/tmp") / f"ds-private-{os.getpid()}"
    shared.mkdir(mode=0o777, exist_ok=True)
    os.chmod(shared, 0o777)
    try:
        lib_dir = shared / "lib"
        index_some(lib_dir, tmp_path / "photos")
        thumb = next((lib_dir / "thumbnails").rglob("*.jpg"))
        probe = (
            "import os, sys\n"
            "os.setgid(65534); os.setuid(65534)\n"
            "denied = 0\n"
            "for p in sys.argv[1:]:\n"
            "    try:\n"
            "        os.listdir(p) if os.path.isdir(p) else open(p, 'rb').read(1)\n"
            "    except PermissionError:\n"
            "        denied += 1\n"
            "print(denied)\n"
        )
        targets = [str(lib_dir), str(lib_dir / "library.db"), str(thumb)]
        out = subprocess.run([sys.executable, "-c", probe, *targets], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == str(len(targets))
    finally:
        import shutil

        shutil.rmtree(shared, ignore_errors=True)
