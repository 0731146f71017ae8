"""The writer queue's rules, without Qt: which jobs merge, which wait, what a cancel drops."""

from __future__ import annotations

from desktop_search.core.job_queue import JobKind, WriterQueue, WriterTask, changes_library
from desktop_search.core.types import IndexCounts


def task(kind: JobKind, *paths: str, label: str = "") -> WriterTask:
    return WriterTask(kind, label or kind.value, lambda token: None, set(paths))


def test_jobs_run_one_at_a_time_in_the_order_they_came() -> None:
    q = WriterQueue()
    a, b, c = task(JobKind.FOLDER, label="add"), task(JobKind.INDEX, "/p"), task(JobKind.FOLDER, label="remove")
    for t in (a, b, c):
        assert q.push(t) is t
    assert q.start_next() is a and q.running_kind == JobKind.FOLDER and not q.indexing
    assert q.start_next() is None  # one writer at a time
    q.finish(a)
    assert q.start_next() is b and q.indexing
    q.finish(b)
    assert q.start_next() is c
    q.finish(c)
    assert q.start_next() is None and q.running is None and len(q) == 0


def test_a_waiting_scan_covers_the_same_scan_and_a_scan_of_everything_covers_all() -> None:
    q = WriterQueue()
    assert q.push(task(JobKind.INDEX, "/a")) is not None
    assert q.push(task(JobKind.INDEX, "/a")) is None  # the same folders
    assert q.push(task(JobKind.INDEX, "/b")) is not None  # other folders wait their turn
    assert q.push(task(JobKind.INDEX)) is not None  # every folder: not covered by scans of some
    assert q.push(task(JobKind.INDEX, "/c")) is None  # covered by the scan of every folder
    assert q.kinds() == [JobKind.INDEX] * 3
    assert q.paths_of(JobKind.INDEX) == [{"/a"}, {"/b"}, set()]


def test_a_running_scan_does_not_cover_a_new_one() -> None:
    q = WriterQueue()
    q.push(task(JobKind.INDEX, "/a"))
    running = q.start_next()
    assert running is not None
    assert q.push(task(JobKind.INDEX, "/a")) is not None  # changes since it started need a scan


def test_watcher_changes_merge_into_the_waiting_change_job() -> None:
    q = WriterQueue()
    first = task(JobKind.CHANGES, "/p/1.jpg")
    assert q.push(first) is first
    assert q.push(task(JobKind.CHANGES, "/p/2.jpg", "/p/1.jpg")) is None
    assert first.paths == {"/p/1.jpg", "/p/2.jpg"} and len(q) == 1
    q.start_next()
    later = task(JobKind.CHANGES, "/p/3.jpg")
    assert q.push(later) is later  # the running one has read its paths: a new job waits


def test_append_queues_as_it_is() -> None:
    q = WriterQueue()
    q.push(task(JobKind.INDEX))
    again = task(JobKind.INDEX, label="Re-indexing with the new model…")
    assert q.append(again) is again and len(q) == 2


def test_removing_a_folder_drops_a_waiting_scan_of_just_that_folder() -> None:
    q = WriterQueue()
    for t in (task(JobKind.INDEX, "/a"), task(JobKind.INDEX, "/a", "/b"), task(JobKind.INDEX, "/b")):
        q.push(t)
    dropped = q.drop_scans_of("/a")
    assert [t.paths for t in dropped] == [{"/a"}]
    assert q.paths_of(JobKind.INDEX) == [{"/a", "/b"}, {"/b"}]


def test_cancel_drops_waiting_scans_and_changes_but_not_folder_edits() -> None:
    q = WriterQueue()
    running = task(JobKind.INDEX)
    q.push(running)
    q.start_next()
    for t in (task(JobKind.CHANGES, "/x"), task(JobKind.FOLDER, label="remove"), task(JobKind.INDEX, "/b")):
        q.push(t)
    assert q.cancel_indexing() is running  # the caller cancels it
    assert q.kinds() == [JobKind.FOLDER]
    q.clear()
    assert len(q) == 0


def test_job_kinds_are_the_strings_signals_carried() -> None:
    assert JobKind("changes") is JobKind.CHANGES and JobKind.INDEX == "index"
    assert JobKind.INDEX.indexes and JobKind.CHANGES.indexes and not JobKind.FOLDER.indexes


def test_which_jobs_change_the_library() -> None:
    assert changes_library(JobKind.FOLDER, None)
    assert not changes_library(JobKind.INDEX, None)
    assert not changes_library(JobKind.INDEX, IndexCounts(unchanged=40))
    for field in ("added", "updated", "moved", "removed", "embedded"):
        assert changes_library(JobKind.CHANGES, IndexCounts(**{field: 1}))
