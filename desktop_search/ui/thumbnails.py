"""Thumbnails for the results grid, decoded off the GUI thread and kept in a bounded LRU cache.

The view asks :meth:`ThumbnailLoader.request` while painting the items that are on screen (the
list view is virtualised, so only those are painted). A cached pixmap comes back at once; otherwise
the request goes on a last-in-first-out stack that a few ``QRunnable`` workers of a private
``QThreadPool`` pop from: whatever was painted most recently is decoded first, and requests for
items long scrolled past fall off the bottom of a bounded stack. Workers only make ``QImage``
objects (safe off the GUI thread); the GUI thread turns finished images into ``QPixmap`` objects in
time-boxed slices and announces them with :attr:`ThumbnailLoader.thumbnails_ready`.

The core writes thumbnail files and puts ``thumbnail_path`` on results; when that file is missing
or unreadable the photo itself is decoded at reduced size (Qt's scaled JPEG decoding, then the
core's Pillow decoder, with ``draft()``, for formats Qt cannot read such as HEIC).
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from dataclasses import dataclass

from PySide6.QtCore import QObject, QRunnable, QSize, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QImage, QImageReader, QPixmap

log = logging.getLogger(__name__)

DEFAULT_CACHE_BYTES = 256 * 1024 * 1024
MAX_PENDING = 1000
DRAIN_BUDGET_S = 0.012


@dataclass(frozen=True)
class ThumbKey:
    """Identifies one thumbnail: the photo, its size in bytes (changes when it is edited) and the
    side of the square the thumbnail must fit."""

    path: str
    size: int
    side: int


def _fit(width: int, height: int, side: int) -> QSize:
    if width <= 0 or height <= 0:
        return QSize(side, side)
    if width <= side and height <= side:
        return QSize(width, height)
    scale = side / max(width, height)
    return QSize(max(1, round(width * scale)), max(1, round(height * scale)))


def _read_with_qt(path: str, side: int) -> QImage | None:
    reader = QImageReader(path)
    reader.setAutoTransform(True)  # EXIF orientation
    size = reader.size()
    if size.isValid():
        # the scaled size applies to the stored image, before the EXIF rotation: a square bound
        # makes that irrelevant. JPEG decodes directly at the reduced size.
        reader.setScaledSize(_fit(size.width(), size.height(), side))
    image = reader.read()
    if image.isNull():
        return None
    if image.width() > side or image.height() > side:
        image = image.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                             Qt.TransformationMode.SmoothTransformation)
    return image


def _read_with_pillow(path: str, side: int) -> QImage | None:
    """The core's defensive decoder (HEIF, 16-bit and CMYK modes, decompression bombs)."""
    try:
        from desktop_search.core.library.imageio import decode

        im = decode(path, min_side=min(side, 256)).image
        im.thumbnail((side, side))
        im = im.convert("RGBA")
        data = im.tobytes("raw", "RGBA")
        image = QImage(data, im.width, im.height, im.width * 4, QImage.Format.Format_RGBA8888)
        return image.copy()  # own the pixels: ``data`` goes away
    except Exception as exc:
        log.debug("cannot decode %s: %s", path, exc)
        return None


def load_thumbnail_image(thumbnail_path: str | None, photo_path: str, side: int) -> QImage | None:
    """Decode a thumbnail no larger than ``side`` x ``side``; None when nothing can be read."""
    if thumbnail_path and os.path.exists(thumbnail_path):
        image = _read_with_qt(thumbnail_path, side)
        if image is not None:
            return image
    if not os.path.exists(photo_path):
        return None
    image = _read_with_qt(photo_path, side)
    if image is not None:
        return image
    return _read_with_pillow(photo_path, side)


class _Worker(QRunnable):
    def __init__(self, loader: ThumbnailLoader) -> None:
        super().__init__()
        self._loader = loader
        self.setAutoDelete(True)

    def run(self) -> None:  # on a pool thread
        loader = self._loader
        while True:
            job = loader._pop_request()
            if job is None:
                return
            key, thumb_path, photo_path = job
            try:
                image = load_thumbnail_image(thumb_path, photo_path, key.side)
            except Exception:
                log.exception("thumbnail for %s failed", photo_path)
                image = None
            loader._push_result(key, image)


class ThumbnailLoader(QObject):
    """Asynchronous thumbnail decoding with an LRU cache of pixmaps bounded in bytes."""

    #: keys whose pixmaps (or failures) have just become available
    thumbnails_ready = Signal(list)

    def __init__(
        self,
        side: int = 192,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        threads: int | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.side = side
        self.cache_bytes = cache_bytes
        self._cache: collections.OrderedDict[ThumbKey, QPixmap | None] = collections.OrderedDict()
        self._cache_used = 0
        self._lock = threading.Lock()
        self._pending: collections.OrderedDict[ThumbKey, tuple[str | None, str]] = collections.OrderedDict()
        self._in_flight: set[ThumbKey] = set()
        self._results: collections.deque[tuple[ThumbKey, QImage | None]] = collections.deque()
        self._workers = 0
        self._closed = False
        self._pool = QThreadPool(self)
        cores = QThreadPool.globalInstance().maxThreadCount()
        self._pool.setMaxThreadCount(threads or max(1, min(4, cores - 1)))
        self._pool.setExpiryTimeout(5000)
        self._timer = QTimer(self)
        self._timer.setInterval(25)
        self._timer.timeout.connect(self._drain)
        self.decoded = 0  # statistics for tests and diagnostics
        #: device pixel ratio the pixmaps are made for (``side`` is in device pixels)
        self.dpr = 1.0

    # -- GUI thread API --------------------------------------------------------------------------
    def key_for(self, path: str, size: int) -> ThumbKey:
        return ThumbKey(path, size, self.side)

    def cached(self, key: ThumbKey) -> QPixmap | None:
        """The pixmap if it is in the cache (a failed decode is cached as None)."""
        pix = self._cache.get(key)
        if pix is not None:
            self._cache.move_to_end(key)
        return pix

    def is_known(self, key: ThumbKey) -> bool:
        """True once the key was decoded (successfully or not)."""
        return key in self._cache

    def request(self, key: ThumbKey, thumbnail_path: str | None, photo_path: str) -> QPixmap | None:
        """The cached pixmap, or None after queuing the decode (newest requests first)."""
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        if self._closed:
            return None
        start_worker = False
        with self._lock:
            if key in self._in_flight:
                return None
            if key in self._pending:
                self._pending.move_to_end(key)
            else:
                self._pending[key] = (thumbnail_path, photo_path)
                while len(self._pending) > MAX_PENDING:
                    self._pending.popitem(last=False)
            if self._workers < self._pool.maxThreadCount():
                self._workers += 1
                start_worker = True
        if start_worker:
            self._pool.start(_Worker(self))
        if not self._timer.isActive():
            self._timer.start()
        return None

    def pending_count(self) -> int:
        with self._lock:
            return len(self._pending) + len(self._in_flight) + len(self._results)

    def cancel_pending(self) -> None:
        """Forget queued requests (new results replaced the old ones)."""
        with self._lock:
            self._pending.clear()

    def set_side(self, side: int, dpr: float | None = None) -> None:
        """Decode at ``side`` device pixels from now on (drops the cache when it changes)."""
        if dpr is not None:
            self.dpr = dpr
        if side == self.side:
            return
        self.side = side
        self.cancel_pending()
        self.clear()

    def clear(self) -> None:
        self._cache.clear()
        self._cache_used = 0

    def invalidate(self, path: str) -> None:
        """Drop every cached thumbnail of ``path`` (the photo changed on disk)."""
        for key in [k for k in self._cache if k.path == path]:
            pix = self._cache.pop(key)
            self._cache_used -= self._cost(pix)

    def shutdown(self, timeout_ms: int = 10000) -> bool:
        """Stop taking requests, drop the queue and wait for the decoders in flight."""
        self._closed = True
        self.cancel_pending()
        self._timer.stop()
        return self._pool.waitForDone(timeout_ms)

    # -- worker side -----------------------------------------------------------------------------
    def _pop_request(self) -> tuple[ThumbKey, str | None, str] | None:
        with self._lock:
            if not self._pending or self._closed:
                self._workers -= 1
                return None
            key, (thumb_path, photo_path) = self._pending.popitem(last=True)
            self._in_flight.add(key)
            return key, thumb_path, photo_path

    def _push_result(self, key: ThumbKey, image: QImage | None) -> None:
        with self._lock:
            self._in_flight.discard(key)
            self._results.append((key, image))

    # -- GUI thread: turn images into pixmaps ------------------------------------------------------
    @staticmethod
    def _cost(pix: QPixmap | None) -> int:
        if pix is None:
            return 64
        return max(64, pix.width() * pix.height() * 4)

    def _drain(self) -> None:
        deadline = time.perf_counter() + DRAIN_BUDGET_S
        ready: list[ThumbKey] = []
        while time.perf_counter() < deadline:
            with self._lock:
                if not self._results:
                    break
                key, image = self._results.popleft()
            pix = None if image is None or image.isNull() else QPixmap.fromImage(image)
            if pix is not None:
                pix.setDevicePixelRatio(self.dpr)
            if key in self._cache:
                self._cache_used -= self._cost(self._cache.pop(key))
            if key.side == self.side:
                self._cache[key] = pix
                self._cache_used += self._cost(pix)
                self.decoded += 1
                ready.append(key)
        while self._cache_used > self.cache_bytes and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._cache_used -= self._cost(old)
        if ready:
            self.thumbnails_ready.emit(ready)
        with self._lock:
            idle = not self._results and not self._pending and not self._in_flight
        if idle:
            self._timer.stop()
