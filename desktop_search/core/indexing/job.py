"""One indexing job under the library's writer lock (``index.lock``): it waits for another
program's job (never dropping its own), runs the indexer, and on completion lets the library
finish a model switch or upgrade while it still holds the lock."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from ..cancel import Cancelled, CancelToken
from ..filelock import WriterLock
from ..types import IndexCounts, IndexProgress
from .pipeline import FolderSpec, Indexer


def run_job(
    indexer: Callable[[], Indexer],
    writer_lock: WriterLock,
    specs: list[FolderSpec],
    cancel: CancelToken | None,
    only: list[str] | None,
    watched: list[FolderSpec] | None,
    on_done: Callable[[], None],
    poll_s: float,
) -> Iterator[IndexProgress]:
    try:
        while not writer_lock.acquire():  # another program's job: wait for it, never drop ours
            if cancel is not None and cancel.cancelled:
                yield IndexProgress("cancelled", 0, 0, counts=IndexCounts(), message="Cancelled")
                return
            yield IndexProgress("scan", 0, 0, counts=IndexCounts(),
                                message="Waiting for another program to finish indexing this library…")
            time.sleep(poll_s)
        if not specs:
            yield IndexProgress("done", 0, 0, counts=IndexCounts(), message="No folders to index")
            return
        counts = IndexCounts()
        try:
            for event in indexer().run(specs, cancel, only, watched):
                counts = event.counts
                yield event
        except Cancelled:
            yield IndexProgress("cancelled", 0, 0, counts=counts, message="Cancelled")
            return
        on_done()
    finally:
        writer_lock.release()
