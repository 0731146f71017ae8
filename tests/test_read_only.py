"""A library this user cannot write (``chmod -R a-w``, a read-only disk) is opened read-only: search
and status work, and what would change it says why it cannot (issue 13).

Tests here run as root, whom permission bits do not stop (``os.access`` says root may write a
``chmod a-w`` folder, and SQLite would write it): the first test makes ``library_read_only`` answer
as it does for a normal user, and then checks that nothing in the library changed, byte for byte.
The second uses a real read-only bind mount (which stops root too) where the system allows one."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from pathlib import Path

import pytest

from desktop_search.cli import main
from desktop_search.core import app as app_module
from desktop_search.core.app import PhotoLibrary
from desktop_search.core.errors import UserError
from desktop_search.core.types import SearchQuery
from tests.fakes import solid_image


def make_library(tmp_path: Path) -> tuple[Path, Path]:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name, rgb in (("red", (230, 20, 20)), ("green", (20, 220, 30)), ("blue", (20, 30, 230))):
        solid_image(photos / f"{name}.jpg", rgb)
    lib_dir = tmp_path / "lib"
    with PhotoLibrary.open(lib_dir, model_name="tiny") as lib:
        lib.add_folder(photos)
        for _ in lib.index():
            pass
        (photos / "broken.jpg").write_bytes(b"not a photo")
        for _ in lib.index():
            pass
    return lib_dir, photos


def snapshot(root: Path) -> dict[str, tuple[str, float, int]]:
    return {
        str(p.relative_to(root)): (hashlib.sha1(p.read_bytes()).hexdigest() if p.is_file() else "dir", p.stat().st_mtime,
                                   stat.S_IMODE(p.stat().st_mode))
        for p in [root, *root.rglob("*")]
    }


def check_read_only_library(lib_dir: Path, photos: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(lib_dir)
    with PhotoLibrary.open(lib_dir) as lib:
        assert lib.read_only
        hits = lib.search(SearchQuery(text="red"))
        assert Path(hits[0].path).name == "red.jpg"
        assert lib.status().indexed == 3 and lib.status().errors == 1
        assert [Path(e.path).name for e in lib.errors()] == ["broken.jpg"]
        assert [f.path for f in lib.folders()] == [photos.as_posix()]
        for attempt in (lambda: list(lib.index()), lambda: list(lib.apply_changes([str(photos / "red.jpg")])),
                        lambda: lib.add_folder(photos), lambda: lib.remove_folder(photos),
                        lambda: lib.set_exclusions(photos, ["x"]), lambda: lib.set_model("tiny2")):
            with pytest.raises(UserError, match="read-only"):
                attempt()
    capsys.readouterr()
    assert main(["--library", str(lib_dir), "search", "green"]) == 0
    assert "green.jpg" in capsys.readouterr().out.splitlines()[1]
    assert main(["--library", str(lib_dir), "status", "--errors"]) == 0
    assert "broken.jpg: " in capsys.readouterr().out
    assert main(["--library", str(lib_dir), "index"]) == 1
    assert "read-only" in capsys.readouterr().err
    assert snapshot(lib_dir) == before  # nothing written, not even a -wal, -shm or lock file


def test_a_library_this_user_cannot_write_is_searched_without_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lib_dir, photos = make_library(tmp_path)
    subprocess.run(["chmod", "-R", "a-w", str(lib_dir)], check=True)
    try:
        if os.geteuid() == 0:  # root may write anyway: answer as the system does for a normal user
            monkeypatch.setattr(app_module, "library_read_only", lambda root: f"no write permission for {root}")
        check_read_only_library(lib_dir, photos, capsys)
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(lib_dir)], check=True)


def test_library_read_only_reasons(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "library.db").write_bytes(b"")
    assert app_module.library_read_only(tmp_path) is None
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p).name == "library.db" else real_access(p, mode))
    assert "no write permission for" in (app_module.library_read_only(tmp_path) or "")


def test_a_library_on_a_read_only_disk(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lib_dir, photos = make_library(tmp_path)
    mount = tmp_path / "ro"
    mount.mkdir()
    if subprocess.run(["mount", "--bind", str(lib_dir), str(mount)], capture_output=True).returncode != 0:
        pytest.skip("cannot bind-mount here (needs root and a mount namespace that allows it)")
    try:
        if subprocess.run(["mount", "-o", "remount,bind,ro", str(mount)], capture_output=True).returncode != 0:
            pytest.skip("cannot remount read-only here")
        assert app_module.library_read_only(mount) == "on a read-only disk"
        check_read_only_library(mount, photos, capsys)
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)
