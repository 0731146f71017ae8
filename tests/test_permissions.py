"""Files and folders this user may not read are reported ("permission denied"), counted, and kept
(issue 13).

These tests run as root here, whom permission bits do not stop, so each simulates a normal user at
the one place the scan touches the system: ``scanner.open`` (the content hash reads every new file
first) refuses a file without read permission for its owner, and ``os.scandir`` entries of a folder
without execute permission refuse ``stat()``, as the kernel does for a normal user. A real second
account cannot run Python on this machine (its interpreter lives under /root, mode 0700)."""

from __future__ import annotations

import builtins
import os
import stat
from pathlib import Path

import pytest

from desktop_search.core.app import PhotoLibrary
from desktop_search.core.library import scanner
from tests.fakes import last_counts as run
from tests.fakes import solid_image


def as_normal_user(monkeypatch: pytest.MonkeyPatch) -> None:
    real_open, real_scandir = builtins.open, os.scandir

    def guarded_open(file, mode="r", *args, **kwargs):
        if "r" in mode and not os.stat(file).st_mode & stat.S_IRUSR:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, mode, *args, **kwargs)

    class Entry:
        def __init__(self, entry: os.DirEntry, searchable: bool) -> None:
            self._entry, self._searchable = entry, searchable
            self.name, self.path = entry.name, entry.path

        def is_dir(self, **kw) -> bool:
            return self._entry.is_dir(**kw)  # the folder's listing (d_type) needs no stat

        def is_file(self, **kw) -> bool:
            return self._entry.is_file(**kw)

        def stat(self, **kw):
            if not self._searchable:
                raise PermissionError(13, "Permission denied", self.path)
            return self._entry.stat(**kw)

    class Listing:
        def __init__(self, path) -> None:
            self._it = real_scandir(path)
            self._searchable = bool(os.stat(path).st_mode & stat.S_IXUSR)

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            self._it.close()

        def __iter__(self):
            return (Entry(e, self._searchable) for e in self._it)

    monkeypatch.setattr(scanner, "open", guarded_open, raising=False)
    monkeypatch.setattr(scanner.os, "scandir", Listing)



def test_an_unreadable_photo_and_a_folder_that_cannot_be_entered_are_reported(
    lib: PhotoLibrary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = tmp_path / "photos"
    (photos / "locked").mkdir(parents=True)
    solid_image(photos / "ok.jpg", (200, 20, 20))
    solid_image(photos / "secret.jpg", (20, 200, 20))
    for i in range(3):
        solid_image(photos / "locked" / f"in{i}.jpg", (20, 20, 200 - i))
    os.chmod(photos / "secret.jpg", 0)
    os.chmod(photos / "locked", 0o644)  # may be listed, not entered
    as_normal_user(monkeypatch)
    lib.add_folder(photos)
    counts = run(lib.index())
    assert counts.added == 1 and counts.failed == 2
    reasons = {Path(e.path).name: e.reason for e in lib.errors()}
    assert reasons == {"secret.jpg": "permission denied", "locked": "permission denied: its 3 photos cannot be read"}
    assert lib.status().errors == 2
    assert run(lib.index()).failed == 0  # reported once, still listed
    assert len(lib.errors()) == 2
    # permissions given back: indexed, and the problems are forgotten
    os.chmod(photos / "secret.jpg", 0o644)
    os.chmod(photos / "locked", 0o755)
    counts = run(lib.index())
    assert counts.added == 4 and lib.errors() == []


def test_the_watcher_reports_an_unreadable_photo_and_keeps_an_indexed_one(
    lib: PhotoLibrary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    solid_image(photos / "a.jpg", (200, 20, 20))
    lib.add_folder(photos)
    run(lib.index())
    as_normal_user(monkeypatch)
    solid_image(photos / "new.jpg", (20, 200, 20))
    os.chmod(photos / "new.jpg", 0)
    solid_image(photos / "a.jpg", (20, 20, 200))  # changed, and now unreadable: the indexed one stays
    os.chmod(photos / "a.jpg", 0)
    counts = run(lib.apply_changes([str(photos / "new.jpg"), str(photos / "a.jpg")]))
    assert counts.failed == 2 and counts.removed == 0
    assert sorted(Path(e.path).name for e in lib.errors()) == ["a.jpg", "new.jpg"]
    assert lib.status().indexed == 1
    os.chmod(photos / "new.jpg", 0o644)
    os.chmod(photos / "a.jpg", 0o644)
    counts = run(lib.apply_changes([str(photos / "new.jpg"), str(photos / "a.jpg")]))
    assert counts.added == 1 and counts.updated == 1 and lib.errors() == []
