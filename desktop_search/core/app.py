"""PhotoLibrary: the one facade the command line and the window use.

One library = one folder holding ``library.db`` (SQLite) and ``thumbnails/``. The model is loaded
lazily; the builtin model answers text queries without torch (numpy), so torch is imported only when
something must be embedded (photos, photo texts, an example photo from outside the library). Vectors
stay resident in a :class:`VectorMatrix` that the indexing job updates in place, so a query never
re-reads the database's vectors.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from sqlalchemy import ColumnElement, and_, delete, func, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import InstrumentedAttribute, Session

from . import paths
from .cancel import Cancelled, CancelToken
from .db import DatabaseError, Folder, Meta, Photo, PhotoStatus, Problem, Vector, open_database
from .db.engine import connect
from .db.pathtext import from_db
from .errors import UserError
from .filelock import WriterLock
from .indexing import FolderSpec, Indexer
from .indexing.pipeline import drop_unused_thumbnails, photo_timestamp
from .library.imageio import ImageDecodeError, decode
from .library.scanner import below_bounds, clean_exclusion, content_hash, is_below, normalise
from .models import DEFAULT_MODEL, EmbeddingModel, ModelUnavailable, load_model
from .models.device import available_cores
from .search.filenames import FileNameIndex
from .search.filenames import merge as merge_named
from .search.filters import Choice, Narrowing, narrowing
from .search.filters import choices as filter_choices
from .search.matrix import EXACT_ROWS, Filters, VectorMatrix
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
#: how often a job waiting for another program's indexing job looks again (seconds)
WRITER_LOCK_POLL_S = 0.5
#: ``meta`` key (+ a model name): the vector key that model name had when last loaded for searching,
#: so the next start can read those vectors while the model loads (:meth:`PhotoLibrary.load_model`)
VECTOR_KEY_META = "vector_key:"
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
            paths.ensure(root)
        except OSError as exc:
            raise UserError(f"cannot create the library folder {root}: {exc.strerror or exc}") from exc
        if library_read_only(root) is None:
            _make_library_private(root)
        paths.make_app_folders_private()
        self._writer_lock = WriterLock(root / "index.lock")  # across processes
        db = root / DB_NAME
        #: why this library cannot be written (read-only folder, file or disk): it is then opened for
        #: searching only, and what would change it raises UserError with this reason; None: writable
        self.read_only_reason = library_read_only(root) if db.exists() else None
        try:
            if self.read_only_reason is not None:
                self.engine = open_database(db, read_only=True)
            elif db.exists() and db.stat().st_size > 0:
                self.engine = open_database(db)  # an upgrade runs in one write transaction (see _migrate)
            else:  # a new library: two programs creating it at once must not both set it up
                with self._writing(poll_s=0.02):
                    self.engine = open_database(db)
        except DatabaseError as exc:
            raise UserError(str(exc)) from exc
        self.thumbnails_dir = root / "thumbnails"
        self.device = device
        self.model_name = self._get_meta("model") or DEFAULT_MODEL
        if model_name:
            self.set_model(model_name)
        self.model_warning: str | None = None
        self._models: dict[str, EmbeddingModel] = {}
        self._fallbacks: set[str] = set()  # model names that builtin stands in for (unavailable)
        self._model_lock = threading.Lock()
        self._matrices: dict[str, VectorMatrix] = {}
        #: model key → (the key whose vectors answer for it, how many of each vector's numbers to
        #: use): itself, or during an upgrade of its weights an older version's (see _upgrade_source)
        self._answering: dict[str, tuple[str, int]] = {}
        self._matrix_lock = threading.Lock()
        self._job_lock = threading.Lock()
        self._query_cache: dict[tuple[str, str], np.ndarray] = {}
        self._query_lock = threading.Lock()
        self._file_names = FileNameIndex(root / DB_NAME, read_only=self.read_only)

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
        self._file_names.close()
        self.engine.dispose()

    def __enter__(self) -> PhotoLibrary:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- meta --------------------------------------------------------------------------------
    def _get_meta(self, key: str) -> str | None:
        """One plain SQL read (every search asks for the active model: no ORM session on that path;
        not cached, so a model switch made by another process is seen at once)."""
        rows = self._fetch("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def _fetch(self, sql: str, params: Sequence[object]) -> list[tuple]:
        """Rows of one plain SQL query on a pooled connection (no ORM objects, no statement
        compilation: for the reads on every search's path)."""
        raw = self.engine.raw_connection()
        try:
            return raw.cursor().execute(sql, params).fetchall()
        finally:
            raw.close()

    def _set_meta(self, key: str, value: str) -> None:
        """One upsert (two programs setting a key at once must not collide on it)."""
        stmt = sqlite_insert(Meta).values(key=key, value=value)
        with Session(self.engine) as s, s.begin():
            s.execute(stmt.on_conflict_do_update(index_elements=[Meta.key], set_={"value": stmt.excluded.value}))

    @contextmanager
    def _writing(self, poll_s: float = WRITER_LOCK_POLL_S) -> Iterator[None]:
        """Hold the library's writer lock (``index.lock``) to create the library or change its folders: it waits for
        another program's indexing job or folder change, so two programs adding folders to one library
        at once, or one adding while the other reconciles, never interleave. Re-entrant."""
        while not self._writer_lock.acquire():
            time.sleep(poll_s)
        try:
            yield
        finally:
            self._writer_lock.release()

    def writer_busy(self) -> bool:
        """Whether another program holds this library's writer lock now (it is indexing it)."""
        if self._writer_lock.held:
            return False
        if self._writer_lock.acquire():
            self._writer_lock.release()
            return False
        return True

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

    @property
    def read_only(self) -> bool:
        return self.read_only_reason is not None

    def _check_writable(self, what: str) -> None:
        if self.read_only_reason is not None:
            raise UserError(f"cannot {what}: the library {self.root} is read-only ({self.read_only_reason}); "
                            "searching works, but this needs write access to the library folder")

    def add_folder(self, path: str | Path, exclusions: Iterable[str] = ()) -> FolderInfo:
        norm = normalise(path)
        if not os.path.isdir(norm):
            raise UserError(f"not a folder: {path}")
        excl = _exclusions_json(exclusions)
        self._check_writable("add a folder")
        with self._writing(), Session(self.engine) as s, s.begin():
            existing = s.scalar(select(Folder).where(Folder.path == norm))
            if existing is None:
                _refuse_a_second_way_in(norm, list(s.scalars(select(Folder.path))))
                folder = Folder(path=norm, exclusions=excl)
                s.add(folder)
                s.flush()
                # a photo belongs to the deepest watched folder holding it: the new folder takes
                # over the photos below it that a watched folder above it had
                above = [f.id for f in s.scalars(select(Folder)) if f.id != folder.id and is_below(norm, f.path)]
                if above:
                    s.execute(
                        update(Photo)
                        .where(Photo.folder_id.in_(above), *_below(Photo.path, norm))
                        .values(folder_id=folder.id)
                    )
            elif exclusions:
                existing.exclusions = excl
        return next(f for f in self.folders() if f.path == norm)

    def set_exclusions(self, path: str | Path, exclusions: Iterable[str]) -> None:
        norm = normalise(path)
        self._check_writable("change the exclusions")
        with self._writing(), Session(self.engine) as s, s.begin():
            folder = s.scalar(select(Folder).where(Folder.path == norm))
            if folder is None:
                raise UserError(f"not a watched folder: {path}")
            folder.exclusions = _exclusions_json(exclusions)

    def remove_folder(self, path: str | Path) -> None:
        """Stop watching a folder: its photos leave the library (with their vectors, thumbnails
        and scan problems), except those inside another watched folder, which that folder keeps."""
        norm = normalise(path)
        self._check_writable("remove a folder")
        with self._writing(), Session(self.engine) as s:
            folder = s.scalar(select(Folder).where(Folder.path == norm))
            if folder is None:
                raise UserError(f"not a watched folder: {path}")
            others = [f for f in s.scalars(select(Folder)) if f.id != folder.id]
            # photos inside a remaining watched folder move to the deepest one (deepest first)
            keepers = sorted(
                (f for f in others if is_below(f.path, norm) or is_below(norm, f.path)),
                key=lambda f: len(f.path),
                reverse=True,
            )
            for keeper in keepers:
                s.execute(
                    update(Photo)
                    .where(Photo.folder_id == folder.id, *_below(Photo.path, keeper.path))
                    .values(folder_id=keeper.id)
                )
            rows = s.execute(select(Photo.id, Photo.content_hash).where(Photo.folder_id == folder.id)).all()
            ids = [r[0] for r in rows]
            s.execute(delete(Folder).where(Folder.id == folder.id))  # its photos and vectors cascade
            if not any(is_below(norm, f.path) for f in others):  # problems no other folder still covers
                inner = tuple(f.path.rstrip("/") + "/" for f in others if is_below(f.path, norm))
                below = select(Problem.path).where((Problem.path == norm) | and_(*_below(Problem.path, norm)))
                stale = [p for p in s.scalars(below) if not (inner and p.startswith(inner))]
                for i in range(0, len(stale), 500):
                    s.execute(delete(Problem).where(Problem.path.in_(stale[i : i + 500])))
            s.commit()
        drop_unused_thumbnails(self.engine, self.thumbnails_dir, [r[1] for r in rows])
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
                    self._fallbacks.add(name)
                    log.info(self.model_warning)  # the CLI and the window say it to the user, once
                    model = self._models.get(DEFAULT_MODEL) or load_model(DEFAULT_MODEL, device=self.device)
                    self._models[DEFAULT_MODEL] = model
                self._models[name] = model
            return model

    def switch_model(self, name: str) -> None:
        """Make ``name`` the library's model once it has loaded (a CLIP model downloads here). One
        that cannot be had raises :class:`ModelUnavailable`, with no stand-in: the library keeps its
        model and vectors (``set_model`` alone would switch to a name that then falls back)."""
        if name == self.model_name:
            return
        with self._model_lock:
            if name not in self._models or name in self._fallbacks:
                self._models[name] = load_model(name, device=self.device)
                self._fallbacks.discard(name)
        self.set_model(name)

    def load_model(self) -> None:
        """Load the search model (and warm up its matrix) ahead of the first query.

        The vectors of the key this model name had at the last start (remembered in ``meta``) are
        read meanwhile, on a thread of their own, by SQLite with the GIL released (see
        :class:`_Prefetch`), so that read overlaps the model load instead of following it. They
        are used only when the model's key is that key and nothing was committed to the database
        since they were read; otherwise the vectors are read again, as without the prefetch.
        A model with a ``prepare_queries()`` (the builtin: its numpy text encoder, no torch) builds
        what its first text query needs here too.
        """
        name = self._search_model_name()
        remembered = None if name in self._models else self._remembered_key(name)
        prefetch = None
        if remembered and self._matrix_if_loaded(remembered) is None:
            prefetch = _Prefetch(self.root / DB_NAME, remembered, self.read_only)
        try:
            model = self.get_model(name)
            prepare = getattr(model, "prepare_queries", None)
            if prepare is not None:
                prepare()
            self._matrix(model.key, prefetch)
        finally:
            if prefetch is not None:
                prefetch.discard()
        if remembered != model.key:
            self._remember_vector_key(name, model.key)

    def warm_up_search(self) -> bool:
        """Import torch when a loaded matrix is large enough for the int8 scan (over ``EXACT_ROWS``
        photos), whose kernel is torch's (see ``search/matrix.py``); without torch such a library is
        scored exactly in numpy, several times slower (at 100,000 photos ~120 ms of CPU a query
        against ~13). There, on a machine with two cores or more, it also builds the torch text
        modules, so that text queries may use a second core while one is idle (see
        :func:`_query_threads`). Text queries themselves need no torch with the builtin model, so
        this is not on the way to the first result: the window calls it on a worker after the first
        search. Returns whether it imported torch."""
        with self._matrix_lock:
            rows = max((len(m) for m in self._matrices.values()), default=0)
        if rows <= EXACT_ROWS:
            return False
        imported = "torch" not in sys.modules
        import torch  # noqa: F401

        prepare = getattr(self._models.get(self._search_model_name()), "prepare_parallel_queries", None)
        if prepare is not None and available_cores() > 1:
            try:
                prepare()
            except Exception:  # an optimisation: never fail the window's worker over it
                log.warning("cannot prepare multi-threaded text queries", exc_info=True)
        return imported

    def _remembered_key(self, name: str) -> str | None:
        try:
            return self._get_meta(VECTOR_KEY_META + name)
        except Exception:  # never fail the model load over an optimisation
            log.warning("cannot read the remembered vector key of %s", name, exc_info=True)
            return None

    def _remember_vector_key(self, name: str, key: str) -> None:
        """Note the key of the model loaded under ``name`` for the next start's prefetch."""
        if self.read_only:
            return
        try:
            if self._get_meta(VECTOR_KEY_META + name) != key:
                self._set_meta(VECTOR_KEY_META + name, key)
        except Exception:  # a read-only or busy library: the next start just reads after the load
            log.warning("cannot remember the vector key of %s", name, exc_info=True)

    def set_model(self, name: str) -> None:
        """Choose the library's model; the next index run re-embeds in the background while the
        old vectors keep answering until the new ones are complete."""
        if name == self.model_name and self._get_meta("model") == name:
            return
        self._check_writable(f"switch the library to the model {name}")
        with Session(self.engine) as s:
            has_vectors = s.scalar(select(Vector.photo_id).limit(1)) is not None
        if has_vectors and name != self.model_name and not self._get_meta("active_model"):
            self._set_meta("active_model", self.model_name)
        self._set_meta("model", name)
        self.model_name = name

    def _matrix(self, key: str, prefetch: _Prefetch | None = None) -> VectorMatrix:
        with self._matrix_lock:
            matrix = self._matrices.get(key)
            if matrix is None:
                if prefetch is not None and prefetch.key == key:
                    matrix = prefetch.take()  # checked under the lock: no commit since it was read
                if matrix is None:
                    matrix = self._load_matrix(key)
                self._matrices[key] = matrix
            return matrix

    def _load_matrix(self, key: str) -> VectorMatrix:
        """Read every vector of ``key`` once, straight through sqlite3 for speed."""
        raw = connect(self.root / DB_NAME, self.read_only)
        try:
            matrix = _read_matrix(raw, key)
        finally:
            raw.close()
        return matrix if matrix is not None else VectorMatrix(self._models_dim(key), capacity=1024)

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
        watched = self._folder_specs()
        specs = self._folder_specs(paths) if paths is not None else watched
        yield from self._run_job(specs, cancel, None, watched)

    def apply_changes(self, changed_paths: Iterable[str], cancel: CancelToken | None = None) -> Iterator[IndexProgress]:
        """Re-examine only these paths (created, modified, moved or deleted files or folders)."""
        yield from self._run_job(self._folder_specs(), cancel, list(changed_paths))

    def _run_job(
        self, specs: list[FolderSpec], cancel: CancelToken | None, only: list[str] | None, watched: list[FolderSpec] | None = None
    ) -> Iterator[IndexProgress]:
        self._check_writable("index")
        if not self._job_lock.acquire(blocking=False):
            raise UserError("another indexing job is already running on this library")
        try:
            while not self._writer_lock.acquire():  # another program's job: wait for it, never drop ours
                if cancel is not None and cancel.cancelled:
                    yield IndexProgress("cancelled", 0, 0, counts=IndexCounts(), message="Cancelled")
                    return
                yield IndexProgress("scan", 0, 0, counts=IndexCounts(),
                                    message="Waiting for another program to finish indexing this library…")
                time.sleep(WRITER_LOCK_POLL_S)
            if not specs:
                yield IndexProgress("done", 0, 0, counts=IndexCounts(), message="No folders to index")
                return
            counts = IndexCounts()
            try:
                for event in self._indexer().run(specs, cancel, only, watched):
                    counts = event.counts
                    yield event
            except Cancelled:
                yield IndexProgress("cancelled", 0, 0, counts=counts, message="Cancelled")
                return
            self._finish_model_switch()
            self._finish_upgrade()
        finally:
            self._writer_lock.release()
            self._job_lock.release()

    # -- a model's new weights: re-embedding in the background ------------------------------------
    def _vectors_answering(self, model: EmbeddingModel) -> tuple[str, int]:
        """(the key whose vectors answer ``model``'s searches, the numbers of each vector to use).

        Normally the model's own. While the library re-embeds after the model's weights changed to a
        version that can still read an older one's vectors (``legacy_versions``: the built-in model's
        concept bridge added to the same heads), the older vectors answer, read up to
        ``head_dim``, until every photo has its new vectors; then the old ones are deleted."""
        found = self._answering.get(model.key)
        if found is None:
            found = self._upgrade_source(model) or (model.key, int(model.dim))
            self._answering[model.key] = found
        return found

    def _upgrade_source(self, model: EmbeddingModel) -> tuple[str, int] | None:
        legacy = [f"{model.name}@{v}" for v in getattr(model, "legacy_versions", ())]
        if not legacy:
            return None
        # the index on vectors.model answers this at once; the count below reads every photo
        with Session(self.engine) as s:
            present = set(s.scalars(select(Vector.model).where(Vector.model.in_(legacy)).distinct()))
        key = next((k for k in legacy if k in present), None)
        if key is None or not self._missing_vectors(model.key):
            return None
        return key, int(getattr(model, "head_dim", model.dim))

    def _missing_vectors(self, key: str) -> int:
        """Indexed photos without a vector of ``key``."""
        with Session(self.engine) as s:
            return s.scalar(
                select(func.count())
                .select_from(Photo)
                .outerjoin(Vector, (Vector.photo_id == Photo.id) & (Vector.model == key))
                .where(Photo.status == PhotoStatus.INDEXED, Vector.photo_id.is_(None))
            ) or 0

    def upgrading(self) -> int | None:
        """Photos still to re-embed while older vectors of the library's model answer, else None."""
        name = self._search_model_name()
        model = self._models.get(name)
        if model is None and name == DEFAULT_MODEL:  # the built-in model loads without torch, at once
            model = self.get_model(name)
        if model is None:
            return None
        key, _ = self._vectors_answering(model)
        return None if key == model.key else self._missing_vectors(model.key)

    def _finish_upgrade(self) -> None:
        """After an indexing job: once every photo has the model's new vectors, search with them and
        delete the older version's."""
        model = self._models.get(self._search_model_name())
        if model is None:
            return
        key, _ = self._vectors_answering(model)
        if key == model.key or self._missing_vectors(model.key):
            return
        with Session(self.engine) as s, s.begin():
            s.execute(delete(Vector).where(Vector.model == key))
        with self._matrix_lock:
            self._matrices.pop(key, None)
        self._answering[model.key] = (model.key, int(model.dim))
        log.info("the library's vectors of %s replace those of %s", model.key, key)

    def _finish_model_switch(self) -> None:
        active = self._get_meta("active_model")
        if not active or active == self.model_name:
            return
        model = self.get_model(self.model_name)
        if self.model_name in self._fallbacks:
            # the library's model could not be had (offline) and builtin stood in: its vectors must
            # not replace the old model's, which keep answering until the real model is complete
            return
        key = model.key
        if self._missing_vectors(key) == 0:
            with Session(self.engine) as s, s.begin():
                s.execute(delete(Vector).where(Vector.model != key))
                s.execute(delete(Meta).where(Meta.key == "active_model"))
            self._answering.clear()
            with self._matrix_lock:
                for k in [k for k in self._matrices if k != key]:
                    del self._matrices[k]

    # -- search ------------------------------------------------------------------------------
    def search(self, query: SearchQuery) -> list[SearchResult]:
        if query.is_empty:
            return []
        model = self.get_model(self._search_model_name())
        key, width = self._vectors_answering(model)
        matrix = self._matrix(key)
        _single_threaded_queries(model)
        if hasattr(model, "cpu_query_threads"):
            model.cpu_query_threads = _query_threads(indexing=self._job_lock.locked())
        parts: list[tuple[np.ndarray, float, bool]] = []
        if query.text and query.text.strip():
            parts.append((self._query_vector(model, query.text.strip())[:width], 1.0, False))
        examples = [self._example_vector(model, matrix, p)[:width] for p in query.image_paths]
        examples += [v for v in (matrix.image_vector(pid) for pid in query.photo_ids) if v is not None]
        if query.photo_ids and not examples:
            examples += self._stored_vectors(key, query.photo_ids)
        if examples:
            mean = np.mean(examples, axis=0)
            # with a text part, example scores are brought to the text scores' scale (see FusionScorer)
            scale = float(model.fusion.example_weight) if parts else 1.0
            parts.append((mean / max(float(np.linalg.norm(mean)), 1e-8), scale, True))
        if not parts:
            return []
        narrowed = narrowing(query.filters)
        filters = Filters(
            id_sets=(self._ids_kept(narrowed),) if narrowed.conditions else (),
            after=narrowed.after,
            before=narrowed.before,
            exclude_ids=frozenset(query.photo_ids),
        )
        share = 1.0 / len(parts)
        weighted = [(v, w * share, img) for v, w, img in parts]
        hits = matrix.search(weighted, model.fusion, query.limit, filters, query.min_score)
        if query.text and query.text.strip():
            # a photo the query names by its file name comes first (scores unchanged; search/filenames.py)
            try:
                named = dict(self._file_names.matches(query.text))
            except (sqlite3.Error, ValueError, MemoryError):  # the lexical layer never costs the search
                log.warning("matching file names failed", exc_info=True)
                named = {}
            if named:
                scored = matrix.scores_of(weighted, model.fusion, list(named), filters)
                hits = merge_named([(pid, sc, named[pid]) for pid, sc in scored], hits, query.limit)
        return self._results(hits)

    def _query_vector(self, model: EmbeddingModel, text: str) -> np.ndarray:
        """The query's vector; recent ones are remembered (the window re-runs the current query
        whenever the library changes, and users go back to earlier queries)."""
        key = (model.key, text)
        with self._query_lock:
            vec = self._query_cache.pop(key, None)
            if vec is not None:
                self._query_cache[key] = vec  # most recent last
                return vec.copy()
        vec = model.encode_queries([text])[0]
        with self._query_lock:
            self._query_cache[key] = vec.copy()
            while len(self._query_cache) > QUERY_CACHE:
                del self._query_cache[next(iter(self._query_cache))]
        return vec

    def prepare(self, query: SearchQuery) -> None:
        """Load what ``query`` needs before it runs (the CLI reports this apart from the search
        time): the model (its text encoder only for a text), and the image network only for an
        example photo not in the library."""
        if query.text:
            self.load_model()
        model = self.get_model(self._search_model_name())
        matrix = self._matrix(self._vectors_answering(model)[0])  # the vectors search() will use
        if any(self._stored_example(matrix, p) is None for p in query.image_paths):
            from PIL import Image

            side = model.image_size
            model.encode_images([model.preprocess(Image.new("RGB", (side, side)))])

    def _stored_example(self, matrix: VectorMatrix, path: str) -> np.ndarray | None:
        """The stored image vector of an example photo that is in the library, by its path or (a
        copy) by its contents: no network needed. None for any other file."""
        try:
            rows = self._fetch("SELECT id FROM photos WHERE path = ?", (normalise(path),))
            if not rows:
                rows = self._fetch("SELECT id FROM photos WHERE content_hash = ?", (content_hash(path),))
        except OSError:
            return None
        for (pid,) in rows:
            vec = matrix.image_vector(pid)
            if vec is not None:
                return vec
        return None

    def _example_vector(self, model: EmbeddingModel, matrix: VectorMatrix, path: str) -> np.ndarray:
        stored = self._stored_example(matrix, path)
        if stored is not None:
            return stored
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

    def _ids_kept(self, narrowed: Narrowing) -> frozenset[int]:
        """The photos every SQL condition of the query's filters keeps (one query)."""
        sql = narrowed.ids_sql()
        return frozenset(r[0] for r in self._fetch(*sql)) if sql else frozenset()

    def filter_choices(self, name: str) -> list[Choice]:
        """The values search filter ``name`` offers in this library (``search/filters.py``): the
        watched folders, the cameras and file types of its indexed photos (with counts), the
        orientations; a date range's quick choices."""
        return filter_choices(name, self._fetch)

    def _results(self, hits: list[tuple[int, float]]) -> list[SearchResult]:
        """Plain result objects for ``hits``, in their order (one plain SQL query: no ORM objects, no
        statement compilation; this is on the path of every search)."""
        if not hits:
            return []
        ids = list(dict.fromkeys(int(h[0]) for h in hits))
        sql = (
            "SELECT id, path, date_taken, size, width, height, caption, camera, thumbnail, mtime FROM photos "
            f"WHERE id IN ({','.join('?' * len(ids))})"
        )
        rows = {r[0]: r for r in self._fetch(sql, ids)}
        out = []
        for pid, score in hits:
            r = rows.get(pid)
            if r is None:
                continue
            out.append(
                SearchResult(
                    photo_id=r[0],
                    path=from_db(r[1]),
                    score=round(score, 6),
                    date_taken=_parse_dt(r[2]),
                    size=r[3],
                    width=r[4],
                    height=r[5],
                    caption=r[6],
                    camera=r[7],
                    thumbnail_path=thumb if (thumb := r[8] and from_db(r[8])) and os.path.exists(thumb) else None,
                    file_date=_file_date(r[9]),
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
            upgrading=self.upgrading(),
        )

    def errors(self, folder: str | None = None) -> list[ErrorInfo]:
        with Session(self.engine) as s:
            stmt = select(Photo.path, Photo.error, Photo.updated_at).where(Photo.status == PhotoStatus.ERROR)
            pstmt = select(Problem.path, Problem.reason, Problem.when)
            if folder:
                prefix = normalise(folder).rstrip("/")
                stmt = stmt.where(*_below(Photo.path, prefix))
                pstmt = pstmt.where((Problem.path == prefix) | and_(*_below(Problem.path, prefix)))
            rows = list(s.execute(stmt)) + list(s.execute(pstmt))
        return sorted((ErrorInfo(r[0], r[1] or "unknown error", r[2]) for r in rows), key=lambda e: e.path)


def library_read_only(root: Path) -> str | None:
    """Why the library folder ``root`` cannot be written (its folder, database or disk is read-only
    for this user), or None. ``os.access`` asks the system, so a read-only disk or an immutable file
    counts for the administrator too."""
    db = root / DB_NAME
    for target in (root, db):
        if target.exists() and not os.access(target, os.W_OK):
            try:
                ro_disk = bool(os.statvfs(target).f_flag & os.ST_RDONLY)
            except (AttributeError, OSError):
                ro_disk = False
            return "on a read-only disk" if ro_disk else f"no write permission for {target}"
    return None


#: what a library folder holds besides ``thumbnails/`` (made private on open: :func:`_make_library_private`)
LIBRARY_FILES = (DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm", DB_NAME + "-journal", "index.lock")


def _make_library_private(root: Path) -> None:
    """The library folder and what it holds (database, its -wal and -shm, the lock, backups,
    thumbnails) readable by this user only, where an older version left them readable by others.
    Other files a user keeps in that folder are not touched."""
    ours = [root, *(root / name for name in LIBRARY_FILES), root / "thumbnails"]
    if all(paths.is_private(p) for p in ours):
        return
    for p in ours[:-1]:
        paths.make_private(p)
    for backup in root.glob(DB_NAME + ".v*.bak"):
        paths.make_private(backup)
    changed = paths.make_private(root / "thumbnails", recursive=True)
    log.info("made the library %s private (%d thumbnails and folders)", root, changed)


def _refuse_a_second_way_in(path: str, watched: list[str]) -> None:
    """A folder that is, holds or lies inside a watched folder only through a link would index the
    same photos twice under two names: say which folder it is instead (plain nesting is fine)."""
    real = os.path.realpath(path)
    for other in watched:
        other_real = os.path.realpath(other)
        if real == other_real:
            raise UserError(f"{path} is the watched folder {other} (through a link)")
        nested_really = is_below(real, other_real) or is_below(other_real, real)
        if nested_really and not (is_below(path, other) or is_below(other, path)):
            raise UserError(f"{path} and the watched folder {other} hold the same photos (through a link)")


def _exclusions_json(exclusions: Iterable[str]) -> str:
    """A folder's exclusions as stored: cleaned (see ``scanner.clean_exclusion``), sorted, unique."""
    return json.dumps(sorted({c for c in (clean_exclusion(str(e)) for e in exclusions) if c}))


def _below(column: InstrumentedAttribute[str], root: str) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """``column`` (a path) strictly inside ``root``, as a range on its index (``below_bounds``)."""
    low, high = below_bounds(root)
    return column > low, column < high


def _single_threaded_queries(model: EmbeddingModel) -> None:
    """Encode queries with one torch thread on the CPU: a single short query gains nothing from
    more, and on a busy 2-core machine the threads stall each other (bench/search.py --torch-threads 1:
    text p95 at 100,000 photos 54 ms against 277 ms). OpenMP's thread count is per calling thread,
    so indexing workers keep theirs. The matrix's int8 scan counts on it too (it scans on the calling
    thread when that runs one torch thread). Nothing to do while torch is not loaded (the builtin
    model encodes queries in numpy on the CPU)."""
    torch = sys.modules.get("torch")
    if torch is not None and model.device == "cpu" and torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def _query_threads(indexing: bool) -> int:
    """Threads for encoding a text query on the CPU: two while this library is not indexing and the
    machine has fewer runnable tasks than cores (1-minute load average, this search included), else
    one. MiniLM over a query's 10-20 tokens takes 14-19 ms on one thread and 11-13 ms on two on an
    idle 2-core machine; on a busy one two threads stall each other (see
    :func:`_single_threaded_queries`)."""
    cores = available_cores()
    if cores < 2 or indexing:
        return 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # not on every platform
        return 1
    return 2 if load < cores else 1


def _file_date(mtime: object) -> datetime | None:
    """A file's modification time as the photo's date (as ``photo_timestamp`` uses it)."""
    try:
        return datetime.fromtimestamp(float(mtime)) if mtime is not None else None  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _parse_dt(value: object) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


# -- reading a key's vectors ------------------------------------------------------------------
# Both readers give what the original row-by-row read gave, value for value and in the query's
# order: the photo ids, float16 image rows, a text vector or None per photo, its gate, and the
# photo's timestamp, photo_timestamp(_parse_dt(date_taken), mtime).
#
# _read_vectors_rows fetches a row per photo (the least work in all, but Python builds every row,
# holding the GIL); _read_vectors_columnar has SQLite concatenate each column in one statement step
# (more work in all, but with the GIL released), for the prefetch that overlaps the torch import.

_VECTORS_FROM = "FROM vectors v JOIN photos p ON p.id = v.photo_id WHERE v.model = :key AND p.status = :status"
#: separates the dates in the columnar read (a date holding it makes the read fall back)
_DATE_SEP = "\x1f"
#: the columnar read is used up to this many bytes of image vectors (SQLite builds each column whole)
_COLUMNAR_MAX_BYTES = 256 << 20
#: a REAL travels exactly as integers (decimal text would round it): x = i0 + i1 * 2**-62 (+ i2 * 2**-124)
#: where i0 is x's integer part and each further integer the next 62 bits of its fraction; SQL checks
#: that nothing is left over (always so for |x| >= 2**-10 with one fraction part, 2**-72 with two)
_PIECE = 2.0**62


@dataclass
class _Vectors:
    ids: list[int]
    images: np.ndarray  # (n, dim) float16
    texts: list[np.ndarray | None]
    gates: list[float | None]
    dates: list[float]


def _read_matrix(conn: sqlite3.Connection, key: str, columnar: bool = False) -> VectorMatrix | None:
    """Every vector of ``key`` in a new matrix; None when there is none."""
    vectors = _read_vectors_columnar(conn, key) if columnar else None
    if vectors is None:
        vectors = _read_vectors_rows(conn, key)
    return _matrix_of(vectors)


def _matrix_of(vectors: _Vectors) -> VectorMatrix | None:
    n = len(vectors.ids)
    if n == 0:
        return None
    matrix = VectorMatrix(vectors.images.shape[1], capacity=max(1024, n))
    matrix.upsert(vectors.ids, vectors.images, vectors.texts, vectors.gates, vectors.dates)
    return matrix


def _read_vectors_rows(conn: sqlite3.Connection, key: str) -> _Vectors:
    """A row per photo, as ever; the text vectors in one join and one ``frombuffer``. (Dates stay a
    ``fromisoformat`` per photo: ~1 µs each, no slower than any bulk conversion measured.)"""
    rows = conn.execute(
        "SELECT v.photo_id, v.image, v.text_vec, v.text_gate, p.date_taken, p.mtime " + _VECTORS_FROM,
        {"key": key, "status": PhotoStatus.INDEXED},
    ).fetchall()
    dim = len(rows[0][1]) // 2 if rows else 0
    return _Vectors(
        ids=[r[0] for r in rows],
        images=np.frombuffer(b"".join(r[1] for r in rows), np.float16).reshape(len(rows), dim),
        texts=_text_vectors([r[2] for r in rows], dim),
        gates=[r[3] for r in rows],
        dates=[photo_timestamp(_parse_dt(r[4]), r[5]) for r in rows],
    )


def _text_vectors(blobs: list[bytes | None], dim: int) -> list[np.ndarray | None]:
    """Each photo's text vector (or None): one join and one frombuffer for them all."""
    present = [b for b in blobs if b is not None]
    if not present:
        return [None] * len(blobs)
    if any(len(b) != 2 * dim for b in present):  # odd sizes: as stored, one by one
        return [np.frombuffer(b, np.float16) if b is not None else None for b in blobs]
    vectors = iter(np.frombuffer(b"".join(present), np.float16).reshape(len(present), dim))
    return [next(vectors) if b is not None else None for b in blobs]


def _real_sql(x: str, parts: int) -> tuple[list[str], str]:
    """SQL for a REAL expression carried exactly: its integer pieces, and 1 where they do not add up
    to it. Each step is exact in IEEE arithmetic: x minus its integer part, and scaling by 2**62."""
    pieces = [f"CAST({x} AS INTEGER)"]
    rest = x
    for _ in range(parts):
        rest = f"(({rest}) - CAST({rest} AS INTEGER)) * :piece"
        pieces.append(f"CAST({rest} AS INTEGER)")
    return pieces, f"(abs({x}) >= :piece OR ({rest}) != CAST({rest} AS INTEGER))"


def _columnar_sql() -> str:
    has_text = "v.text_vec IS NOT NULL"
    gate_pieces, gate_bad = _real_sql("ifnull(v.text_gate, 0.0)", 2)
    mtime_pieces, mtime_bad = _real_sql("p.mtime", 1)
    columns = [
        "count(*)",
        "min(length(v.image))",
        "max(length(v.image))",
        "sum(typeof(v.image) != 'blob')",
        "group_concat(v.photo_id)",
        "CAST(group_concat(v.image, '') AS BLOB)",
        f"group_concat({has_text}, '')",
        "min(length(v.text_vec))",
        "max(length(v.text_vec))",
        f"sum({has_text} AND typeof(v.text_vec) != 'blob')",
        "CAST(group_concat(v.text_vec, '') AS BLOB)",
        f"sum({has_text} AND (typeof(v.text_gate) NOT IN ('real', 'integer', 'null') OR {gate_bad}))",
        f"sum(typeof(p.mtime) NOT IN ('real', 'integer') OR {mtime_bad})",
        "count(p.date_taken)",
        "sum(typeof(p.date_taken) NOT IN ('text', 'null'))",
        "group_concat(ifnull(p.date_taken, ''), :sep)",
        *(f"group_concat(CASE WHEN {has_text} THEN {piece} END)" for piece in gate_pieces),
        *(f"group_concat({piece})" for piece in mtime_pieces),
    ]
    return "SELECT " + ", ".join(columns) + " " + _VECTORS_FROM


_COLUMNAR_SQL = _columnar_sql()


def _read_vectors_columnar(conn: sqlite3.Connection, key: str) -> _Vectors | None:
    """The same values as :func:`_read_vectors_rows` from one row of concatenated columns.

    SQLite builds each column within one statement step, with the GIL released, and numpy splits
    them: no Python per photo but the ``_parse_dt`` of each date. None (read row by row instead)
    where this could differ in any way: a database in UTF-16 (a BLOB read as text is its bytes only
    in UTF-8), over :data:`_COLUMNAR_MAX_BYTES` of vectors, vectors of unequal sizes, a REAL that its
    pieces do not carry exactly, a date stored as other than text, or any error. Gates are given for
    the photos with text only (the matrix reads no other).
    """
    row = _query_columns(conn, key)
    return _split_columns(row) if row is not None else None


def _query_columns(conn: sqlite3.Connection, key: str) -> tuple | None:
    """The SQLite part of :func:`_read_vectors_columnar`: one row of concatenated columns."""
    try:
        if conn.execute("PRAGMA encoding").fetchone()[0] != "UTF-8":
            return None
        count, longest = conn.execute(
            "SELECT count(*), max(length(image)) FROM vectors WHERE model = ?", (key,)
        ).fetchone()
        if count and count * (longest or 0) > _COLUMNAR_MAX_BYTES:
            return None
        params = {"key": key, "status": PhotoStatus.INDEXED, "piece": _PIECE, "sep": _DATE_SEP}
        return conn.execute(_COLUMNAR_SQL, params).fetchone()
    except (sqlite3.Error, MemoryError):
        log.debug("columnar vector read failed; reading row by row", exc_info=True)
        return None


def _split_columns(row: tuple) -> _Vectors | None:
    """The columns of :func:`_query_columns` as one value per photo (see :func:`_read_vectors_columnar`)."""
    try:
        return _split(row)
    except (ValueError, OverflowError, OSError, UnicodeError):
        log.debug("columnar vector read failed; reading row by row", exc_info=True)
        return None


def _split(row: tuple) -> _Vectors | None:
    (n, short, long, not_blob, ids_text, images, has_text, t_short, t_long, t_not_blob, texts_blob,
     gate_bad, mtime_bad, n_dates, not_text, dates_text, *pieces) = row
    if not n:
        return _Vectors([], np.zeros((0, 0), np.float16), [], [], [])
    if not_blob or t_not_blob or gate_bad or mtime_bad or not_text or short != long or not short or short % 2:
        return None
    dim = short // 2
    ids = _integers(ids_text)
    if len(ids) != n or len(images) != n * short:
        return None
    has = np.frombuffer(has_text.encode("ascii"), np.uint8) == ord("1")
    k = int(has.sum())
    if len(has) != n or (k and (t_short != short or t_long != short or len(texts_blob) != k * short)):
        return None
    gates = _reals(pieces[:3], k)
    mtimes = _reals(pieces[3:], n)
    if gates is None or mtimes is None:
        return None
    stamps = mtimes.tolist()
    if n_dates:  # as photo_timestamp(_parse_dt(date_taken), mtime); "" parses to None, as None does
        dates = dates_text.split(_DATE_SEP)
        if len(dates) != n:
            return None
        for i, d in enumerate(dates):
            if d:
                stamps[i] = photo_timestamp(_parse_dt(d), stamps[i])
    text_rows = np.frombuffer(texts_blob, np.float16).reshape(k, dim) if k else ()
    texts: list[np.ndarray | None] = [None] * n
    gate_list: list[float | None] = [None] * n
    for i, vec, gate in zip(np.flatnonzero(has).tolist(), text_rows, gates.tolist(), strict=True):
        texts[i] = vec
        gate_list[i] = gate
    return _Vectors(
        ids=ids.tolist(),
        images=np.frombuffer(images, np.float16).reshape(n, dim),
        texts=texts,
        gates=gate_list,
        dates=stamps,
    )


def _integers(text: str | None) -> np.ndarray:
    """Comma-separated integers (group_concat's text) → int64, parsed in C."""
    return np.fromstring(text, dtype=np.int64, sep=",") if text else np.zeros(0, np.int64)


def _reals(pieces: list[str | None], n: int) -> np.ndarray | None:
    """Doubles from the integer pieces of :func:`_real_sql`. Each piece has at most 53 significant
    bits (it is a slice of one double's), so it converts exactly, scaling by 2**-62 is exact, and
    each partial sum is a prefix of the value's bits: every addition is exact."""
    parts = [_integers(p) for p in pieces]
    if any(len(p) != n for p in parts):
        return None
    value = parts[0].astype(np.float64)
    scale = 1.0
    for part in parts[1:]:
        scale /= _PIECE
        value = value + part.astype(np.float64) * scale
    return value


class _Prefetch:
    """The SQLite part of one key's columnar read (:func:`_query_columns`) on a thread of its own,
    while the model loads (see :meth:`PhotoLibrary.load_model`).

    Only that part runs beside the model load: it releases the GIL for its whole length. Splitting
    the columns and filling the matrix hold the GIL in short pieces between numpy calls, and done
    beside the torch import they slowed it by more than they cost (0.7 s in one A/B at 100,000
    photos), so :meth:`take` does them, once the model is there.
    """

    def __init__(self, db: Path, key: str, read_only: bool = False) -> None:
        self.key = key
        self._db = db
        self._read_only = read_only
        self._row: tuple | None = None
        self._conn: sqlite3.Connection | None = None
        self._version: int | None = None
        self._thread = threading.Thread(target=self._run, name="prefetch-vectors", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            conn = self._conn = connect(self._db, self._read_only, check_same_thread=False)
            # taken before reading: any commit after it, by any connection, changes it
            self._version = conn.execute("PRAGMA data_version").fetchone()[0]
            self._row = _query_columns(conn, self.key)
        except Exception:
            log.debug("prefetching the vectors of %s failed", self.key, exc_info=True)
            self._row = None

    def take(self) -> VectorMatrix | None:
        """A matrix of the vectors read, if nothing has been committed to the database since; else
        None (the caller reads them again)."""
        self._thread.join()
        try:
            if self._row is None or self._conn is None:
                return None
            if self._conn.execute("PRAGMA data_version").fetchone()[0] != self._version:
                return None
            vectors = _split_columns(self._row)
            return _matrix_of(vectors) if vectors is not None else None
        except sqlite3.Error:
            return None
        finally:
            self.discard()

    def discard(self) -> None:
        self._thread.join()
        self._row = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
