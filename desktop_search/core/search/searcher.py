"""One query run against the resident vectors: encode it (text queries remembered), take example
photos' vectors (stored ones without the image network), narrow by the filters, rank (the matrix
and the model's fusion), put photos whose file the text names first, and read the result rows.
``PhotoLibrary.search`` chooses the model and the vectors; this does the rest.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import datetime

import numpy as np

from ..db.pathtext import from_db
from ..errors import UserError
from ..library.imageio import ImageDecodeError, decode
from ..library.scanner import content_hash, normalise
from ..models import EmbeddingModel
from ..models.device import available_cores
from ..text.fusion import TAU, fuse
from ..types import SearchQuery, SearchResult
from .filenames import FileNameIndex
from .filenames import merge as merge_named
from .filters import Fetch, Narrowing, narrowing
from .matrix import Filters, VectorMatrix
from .relevance import Part, found_by_text, rate
from .vector_store import parse_dt

log = logging.getLogger(__name__)

#: text queries whose vectors are remembered
QUERY_CACHE = 256
#: the meaning candidates the text fusion scales over (as measured: bench/text_fusion.py), and the
#: most text hits it takes
TEXT_CANDIDATES = 300

#: (query text, limit) -> photos whose recognised text holds its words: (id, score 0..1, matching line)
TextHits = Callable[[str, int], list[tuple[int, float, str]]]


class Searcher:
    def __init__(self, fetch: Fetch, file_names: FileNameIndex, text_hits: TextHits | None = None) -> None:
        self._fetch = fetch
        self._file_names = file_names
        self._text_hits = text_hits
        self._query_cache: dict[tuple[str, str], np.ndarray] = {}
        self._query_lock = threading.Lock()

    def search(self, query: SearchQuery, model: EmbeddingModel, matrix: VectorMatrix, key: str, width: int,
               indexing: bool = False) -> list[SearchResult]:
        """``query``'s results from ``matrix`` (the vectors of ``key``, read up to ``width`` numbers
        each), ``model`` encoding its text and outside examples; ``indexing``: a job is running."""
        _single_threaded_queries(model)
        if hasattr(model, "cpu_query_threads"):
            model.cpu_query_threads = _query_threads(indexing=indexing)
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
        by_text: dict[int, tuple[float, str]] = {}
        if query.text and query.text.strip() and self._text_hits is not None:
            hits, by_text = self._with_text(query, model, matrix, weighted, filters, hits)
        named: dict[int, int] = {}
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
        relevance = rate(
            [sc for _, sc in hits], [Part(v, w, img) for v, w, img in weighted], model, query.text,
            [pid in named for pid, _ in hits],
        )
        if by_text:  # a photo found by its text is a strong match (relevance.found_by_text)
            relevance = [found_by_text(by_text[pid][0], rel) if pid in by_text else rel
                         for (pid, _), rel in zip(hits, relevance, strict=True)]
        return self._results(hits, relevance, {pid: line for pid, (_, line) in by_text.items()})

    def _with_text(
        self, query: SearchQuery, model: EmbeddingModel, matrix: VectorMatrix,
        weighted: list[tuple[np.ndarray, float, bool]], filters: Filters, hits: list[tuple[int, float]],
    ) -> tuple[list[tuple[int, float]], dict[int, tuple[float, str]]]:
        """The meaning ranking fused with the photos whose text holds the query's words
        (``text/fusion.py``, the rule measured in docs/TEXT.md § 5: meaning scaled to 0..1 over the
        top 300, plus the text score where that is at least 0.75). Scores stay the model's; the
        second value maps each photo raised by its text to (text score, its matching line)."""
        assert query.text is not None
        try:
            found = [h for h in self._text_hits(query.text.strip(), TEXT_CANDIDATES) if h[1] >= TAU]  # type: ignore[misc]
        except Exception:  # the text layer never costs the search
            log.warning("searching the text in photos failed", exc_info=True)
            return hits, {}
        if not found:
            return hits, {}
        pool = hits
        if len(hits) >= query.limit and query.limit < TEXT_CANDIDATES:
            pool = matrix.search(weighted, model.fusion, TEXT_CANDIDATES, filters, query.min_score)
        meaning = dict(pool)
        outside = [pid for pid, _, _ in found if pid not in meaning]
        # photos outside the candidates: their own scores, and only where the filters keep them
        extra = dict(matrix.scores_of(weighted, model.fusion, outside, filters)) if outside else {}
        kept = [h for h in found if h[0] in meaning or h[0] in extra]
        fused = fuse(meaning, kept)
        scores = {**extra, **meaning}
        ranked = [(pid, scores[pid]) for pid, _, _ in fused][: query.limit]
        t = {pid: score for pid, score, _ in kept}
        lines = {pid: (t[pid], line) for pid, _, line in fused if line is not None}
        return ranked, lines

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

    def prepare_examples(self, model: EmbeddingModel, matrix: VectorMatrix, image_paths: Sequence[str]) -> None:
        """Load the image network when an example photo is not in the library (``matrix``)."""
        if any(self._stored_example(matrix, p) is None for p in image_paths):
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

    def _stored_vectors(self, key: str, ids: Sequence[int]) -> list[np.ndarray]:
        marks = ",".join("?" * len(ids))
        blobs = self._fetch(f"SELECT image FROM vectors WHERE model = ? AND photo_id IN ({marks})", [key, *ids])
        return [np.frombuffer(b, np.float16).astype(np.float32) for (b,) in blobs]

    def _ids_kept(self, narrowed: Narrowing) -> frozenset[int]:
        """The photos every SQL condition of the query's filters keeps (one query)."""
        sql = narrowed.ids_sql()
        return frozenset(r[0] for r in self._fetch(*sql)) if sql else frozenset()

    def _results(self, hits: list[tuple[int, float]], relevance: Sequence[float | None] = (),
                 text_lines: dict[int, str] | None = None) -> list[SearchResult]:
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
        rated = list(relevance) or [None] * len(hits)
        for (pid, score), rel in zip(hits, rated, strict=True):
            r = rows.get(pid)
            if r is None:
                continue
            out.append(
                SearchResult(
                    photo_id=r[0],
                    path=from_db(r[1]),
                    score=round(score, 6),
                    date_taken=parse_dt(r[2]),
                    size=r[3],
                    width=r[4],
                    height=r[5],
                    caption=r[6],
                    camera=r[7],
                    thumbnail_path=thumb if (thumb := r[8] and from_db(r[8])) and os.path.exists(thumb) else None,
                    file_date=_file_date(r[9]),
                    relevance=rel,
                    text_match=(text_lines or {}).get(pid),
                )
            )
        return out


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
