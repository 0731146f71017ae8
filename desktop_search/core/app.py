"""PhotoLibrary: the one facade the command line and the window use.

One library = one folder holding ``library.db`` (SQLite) and ``thumbnails/``. The model is loaded
lazily; the builtin model answers text queries without torch (numpy), so torch is imported only when
something must be embedded (photos, photo texts, an example photo from outside the library). Vectors
stay resident in a :class:`VectorMatrix` that the indexing job updates in place, so a query never
re-reads the database's vectors.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from . import paths
from .cancel import CancelToken
from .db import DatabaseError, Folder, Meta, Photo, PhotoStatus, Problem, Vector, open_database
from .errors import UserError
from .filelock import WriterLock
from .indexing import FolderSpec, Indexer
from .indexing.job import exclusive, run_job
from .indexing.model_change import VectorVersions
from .library.folders import Folders
from .library.scanner import normalise
from .models import DEFAULT_MODEL, EmbeddingModel
from .models.device import available_cores
from .models.loaded import LoadedModels
from .search.filenames import FileNameIndex
from .search.filters import Choice
from .search.filters import choices as filter_choices
from .search.matrix import EXACT_ROWS, VectorMatrix
from .search.searcher import Searcher
from .search.vector_store import Prefetch, load_matrix
from .text.library import LibraryText
from .types import (
    ErrorInfo,
    FolderInfo,
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
        self._models = LoadedModels(device)
        self._matrices: dict[str, VectorMatrix] = {}
        self._versions = VectorVersions(self.engine)
        self._matrix_lock = threading.Lock()
        self._job_lock = threading.Lock()
        self._file_names = FileNameIndex(root / DB_NAME, read_only=self.read_only)
        self.text = LibraryText(self.engine, self._job_lock, self._writer_lock,  # text.read(): the text job
                                lambda: self._check_writable("read the text in photos"))
        self._searcher = Searcher(self._fetch, self._file_names, self.text.hits)
        self._folders = Folders(self.engine, self.thumbnails_dir)

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
        self._models.close()
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

    def _writing(self, poll_s: float = WRITER_LOCK_POLL_S) -> AbstractContextManager[None]:
        """Hold the library's writer lock (``index.lock``) to create the library or change its folders: it waits for
        another program's indexing job or folder change, so two programs adding folders to one library
        at once, or one adding while the other reconciles, never interleave. Re-entrant."""
        return self._writer_lock.waiting(poll_s)

    def writer_busy(self) -> bool:
        """Whether another program holds this library's writer lock now (it is indexing it)."""
        return self._writer_lock.busy()

    # -- folders (core/library/folders.py) ----------------------------------------------------
    def folders(self) -> list[FolderInfo]:
        return self._folders.all()

    def _folder_specs(self, only: Iterable[str] | None = None) -> list[FolderSpec]:
        return self._folders.specs(only)

    def add_folder(self, path: str | Path, exclusions: Iterable[str] = ()) -> FolderInfo:
        """Watch a folder (see :meth:`Folders.add`)."""
        if not os.path.isdir(normalise(path)):
            raise UserError(f"not a folder: {path}")
        self._check_writable("add a folder")
        with self._writing():
            return self._folders.add(path, exclusions)

    def set_exclusions(self, path: str | Path, exclusions: Iterable[str]) -> None:
        self._check_writable("change the exclusions")
        with self._writing():
            self._folders.set_exclusions(path, exclusions)

    def remove_folder(self, path: str | Path) -> None:
        """Stop watching a folder: its photos leave the library (with their vectors, thumbnails
        and scan problems), except those inside another watched folder, which that folder keeps."""
        self._check_writable("remove a folder")
        with self._writing():
            ids = self._folders.remove(path)
        with self._matrix_lock:
            for matrix in self._matrices.values():
                matrix.remove(ids)

    @property
    def read_only(self) -> bool:
        return self.read_only_reason is not None

    def _check_writable(self, what: str) -> None:
        if self.read_only_reason is not None:
            raise UserError(f"cannot {what}: the library {self.root} is read-only ({self.read_only_reason}); "
                            "searching works, but this needs write access to the library folder")

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
        model = self._models.load(name or self.model_name)
        if self._models.warning:
            self.model_warning = self._models.warning
        return model

    def switch_model(self, name: str) -> None:
        """Make ``name`` the library's model once it has loaded (a CLIP model downloads here). One
        that cannot be had raises :class:`ModelUnavailable`, with no stand-in: the library keeps its
        model and vectors (``set_model`` alone would switch to a name that then falls back)."""
        if name == self.model_name:
            return
        self._models.load_for_switch(name)
        self.set_model(name)

    def load_model(self) -> None:
        """Load the search model (and warm up its matrix) ahead of the first query.

        The vectors of the key this model name had at the last start (remembered in ``meta``) are
        read meanwhile, on a thread of their own, by SQLite with the GIL released (see
        :class:`~.search.vector_store.Prefetch`), so that read overlaps the model load instead of following it. They
        are used only when the model's key is that key and nothing was committed to the database
        since they were read; otherwise the vectors are read again, as without the prefetch.
        A model with a ``prepare_queries()`` (the builtin: its numpy text encoder, no torch) builds
        what its first text query needs here too.
        """
        name = self._search_model_name()
        remembered = None if name in self._models else self._remembered_key(name)
        prefetch = None
        if remembered and self._matrix_if_loaded(remembered) is None:
            prefetch = Prefetch(self.root / DB_NAME, remembered, self.read_only)
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
        search. It also reads the lexicon's word lists (``models/lexicon.py``). Returns whether it
        imported torch."""
        model = self._models.get(self._search_model_name())
        if model is not None and hasattr(model, "knows_words"):
            # the word lists that tell a query of made-up words (~1.5 s to read once): not on the
            # first query that has an unknown word (a typo)
            model.knows_words("qzxwv")
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

    def _matrix(self, key: str, prefetch: Prefetch | None = None) -> VectorMatrix:
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
        """Read every vector of ``key`` once (``search/vector_store.py``)."""
        return load_matrix(self.root / DB_NAME, key, self._models_dim(key), self.read_only)

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
        yield from exclusive(self._job_lock, lambda: self._check_writable("index"), lambda: run_job(
            self._indexer, self._writer_lock, specs, cancel, only, watched, self._after_job, WRITER_LOCK_POLL_S))

    def _after_job(self) -> None:
        self._finish_model_switch()
        self._finish_upgrade()

    # -- a model's new weights: re-embedding in the background (indexing/model_change.py) -----
    def _vectors_answering(self, model: EmbeddingModel) -> tuple[str, int]:
        return self._versions.answering(model)

    def _missing_vectors(self, key: str) -> int:
        return self._versions.missing(key)

    def upgrading(self) -> int | None:
        """Photos still to re-embed while older vectors of the library's model answer, else None."""
        name = self._search_model_name()
        model = self._models.get(name)
        if model is None and name == DEFAULT_MODEL:  # the built-in model loads without torch, at once
            model = self.get_model(name)
        return None if model is None else self._versions.upgrading(model)

    def _finish_upgrade(self) -> None:
        """After an indexing job: once every photo has the model's new vectors, search with them and
        delete the older version's."""
        model = self._models.get(self._search_model_name())
        old = self._versions.finish_upgrade(model) if model is not None else None
        if old is not None:
            with self._matrix_lock:
                self._matrices.pop(old, None)

    def _finish_model_switch(self) -> None:
        active = self._get_meta("active_model")
        if not active or active == self.model_name:
            return
        model = self.get_model(self.model_name)
        if self._models.stood_in(self.model_name):
            # the library's model could not be had (offline) and builtin stood in: its vectors must
            # not replace the old model's, which keep answering until the real model is complete
            return
        if self._versions.finish_switch(model.key):
            with self._matrix_lock:
                for k in [k for k in self._matrices if k != model.key]:
                    del self._matrices[k]

    # -- search (search/searcher.py) ------------------------------------------------------------
    def search(self, query: SearchQuery) -> list[SearchResult]:
        if query.is_empty:
            return []
        model = self.get_model(self._search_model_name())
        key, width = self._vectors_answering(model)
        return self._searcher.search(query, model, self._matrix(key), key, width, indexing=self._job_lock.locked())

    def prepare(self, query: SearchQuery) -> None:
        """Load what ``query`` needs before it runs (the CLI reports this apart from the search
        time): the model (its text encoder only for a text), and the image network only for an
        example photo not in the library."""
        if query.text:
            self.load_model()
        model = self.get_model(self._search_model_name())
        matrix = self._matrix(self._vectors_answering(model)[0])  # the vectors search() will use
        self._searcher.prepare_examples(model, matrix, query.image_paths)

    def filter_choices(self, name: str) -> list[Choice]:
        """The values search filter ``name`` offers in this library (``search/filters.py``): the
        watched folders, the cameras and file types of its indexed photos (with counts), the
        orientations; a date range's quick choices."""
        return filter_choices(name, self._fetch)

    # -- status ------------------------------------------------------------------------------
    def errors(self, folder: str | None = None) -> list[ErrorInfo]:
        """Unreadable photos and folders, and scan notices (all, or below ``folder``), by path."""
        return self._folders.errors(folder)

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
            **self.text.status_fields(),
        )



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
