"""The resident vector matrix: exact scores, the int8 scan of large libraries, vector lengths."""

from __future__ import annotations

import numpy as np

from desktop_search.core.models.fusion import LearnedFusion
from desktop_search.core.search import matrix as M
from desktop_search.core.search.matrix import VectorMatrix

FUSION = LearnedFusion(
    {"u_img": np.zeros(32), "u_txt": np.zeros(32), "b_img": 0.0, "b_txt": 0.0, "log_s_img": 0.0,
     "log_s_txt": 0.0, "c_txt": 0.0, "log_m": 0.0, "c_none": 0.0}
)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def test_lengths_weigh_text_queries_but_not_example_photos() -> None:
    """A model may give image vectors a per-photo length (hubness weight): a text query's score
    follows it, "more like this" compares directions only."""
    rng = np.random.default_rng(0)
    base = _unit(rng.standard_normal((3, 32)))
    query = _unit(base[0] + base[1])  # equally close to photos 1 and 2
    vecs = np.stack([base[0] * 0.6, base[1] * 1.2, base[2]])  # photo 1 is a "hub": shrunk
    m = VectorMatrix(32)
    m.upsert([1, 2, 3], vecs, [None] * 3, [None] * 3, [None] * 3)
    text_hits = m.search([(query, 1.0, False)], FUSION, limit=3)
    assert [pid for pid, _ in text_hits][:2] == [2, 1]
    image_hits = m.search([(query, 1.0, True)], FUSION, limit=3)
    scores = dict(image_hits)
    assert abs(scores[1] - scores[2]) < 1e-3  # same angle, whatever the lengths
    assert abs(scores[1] - float(query @ base[0])) < 2e-3


def test_int8_scan_matches_exact_ranking(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(1)
    n = 5000
    vecs = _unit(rng.standard_normal((n, 32))) * rng.uniform(0.6, 1.2, (n, 1)).astype(np.float32)
    m = VectorMatrix(32)
    m.upsert(list(range(1, n + 1)), vecs, [None] * n, [None] * n, [None] * n)
    query = _unit(rng.standard_normal(32))
    exact = m.search([(query, 1.0, True)], FUSION, limit=10)
    monkeypatch.setattr(M, "EXACT_ROWS", 100)
    approx = m.search([(query, 1.0, True)], FUSION, limit=10)
    assert [p for p, _ in approx] == [p for p, _ in exact]
    cos = (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)) @ query
    assert [p for p, _ in exact] == [int(i) + 1 for i in np.argsort(-cos)[:10]]
