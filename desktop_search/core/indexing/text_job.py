"""Reading the text in photos (issue 16): a job of its own that follows the embeddings.

A library is searchable by meaning as soon as its indexing job ends; this job then reads the text of
every indexed photo that has not been read yet, or whose contents changed since (``store.pending``),
at low priority. Each photo's reading is saved in its own short transaction, so a process killed at
any moment loses at most the photo in flight, and the next job resumes from ``pending()``: nothing
else is remembered, and a photo already read is never read again until its contents change. A photo
that cannot be decoded is saved with no lines (it is not tried again until it changes).

It writes under the library's writer lock (``index.lock``), taken for one small batch at a time, so
another program's indexing job waits at most a batch for it. ``CancelToken.pause()`` holds it between
photos; ``cancel()`` stops it there.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from ..cancel import Cancelled, CancelToken
from ..filelock import WriterLock
from ..text import store
from ..types import IndexCounts, IndexProgress

if TYPE_CHECKING:
    from ..text.recognize import RecognizedText, TextEngine

log = logging.getLogger(__name__)

#: photos read per hold of the writer lock
BATCH = 8
#: the nice value the reading thread (and the engine's threads it starts) runs at, on Linux
NICE = 10

_engine_lock = threading.Lock()
_engine: TextEngine | None = None


def progress_message(done: int, total: int) -> str:
    """The job's progress line, as the window and the command line show it."""
    return f"Reading text in photos: {done:,} / {total:,}"


def lower_priority() -> None:
    """Run the calling thread at a lower priority (Linux: a thread is a task with its own nice
    value; threads it starts afterwards, such as onnxruntime's pool, inherit it). Elsewhere nothing."""
    if not hasattr(os, "setpriority") or not hasattr(threading, "get_native_id"):
        return
    try:
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        if current < NICE:
            os.setpriority(os.PRIO_PROCESS, tid, NICE)
    except OSError:  # not allowed here, or not a Linux-style thread id: run as is
        log.debug("cannot lower the text job's priority", exc_info=True)


def text_engine() -> TextEngine:
    """The process's text engine for this job, built by the first job's (lowered) thread."""
    global _engine
    from ..text.recognize import TextEngine

    with _engine_lock:
        if _engine is None:
            _engine = TextEngine()
        return _engine


def read_texts(
    engine: Engine,
    writer_lock: WriterLock,
    cancel: CancelToken | None = None,
    poll_s: float = 0.5,
    low_priority: bool = True,
) -> Iterator[IndexProgress]:
    """The text job's progress events: phase "text" (done / total photos), then "done" (or
    "cancelled"). ``total`` counts the photos pending when the job started."""
    from ..text.recognize import OcrUnavailable, available

    cancel = cancel or CancelToken()
    raw = engine.raw_connection()
    try:
        conn: sqlite3.Connection = raw.driver_connection  # type: ignore[assignment]
        if not store.has_text_tables(conn):
            yield IndexProgress("done", 0, 0, message="Text search is unavailable with this SQLite (needs 3.34)")
            return
        if not available():
            yield IndexProgress("done", 0, 0, message="Text recognition is not installed (onnxruntime and its models)")
            return
        total = store.pending_count(conn)
        if total == 0:
            yield IndexProgress("text", 0, 0, message="Text in photos is up to date")
            yield IndexProgress("done", 0, 0, message="Text in photos is up to date")
            return
        yield IndexProgress("text", 0, total, message=progress_message(0, total))
        # the reading runs on a thread of its own, at low priority (the caller's thread keeps its own:
        # the window's worker, a test runner); the engine is built there the first time, so the
        # threads onnxruntime starts inherit that priority
        reader = ThreadPoolExecutor(1, thread_name_prefix="text-reader")
        try:
            if low_priority:
                reader.submit(lower_priority).result()
            try:
                eng = reader.submit(text_engine).result()
            except OcrUnavailable as exc:
                yield IndexProgress("done", 0, total, message=f"Text recognition is unavailable: {exc}")
                return
            try:
                yield from _read_all(conn, eng, reader, writer_lock, cancel, total, poll_s)
            except Cancelled:
                yield IndexProgress("cancelled", 0, total, counts=IndexCounts(), message="Cancelled")
        finally:
            # a cancelled job does not wait for the photo in flight: the reader finishes it on its own
            # and its reading is dropped (the photo stays pending)
            reader.shutdown(wait=False, cancel_futures=True)
    finally:
        raw.close()


#: how often a job waiting for a photo's reading looks whether it was cancelled
CANCEL_POLL_S = 0.05


def _wait(future: Future[RecognizedText], cancel: CancelToken) -> RecognizedText | None:
    """The photo's reading, or None as soon as the job is cancelled (the reading is dropped)."""
    while True:
        try:
            return future.result(timeout=CANCEL_POLL_S)
        except FuturesTimeout:
            if cancel.cancelled:
                future.cancel()
                return None


def _read_all(
    conn: sqlite3.Connection, eng: TextEngine, reader: ThreadPoolExecutor, writer_lock: WriterLock, cancel: CancelToken,
    total: int, poll_s: float,
) -> Iterator[IndexProgress]:
    from ..text import recognize
    from ..text.recognize import RecognizedText

    name = getattr(getattr(eng, "files", None), "name", "") or "ppocr"
    done, last_id = 0, 0
    started = time.monotonic()
    while True:
        cancel.checkpoint()
        while not writer_lock.acquire():  # another program's indexing job: wait for it
            yield IndexProgress("text", done, total, message="Waiting for another program to finish indexing this library…")
            time.sleep(poll_s)
            cancel.checkpoint()
        try:
            batch = store.pending(conn, limit=BATCH, after_id=last_id)
            if not batch:
                break
            for photo_id, path, content_hash in batch:
                if cancel.paused or cancel.cancelled:
                    break  # pause (or stop) without holding the writer lock
                last_id = photo_id
                try:
                    result = _wait(reader.submit(recognize.read_text, path, eng=eng), cancel)
                    if result is None:
                        break  # cancelled while this photo was read (a page of text can take seconds)
                except Exception as exc:  # an unreadable file: no text (read again when it changes)
                    log.info("cannot read text in %s: %s", path, exc)
                    result = RecognizedText()
                try:
                    store.save_text(conn, photo_id, content_hash, result, name)
                except sqlite3.IntegrityError:  # the photo left the library meanwhile
                    continue
                done += 1
                rate = done / max(time.monotonic() - started, 1e-6)
                left = max(total - done, 0)
                yield IndexProgress("text", min(done, total), total, current=path, rate=rate,
                                    eta_s=left / rate if rate > 0 else None,
                                    message=progress_message(min(done, total), total))
        finally:
            writer_lock.release()
    yield IndexProgress("done", done, total, message=f"Read the text in {done:,} photo{'' if done == 1 else 's'}")
