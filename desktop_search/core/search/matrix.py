"""The library's vectors, resident in memory, updated in place as photos come and go.

Image vectors are float16 rows (N, dim); photo-text vectors live in a second, compact float16 matrix
with one slot per photo that has text. A query is one matrix-vector product per matrix (torch's fp16
kernel when torch is loaded, numpy otherwise), the fusion scorer, masks for filters, and a top-k.
"""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..models.base import FusionScorer

_GROW = 1.5


def _matvec(matrix: np.ndarray, query: np.ndarray) -> np.ndarray:
    """(n, d) float16 @ (d,) → (n,) float32, fast on CPU."""
    if matrix.shape[0] == 0:
        return np.zeros(0, np.float32)
    torch = sys.modules.get("torch")
    if torch is not None:
        out = torch.mv(torch.from_numpy(matrix), torch.from_numpy(query.astype(np.float16)))
        return out.float().numpy()
    out = np.empty(matrix.shape[0], np.float32)
    step = 16384
    q = query.astype(np.float32)
    for start in range(0, matrix.shape[0], step):
        out[start : start + step] = matrix[start : start + step].astype(np.float32) @ q
    return out


@dataclass(frozen=True)
class Filters:
    allowed_ids: frozenset[int] | None = None
    after: float | None = None
    before: float | None = None
    exclude_ids: frozenset[int] = frozenset()


class VectorMatrix:
    """Thread-safe: the indexing job writes, searches read."""

    def __init__(self, dim: int, capacity: int = 1024) -> None:
        self.dim = dim
        self._lock = threading.RLock()
        self._n = 0
        self._alloc(max(16, capacity))
        self._row_of: dict[int, int] = {}
        self._free_rows: list[int] = []
        self._t_n = 0
        self._t_alloc(64)
        self._free_slots: list[int] = []

    # -- storage -----------------------------------------------------------------------------
    def _alloc(self, cap: int) -> None:
        old = getattr(self, "_image", None)
        image = np.zeros((cap, self.dim), np.float16)
        ids = np.full(cap, -1, np.int64)
        valid = np.zeros(cap, bool)
        gate = np.zeros(cap, np.float32)
        date = np.full(cap, np.nan, np.float64)
        slot = np.full(cap, -1, np.int64)
        if old is not None:
            n = self._n
            image[:n] = self._image[:n]
            ids[:n] = self._ids[:n]
            valid[:n] = self._valid[:n]
            gate[:n] = self._gate[:n]
            date[:n] = self._date[:n]
            slot[:n] = self._slot[:n]
        self._image, self._ids, self._valid, self._gate, self._date, self._slot = image, ids, valid, gate, date, slot

    def _t_alloc(self, cap: int) -> None:
        old = getattr(self, "_text", None)
        text = np.zeros((cap, self.dim), np.float16)
        owner = np.full(cap, -1, np.int64)
        if old is not None:
            text[: self._t_n] = self._text[: self._t_n]
            owner[: self._t_n] = self._t_owner[: self._t_n]
        self._text, self._t_owner = text, owner

    def __len__(self) -> int:
        return len(self._row_of)

    @property
    def text_count(self) -> int:
        return int((self._t_owner[: self._t_n] >= 0).sum())

    def nbytes(self) -> int:
        arrays = (self._image, self._ids, self._valid, self._gate, self._date, self._slot, self._text, self._t_owner)
        return sum(a.nbytes for a in arrays)

    def ids(self) -> np.ndarray:
        with self._lock:
            return self._ids[: self._n][self._valid[: self._n]].copy()

    def image_vector(self, photo_id: int) -> np.ndarray | None:
        with self._lock:
            row = self._row_of.get(photo_id)
            return None if row is None else self._image[row].astype(np.float32)

    # -- updates -----------------------------------------------------------------------------
    def upsert(
        self,
        ids: Sequence[int],
        images: np.ndarray,
        texts: Sequence[np.ndarray | None],
        gates: Sequence[float | None],
        dates: Sequence[float | None],
    ) -> None:
        with self._lock:
            for i, pid in enumerate(ids):
                row = self._row_of.get(int(pid))
                if row is None:
                    row = self._take_row()
                    self._row_of[int(pid)] = row
                    self._ids[row] = pid
                    self._valid[row] = True
                self._image[row] = images[i]
                d = dates[i]
                self._date[row] = np.nan if d is None else d
                self._set_text(row, texts[i], gates[i])

    def _take_row(self) -> int:
        if self._free_rows:
            return self._free_rows.pop()
        if self._n == len(self._ids):
            self._alloc(math.ceil(len(self._ids) * _GROW) + 16)
        self._n += 1
        return self._n - 1

    def _set_text(self, row: int, vec: np.ndarray | None, gate: float | None) -> None:
        slot = int(self._slot[row])
        if vec is None:
            if slot >= 0:
                self._t_owner[slot] = -1
                self._free_slots.append(slot)
                self._slot[row] = -1
            self._gate[row] = 0.0
            return
        if slot < 0:
            if self._free_slots:
                slot = self._free_slots.pop()
            else:
                if self._t_n == len(self._t_owner):
                    self._t_alloc(math.ceil(len(self._t_owner) * _GROW) + 16)
                slot = self._t_n
                self._t_n += 1
            self._slot[row] = slot
            self._t_owner[slot] = row
        self._text[slot] = vec
        self._gate[row] = 0.0 if gate is None else gate

    def set_texts(self, ids: Sequence[int], texts: Sequence[np.ndarray | None], gates: Sequence[float | None]) -> None:
        with self._lock:
            for pid, vec, gate in zip(ids, texts, gates, strict=True):
                row = self._row_of.get(int(pid))
                if row is not None:
                    self._set_text(row, vec, gate)

    def set_dates(self, ids: Sequence[int], dates: Sequence[float | None]) -> None:
        with self._lock:
            for pid, d in zip(ids, dates, strict=True):
                row = self._row_of.get(int(pid))
                if row is not None:
                    self._date[row] = np.nan if d is None else d

    def remove(self, ids: Sequence[int]) -> None:
        with self._lock:
            for pid in ids:
                row = self._row_of.pop(int(pid), None)
                if row is None:
                    continue
                self._set_text(row, None, None)
                self._valid[row] = False
                self._ids[row] = -1
                self._free_rows.append(row)

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
            if not self._row_of or not parts:
                return []
            total: np.ndarray | None = None
            ids = self._ids[: self._n]
            for vec, weight, is_image in parts:
                ids, scores = self.score_ids(vec, fusion, is_image)
                total = scores * weight if total is None else total + scores * weight
            assert total is not None
            total = self._apply_filters(total, filters, self._n)
        return top_k(total, ids, limit, min_score)

    def score_ids(self, query: np.ndarray, fusion: FusionScorer, query_is_image: bool) -> tuple[np.ndarray, np.ndarray]:
        """(ids, fused scores) for every row; removed rows score -inf."""
        with self._lock:
            n = self._n
            if n == 0:
                return np.zeros(0, np.int64), np.zeros(0, np.float32)
            image_sims = _matvec(self._image[:n], query)
            text_sims = has_text = gate = None
            if not query_is_image and self._t_n:
                ts = _matvec(self._text[: self._t_n], query)
                owners = self._t_owner[: self._t_n]
                live = owners >= 0
                text_sims = np.zeros(n, np.float32)
                text_sims[owners[live]] = ts[live]
                has_text = self._slot[:n] >= 0
                gate = self._gate[:n]
            scores = fusion.score(query, image_sims, text_sims, gate, has_text, query_is_image=query_is_image)
            scores = np.where(self._valid[:n], scores, -np.inf).astype(np.float32)
            return self._ids[:n].copy(), scores

    def _apply_filters(self, scores: np.ndarray, filters: Filters | None, n: int) -> np.ndarray:
        if filters is None:
            return scores
        mask = np.ones(n, bool)
        if filters.after is not None:
            mask &= self._date[:n] >= filters.after
        if filters.before is not None:
            mask &= self._date[:n] < filters.before
        if filters.allowed_ids is not None:
            allowed = np.zeros(n, bool)
            rows = [self._row_of[i] for i in filters.allowed_ids if i in self._row_of]
            allowed[rows] = True
            mask &= allowed
        for pid in filters.exclude_ids:
            row = self._row_of.get(pid)
            if row is not None:
                mask[row] = False
        return np.where(mask, scores, -np.inf)


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
