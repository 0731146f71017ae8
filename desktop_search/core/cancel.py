"""Cooperative cancellation and pausing for long jobs (thread-safe, Qt-free)."""

from __future__ import annotations

import threading


class Cancelled(Exception):
    """Raised inside a job when its token is cancelled."""


class CancelToken:
    def __init__(self) -> None:
        self._cancelled = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def cancel(self) -> None:
        self._cancelled.set()
        self._running.set()  # wake a paused job so it can stop

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def checkpoint(self) -> None:
        """Block while paused; raise :class:`Cancelled` once cancelled."""
        self._running.wait()
        if self._cancelled.is_set():
            raise Cancelled()
