"""The library's vectors, resident in memory, updated in place as photos come and go.

Image vectors are float16 rows (N, dim); photo-text vectors live in a second, compact float16 matrix
with one slot per photo that has text. A query scores every photo (one matrix-vector product per
matrix), applies the fusion scorer and the filters' masks, and keeps the top k. With a scorer that
scores each photo on its own inputs (the builtin's), a text query fuses the text matches of the
photos with text only; the others score through the scorer's image-only function. An image vector's
length may differ from 1 (a model's per-photo weight for text queries, see
``ImageHead.weigh``): text queries use the dot product as is, example photos the cosine.

A photo's text is a caption (written to describe it) or the words of its file name (a hint, as
``dog_running_in_the_heather.jpg``); the matrix keeps which, per photo. A text query never scores a
photo whose text is a file name below its image-only score (what it would score with no text): a
name may raise a photo but not punish it for matching the query only in part. A caption keeps the
fusion as it is: one that does not match the query rightly lowers its photo (docs/MODELS.md,
"Descriptive names and the fusion").

Speed on large libraries: a query reads every vector, so its cost is memory traffic. Beside the
float16 rows each vector is also kept as int8 with a per-row scale (half the bytes); libraries
above :data:`EXACT_ROWS` photos are scanned in int8 (torch's int8 kernel, when torch is loaded and
the dimension suits it), then the best :data:`RERANK` candidates are scored again exactly from the
float16 rows, so the scores returned are exact (float32 sums of the float16 vectors). Smaller
libraries, and machines without the kernel, score every photo exactly.

Photo ids map to rows through a dense array (ids are SQLite row ids: small and dense), so updates
and filters are vectorised rather than a Python loop per photo.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..models.base import FusionScorer
from .kernels import Int8Kernel, exact_matvec, write_vectors

_GROW = 1.5
#: libraries up to this many photos are scored exactly in one pass (no int8 scan)
EXACT_ROWS = 32_768
#: candidates from the int8 scan re-scored exactly (at least; 16 x the limit when larger)
RERANK = 1024
#: the arrays kept per row (photo): attribute, a vector (dim wide) or one value, dtype, value when empty
_ROW_ARRAYS: tuple[tuple[str, bool, Any, Any], ...] = (
    ("_image", True, np.float16, 0), ("_q8", True, np.int8, 0), ("_scale", False, np.float32, 1),
    ("_inv_norm", False, np.float32, 1), ("_ids", False, np.int64, -1), ("_valid", False, bool, False),
    ("_gate", False, np.float32, 0), ("_name", False, bool, False), ("_date", False, np.float64, np.nan),
    ("_slot", False, np.int64, -1),
)
#: the arrays kept per text slot (a photo's text vector), likewise
_SLOT_ARRAYS: tuple[tuple[str, bool, Any, Any], ...] = (
    ("_text", True, np.float16, 0), ("_t_q8", True, np.int8, 0), ("_t_scale", False, np.float32, 1),
    ("_t_owner", False, np.int64, -1),
)


@dataclass(frozen=True)
class Filters:
    """What a search keeps: photos in every one of ``id_sets`` (their intersection: the search
    filters' SQL conditions give one; ``search/filters.py``), dated in [after, before), not in
    ``exclude_ids``."""

    id_sets: tuple[frozenset[int], ...] = ()
    after: float | None = None
    before: float | None = None
    exclude_ids: frozenset[int] = frozenset()

    def mask(self, dates: np.ndarray, rows_of: Callable[[Iterable[int]], np.ndarray]) -> np.ndarray | None:
        """The rows kept, given each row's photo date and the rows of photo ids; None: every row."""
        if self.after is None and self.before is None and not self.id_sets and not self.exclude_ids:
            return None
        mask = np.ones(len(dates), bool)
        if self.after is not None:
            mask &= dates >= self.after
        if self.before is not None:
            mask &= dates < self.before
        for ids in self.id_sets:
            allowed = np.zeros(len(dates), bool)
            allowed[rows_of(ids)] = True
            mask &= allowed
        if self.exclude_ids:
            mask[rows_of(self.exclude_ids)] = False
        return mask


class VectorMatrix:
    """Thread-safe: the indexing job writes, searches read."""

    _image: np.ndarray
    _q8: np.ndarray
    _scale: np.ndarray
    _inv_norm: np.ndarray
    _ids: np.ndarray
    _valid: np.ndarray
    _gate: np.ndarray
    _name: np.ndarray
    _date: np.ndarray
    _slot: np.ndarray
    _text: np.ndarray
    _t_q8: np.ndarray
    _t_scale: np.ndarray
    _t_owner: np.ndarray

    def __init__(self, dim: int, capacity: int = 1024) -> None:
        self.dim = dim
        self._lock = threading.RLock()
        self._n = 0
        self._count = 0
        self._alloc(max(16, capacity))
        self._row_by_id = np.full(max(16, capacity) + 1, -1, np.int64)
        self._free_rows: list[int] = []
        self._t_n = 0
        self._t_alloc(64)
        self._free_slots: list[int] = []
        self._version = 0
        self._bf16_cache: dict[str, tuple[int, int, Any]] = {}
        self._derived: dict[str, tuple[int, Any]] = {}

    # -- storage -----------------------------------------------------------------------------
    def _grow(self, arrays: tuple[tuple[str, bool, Any, Any], ...], cap: int, n: int) -> None:
        """(Re)allocate ``arrays`` (see :data:`_ROW_ARRAYS`) to ``cap`` entries, keeping the first ``n``."""
        for attr, wide, dtype, fill in arrays:
            new = np.full((cap, self.dim) if wide else cap, fill, dtype)
            old = getattr(self, attr, None)
            if old is not None:
                new[:n] = old[:n]
            setattr(self, attr, new)

    def _alloc(self, cap: int) -> None:
        self._grow(_ROW_ARRAYS, cap, self._n)

    def _t_alloc(self, cap: int) -> None:
        self._grow(_SLOT_ARRAYS, cap, self._t_n)

    def __len__(self) -> int:
        return self._count

    @property
    def text_count(self) -> int:
        return int((self._t_owner[: self._t_n] >= 0).sum())

    def nbytes(self) -> int:
        arrays = [getattr(self, attr) for attr, *_ in (*_ROW_ARRAYS, *_SLOT_ARRAYS)]
        return sum(a.nbytes for a in arrays) + self._row_by_id.nbytes

    def ids(self) -> np.ndarray:
        with self._lock:
            return self._ids[: self._n][self._valid[: self._n]].copy()

    def _row(self, photo_id: int) -> int:
        pid = int(photo_id)
        if 0 <= pid < len(self._row_by_id):
            return int(self._row_by_id[pid])
        return -1

    def _rows_of(self, photo_ids: Iterable[int]) -> np.ndarray:
        """Rows of the given ids that are present (ids absent or out of range are dropped)."""
        ids = np.fromiter((int(i) for i in photo_ids), np.int64)
        ids = ids[(ids >= 0) & (ids < len(self._row_by_id))]
        rows = self._row_by_id[ids]
        return rows[rows >= 0]

    def image_vector(self, photo_id: int) -> np.ndarray | None:
        with self._lock:
            row = self._row(photo_id)
            return None if row < 0 else self._image[row].astype(np.float32)

    # -- updates -----------------------------------------------------------------------------
    def upsert(
        self,
        ids: Sequence[int],
        images: np.ndarray,
        texts: Sequence[np.ndarray | None],
        gates: Sequence[float | None],
        dates: Sequence[float | None],
        names: Sequence[bool] | None = None,
    ) -> None:
        """Add or replace photos: image vectors, text vectors (None: no text) with their gates,
        dates, and ``names``: which texts are the words of the file name (None: none is; see the
        module's docstring)."""
        pids = np.asarray([int(i) for i in ids], np.int64)
        if len(pids) == 0:
            return
        if len(np.unique(pids)) != len(pids):  # the same photo twice: the last one wins, in order
            for i in range(len(pids)):
                self.upsert([int(pids[i])], np.asarray(images)[i : i + 1], texts[i : i + 1], gates[i : i + 1],
                            dates[i : i + 1], None if names is None else names[i : i + 1])
            return
        if pids.min() < 0:
            raise ValueError("photo ids must not be negative")
        imgs = np.asarray(images).reshape(len(pids), self.dim)
        with self._lock:
            self._version += 1
            self._ensure_id(int(pids.max()))
            rows = self._row_by_id[pids]
            new = rows < 0
            if new.any():
                fresh = self._take_rows(int(new.sum()))
                rows[new] = fresh
                self._row_by_id[pids[new]] = fresh
                self._ids[fresh] = pids[new]
                self._valid[fresh] = True
                self._count += len(fresh)
            write_vectors(self._image, self._q8, self._scale, rows, imgs, self._inv_norm)
            self._date[rows] = [np.nan if d is None else d for d in dates]
            self._set_texts_rows(rows, texts, gates, names)

    def _ensure_id(self, max_id: int) -> None:
        if max_id >= len(self._row_by_id):
            grown = np.full(max(max_id + 1, math.ceil(len(self._row_by_id) * _GROW)), -1, np.int64)
            grown[: len(self._row_by_id)] = self._row_by_id
            self._row_by_id = grown

    def _take_rows(self, k: int) -> np.ndarray:
        reused = [self._free_rows.pop() for _ in range(min(k, len(self._free_rows)))]
        need = k - len(reused)
        if self._n + need > len(self._ids):
            self._alloc(max(self._n + need, math.ceil(len(self._ids) * _GROW) + 16))
        fresh = np.arange(self._n, self._n + need, dtype=np.int64)
        self._n += need
        return np.concatenate([np.asarray(reused, np.int64), fresh])

    def _take_slots(self, k: int) -> np.ndarray:
        reused = [self._free_slots.pop() for _ in range(min(k, len(self._free_slots)))]
        need = k - len(reused)
        if self._t_n + need > len(self._t_owner):
            self._t_alloc(max(self._t_n + need, math.ceil(len(self._t_owner) * _GROW) + 16))
        fresh = np.arange(self._t_n, self._t_n + need, dtype=np.int64)
        self._t_n += need
        return np.concatenate([np.asarray(reused, np.int64), fresh])

    def _set_texts_rows(self, rows: np.ndarray, texts: Sequence[np.ndarray | None], gates: Sequence[float | None],
                        names: Sequence[bool] | None = None) -> None:
        has = np.fromiter((t is not None for t in texts), bool, len(rows))
        self._name[rows] = has & (np.zeros(len(rows), bool) if names is None else np.asarray(names, bool).reshape(len(rows)))
        drop = rows[~has]
        if len(drop):
            slots = self._slot[drop]
            used = slots[slots >= 0]
            self._t_owner[used] = -1
            self._free_slots.extend(int(s) for s in used)
            self._slot[drop] = -1
            self._gate[drop] = 0.0
        keep = rows[has]
        if len(keep):
            slots = self._slot[keep]
            missing = slots < 0
            if missing.any():
                slots[missing] = self._take_slots(int(missing.sum()))
                self._slot[keep] = slots
                self._t_owner[slots] = keep
            present = [t for t in texts if t is not None]
            try:
                vecs = np.concatenate(present).reshape(len(present), self.dim)
            except ValueError:  # vectors of mixed shapes: (dim,) and (1, dim)
                vecs = np.stack([np.asarray(t).reshape(self.dim) for t in present])
            write_vectors(self._text, self._t_q8, self._t_scale, slots, vecs)
            self._gate[keep] = [0.0 if g is None else g for g, t in zip(gates, texts, strict=True) if t is not None]

    def set_texts(self, ids: Sequence[int], texts: Sequence[np.ndarray | None], gates: Sequence[float | None],
                  names: Sequence[bool] | None = None) -> None:
        """Replace photos' texts (as :meth:`upsert` takes them); photos not in the matrix are skipped."""
        flags = [False] * len(ids) if names is None else names
        with self._lock:
            self._version += 1
            rows, keep_t, keep_g, keep_n = [], [], [], []
            for pid, vec, gate, name in zip(ids, texts, gates, flags, strict=True):
                row = self._row(pid)
                if row >= 0:
                    rows.append(row)
                    keep_t.append(vec)
                    keep_g.append(gate)
                    keep_n.append(bool(name))
            if rows:
                self._set_texts_rows(np.asarray(rows, np.int64), keep_t, keep_g, keep_n)

    def set_dates(self, ids: Sequence[int], dates: Sequence[float | None]) -> None:
        with self._lock:
            for pid, d in zip(ids, dates, strict=True):
                row = self._row(pid)
                if row >= 0:
                    self._date[row] = np.nan if d is None else d

    def remove(self, ids: Sequence[int]) -> None:
        with self._lock:
            pids = np.unique(np.asarray([int(i) for i in ids], np.int64))
            pids = pids[(pids >= 0) & (pids < len(self._row_by_id))]
            rows = self._row_by_id[pids]
            present = rows >= 0
            pids, rows = pids[present], rows[present]
            if not len(rows):
                return
            self._version += 1
            self._set_texts_rows(rows, [None] * len(rows), [None] * len(rows))
            self._valid[rows] = False
            self._ids[rows] = -1
            self._row_by_id[pids] = -1
            self._free_rows.extend(int(r) for r in rows)
            self._count -= len(rows)

    # -- queries -----------------------------------------------------------------------------
    def search(
        self,
        parts: Sequence[tuple[np.ndarray, float, bool]],
        fusion: FusionScorer,
        limit: int,
        filters: Filters | None = None,
        min_score: float | None = None,
    ) -> list[tuple[int, float]]:
        """Top ``limit`` (photo id, score), best first.

        ``parts``: (query vector, weight, query_is_image) — a text query, an example image, or both;
        the score is the weighted sum of each part's fused score.
        """
        with self._lock:
            if not self._count or not parts:
                return []
            n = self._n
            ids = self._ids[:n]
            mask = self._filter_mask(filters, n)
            if n > EXACT_ROWS and Int8Kernel.available(self.dim):
                approx = self._total(parts, fusion, None, approximate=True)
                approx = np.where(mask, approx, -np.inf) if mask is not None else approx
                finite = int(np.isfinite(approx).sum())
                r = min(finite, max(RERANK, 16 * limit))
                if r <= 0:
                    return []
                rows = np.argpartition(-approx, r - 1)[:r] if r < n else np.arange(n)
                rows = rows[np.isfinite(approx[rows])]
                exact = self._total(parts, fusion, rows, approximate=False)
                return top_k(exact, ids[rows], limit, min_score)
            total = self._total(parts, fusion, None, approximate=False)
            if mask is not None:
                total = np.where(mask, total, -np.inf)
        return top_k(total, ids, limit, min_score)

    def _total(self, parts: Sequence[tuple[np.ndarray, float, bool]], fusion: FusionScorer,
               rows: np.ndarray | None, approximate: bool) -> np.ndarray:
        total: np.ndarray | None = None
        for vec, weight, is_image in parts:
            scores = self._scores(vec, fusion, is_image, rows, approximate)
            if weight != 1.0:  # x * 1 == x: a single text query needs no copy
                scores = scores * np.float32(weight)
            total = scores if total is None else total + scores
        assert total is not None
        return total

    def scores_of(self, parts: Sequence[tuple[np.ndarray, float, bool]], fusion: FusionScorer, photo_ids: Sequence[int],
                  filters: Filters | None = None) -> list[tuple[int, float]]:
        """(photo id, score) of these photos, as :meth:`search` scores them (exactly), for those in
        the matrix that the filters let through; in the order given."""
        with self._lock:
            if not self._count or not parts or not len(photo_ids):
                return []
            n = self._n
            wanted = np.asarray(photo_ids, np.int64)
            known = wanted[(wanted >= 0) & (wanted < len(self._row_by_id))]
            rows = self._row_by_id[known]
            known, rows = known[rows >= 0], rows[rows >= 0]
            mask = self._filter_mask(filters, n)
            if mask is not None:
                known, rows = known[mask[rows]], rows[mask[rows]]
            if not len(rows):
                return []
            scores = self._total(parts, fusion, rows, approximate=False)
        return [(int(pid), float(sc)) for pid, sc in zip(known, scores, strict=True) if np.isfinite(sc)]

    def score_ids(self, query: np.ndarray, fusion: FusionScorer, query_is_image: bool) -> tuple[np.ndarray, np.ndarray]:
        """(ids, fused scores) for every row, exactly; removed rows score -inf."""
        with self._lock:
            n = self._n
            if n == 0:
                return np.zeros(0, np.int64), np.zeros(0, np.float32)
            return self._ids[:n].copy(), self._scores(query, fusion, query_is_image, None, approximate=False)

    def _scores(self, query: np.ndarray, fusion: FusionScorer, query_is_image: bool,
                rows: np.ndarray | None, approximate: bool) -> np.ndarray:
        """Fused scores of ``rows`` (every row when None); removed rows score -inf."""
        if rows is None and not query_is_image and fusion.rowwise:
            return self._scores_rowwise(query, fusion, approximate)
        n = self._n if rows is None else len(rows)
        image_sims = self._image_sims(query, rows, approximate)
        if query_is_image:  # example photos compare directions; a vector's length weighs text queries only
            image_sims *= self._inv_norm[: self._n] if rows is None else self._inv_norm[rows]
        text_sims = has_text = gate = None
        if not query_is_image and self._t_n:
            slots = self._slot[: self._n] if rows is None else self._slot[rows]
            has_text = slots >= 0
            gate = self._gate[: self._n] if rows is None else self._gate[rows]
            text_sims = np.zeros(n, np.float32)
            if rows is None:
                ts = self._text_sims(query, approximate)
                owners = self._t_owner[: self._t_n]
                live = owners >= 0
                text_sims[owners[live]] = ts[live]
            elif has_text.any():
                text_sims[has_text] = self._text[slots[has_text]].astype(np.float32) @ np.asarray(query, np.float32)
        scores = fusion.score(query, image_sims, text_sims, gate, has_text, query_is_image=query_is_image)
        if has_text is not None:
            names = self._name[: self._n] if rows is None else self._name[rows]
            if names.any():  # a file name's text never scores its photo below its image match alone
                scores = _writable(scores)
                scores[names] = np.maximum(scores[names], fusion.score(query, image_sims[names], None, None, None))
        valid = self._valid[: self._n] if rows is None else self._valid[rows]
        return np.where(valid, scores, -np.inf).astype(np.float32)

    def _scores_rowwise(self, query: np.ndarray, fusion: FusionScorer, approximate: bool) -> np.ndarray:
        """A text query's fused scores of every row, for a scorer whose score of a photo depends on
        that photo's inputs alone (``FusionScorer.rowwise``): the same scores as :meth:`_scores`, but the
        text part of the fusion runs over the photos with text only, not over every row with zeros
        and a mask for the others."""
        image_sims = self._image_sims(query, None, approximate)
        # a photo without text: its image match alone (may be image_sims itself, whose text rows are
        # read before they are overwritten)
        scores = _writable(fusion.score(query, image_sims, None, None, None))
        if self._t_n:
            slots, rows, gates, has, floored = self._text_rows()
            if len(rows):
                text_sims = self._text_sims(query, approximate)
                if slots is not None:
                    text_sims = text_sims[slots]
                fused = fusion.score(query, image_sims[rows], text_sims, gates, has)
                if len(floored):  # a file name's text: never below the image-only score, still in scores
                    fused = _writable(fused)
                    fused[floored] = np.maximum(fused[floored], scores[rows[floored]])
                scores[rows] = fused
        removed = self._removed_rows()
        if len(removed):
            scores[removed] = -np.inf
        return scores

    def _derived_value(self, name: str, make: Callable[[], Any]) -> Any:
        """``make()``'s value, kept until the next update."""
        cached = self._derived.get(name)
        if cached is None or cached[0] != self._version:
            cached = self._derived[name] = (self._version, make())
        return cached[1]

    def _text_rows(self) -> tuple[np.ndarray | None, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(the text slots in use, or None when every slot is; their rows; those rows' gates; all
        True; the positions among them of texts that are file names), kept until the next update."""

        def make() -> tuple[np.ndarray | None, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
            owners = self._t_owner[: self._t_n]
            live = owners >= 0
            slots = None if bool(live.all()) else np.flatnonzero(live)
            rows = (owners if slots is None else owners[slots]).copy()
            return slots, rows, self._gate[rows], np.ones(len(rows), bool), np.flatnonzero(self._name[rows])

        return self._derived_value("text", make)

    def _removed_rows(self) -> np.ndarray:
        """Rows of removed photos (free for reuse), kept until the next update."""
        return self._derived_value("removed", lambda: np.flatnonzero(~self._valid[: self._n]))

    def _image_sims(self, query: np.ndarray, rows: np.ndarray | None, approximate: bool) -> np.ndarray:
        if rows is not None:
            return self._image[rows].astype(np.float32) @ np.asarray(query, np.float32)
        n = self._n
        if approximate:
            return Int8Kernel.matvec(self._q8[:n], self._bf16("image", self._scale, n), query)
        return exact_matvec(self._image[:n], query)

    def _text_sims(self, query: np.ndarray, approximate: bool) -> np.ndarray:
        t = self._t_n
        if approximate:
            return Int8Kernel.matvec(self._t_q8[:t], self._bf16("text", self._t_scale, t), query)
        return exact_matvec(self._text[:t], query)

    def _bf16(self, name: str, scale: np.ndarray, n: int) -> Any:
        """The int8 kernel's scales as a bfloat16 tensor, rebuilt only after an update."""
        return Int8Kernel.scales(self._bf16_cache, name, self._version, scale[:n])

    def _filter_mask(self, filters: Filters | None, n: int) -> np.ndarray | None:
        return None if filters is None else filters.mask(self._date[:n], self._rows_of)


def _writable(scores: np.ndarray) -> np.ndarray:
    out = np.asarray(scores, dtype=np.float32)
    return out if out.flags.writeable else out.copy()


def top_k(scores: np.ndarray, ids: np.ndarray, limit: int, min_score: float | None) -> list[tuple[int, float]]:
    if min_score is not None:
        scores = np.where(scores >= min_score, scores, -np.inf)
    finite = int(np.isfinite(scores).sum())
    k = min(limit, finite)
    if k <= 0:
        return []
    if k < len(scores):
        part = np.argpartition(-scores, k - 1)[:k]
    else:
        part = np.arange(len(scores))
    order = part[np.argsort(-scores[part], kind="stable")]
    return [(int(ids[i]), float(scores[i])) for i in order if np.isfinite(scores[i])]
