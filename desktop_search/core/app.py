"""PhotoLibrary: the one facade the command line and the window use.

One library = one folder holding ``library.db`` (SQLite) and ``thumbnails/``. The network is loaded
lazily (torch is imported then, never at start-up); vectors stay resident in a :class:`VectorMatrix`
that the indexing job updates in place, so a query never re-reads the database's vectors.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import sys
import threading
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from . import paths
from .cancel import Cancelled, CancelToken
from .db import DatabaseError, Folder, Meta, Photo, PhotoStatus, Problem, Vector, open_database
from .errors import UserError
from .indexing import FolderSpec, Indexer
from .indexing.pipeline import photo_timestamp
from .library.imageio import ImageDecodeError, decode
from .library.scanner import normalise
from .models import DEFAULT_MODEL, EmbeddingModel, ModelUnavailable, load_model
from .search.matrix import Filters, VectorMatrix
from .types import (
    ErrorInfo,
    FolderInfo,
    IndexCounts,
    IndexProgress,
    LibraryStatus,
    PhotoInfo,
    SearchQuery,
    SearchResult,
)

log = logging.getLogger(__name__)

DB_NAME = "library.db"
#: text queries whose vectors are remembered
QUERY_CACHE = 256


class PhotoLibrary:
    def __init__(
        self, root: Path, model_name: str | None = None, device: str | None = None, decode_workers: int | None = None
    ) -> None:
        self.root = root
        #: threads decoding photos while the network runs (None: chosen from the core count)
        self.decode_workers = decode_workers
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create the library folder {root}: {exc.strerror or exc}") from exc
        try:
            self.engine = open_database(root / DB_NAME)
        except DatabaseError as exc:
            raise UserError(str(exc)) from exc
        self.thumbnails_dir = root / "thumbnails"
        self.device = device
        self.model_name = self._get_meta("model") or DEFAULT_MODEL
        if model_name:
            self.set_model(model_name)
        self.model_warning: str | None = None
        self._models: dict[str, EmbeddingModel] = {}
        self._model_lock = threading.Lock()
        self._matrices: dict[str, VectorMatrix] = {}
        self._matrix_lock = threading.Lock()
        self._job_lock = threading.Lock()
        self._query_cache: dict[tuple[str, str], np.ndarray] = {}
        self._query_lock = threading.Lock()

    @classmethod
    def open(
        cls,
        root: Path | str | None = None,
        model_name: str | None = None,
        device: str | None = None,
        decode_workers: int | None = None,
    ) -> PhotoLibrary:
        return cls(Path(root).expanduser() if root else paths.default_library_dir(), model_name, device, decode_workers)

    def close(self) -> None:
        for model in self._models.values():
            model.close()
        self._models.clear()
        self.engine.dispose()

    def __enter__(self) -> PhotoLibrary:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- meta --------------------------------------------------------------------------------
    def _get_meta(self, key: str) -> str | None:
        with Session(self.engine) as s:
            row = s.get(Meta, key)
            return row.value if row else None

    def _set_meta(self, key: str, value: str) -> None:
        with Session(self.engine) as s, s.begin():
            row = s.get(Meta, key)
            if row is None:
                s.add(Meta(key=key, value=value))
            else:
                row.value = value

    # -- folders -----------------------------------------------------------------------------
    def folders(self) -> list[FolderInfo]:
        with Session(self.engine) as s:
            folders = s.scalars(select(Folder).order_by(Folder.path)).all()
            counts = {
                (r[0], r[1]): r[2]
                for r in s.execute(
                    select(Photo.folder_id, Photo.status, func.count()).group_by(Photo.folder_id, Photo.status)
                )
            }
            out = []
            for f in folders:
                photos = sum(v for (fid, _), v in counts.items() if fid == f.id)
                out.append(
                    FolderInfo(
                        path=f.path,
                        exclusions=tuple(json.loads(f.exclusions or "[]")),
                        photos=photos,
                        pending=counts.get((f.id, PhotoStatus.PENDING), 0),
                        errors=counts.get((f.id, PhotoStatus.ERROR), 0),
                    )
                )
            return out

    def _folder_specs(self, only: Iterable[str] | None = None) -> list[FolderSpec]:
        wanted = {normalise(p) for p in only} if only else None
        with Session(self.engine) as s:
            rows = s.scalars(select(Folder).order_by(Folder.path)).all()
            specs = [FolderSpec(f.id, f.path, tuple(json.loads(f.exclusions or "[]"))) for f in rows]
        if wanted is not None:
            specs = [f for f in specs if f.path in wanted]
        return specs

    def add_folder(self, path: str | Path, exclusions: Iterable[str] = ()) -> FolderInfo:
        norm = normalise(path)
        if not os.path.isdir(norm):
            raise UserError(f"not a folder: {path}")
        excl = json.dumps(sorted({normalise(e) if os.path.isabs(str(e)) else str(e) for e in exclusions}))
        with Session(self.engine) as s, s.begin():
            existing = s.scalar(select(Folder).where(Folder.path == norm))
            if existing is None:
                s.add(Folder(path=norm, exclusions=excl))
            elif exclusions:
                existing.exclusions = excl
        return next(f for f in self.folders() if f.path == norm)

    def set_exclusions(self, path: str | Path, exclusions: Iterable[str]) -> None:
        norm = normalise(path)
        with Session(self.engine) as s, s.begin():
            folder = s.scalar(select(Folder).where(Folder.path == norm))
            if folder is None:
                raise UserError(f"not a watched folder: {path}")
            folder.exclusions = json.dumps(sorted(str(e) for e in exclusions))

    def remove_folder(self, path: str | Path) -> None:
        norm = normalise(path)
        with Session(self.engine) as s:
            folder = s.scalar(select(Folder).where(Folder.path == norm))
            if folder is None:
                raise UserError(f"not a watched folder: {path}")
            ids = list(s.scalars(select(Photo.id).where(Photo.folder_id == folder.id)))
            s.execute(delete(Folder).where(Folder.id == folder.id))
            s.commit()
        with self._matrix_lock:
            for matrix in self._matrices.values():
                matrix.remove(ids)

    # -- models ------------------------------------------------------------------------------
    @property
    def model_ready(self) -> bool:
        return self._search_model_name() in self._models

    def _search_model_name(self) -> str:
        return self._get_meta("active_model") or self.model_name

    def get_model(self, name: str | None = None) -> EmbeddingModel:
        """The loaded model of that name (the library's by default); loads it on first use.

        A model that cannot be had (offline, missing weights) falls back to ``builtin`` with a
        one-line warning in :attr:`model_warning`.
        """
        name = name or self.model_name
        with self._model_lock:
            model = self._models.get(name)
            if model is None:
                try:
                    model = load_model(name, device=self.device)
                except ModelUnavailable as exc:
                    if name == DEFAULT_MODEL:
                        raise UserError(f"the built-in model cannot be loaded: {exc}") from exc
                    self.model_warning = f"model {name} is unavailable ({exc}); using {DEFAULT_MODEL}"
                    log.warning(self.model_warning)
                    model = self._models.get(DEFAULT_MODEL) or load_model(DEFAULT_MODEL, device=self.device)
                    self._models[DEFAULT_MODEL] = model
                self._models[name] = model
            return model

    def load_model(self) -> None:
        """Load the search model (and warm up its matrix) ahead of the first query."""
        self._matrix(self.get_model(self._search_model_name()).key)

    def set_model(self, name: str) -> None:
        """Choose the library's model; the next index run re-embeds in the background while the
        old vectors keep answering until the new ones are complete."""
        if name == self.model_name and self._get_meta("model") == name:
            return
        with Session(self.engine) as s:
            has_vectors = s.scalar(select(Vector.photo_id).limit(1)) is not None
        if has_vectors and name != self.model_name and not self._get_meta("active_model"):
            self._set_meta("active_model", self.model_name)
        self._set_meta("model", name)
        self.model_name = name

    def _matrix(self, key: str) -> VectorMatrix:
        with self._matrix_lock:
            matrix = self._matrices.get(key)
            if matrix is None:
                matrix = self._load_matrix(key)
                self._matrices[key] = matrix
            return matrix

    def _load_matrix(self, key: str) -> VectorMatrix:
        """Read every vector of ``key`` once, straight through sqlite3 for speed."""
        raw = sqlite3.connect(str(self.root / DB_NAME))
        try:
            rows = raw.execute(
                "SELECT v.photo_id, v.image, v.text_vec, v.text_gate, p.date_taken, p.mtime "
                "FROM vectors v JOIN photos p ON p.id = v.photo_id WHERE v.model = ? AND p.status = ?",
                (key, PhotoStatus.INDEXED),
            ).fetchall()
        finally:
            raw.close()
        dim = len(rows[0][1]) // 2 if rows else self._models_dim(key)
        matrix = VectorMatrix(dim, capacity=max(1024, len(rows)))
        if rows:
            ids = [r[0] for r in rows]
            images = np.frombuffer(b"".join(r[1] for r in rows), np.float16).reshape(len(rows), dim)
            texts = [np.frombuffer(r[2], np.float16) if r[2] is not None else None for r in rows]
            gates = [r[3] for r in rows]
            dates = [photo_timestamp(_parse_dt(r[4]), r[5]) for r in rows]
            matrix.upsert(ids, images, texts, gates, dates)
        return matrix

    def _models_dim(self, key: str) -> int:
        for model in self._models.values():
            if model.key == key:
                return model.dim
        return self.get_model(self._search_model_name()).dim

    # -- indexing ----------------------------------------------------------------------------
    def _indexer(self) -> Indexer:
        return Indexer(
            self.engine,
            self.thumbnails_dir,
            lambda: self.get_model(self.model_name),
            self._matrix_if_loaded,
            decode_workers=self.decode_workers,
            cpu_workers=self.decode_workers,
        )

    def _matrix_if_loaded(self, key: str) -> VectorMatrix | None:
        with self._matrix_lock:
            return self._matrices.get(key)

    def index(self, paths: Iterable[str] | None = None, cancel: CancelToken | None = None) -> Iterator[IndexProgress]:
        """Scan the watched folders (all, or those given) and embed what is new or changed."""
        specs = self._folder_specs(paths)
        yield from self._run_job(specs, cancel, None)

    def apply_changes(self, changed_paths: Iterable[str], cancel: CancelToken | None = None) -> Iterator[IndexProgress]:
        """Re-examine only these paths (created, modified, moved or deleted files or folders)."""
        yield from self._run_job(self._folder_specs(), cancel, list(changed_paths))

    def _run_job(self, specs: list[FolderSpec], cancel: CancelToken | None, only: list[str] | None) -> Iterator[IndexProgress]:
        if not self._job_lock.acquire(blocking=False):
            raise UserError("another indexing job is already running on this library")
        try:
            if not specs:
                yield IndexProgress("done", 0, 0, counts=IndexCounts(), message="No folders to index")
                return
            counts = IndexCounts()
            try:
                for event in self._indexer().run(specs, cancel, only):
                    counts = event.counts
                    yield event
            except Cancelled:
                yield IndexProgress("cancelled", 0, 0, counts=counts, message="Cancelled")
                return
            self._finish_model_switch()
        finally:
            self._job_lock.release()

    def _finish_model_switch(self) -> None:
        active = self._get_meta("active_model")
        if not active or active == self.model_name:
            return
        key = self.get_model(self.model_name).key
        with Session(self.engine) as s:
            missing = s.scalar(
                select(func.count())
                .select_from(Photo)
                .outerjoin(Vector, (Vector.photo_id == Photo.id) & (Vector.model == key))
                .where(Photo.status == PhotoStatus.INDEXED, Vector.photo_id.is_(None))
            )
        if missing == 0:
            with Session(self.engine) as s, s.begin():
                s.execute(delete(Vector).where(Vector.model != key))
                s.execute(delete(Meta).where(Meta.key == "active_model"))
            with self._matrix_lock:
                for k in [k for k in self._matrices if k != key]:
                    del self._matrices[k]

    # -- search ------------------------------------------------------------------------------
    def search(self, query: SearchQuery) -> list[SearchResult]:
        if query.is_empty:
            return []
        model = self.get_model(self._search_model_name())
        matrix = self._matrix(model.key)
        _single_threaded_queries(model)
        parts: list[tuple[np.ndarray, float, bool]] = []
        if query.text and query.text.strip():
            parts.append((self._query_vector(model, query.text.strip()), 1.0, False))
        examples = [self._example_vector(model, matrix, p) for p in query.image_paths]
        examples += [v for v in (matrix.image_vector(pid) for pid in query.photo_ids) if v is not None]
        if query.photo_ids and not examples:
            examples += self._stored_vectors(model.key, query.photo_ids)
        if examples:
            mean = np.mean(examples, axis=0)
            parts.append((mean / max(float(np.linalg.norm(mean)), 1e-8), 1.0, True))
        if not parts:
            return []
        filters = Filters(
            allowed_ids=self._ids_under(query.folder) if query.folder else None,
            after=query.after.timestamp() if query.after else None,
            before=query.before.timestamp() if query.before else None,
            exclude_ids=frozenset(query.photo_ids),
        )
        weight = 1.0 / len(parts)
        hits = matrix.search([(v, weight, img) for v, _, img in parts], model.fusion, query.limit, filters, query.min_score)
        return self._results(hits)

    def _query_vector(self, model: EmbeddingModel, text: str) -> np.ndarray:
        """The query's vector; recent ones are remembered (the window re-runs the current query
        whenever the library changes, and users go back to earlier queries)."""
        key = (model.key, text)
        with self._query_lock:
            vec = self._query_cache.pop(key, None)
            if vec is not None:
                self._query_cache[key] = vec  # most recent last
                return vec
        vec = model.encode_queries([text])[0]
        vec.setflags(write=False)
        with self._query_lock:
            self._query_cache[key] = vec
            while len(self._query_cache) > QUERY_CACHE:
                del self._query_cache[next(iter(self._query_cache))]
        return vec

    def _example_vector(self, model: EmbeddingModel, matrix: VectorMatrix, path: str) -> np.ndarray:
        try:
            decoded = decode(path, min_side=model.image_size)
        except ImageDecodeError as exc:
            raise UserError(f"cannot use {path} as an example: {exc}") from exc
        except OSError as exc:
            raise UserError(f"cannot read {path}: {exc.strerror or exc}") from exc
        return model.encode_images([model.preprocess(decoded.image)])[0]

    def _stored_vectors(self, key: str, ids: Iterable[int]) -> list[np.ndarray]:
        with Session(self.engine) as s:
            blobs = s.scalars(select(Vector.image).where(Vector.model == key, Vector.photo_id.in_(list(ids)))).all()
        return [np.frombuffer(b, np.float16).astype(np.float32) for b in blobs]

    def _ids_under(self, folder: str) -> frozenset[int]:
        prefix = normalise(folder).rstrip("/") + "/"
        with Session(self.engine) as s:
            ids = s.scalars(select(Photo.id).where(Photo.path >= prefix, Photo.path < prefix[:-1] + "0"))
            return frozenset(ids)

    def _results(self, hits: list[tuple[int, float]]) -> list[SearchResult]:
        """Plain result objects for ``hits``, in their order (one plain SQL query: no ORM objects, no
        statement compilation; this is on the path of every search)."""
        if not hits:
            return []
        ids = list(dict.fromkeys(int(h[0]) for h in hits))
        sql = (
            "SELECT id, path, date_taken, size, width, height, caption, camera, thumbnail FROM photos "
            f"WHERE id IN ({','.join('?' * len(ids))})"
        )
        raw = self.engine.raw_connection()
        try:
            rows = {r[0]: r for r in raw.cursor().execute(sql, ids).fetchall()}
        finally:
            raw.close()
        out = []
        for pid, score in hits:
            r = rows.get(pid)
            if r is None:
                continue
            out.append(
                SearchResult(
                    photo_id=r[0],
                    path=r[1],
                    score=round(score, 6),
                    date_taken=_parse_dt(r[2]),
                    size=r[3],
                    width=r[4],
                    height=r[5],
                    caption=r[6],
                    camera=r[7],
                    thumbnail_path=r[8] if r[8] and os.path.exists(r[8]) else None,
                )
            )
        return out

    # -- status ------------------------------------------------------------------------------
    def photo(self, photo_id: int) -> PhotoInfo | None:
        with Session(self.engine) as s:
            p = s.get(Photo, photo_id)
            if p is None:
                return None
            return PhotoInfo(p.id, p.path, p.size, p.width, p.height, p.date_taken, p.camera, p.caption, p.thumbnail)

    def status(self) -> LibraryStatus:
        with Session(self.engine) as s:
            by_status = dict(s.execute(select(Photo.status, func.count()).group_by(Photo.status)).all())
            problems = s.scalar(select(func.count()).select_from(Problem)) or 0
            folders = s.scalar(select(func.count()).select_from(Folder)) or 0
        photos = sum(by_status.values())
        return LibraryStatus(
            photos=photos,
            indexed=by_status.get(PhotoStatus.INDEXED, 0),
            pending=by_status.get(PhotoStatus.PENDING, 0),
            errors=by_status.get(PhotoStatus.ERROR, 0) + problems,
            model=self.model_name,
            folders=folders,
        )

    def errors(self, folder: str | None = None) -> list[ErrorInfo]:
        with Session(self.engine) as s:
            stmt = select(Photo.path, Photo.error, Photo.updated_at).where(Photo.status == PhotoStatus.ERROR)
            pstmt = select(Problem.path, Problem.reason, Problem.when)
            if folder:
                prefix = normalise(folder).rstrip("/")
                stmt = stmt.where(Photo.path.like(prefix + "/%"))
                pstmt = pstmt.where((Problem.path == prefix) | Problem.path.like(prefix + "/%"))
            rows = list(s.execute(stmt)) + list(s.execute(pstmt))
        return sorted((ErrorInfo(r[0], r[1] or "unknown error", r[2]) for r in rows), key=lambda e: e.path)


def _single_threaded_queries(model: EmbeddingModel) -> None:
    """Encode queries with one torch thread on the CPU: a single short query gains nothing from
    more, and on a busy 2-core machine the threads stall each other (bench/search.py --torch-threads 1:
    text p95 at 100,000 photos 54 ms against 277 ms). OpenMP's thread count is per calling thread,
    so indexing workers keep theirs."""
    torch = sys.modules.get("torch")
    if torch is not None and model.device == "cpu" and torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def _parse_dt(value: object) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None
