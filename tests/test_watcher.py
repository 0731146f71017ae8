"""The Qt-free folder watcher: coalescing bursts, moves, quiet periods, the polling fallback."""

from __future__ import annotations

import errno
import os
import queue
import shutil
import time
from pathlib import Path

import pytest
from watchdog.observers.api import BaseObserver

from desktop_search.core.library import watcher as watcher_mod
from desktop_search.core.library.watcher import (
    CREATED,
    DELETED,
    MODIFIED,
    MOVED,
    ChangeBatch,
    FolderWatcher,
    WatchState,
    WatchStatus,
)

pytestmark = pytest.mark.timeout(60)


def collect(quiet_s: float = 0.2, **kwargs) -> tuple[FolderWatcher, queue.SimpleQueue[ChangeBatch], list[WatchStatus]]:
    batches: queue.SimpleQueue[ChangeBatch] = queue.SimpleQueue()
    statuses: list[WatchStatus] = []
    w = FolderWatcher(batches.put, quiet_s=quiet_s, on_status=statuses.append, **kwargs)
    return w, batches, statuses


def test_a_burst_of_events_becomes_one_batch_with_each_path_once(tmp_path: Path) -> None:
    w, batches, _ = collect(quiet_s=0.3)
    w.start([])
    try:
        for i in range(5000):  # a copy of 5,000 photos: created, then modified, then closed
            p = f"/photos/img_{i:05d}.jpg"
            w.push(CREATED, p)
            w.push(MODIFIED, p)
            w.push(MODIFIED, p)
        for _ in range(20):  # an editor saving one file many times
            w.push(MODIFIED, "/photos/edited.png")
        batch = batches.get(timeout=10)
        assert len(batch) == 5001
        assert batch.events == 15020
        assert batch.kinds["/photos/img_00042.jpg"] == CREATED  # still new, however often written
        assert batch.kinds["/photos/edited.png"] == MODIFIED
        with pytest.raises(queue.Empty):
            batches.get(timeout=0.6)
    finally:
        w.stop()


def test_moves_report_both_paths_and_non_photos_are_ignored(tmp_path: Path) -> None:
    w, batches, _ = collect()
    w.start([])
    try:
        w.push(MOVED, "/p/a.jpg", "/p/b.jpg")
        w.push(MOVED, "/p/.a.jpg.tmp", "/p/c.jpg")  # an editor's safe save: temp file renamed over
        w.push(CREATED, "/p/notes.txt")
        w.push(MODIFIED, "/p/sub", is_directory=True)  # a directory's mtime means nothing
        w.push(DELETED, "/p/old-album", is_directory=True)  # its files report nothing of their own
        batch = batches.get(timeout=5)
        assert batch.paths == ("/p/a.jpg", "/p/b.jpg", "/p/c.jpg", "/p/old-album")
        assert batch.moves == (("/p/a.jpg", "/p/b.jpg"),)
        assert batch.kinds["/p/a.jpg"] == DELETED and batch.kinds["/p/b.jpg"] == CREATED
    finally:
        w.stop()


def test_a_steady_stream_is_still_delivered_every_max_wait(tmp_path: Path) -> None:
    w, batches, _ = collect(quiet_s=0.5, max_wait_s=0.6)
    w.start([])
    try:
        start = time.monotonic()
        i = 0
        while time.monotonic() - start < 1.5:  # never quiet for 0.5 s
            w.push(CREATED, f"/p/{i}.jpg")
            i += 1
            time.sleep(0.02)
        first = batches.get(timeout=1)
        assert 0 < len(first) < i
    finally:
        w.stop()


def test_ignored_folders_are_skipped(tmp_path: Path) -> None:
    w, batches, _ = collect(ignore=[str(tmp_path / "lib")])
    w.start([])
    try:
        w.push(CREATED, str(tmp_path / "lib" / "thumbnails" / "1.jpg"))
        w.push(CREATED, str(tmp_path / "photo.jpg"))
        assert batches.get(timeout=5).paths == (str(tmp_path / "photo.jpg"),)
    finally:
        w.stop()


def test_real_files_created_modified_moved_and_deleted(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    w, batches, statuses = collect(quiet_s=0.3)
    w.start([str(folder)])
    try:
        assert w.wait_ready(10)
        assert w.modes() == {str(folder): "native"}
        assert any("Watching 1 folder" in s.text for s in statuses)
        assert all(s.state == WatchState.WATCHING and not s.is_problem for s in statuses)
        for i in range(30):
            (folder / "sub" / f"p{i}.jpg").write_bytes(b"x" * 100)
        batch = batches.get(timeout=10)
        assert len(batch) == 30 and all(batch.kinds[p] == CREATED for p in batch.paths)
        os.rename(folder / "sub" / "p1.jpg", folder / "q1.jpg")
        os.remove(folder / "sub" / "p2.jpg")
        outside = tmp_path / "album"
        outside.mkdir()
        (outside / "z.png").write_bytes(b"1")
        shutil.move(str(outside), str(folder / "album"))  # a folder moved in: its files are reported
        paths: set[str] = set()
        deadline = time.monotonic() + 10
        wanted = {str(folder / "sub" / "p1.jpg"), str(folder / "q1.jpg"), str(folder / "sub" / "p2.jpg"),
                  str(folder / "album" / "z.png")}
        while not wanted <= paths and time.monotonic() < deadline:
            paths |= set(batches.get(timeout=10).paths)
        assert wanted <= paths
    finally:
        w.stop()
    assert not w.running


class _LimitObserver(BaseObserver):
    """A native observer at the inotify watch limit."""

    def __init__(self) -> None:
        super().__init__(emitter_class=object)  # type: ignore[arg-type]

    def schedule(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "inotify watch limit reached")


def test_watch_limit_falls_back_to_periodic_rescans_and_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    w, batches, statuses = collect(quiet_s=0.2, poll_interval_s=0.3, observer_factory=_LimitObserver)
    w.start([str(folder)])
    try:
        assert w.wait_ready(10)
        assert w.modes() == {str(folder): "polling"}
        status = next(s for s in statuses if "unavailable" in s.text)
        message = status.text
        assert "watch" in message and "every 0.3 s" in message
        assert status.state == WatchState.POLLING and status.is_problem and status.folder == str(folder)
        assert str(status) == message  # the watch command prints it as it is
        (folder / "new.jpg").write_bytes(b"x")
        assert str(folder / "new.jpg") in batches.get(timeout=10).paths
    finally:
        w.stop()


def test_network_filesystems_are_polled(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "share"
    folder.mkdir()
    monkeypatch.setattr(watcher_mod, "_mount_types", lambda: [(str(folder), "cifs"), ("/", "ext4")])
    assert watcher_mod.network_filesystem(str(folder)) == "cifs"
    assert watcher_mod.network_filesystem(str(tmp_path)) is None
    w, _, statuses = collect(poll_interval_s=5)
    w.start([str(folder)])
    try:
        assert w.wait_ready(10)
        assert w.modes() == {str(folder): "polling"}
        assert any("network filesystem (cifs)" in s.text and s.state == WatchState.POLLING for s in statuses)
    finally:
        w.stop()


def test_folders_can_change_and_missing_ones_are_reported(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    w, batches, statuses = collect()
    w.start([str(a)])
    try:
        assert w.wait_ready(10)
        w.set_folders([str(b), str(tmp_path / "unplugged")])
        deadline = time.monotonic() + 5
        while str(b) not in w.modes() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert w.modes() == {str(b): "native", str(tmp_path / "unplugged"): "unavailable"}
        assert any("does not exist" in s.text for s in statuses)
        assert any(s.state == WatchState.UNAVAILABLE and s.is_problem and s.folder == str(tmp_path / "unplugged")
                   for s in statuses)
        (a / "old.jpg").write_bytes(b"x")
        (b / "new.jpg").write_bytes(b"x")
        assert batches.get(timeout=10).paths == (str(b / "new.jpg"),)
    finally:
        w.stop()


def test_a_failing_consumer_does_not_stop_the_watcher(tmp_path: Path) -> None:
    seen: list[ChangeBatch] = []

    def consumer(batch: ChangeBatch) -> None:
        seen.append(batch)
        if len(seen) == 1:
            raise RuntimeError("database is locked")

    w = FolderWatcher(consumer, quiet_s=0.1)
    w.start([])
    try:
        w.push(CREATED, "/p/1.jpg")
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            time.sleep(0.02)
        w.push(CREATED, "/p/2.jpg")
        while len(seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [b.paths for b in seen] == [("/p/1.jpg",), ("/p/2.jpg",)]
    finally:
        w.stop()


def test_watcher_module_is_qt_free() -> None:
    import subprocess
    import sys

    code = ("import sys; import desktop_search.core.library.watcher; "
            "assert not any(m.startswith('PySide6') for m in sys.modules), 'Qt imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parent.parent)
