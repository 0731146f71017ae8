"""Retrieval metrics and the evaluation protocol behind ``desktop-search eval``.

Everything goes through the public :class:`~.base.EmbeddingModel` interface (encode_images,
encode_queries, encode_photo_texts, fusion.score), exactly as the app searches, so any registered
model can be evaluated.

Protocols (figures in percent):

- text→image: every caption is a query against all photos; its own photo is the one right answer.
- with ``caption_fraction`` F: a seeded fraction F of the photos gets its *first* caption attached as
  the photo's own text; queries are all the other captions. Reported: image-only (image similarity),
  text-only (photo-text similarity; photos without text rank last) and fused (``fusion.score``).
- keyword queries (``eval --keyword-queries FILE``): everyday queries ("pizza", "living room with a
  couch") against the photos alone; a photo is relevant when one of its captions contains one of the
  query's words (whole words, lower case). Reported per query and as the mean: precision in the
  top k, k = min(10, relevant photos).
- image→image: each photo's near-duplicate copies (resized to half size, 90 % centre crop, JPEG quality
  60; made in memory) are queries against the original photos; R@1 over all copies.

Ranks are pessimistic on ties: a photo tied with the right answer counts as ranked above it.
"""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .base import EmbeddingModel

Progress = Callable[[str, int, int], None]


def ranks_from_scores(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """1-based rank of ``targets[i]`` in row i of ``scores`` (Q, N); ties count against the target."""
    scores = np.asarray(scores)
    tgt = scores[np.arange(len(targets)), targets][:, None]
    return (scores >= tgt).sum(1).astype(np.int64)


def recall_summary(ranks: np.ndarray) -> dict[str, float]:
    """R@1/5/10 (percent) and median rank from 1-based ranks."""
    ranks = np.asarray(ranks)
    if ranks.size == 0:
        return {"r1": 0.0, "r5": 0.0, "r10": 0.0, "median_rank": 0.0}
    return {
        "r1": round(float((ranks <= 1).mean() * 100), 2),
        "r5": round(float((ranks <= 5).mean() * 100), 2),
        "r10": round(float((ranks <= 10).mean() * 100), 2),
        "median_rank": float(np.median(ranks)),
    }


def caption_split(
    n_images: int, captions: Sequence[Sequence[str]], fraction: float, seed: int
) -> tuple[np.ndarray, list[str], list[tuple[str, int]]]:
    """Which photos get their first caption as photo text, those texts, and the (query, target) pairs.

    Returns (has_text (N,) bool, photo_texts (N,) str — "" where none, queries [(caption, image)]).
    """
    rng = np.random.default_rng(seed)
    has_text = np.zeros(n_images, dtype=bool)
    k = round(fraction * n_images)
    if k:
        has_text[rng.choice(n_images, size=k, replace=False)] = True
    photo_texts = [captions[i][0] if has_text[i] else "" for i in range(n_images)]
    queries = [
        (c, i) for i in range(n_images) for j, c in enumerate(captions[i]) if not (has_text[i] and j == 0)
    ]
    return has_text, photo_texts, queries


def fused_ranks(
    scorer_score: Callable[..., np.ndarray],
    q: np.ndarray,
    image_vecs: np.ndarray,
    text_vecs: np.ndarray,
    gate: np.ndarray,
    has_text: np.ndarray,
    targets: np.ndarray,
) -> dict[str, np.ndarray]:
    """Image-only, text-only and fused ranks for query vectors ``q`` (Q, D)."""
    image_sims = q @ image_vecs.T
    text_sims = q @ text_vecs.T
    out_img = ranks_from_scores(image_sims, targets)
    text_only = np.where(has_text[None, :], text_sims, -np.inf)
    out_txt = ranks_from_scores(text_only, targets)
    fused = np.stack([scorer_score(q[i], image_sims[i], text_sims[i], gate, has_text) for i in range(len(q))])
    return {"image_only": out_img, "text_only": out_txt, "fused": ranks_from_scores(fused, targets)}


# -- near duplicates -----------------------------------------------------------------------------------
def near_duplicate_copies(image: Image.Image) -> list[Image.Image]:
    """The three in-memory copies used by the image→image test."""
    image = image.convert("RGB")
    w, h = image.size
    resized = image.resize((max(1, round(w * 0.5)), max(1, round(h * 0.5))), Image.Resampling.BILINEAR)
    cw, ch = round(w * 0.9), round(h * 0.9)
    x0, y0 = (w - cw) // 2, (h - ch) // 2
    cropped = image.crop((x0, y0, x0 + cw, y0 + ch))
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=60)
    buf.seek(0)
    jpeg = Image.open(buf).convert("RGB")
    return [resized, cropped, jpeg]


# -- keyword queries ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KeywordQuery:
    """An everyday query and the caption words that make a photo relevant to it."""

    q: str
    any: tuple[str, ...]


def load_keyword_queries(path: Path) -> list[KeywordQuery]:
    """Read a JSON list of ``{"q": "pizza", "any": ["pizza", "pizzas"]}``; ValueError with a one-line
    reason for anything else."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc.msg} (line {exc.lineno})") from exc
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{path} must hold a non-empty JSON list of {{\"q\": ..., \"any\": [...]}} objects")
    out = []
    for i, item in enumerate(raw):
        words = item.get("any") if isinstance(item, dict) else None
        q = item.get("q") if isinstance(item, dict) else None
        if not isinstance(q, str) or not q.strip() or not isinstance(words, list) or not words \
                or not all(isinstance(w, str) and w.strip() for w in words):
            raise ValueError(f"{path}: entry {i + 1} needs a non-empty \"q\" and a non-empty list \"any\" of words")
        out.append(KeywordQuery(q.strip(), tuple(w.strip().lower() for w in words)))
    return out


def keyword_relevance(captions: Sequence[Sequence[str]], queries: Sequence[KeywordQuery]) -> np.ndarray:
    """(Q, N) bool: photo j is relevant to query i when one of its captions contains one of the
    query's words (whole words, lower case; a word may be a phrase such as "living room")."""
    texts = [" ".join(c.lower() for c in cs) for cs in captions]
    out = np.zeros((len(queries), len(texts)), bool)
    for i, kq in enumerate(queries):
        pattern = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in kq.any) + r")\b")
        out[i] = [bool(pattern.search(t)) for t in texts]
    return out


def precision_at_k(scores: np.ndarray, relevant: np.ndarray, k_max: int = 10) -> np.ndarray:
    """Per query, the share of relevant photos among the top k, k = min(k_max, relevant photos)
    (NaN for a query with none). Ties count against relevant photos (stable order, worst first)."""
    out = np.full(len(scores), np.nan)
    for i, (row, rel) in enumerate(zip(np.asarray(scores), np.asarray(relevant), strict=True)):
        k = min(k_max, int(rel.sum()))
        if k:
            # pessimistic on ties: among equal scores, irrelevant photos first
            order = np.lexsort((rel, -row))
            out[i] = float(rel[order[:k]].mean())
    return out


def keyword_report(
    queries: Sequence[KeywordQuery], scores: np.ndarray, relevant: np.ndarray
) -> dict[str, object]:
    """``{"mean_p_at_k", "queries": [{"q", "p_at_k", "relevant"}]}`` (queries with no relevant photo
    are listed with p_at_k null and left out of the mean)."""
    p = precision_at_k(scores, relevant)
    rows = [
        {"q": kq.q, "p_at_k": None if np.isnan(v) else round(float(v), 3), "relevant": int(r.sum())}
        for kq, v, r in zip(queries, p, relevant, strict=True)
    ]
    valid = p[~np.isnan(p)]
    return {"mean_p_at_k": round(float(valid.mean()), 3) if len(valid) else None, "queries": rows}


# -- the whole protocol through the model interface ----------------------------------------------------
@dataclass
class EvalResult:
    model: str
    images: int
    queries: int = 0
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"model": self.model, "images": self.images, "queries": self.queries}
        out.update(self.sections)
        out["seconds"] = round(self.seconds, 1)
        return out


def _load_rgb(path: Path) -> Image.Image:
    with Image.open(path) as im:
        im.load()
        return im.convert("RGB")


def encode_photos(
    model: EmbeddingModel, paths: Sequence[Path], batch_size: int = 32, progress: Progress | None = None
) -> np.ndarray:
    out = []
    for s in range(0, len(paths), batch_size):
        arrays = [model.preprocess(_load_rgb(p)) for p in paths[s : s + batch_size]]
        out.append(model.encode_images(arrays))
        if progress:
            progress("images", min(s + batch_size, len(paths)), len(paths))
    return np.concatenate(out) if out else np.zeros((0, model.dim), dtype=np.float32)


def evaluate_model(
    model: EmbeddingModel,
    paths: Sequence[Path],
    captions: Sequence[Sequence[str]],
    *,
    caption_fraction: float | None = None,
    seed: int = 0,
    image_to_image: bool = True,
    keyword_queries: Sequence[KeywordQuery] | None = None,
    batch_size: int = 32,
    progress: Progress | None = None,
) -> EvalResult:
    """Run the protocols above; returns sections keyed as in ``eval --json``."""
    t0 = time.monotonic()
    n = len(paths)
    res = EvalResult(model=model.name, images=n)
    image_vecs = encode_photos(model, paths, batch_size, progress)
    if caption_fraction is None:
        pairs = [(c, i) for i in range(n) for c in captions[i]]
        q = model.encode_queries([c for c, _ in pairs])
        targets = np.array([i for _, i in pairs], dtype=np.int64)
        res.queries = len(pairs)
        res.sections["text_to_image"] = recall_summary(ranks_from_scores(q @ image_vecs.T, targets))
    else:
        has_text, photo_texts, pairs = caption_split(n, captions, caption_fraction, seed)
        q = model.encode_queries([c for c, _ in pairs])
        targets = np.array([i for _, i in pairs], dtype=np.int64)
        res.queries = len(pairs)
        idx = np.flatnonzero(has_text)
        text_vecs = np.zeros((n, model.dim), dtype=np.float32)
        gate = np.zeros(n, dtype=np.float32)
        if len(idx):
            ptv = model.encode_photo_texts([photo_texts[i] for i in idx])
            text_vecs[idx] = ptv.vectors
            gate[idx] = ptv.gate
        ranks = fused_ranks(model.fusion.score, q, image_vecs, text_vecs, gate, has_text, targets)
        for key, r in ranks.items():
            res.sections[key] = recall_summary(r)
    if keyword_queries:
        kq = model.encode_queries([k.q for k in keyword_queries])
        res.sections["keyword_queries"] = keyword_report(
            keyword_queries, kq @ image_vecs.T, keyword_relevance(captions, keyword_queries)
        )
    if image_to_image:
        res.sections["image_to_image"] = image_to_image_recall(model, paths, image_vecs, batch_size, progress)
    res.seconds = time.monotonic() - t0
    return res


def _directions(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def image_to_image_recall(
    model: EmbeddingModel,
    paths: Sequence[Path],
    image_vecs: np.ndarray,
    batch_size: int = 32,
    progress: Progress | None = None,
) -> dict[str, float]:
    """R@1 (percent) of finding each photo from its near-duplicate copies, scored by fusion.score."""
    hits = total = 0
    zeros = np.zeros(len(paths), dtype=np.float32)
    no_text = np.zeros(len(paths), dtype=bool)
    for s in range(0, len(paths), batch_size):
        arrays, targets = [], []
        for i in range(s, min(s + batch_size, len(paths))):
            for copy in near_duplicate_copies(_load_rgb(paths[i])):
                arrays.append(model.preprocess(copy))
                targets.append(i)
        vecs = _directions(model.encode_images(arrays))
        sims = vecs @ _directions(image_vecs).T  # as the app ranks example photos: by direction
        for v, row, t in zip(vecs, sims, targets, strict=True):
            score = model.fusion.score(v, row, zeros, zeros, no_text, query_is_image=True)
            hits += int(ranks_from_scores(score[None], np.array([t]))[0] == 1)
            total += 1
        if progress:
            progress("near-duplicates", min(s + batch_size, len(paths)), len(paths))
    return {"r1": round(100.0 * hits / max(total, 1), 2)}
