"""Retrieval metrics and the evaluation protocol behind ``desktop-search eval``.

Everything goes through the public :class:`~.base.EmbeddingModel` interface (encode_images,
encode_queries, encode_photo_texts, fusion.score), exactly as the app searches, so any registered
model can be evaluated.

Protocols (figures in percent):

- text→image: every caption is a query against all photos; its own photo is the one right answer.
- with ``caption_fraction`` F: a seeded fraction F of the photos gets its *first* caption attached as
  the photo's own text; queries are all the other captions. Reported: image-only (image similarity),
  text-only (photo-text similarity; photos without text rank last) and fused (``fusion.score``).
- image→image: each photo's near-duplicate copies (resized to half size, 90 % centre crop, JPEG quality
  60; made in memory) are queries against the original photos; R@1 over all copies.

Ranks are pessimistic on ties: a photo tied with the right answer counts as ranked above it.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

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


# -- the whole protocol through the model interface ----------------------------------------------------
@dataclass
class EvalResult:
    model: str
    images: int
    queries: int = 0
    sections: dict[str, dict[str, float]] = field(default_factory=dict)
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
