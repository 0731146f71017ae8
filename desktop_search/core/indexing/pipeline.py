"""The indexing job: a Qt-free generator of :class:`IndexProgress` events.

Scan → bookkeeping → embed. In the embed phase a small thread pool decodes photos (reduced-size
JPEG decoding, EXIF orientation), reads their metadata, writes thumbnails and preprocesses them,
while this thread runs the network on batches; each batch is committed in one transaction, so a
process killed at any moment loses at most the batch in flight.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, and_, bindparam, delete, or_, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ..cancel import CancelToken
from ..db import Photo, PhotoStatus, Vector
from ..library.formats import is_photo_name
from ..library.metadata import is_name_text
from ..library.scanner import (
    Exclusions,
    FoundFile,
    ScanProblem,
    anchored,
    is_below,
    is_hidden,
    normalise,
    stat_file,
    walk,
)
from ..models.base import EmbeddingModel
from ..models.device import available_cores, limit_torch_threads, release_cpu_memory
from ..search.matrix import VectorMatrix
from ..types import IndexCounts, IndexProgress
from .bookkeeping import load_known, reconcile, record_problems
from .photo import (
    THUMBNAIL_SIZE,
    PhotoWork,
    PreparedPhoto,
    drop_unused_thumbnails,
    prepare_photo,
)

log = logging.getLogger(__name__)

#: photos per network call on the CPU (see Indexer._cpu_chunks)
CPU_MICRO_BATCH = 4


@dataclass(frozen=True)
class FolderSpec:
    id: int
    path: str
    exclusions: tuple[str, ...] = ()


@dataclass
class _Encoded:
    ok: list[PreparedPhoto]
    image_vecs: np.ndarray
    text_vecs: dict[int, tuple[np.ndarray, float]]

    @staticmethod
    def join(parts: list[_Encoded], dim: int) -> _Encoded:
        if len(parts) == 1:
            return parts[0]
        vecs = [p.image_vecs for p in parts if len(p.ok)]
        texts: dict[int, tuple[np.ndarray, float]] = {}
        for p in parts:
            texts.update(p.text_vecs)
        return _Encoded(
            [x for p in parts for x in p.ok],
            np.concatenate(vecs) if vecs else np.zeros((0, dim), np.float32),
            texts,
        )


def cpu_chunk_bounds(n: int, size: int, workers: int) -> list[tuple[int, int]]:
    """(start, end) of the CPU workers' chunks: ``size`` photos each, smaller towards the end.

    The workers take chunks as they come free, so the last chunk of a run may start while the
    other workers have nothing left: one core then idles for up to a chunk's time (4 photos,
    ~0.2 s on the originals of the benchmark, ~0.5 s on 12-MP JPEGs). Shrinking the last few
    chunks down to single photos lets them finish close together; the network costs about the
    same per image in calls of 1-4 (docs/BENCHMARKS.md, history section 2)."""
    bounds = []
    i = 0
    while i < n:
        step = max(1, min(size, (n - i) // (2 * workers)))
        bounds.append((i, min(n, i + step)))
        i += step
    return bounds


def to_blob(vec: np.ndarray) -> bytes:
    return np.asarray(vec, np.float16).tobytes()


#: the indexed photo's metadata, executed once per batch with one parameter set per photo
_MARK_INDEXED = (
    update(Photo)
    .where(Photo.id == bindparam("b_id"))
    .values(
        width=bindparam("b_width"),
        height=bindparam("b_height"),
        date_taken=bindparam("b_date"),
        camera=bindparam("b_camera"),
        caption=bindparam("b_caption"),
        text=bindparam("b_text"),
        thumbnail=bindparam("b_thumbnail"),
        status=PhotoStatus.INDEXED,
        error=None,
    )
)
_MARK_FAILED = update(Photo).where(Photo.id == bindparam("b_id")).values(status=PhotoStatus.ERROR, error=bindparam("b_error"))


def photo_timestamp(date_taken: datetime | None, mtime: float) -> float:
    return date_taken.timestamp() if date_taken else mtime


class Indexer:
    def __init__(
        self,
        engine: Engine,
        thumbnails_dir: Path,
        model: Callable[[], EmbeddingModel],
        matrix: Callable[[str], VectorMatrix | None],
        batch_size: int = 32,
        decode_workers: int | None = None,
        cpu_workers: int | None = None,
    ) -> None:
        self.engine = engine
        self.thumbnails_dir = thumbnails_dir
        #: the first photo id the current run inserted (see run())
        self._first_new_id = 1 << 62
        self._model = model
        self._matrix = matrix
        self.batch_size = batch_size
        #: threads decoding ahead of an accelerator (photo decoding is the limit there: use the cores)
        self.decode_workers = decode_workers or max(2, min(16, available_cores() - 1))
        #: a CPU model's worker threads, each decoding and encoding (None: one a core, at most 4)
        self.cpu_workers = cpu_workers

    # -- public ------------------------------------------------------------------------------
    def run(
        self,
        folders: list[FolderSpec],
        cancel: CancelToken | None = None,
        only_paths: list[str] | None = None,
        watched: list[FolderSpec] | None = None,
    ) -> Iterator[IndexProgress]:
        """Scan ``folders`` (or only ``only_paths`` inside them) and embed what is new.

        ``watched``: every watched folder of the library (default: ``folders``). A photo belongs to
        the deepest watched folder that holds it; scanning a folder also scans the watched folders
        nested inside it (each with its own exclusions)."""
        cancel = cancel or CancelToken()
        watched = list(watched) if watched is not None else list(folders)
        counts = IndexCounts()
        yield IndexProgress("scan", 0, 0, counts=counts, message="Looking for photos…")
        found: dict[str, tuple[FoundFile, int]] = {}
        problems: list[ScanProblem] = []
        complete: set[int] = set()
        remove_under: tuple[str, ...] = ()
        if only_paths is None:
            folders = _with_nested(folders, watched)
            for folder in folders:
                if not os.path.isdir(folder.path):
                    problems.append(ScanProblem(folder.path, "folder is not available (moved, deleted or unmounted)"))
                    continue
                for i, ff in enumerate(_walk_folder(folder.path, folder, watched, problems)):
                    found.setdefault(ff.path, (ff, folder.id))
                    if i % 2000 == 1999:
                        cancel.checkpoint()
                        yield IndexProgress("scan", len(found), 0, current=ff.path, counts=counts)
                complete.add(folder.id)
            # photos below a folder scanned now may still belong to a watched folder above it that
            # is not scanned (e.g. indexed before this sub-folder was added): look at them too
            ids = {f.id for f in folders}
            inner = [f.path for f in folders if any(w.id not in ids and is_below(f.path, w.path) for w in watched)]
            known = load_known(self.engine, sorted(ids), under=inner)
            remove_under = tuple(f.path.rstrip("/") + "/" for f in folders if f.id in complete and f.path in inner)
            may_remove: set[int] | None = complete
        else:
            found = self._collect_paths(folders, only_paths, problems)
            known = load_known(self.engine, paths=sorted({normalise(p) for p in only_paths}))
            may_remove = None
        cancel.checkpoint()
        yield IndexProgress("scan", len(found), len(found), counts=counts, message="Comparing with the library…")
        protected = tuple(p.path for p in problems if p.protects)
        # photos inserted by this reconcile get ids from here on: one of them that then cannot be
        # read is counted as failed, not as added (an index run said "added": 218 beside "failed": 3
        # when 215 were added)
        with self.engine.connect() as conn:
            self._first_new_id = int(conn.exec_driver_sql("SELECT coalesce(max(id), 0) + 1 FROM photos").scalar() or 1)
        rec = reconcile(self.engine, found, known, may_remove, cancel.checkpoint, protected, remove_under)
        counts = rec.counts
        if only_paths is None:
            scanned = [f.path for f in folders if f.id in complete]
        else:  # the watcher's paths: each was looked at again (a folder walked whole)
            scanned = sorted({normalise(p) for p in only_paths})
        counts.failed += record_problems(self.engine, problems + rec.problems, scanned)
        if rec.dropped_hashes:
            drop_unused_thumbnails(self.engine, self.thumbnails_dir, rec.dropped_hashes)
        matrix = self._matrix_for_current()
        if matrix is not None:
            matrix.remove(rec.removed_ids + rec.stale_ids)
            if rec.moved_ids:
                self._refresh_dates(matrix, rec.moved_ids)
        yield IndexProgress("scan", len(found), len(found), counts=counts)
        yield from self._embed([f.id for f in folders], counts, cancel)

    # -- scanning helpers --------------------------------------------------------------------
    def _collect_paths(
        self, folders: list[FolderSpec], paths: list[str], problems: list[ScanProblem]
    ) -> dict[str, tuple[FoundFile, int]]:
        found: dict[str, tuple[FoundFile, int]] = {}
        rules: dict[int, Exclusions] = {}
        for raw in paths:
            path = normalise(raw)
            folder = _owner(folders, path)
            if folder is None:
                continue
            excl = rules.get(folder.id)
            if excl is None:
                excl = rules[folder.id] = _rules_for(folder, folders)
            if excl and excl.match(path):
                continue
            if os.path.isdir(path):
                for below in _walk_folder(path, folder, folders, problems):
                    found.setdefault(below.path, (below, folder.id))
                for sub in folders:  # watched folders inside this one: each with its own rules
                    if is_below(sub.path, path) and _owner(folders, sub.path) is sub and os.path.isdir(sub.path):
                        for below in _walk_folder(sub.path, sub, folders, problems):
                            found.setdefault(below.path, (below, sub.id))
                continue
            ff = stat_file(path)
            if ff is None:
                continue
            if is_photo_name(ff.path):
                found[ff.path] = (ff, folder.id)
        return found

    def _matrix_for_current(self) -> VectorMatrix | None:
        try:
            return self._matrix(self._model().key)
        except Exception:
            return None

    def _refresh_dates(self, matrix: VectorMatrix, ids: list[int]) -> None:
        with Session(self.engine) as s:
            rows = s.execute(select(Photo.id, Photo.date_taken, Photo.mtime).where(Photo.id.in_(ids))).all()
        matrix.set_dates([r[0] for r in rows], [photo_timestamp(r[1], r[2]) for r in rows])

    # -- embedding ---------------------------------------------------------------------------
    def _embed(self, folder_ids: list[int], counts: IndexCounts, cancel: CancelToken) -> Iterator[IndexProgress]:
        model = self._model()
        key = model.key
        need_image, need_text = self._todo(folder_ids, key)
        if not need_image and not need_text:
            yield IndexProgress("done", 0, 0, counts=counts, message="Up to date")
            return
        matrix = self._matrix(key)
        if need_text:
            self._refresh_texts(model, need_text, matrix)
        total = len(need_image)
        start = time.monotonic()
        done = 0
        yield IndexProgress("embed", 0, total, counts=counts, message=f"Indexing {total} photos…")
        if getattr(model, "device", "cpu") == "cpu":
            chunks = self._cpu_chunks(model, need_image, cancel)
        else:
            chunks = self._accelerator_chunks(model, need_image, cancel)
        items: list[PreparedPhoto] = []
        parts: list[_Encoded] = []
        for chunk_items, encoded in chunks:
            items.extend(chunk_items)
            parts.append(encoded)
            if len(items) < self.batch_size and done + len(items) < total:
                continue
            self._store(model, items, _Encoded.join(parts, model.dim), matrix, counts)
            done += len(items)
            elapsed = time.monotonic() - start
            rate = done / elapsed if elapsed > 0 else 0.0
            eta = (total - done) / rate if rate > 0 else None
            yield IndexProgress("embed", done, total, current=items[-1].path, rate=rate, eta_s=eta, counts=counts)
            items, parts = [], []
        elapsed = time.monotonic() - start
        rate = done / elapsed if elapsed > 0 else 0.0
        yield IndexProgress("done", done, total, rate=rate, eta_s=0.0, counts=counts, message="Up to date")

    def _cpu_chunks(self, model: EmbeddingModel, work: list[PhotoWork], cancel: CancelToken) -> Iterator[tuple[list[PreparedPhoto], _Encoded]]:
        """The network on the CPU: a few worker threads, each decoding a few photos and running the
        network on them itself, single-threaded; chunks come back in order.

        Why not torch's own threads beside a decode pool: its intra-op threads meet at a barrier
        in every layer, so a decode thread (or another program) that takes one of them off its
        core stalls the rest. Independent single-threaded workers never wait on each other, keep
        each photo's pixels in the cache of the core that decoded them, and run the network in
        calls of a few images, which on a CPU costs about half as much per image as batches of 32
        (whose activations, hundreds of MB, spill out of the caches).
        """
        workers = max(1, self.cpu_workers or min(4, available_cores()))
        size = max(1, min(self.batch_size, CPU_MICRO_BATCH))
        min_side = max(model.image_size, THUMBNAIL_SIZE)
        depth = max(2 * workers, 2 * self.batch_size // size)  # chunks queued ahead of the writer
        pool = ThreadPoolExecutor(workers, thread_name_prefix="index", initializer=limit_torch_threads, initargs=(1,))
        window: deque[Future[tuple[list[PreparedPhoto], _Encoded]]] = deque()
        try:
            for i, j in cpu_chunk_bounds(len(work), size, workers):
                cancel.checkpoint()
                window.append(pool.submit(self._prepare_and_encode, model, work[i:j], min_side))
                if len(window) >= depth:
                    yield window.popleft().result()
            while window:
                cancel.checkpoint()
                yield window.popleft().result()
        finally:
            for fut in window:
                fut.cancel()
            pool.shutdown(wait=True)
            release_cpu_memory()  # the activations' memory, kept for reuse while the run lasted

    def _prepare_and_encode(self, model: EmbeddingModel, work: list[PhotoWork], min_side: int) -> tuple[list[PreparedPhoto], _Encoded]:
        prepared = [self._prepare(model, w, min_side) for w in work]
        return prepared, self._encode(model, prepared)

    def _accelerator_chunks(
        self, model: EmbeddingModel, work: list[PhotoWork], cancel: CancelToken
    ) -> Iterator[tuple[list[PreparedPhoto], _Encoded]]:
        """The network on an accelerator: a thread pool decodes ahead while this thread runs
        whole batches on the device."""
        min_side = max(model.image_size, THUMBNAIL_SIZE)
        # one torch thread per decode worker: its resizes (core/resize.py) stay off the other cores
        with ThreadPoolExecutor(
            self.decode_workers, thread_name_prefix="decode", initializer=limit_torch_threads, initargs=(1,)
        ) as pool:
            window: deque[Future[PreparedPhoto]] = deque()
            todo = iter(work)
            batch: list[PreparedPhoto] = []
            exhausted = False
            try:
                while True:
                    while not exhausted and len(window) < self.batch_size * 3:
                        item = next(todo, None)
                        if item is None:
                            exhausted = True
                            break
                        window.append(pool.submit(self._prepare, model, item, min_side))
                    if not window:
                        break
                    batch.append(window.popleft().result())
                    if len(batch) >= self.batch_size or (exhausted and not window):
                        cancel.checkpoint()
                        yield batch, self._encode(model, batch)
                        batch = []
            finally:
                for fut in window:
                    fut.cancel()

    def _todo(self, folder_ids: list[int], key: str) -> tuple[list[PhotoWork], list[tuple[int, str | None, bool]]]:
        """Photos that need the network (image and text), and photos whose text alone changed (id,
        text, whether it is the file name's words)."""
        with Session(self.engine) as s:
            rows = s.execute(
                select(Photo.id, Photo.path, Photo.content_hash, Photo.caption, Photo.status, Photo.text, Vector.photo_id, Vector.text_source)
                .outerjoin(Vector, and_(Vector.photo_id == Photo.id, Vector.model == key))
                .where(
                    Photo.folder_id.in_(folder_ids),
                    or_(
                        Photo.status == PhotoStatus.PENDING,
                        and_(Photo.status == PhotoStatus.INDEXED, Vector.photo_id.is_(None)),
                        and_(Photo.status == PhotoStatus.INDEXED, Vector.text_source.is_not(Photo.text)),
                    ),
                )
                .order_by(Photo.path)
            ).all()
        need_image = [PhotoWork(r[0], r[1], r[2], r[3]) for r in rows if r[4] == PhotoStatus.PENDING or r[6] is None]
        need_text = [(r[0], r[5], is_name_text(r[5], r[3])) for r in rows if r[4] == PhotoStatus.INDEXED and r[6] is not None]
        return need_image, need_text

    def _prepare(self, model: EmbeddingModel, work: PhotoWork, min_side: int) -> PreparedPhoto:
        """Runs in a decode thread (see :func:`prepare_photo`)."""
        return prepare_photo(model, work, min_side, self.thumbnails_dir)

    def _encode(self, model: EmbeddingModel, batch: list[PreparedPhoto]) -> _Encoded:
        """Runs the network on a few photos (in a worker thread); touches no database."""
        ok = [p for p in batch if p.array is not None]
        arrays = [p.array for p in batch if p.array is not None]
        image_vecs = model.encode_images(arrays) if arrays else np.zeros((0, model.dim), np.float32)
        texted = [p for p in ok if p.text]
        text_vecs: dict[int, tuple[np.ndarray, float]] = {}
        if texted:
            ptv = model.encode_photo_texts([p.text or "" for p in texted])
            for p, vec, gate in zip(texted, ptv.vectors, ptv.gate, strict=True):
                text_vecs[p.id] = (vec, float(gate))
        for p in ok:
            p.array = None  # the decoded pixels are no longer needed: free them early
        return _Encoded(ok, image_vecs, text_vecs)

    def _store(
        self, model: EmbeddingModel, batch: list[PreparedPhoto], encoded: _Encoded, matrix: VectorMatrix | None, counts: IndexCounts
    ) -> None:
        ok, image_vecs, text_vecs = encoded.ok, encoded.image_vecs, encoded.text_vecs
        ok_ids = {p.id for p in ok}
        vanished = [p.id for p in batch if p.id not in ok_ids and p.vanished]
        failed = [p for p in batch if p.id not in ok_ids and not p.vanished]
        with Session(self.engine) as s, s.begin():
            if ok:  # one executemany, not a statement per photo
                s.connection().execute(
                    _MARK_INDEXED,
                    [
                        dict(b_id=p.id, b_width=p.width, b_height=p.height, b_date=p.date_taken, b_camera=p.camera,
                             b_caption=p.caption, b_text=p.text, b_thumbnail=p.thumbnail)
                        for p in ok
                    ],
                )
            if ok:
                rows = []
                for p, vec in zip(ok, image_vecs, strict=True):
                    tv = text_vecs.get(p.id)
                    rows.append(
                        dict(
                            photo_id=p.id,
                            model=model.key,
                            image=to_blob(vec),
                            text_vec=to_blob(tv[0]) if tv else None,
                            text_gate=tv[1] if tv else None,
                            text_source=p.text,
                        )
                    )
                stmt = sqlite_insert(Vector).values(rows)
                stmt = stmt.on_conflict_do_update(
                    index_elements=[Vector.photo_id, Vector.model],
                    set_={c: stmt.excluded[c] for c in ("image", "text_vec", "text_gate", "text_source")},
                )
                s.execute(stmt)
            if failed:
                s.connection().execute(_MARK_FAILED, [dict(b_id=p.id, b_error=p.error) for p in failed])
            if vanished:
                s.execute(delete(Photo).where(Photo.id.in_(vanished)))
        counts.embedded += len(ok)
        counts.failed += len(failed)
        counts.added -= min(counts.added, sum(1 for p in failed if p.id >= self._first_new_id))
        counts.removed += len(vanished)
        for p in failed:
            log.info("skipped a photo: %s", p.error)
        if matrix is not None:
            if ok:
                matrix.upsert(
                    [p.id for p in ok],
                    image_vecs,
                    [text_vecs[p.id][0] if p.id in text_vecs else None for p in ok],
                    [text_vecs[p.id][1] if p.id in text_vecs else None for p in ok],
                    [photo_timestamp(p.date_taken, p.mtime) for p in ok],
                    [is_name_text(p.text, p.caption) for p in ok],
                )
            if vanished:
                matrix.remove(vanished)

    def _refresh_texts(self, model: EmbeddingModel, items: list[tuple[int, str | None, bool]], matrix: VectorMatrix | None) -> None:
        """Re-embed only the text of photos whose caption or file name changed."""
        for i in range(0, len(items), 256):
            chunk = items[i : i + 256]
            with_text = [(pid, t) for pid, t, _ in chunk if t]
            vecs: dict[int, tuple[np.ndarray, float]] = {}
            if with_text:
                ptv = model.encode_photo_texts([t for _, t in with_text])
                vecs = {pid: (v, float(g)) for (pid, _), v, g in zip(with_text, ptv.vectors, ptv.gate, strict=True)}
            with Session(self.engine) as s, s.begin():
                for pid, t, _ in chunk:
                    tv = vecs.get(pid)
                    s.execute(
                        update(Vector)
                        .where(Vector.photo_id == pid, Vector.model == model.key)
                        .values(text_vec=to_blob(tv[0]) if tv else None, text_gate=tv[1] if tv else None, text_source=t)
                    )
            if matrix is not None:
                matrix.set_texts([pid for pid, _, _ in chunk], [vecs[p][0] if p in vecs else None for p, _, _ in chunk],
                                 [vecs[p][1] if p in vecs else None for p, _, _ in chunk], [name for _, _, name in chunk])


def _walk_folder(root: str, folder: FolderSpec, watched: list[FolderSpec], problems: list[ScanProblem]) -> Iterator[FoundFile]:
    """The photos below ``root`` that belong to the watched ``folder``: its rules apply (and its
    parents'), and the watched folders nested below ``root`` are left to their own walks."""
    nested = [w.path for w in watched if w.id != folder.id and is_below(w.path, root)]
    return walk(root, _rules_for(folder, watched), problems, skip=nested)


def _rules_for(folder: FolderSpec, watched: list[FolderSpec]) -> Exclusions:
    """A watched folder's exclusions, with those of the watched folders above it (a folder left out
    of a parent stays out when a sub-folder is watched on its own)."""
    inherited = [p for w in watched if is_below(folder.path, w.path) for p in anchored(w.exclusions, w.path)]
    return Exclusions.of([*folder.exclusions, *inherited], folder.path)


def _with_nested(folders: list[FolderSpec], watched: list[FolderSpec]) -> list[FolderSpec]:
    """``folders`` and every watched folder nested inside one of them, in path order."""
    chosen = {f.id: f for f in folders}
    for w in watched:
        if w.id not in chosen and any(is_below(w.path, f.path) for f in folders):
            chosen[w.id] = w
    return sorted(chosen.values(), key=lambda f: f.path)


def _owner(folders: list[FolderSpec], path: str) -> FolderSpec | None:
    """The watched folder a path belongs to (the deepest one), unless it is hidden below it
    (exclusions are the caller's: ``_rules_for``)."""
    best = None
    for f in folders:
        root = f.path.rstrip("/")
        if path == root or path.startswith(root + "/"):
            if best is None or len(root) > len(best.path):
                best = f
    if best is None:
        return None
    rel = path[len(best.path.rstrip("/")) + 1 :]
    if any(is_hidden(part) for part in rel.split("/")[:-1]) or rel.startswith("."):
        return None
    return best

