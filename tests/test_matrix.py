"""The resident vector matrix: exact scores, the int8 scan of large libraries, vector lengths."""

from __future__ import annotations

import numpy as np
import pytest

from desktop_search.core.models.fusion import LearnedFusion
from desktop_search.core.search import kernels as K
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


# -- the fused ranking against a brute-force float32 ranking of the same vectors -------------------
def _random_fusion(dim: int, seed: int) -> LearnedFusion:
    rng = np.random.default_rng(seed)
    return LearnedFusion(
        {"u_img": rng.normal(size=dim) * 0.5, "u_txt": rng.normal(size=dim) * 0.5, "b_img": np.array(0.1),
         "b_txt": np.array(-0.2), "log_s_img": np.array(2.0), "log_s_txt": np.array(1.5), "c_txt": np.array(-0.3),
         "log_m": np.array(0.2), "c_none": np.array(0.05)}
    )


class _SubclassedFusion(LearnedFusion):
    """Not declared row-wise: the matrix scores it over every row, with zeros and a mask."""

    rowwise = False


def _library(seed: int, n: int = 6000, dim: int = 32) -> tuple[VectorMatrix, dict[int, tuple]]:
    """A matrix with lengths, texts on a third of the photos (half of them file names), gates, dates,
    removals and re-adds (so rows and text slots are reused), and the same data as plain arrays by
    photo id: (image, text, gate, date, length, text is a name)."""
    rng = np.random.default_rng(seed)
    m = VectorMatrix(dim, capacity=64)
    truth: dict[int, tuple] = {}

    def put(ids: list[int]) -> None:
        imgs = _unit(rng.standard_normal((len(ids), dim))) * rng.uniform(0.6, 1.2, (len(ids), 1)).astype(np.float32)
        has = rng.random(len(ids)) < 0.33
        texts = [_unit(rng.standard_normal(dim)) if h else None for h in has]
        gates = [float(rng.normal()) if h else None for h in has]
        dates = [None if rng.random() < 0.1 else float(rng.uniform(0, 1000)) for _ in ids]
        names = [bool(rng.random() < 0.5) for _ in ids]  # a photo without text ignores it
        m.upsert(ids, imgs, texts, gates, dates, names)
        for i, pid in enumerate(ids):
            truth[pid] = (imgs[i].astype(np.float16), None if texts[i] is None else texts[i].astype(np.float16),
                          gates[i], dates[i], float(np.linalg.norm(imgs[i])), names[i] and texts[i] is not None)

    for s in range(0, n, 1000):
        put(list(range(s + 1, min(n, s + 1000) + 1)))
    gone = [int(i) for i in rng.choice(np.arange(1, n + 1), n // 10, replace=False)]
    m.remove(gone)
    for pid in gone:
        del truth[pid]
    put(gone[: len(gone) // 2])  # back, in reused rows and slots
    put([int(i) for i in rng.choice(sorted(truth), 200, replace=False)])  # updated in place
    drop = [int(i) for i in rng.choice(sorted(truth), 100, replace=False)]
    m.set_texts(drop, [None] * len(drop), [None] * len(drop))  # texts dropped: free slots
    for pid in drop:
        truth[pid] = (truth[pid][0], None, None, *truth[pid][3:5], False)
    # texts replaced: captions become names and names captions
    swap = [int(i) for i in rng.choice([p for p in sorted(truth) if truth[p][1] is not None], 100, replace=False)]
    m.set_texts(swap, [truth[p][1] for p in swap], [truth[p][2] for p in swap], [not truth[p][5] for p in swap])
    for pid in swap:
        truth[pid] = (*truth[pid][:5], not truth[pid][5])
    return m, truth


def _columns(truth: dict[int, tuple]) -> tuple:
    """``truth`` as arrays by ascending id."""
    ids = np.array(sorted(truth), np.int64)
    img = np.stack([truth[i][0] for i in ids]).astype(np.float32)
    has = np.array([truth[i][1] is not None for i in ids])
    txt = np.stack([truth[i][1] if truth[i][1] is not None else np.zeros(img.shape[1], np.float16) for i in ids]).astype(np.float32)
    gate = np.array([truth[i][2] or 0.0 for i in ids], np.float32)
    date = np.array([np.nan if truth[i][3] is None else truth[i][3] for i in ids])
    length = np.array([truth[i][4] for i in ids], np.float32)  # of the vector given, before float16
    name = np.array([truth[i][5] for i in ids], bool)
    return ids, img, has, txt, gate, date, length, name


def _brute_force(columns: tuple, parts, fusion, limit: int, filters: M.Filters | None,
                 min_score: float | None) -> list[tuple[int, float]]:
    ids, img, has, txt, gate, date, length, name = columns
    total = np.zeros(len(ids), np.float32)
    for q, weight, is_image in parts:
        q = np.asarray(q, np.float32)
        if is_image:
            s = fusion.score(q, (img @ q) / length, None, None, None, query_is_image=True)
        else:
            s = fusion.score(q, img @ q, txt @ q, gate, has)
            # a file name's text: never below the image-only score
            s = np.where(name, np.maximum(s, fusion.score(q, img @ q, None, None, None)), s)
        total += np.float32(weight) * s
    keep = np.ones(len(ids), bool)
    if filters is not None:
        if filters.after is not None:
            keep &= date >= filters.after
        if filters.before is not None:
            keep &= date < filters.before
        for allowed in filters.id_sets:
            keep &= np.isin(ids, list(allowed))
        keep &= ~np.isin(ids, list(filters.exclude_ids))
    if min_score is not None:
        keep &= total >= min_score
    order = [i for i in np.argsort(-total, kind="stable") if keep[i]][:limit]
    return [(int(ids[i]), float(total[i])) for i in order]


def _assert_same(got: list[tuple[int, float]], want: list[tuple[int, float]]) -> None:
    assert [p for p, _ in got] == [p for p, _ in want]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in want], rtol=1e-5, atol=1e-5)


def test_fused_ranking_matches_brute_force(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Text queries (fusion with photo texts and gates), example photos and both together, with
    filters and a minimum score: the same ids and scores as a brute-force float32 ranking, whether
    the matrix scores every row exactly or pre-scans in int8 and re-ranks, and whatever the scorer."""
    torch = pytest.importorskip("torch")  # the int8 kernel; imported, it is used when the dimension suits
    dim = 32
    m, truth = _library(seed=7, dim=dim)
    columns = _columns(truth)
    rng = np.random.default_rng(8)
    some = [int(i) for i in rng.choice(sorted(truth), 1500, replace=False)]
    example = sorted(truth)[5]
    cases = [
        (None, None),
        (M.Filters(after=200.0, before=800.0), None),
        (M.Filters(id_sets=(frozenset(some),), exclude_ids=frozenset(some[:20])), None),
        (M.Filters(id_sets=(frozenset(some), frozenset(some[500:] + sorted(truth)[:50])), after=150.0), None),
        (None, 0.0),
        (M.Filters(after=100.0), 0.3),
    ]
    assert torch is not None
    # every row scored exactly / int8 pre-scan; on the calling thread or on the helpers; in parts
    for scan, on_caller, split_rows, seeds in (("exact", True, None, 3), ("exact", False, 1000, 1),
                                               ("int8", True, None, 3), ("int8", False, None, 1), ("int8", True, 1000, 1)):
        monkeypatch.setattr(M, "EXACT_ROWS", 100 if scan == "int8" else 32_768)
        monkeypatch.setattr(K, "single_torch_thread", lambda on_caller=on_caller: on_caller)
        monkeypatch.setattr(K.Int8Kernel, "SPLIT_ROWS", split_rows or 65_536)
        assert scan == "exact" or K.Int8Kernel.available(dim)
        for seed in range(seeds):
            fusion = _random_fusion(dim, seed)
            q = _unit(rng.standard_normal(dim))
            ex = _unit(truth[example][0].astype(np.float32))
            for parts in ([(q, 1.0, False)], [(ex, 1.0, True)], [(q, 0.5, False), (ex, 0.5, True)]):
                for filters, min_score in cases:
                    want = _brute_force(columns, parts, fusion, 50, filters, min_score)
                    for scorer in (fusion, _SubclassedFusion.__new__(_SubclassedFusion)):
                        scorer.__dict__.update(fusion.__dict__)
                        _assert_same(m.search(parts, scorer, 50, filters, min_score), want)


def test_image_only_scorer_matches_brute_force() -> None:
    from desktop_search.core.models.base import ImageOnlyScorer

    m, truth = _library(seed=3, n=2000)
    q = _unit(np.random.default_rng(4).standard_normal(32))
    want = _brute_force(_columns(truth), [(q, 1.0, False)], ImageOnlyScorer(), 30, None, None)
    _assert_same(m.search([(q, 1.0, False)], ImageOnlyScorer(), 30), want)


def test_ranking_follows_updates() -> None:
    """Cached per-update facts (which rows have text, their gates, removed rows) follow changes."""
    fusion = _random_fusion(32, 1)
    m, truth = _library(seed=11, n=3000)
    q = _unit(np.random.default_rng(12).standard_normal(32))
    _assert_same(m.search([(q, 1.0, False)], fusion, 20), _brute_force(_columns(truth), [(q, 1.0, False)], fusion, 20, None, None))
    top = [p for p, _ in m.search([(q, 1.0, False)], fusion, 5)]
    m.remove(top[:2])
    for pid in top[:2]:
        del truth[pid]
    m.set_texts([top[2]], [_unit(np.ones(32))], [3.0])
    truth[top[2]] = (truth[top[2]][0], _unit(np.ones(32)).astype(np.float16), 3.0, *truth[top[2]][3:5], False)
    _assert_same(m.search([(q, 1.0, False)], fusion, 20), _brute_force(_columns(truth), [(q, 1.0, False)], fusion, 20, None, None))


def test_split_scans_every_part_once(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The calling thread scans its part and takes back any part no helper has started; every row is
    scanned exactly once either way."""
    import threading

    monkeypatch.setattr(K, "single_torch_thread", lambda: True)
    monkeypatch.setattr(K, "helper_count", lambda: 3)
    monkeypatch.setattr(K.Int8Kernel, "SPLIT_ROWS", 10)
    pool = K.Int8Kernel._helpers()
    calls: list[tuple[int, int, int]] = []
    lock = threading.Lock()

    def scan(lo: int, hi: int) -> None:
        with lock:
            calls.append((lo, hi, threading.get_ident()))

    release = threading.Event()
    blockers = [pool.submit(release.wait, 10) for _ in range(pool._max_workers)]
    try:
        K.Int8Kernel.split(100, scan)  # every helper busy: the caller scans all three parts
        assert sorted((lo, hi) for lo, hi, _ in calls) == [(0, 33), (33, 66), (66, 100)]
        assert {t for _, _, t in calls} == {threading.get_ident()}
    finally:
        release.set()
        for b in blockers:
            b.result()
    for _ in range(20):  # helpers free: whoever scans a part, each is scanned once
        calls.clear()
        K.Int8Kernel.split(100, scan)
        assert sorted((lo, hi) for lo, hi, _ in calls) == [(0, 33), (33, 66), (66, 100)]


def test_a_file_names_text_never_lowers_its_photo_but_a_caption_may(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The same text vector lowers a photo when it is a caption, and leaves it at its image-only
    score when it is the words of the file name; one that matches raises the photo either way.
    Exactly and in the int8 scan; the flag follows text changes and reused rows."""
    pytest.importorskip("torch")  # the int8 kernel
    assert K.Int8Kernel.available(32)
    fusion = _random_fusion(32, 5)
    rng = np.random.default_rng(6)
    q = _unit(rng.standard_normal(32))
    away = _unit(rng.standard_normal(32) - 3 * q)  # a text far from the query
    img = _unit(q + 0.3 * rng.standard_normal(32))
    others = _unit(rng.standard_normal((400, 32)))
    m = VectorMatrix(32)
    m.upsert(range(10, 410), others, [None] * 400, [None] * 400, [None] * 400)
    m.upsert([1, 2, 3, 4], np.stack([img] * 4), [None, away, away, q], [None, 0.5, 0.5, 0.5], [None] * 4,
             [False, False, True, True])
    for exact_rows in (32_768, 100):
        monkeypatch.setattr(M, "EXACT_ROWS", exact_rows)
        s = dict(m.search([(q, 1.0, False)], fusion, 500))
        image_only = s[1]  # no text
        assert s[2] < image_only - 0.1  # a caption that does not match lowers its photo
        assert s[3] == pytest.approx(image_only, abs=1e-5)  # a name that does not match: no lower
        assert s[4] > image_only  # a name that matches raises it
        assert dict(m.scores_of([(q, 1.0, False)], fusion, [2, 3])) == pytest.approx({2: s[2], 3: s[3]}, abs=1e-5)
    monkeypatch.setattr(M, "EXACT_ROWS", 32_768)
    m.set_texts([2, 3], [away, away], [0.5, 0.5], [True, False])  # photo 2 named, photo 3 captioned
    s = dict(m.search([(q, 1.0, False)], fusion, 500))
    assert s[2] == pytest.approx(s[1], abs=1e-5) and s[3] < s[1] - 0.1
    m.set_texts([2], [away], [0.5])  # names not given: a caption
    m.remove([3])
    m.upsert([5], img[None], [away], [0.5], [None])  # photo 3's row again, not a name
    s = dict(m.search([(q, 1.0, False)], fusion, 500))
    assert s[2] < s[1] - 0.1 and s[5] < s[1] - 0.1
