"""``desktop-search watch``: keep the index current in the foreground until Ctrl+C.

Starts watching first (so nothing that happens meanwhile is missed), then runs a reconciling index
of every folder (changes made while nothing was watching), then applies each coalesced batch of
changes as it comes, printing one line per batch. Folders where native watching is unavailable
(network filesystems, the inotify watch limit) are rescanned periodically instead; a line says so.

The watcher's thread only queues batches; this (main) thread is the library's single writer.
"""

from __future__ import annotations

import argparse
import queue
import signal
import sys
import threading
import time
from typing import Any

from ..core.wording import counted, shown
from .common import add_library_option, open_library


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "watch",
        help="keep the index up to date as photos change, until Ctrl+C",
        description="Watch the library's folders and index created, changed, moved and deleted photos "
        "as they happen. Runs in the foreground until interrupted (Ctrl+C).",
    )
    add_library_option(parser)
    parser.add_argument(
        "--quiet-period",
        type=float,
        default=1.0,
        metavar="S",
        help="apply a burst of changes once the folders have been quiet this long (default 1 s)",
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=30.0,
        metavar="S",
        help="rescan interval for folders that cannot be watched natively (default 30 s)",
    )
    parser.add_argument(
        "--no-initial-scan", action="store_true", help="skip the reconciling scan at start-up"
    )
    parser.set_defaults(func=run)
    return parser


def _stamp() -> str:
    return time.strftime("%H:%M:%S")


def _summary(counts: Any) -> str:
    return counts.summary() or "nothing to do"


def run(args: argparse.Namespace) -> int:
    from desktop_search.core.app import UserError
    from desktop_search.core.cancel import CancelToken
    from desktop_search.core.library.watcher import ChangeBatch, FolderWatcher
    from desktop_search.core.types import IndexProgress

    lib = open_library(args)
    watcher: FolderWatcher | None = None
    out = sys.stdout

    def say(line: str) -> None:
        print(shown(line), file=out, flush=True)  # a path with control characters or bytes that are not UTF-8

    def drain(events: Any) -> IndexProgress | None:
        last = None
        for event in events:
            last = event
        return last

    from desktop_search.core import settings

    read_text = settings.load().read_text_in_photos and lib.text.can_read()

    def read_texts() -> None:
        """The text job after the embeddings (docs/TEXT.md): photos added or changed are read."""
        if not read_text or stop.is_set():
            return
        last = drain(lib.text.read(cancel=token[0]))
        if last is not None and last.phase == "done" and last.done:
            say(f"{_stamp()}  {last.message}")

    # Ctrl+C sets a flag and cancels the job in flight (at its next batch boundary) instead of raising
    # KeyboardInterrupt inside it, so decode workers are never left blocked at exit.
    stop = threading.Event()
    token: list[CancelToken] = [CancelToken()]

    def on_sigint(_signum: int, _frame: object) -> None:
        stop.set()
        token[0].cancel()

    previous = signal.signal(signal.SIGINT, on_sigint) if threading.current_thread() is threading.main_thread() else None

    try:
        folders = [f.path for f in lib.folders()]
        if not folders:
            raise UserError("no folders to watch; add one with 'desktop-search folders add DIR'")
        batches: queue.SimpleQueue[ChangeBatch] = queue.SimpleQueue()
        watcher = FolderWatcher(
            batches.put,
            quiet_s=args.quiet_period,
            poll_interval_s=args.poll_interval,
            on_status=lambda message: say(f"{_stamp()}  {message}"),
            ignore=[str(lib.root)],
        )
        watcher.start(folders)
        watcher.wait_ready(60)
        if not args.no_initial_scan:
            say(f"{_stamp()}  Checking for changes made while nothing was watching…")
            last = drain(lib.index(cancel=token[0]))
            if last is not None and not stop.is_set():
                say(f"{_stamp()}  Up to date: {_summary(last.counts)}")
            read_texts()
        say(f"{_stamp()}  Watching {counted(len(folders), 'folder')}; press Ctrl+C to stop.")
        next_folder_check = time.monotonic() + 30.0
        while not stop.is_set():
            try:
                batch = batches.get(timeout=0.5)
            except queue.Empty:
                if time.monotonic() >= next_folder_check:  # folders added or removed meanwhile
                    next_folder_check = time.monotonic() + 30.0
                    current = [f.path for f in lib.folders()]
                    if sorted(current) != sorted(folders):
                        folders = current
                        watcher.set_folders(folders)
                continue
            token[0] = CancelToken()
            if stop.is_set():
                break
            try:
                last = drain(lib.apply_changes(batch.paths, cancel=token[0]))
            except UserError as exc:
                say(f"{_stamp()}  {counted(len(batch), 'changed path')}: {exc}")
                continue
            if stop.is_set():
                break
            summary = _summary(last.counts) if last is not None else "nothing to do"
            say(f"{_stamp()}  {counted(len(batch), 'changed path')}: {summary}")
            read_texts()
        say(f"{_stamp()}  Stopped.")
        return 0
    except KeyboardInterrupt:
        say(f"{_stamp()}  Stopped.")
        return 0
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        if watcher is not None:
            watcher.stop()
        lib.close()
