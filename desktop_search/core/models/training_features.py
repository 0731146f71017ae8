"""The features the builtin model's heads train on: frozen-encoder features of a captioned data set
(extracted once and cached, ``features.py``), and the heads' embeddings of them in batches."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from .dataset import CaptionedImages
from .features import TextFeatures, extract_image_features, extract_text_features, stderr_progress
from .heads import BuiltinHeads, gate_input

Log = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- features ------------------------------------------------------------------------------------------
@dataclass
class FeatureSet:
    """Cached features of a captioned photo set: image views and every caption's token states."""

    names: list[str]
    images: dict[str, np.ndarray]  # view → (N, P, C) float16
    text: TextFeatures  # all captions, flattened in photo order
    caption_ids: list[np.ndarray]  # photo i's captions: indices into ``text``
    captions: list[list[str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.names)

    def subset(self, rows: np.ndarray) -> FeatureSet:
        return FeatureSet(
            [self.names[i] for i in rows],
            {v: a[rows] for v, a in self.images.items()},
            self.text,
            [self.caption_ids[i] for i in rows],
            [self.captions[i] for i in rows] if self.captions else [],
        )


def load_features(
    data: CaptionedImages,
    encoder: str,
    views: Sequence[str],
    *,
    device: str | None = None,
    log: Log = _stderr,
    label: str = "",
) -> FeatureSet:
    images = {}
    for v in views:
        t = time.monotonic()
        images[v] = extract_image_features(
            data.paths, encoder, v, device=device, progress=stderr_progress(f"{label}features {encoder}/{v}")
        )
        log(f"{label}image features {encoder}/{v}: {len(data)} photos in {time.monotonic() - t:.1f}s")
    flat = [c for cs in data.captions for c in cs]
    text = extract_text_features(flat, device=device, progress=stderr_progress(f"{label}caption features"))
    ids, k = [], 0
    for cs in data.captions:
        ids.append(np.arange(k, k + len(cs)))
        k += len(cs)
    return FeatureSet(list(data.names), images, text, ids, [list(c) for c in data.captions])


@torch.no_grad()
def fit_token_pca(heads: BuiltinHeads, fs: FeatureSet, seed: int = 0, max_tokens: int = 120_000) -> float:
    """Fit the image head's fixed token PCA on training features; returns the explained variance."""
    rng = np.random.default_rng(seed)
    feats = fs.images["orig"] if "orig" in fs.images else next(iter(fs.images.values()))
    n, p, c = feats.shape
    rows = rng.choice(n, size=min(n, max(1, max_tokens // p)), replace=False)
    x = torch.from_numpy(feats[np.sort(rows)].reshape(-1, c).astype(np.float64))
    mean = x.mean(0)
    cov = torch.cov((x - mean).T)
    vals, vecs = torch.linalg.eigh(cov)
    r = heads.image.pca_basis.shape[1]
    top = torch.argsort(vals, descending=True)[:r]
    heads.image.pca_mean.copy_(mean.float())
    heads.image.pca_basis.copy_(vecs[:, top].float())
    return float(vals[top].sum() / vals.sum())


@torch.no_grad()
def image_parts(
    heads: BuiltinHeads, feats: np.ndarray, batch: int = 500
) -> tuple[torch.Tensor, torch.Tensor]:
    """(global means (N, C) float32, PCA-reduced tokens (N, P, r) float16) for cached features."""
    globs, reds = [], []
    for r in chunks(len(feats), batch):
        g, red = heads.image.split(torch.from_numpy(feats[r].astype(np.float32)))
        globs.append(g)
        reds.append(red.to(torch.float16))
    return torch.cat(globs), torch.cat(reds)


def image_batch(
    parts: dict[str, tuple[torch.Tensor, torch.Tensor]], rows: np.ndarray, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    views = list(parts)
    pick = rng.integers(0, len(views), size=len(rows))
    globs = torch.empty((len(rows), parts[views[0]][0].shape[1]))
    reds = torch.empty((len(rows), *parts[views[0]][1].shape[1:]))
    for k, v in enumerate(views):
        sel = np.flatnonzero(pick == k)
        if len(sel):
            src = torch.from_numpy(rows[sel])
            globs[sel] = parts[v][0][src]
            reds[sel] = parts[v][1][src].float()
    return globs, reds


def chunks(n: int, size: int) -> list[np.ndarray]:
    return [np.arange(s, min(s + size, n)) for s in range(0, n, size)]


@torch.no_grad()
def embed_images(heads: BuiltinHeads, fs: FeatureSet, view: str = "orig", batch: int = 500) -> np.ndarray:
    heads.eval()
    out = [
        heads.image(torch.from_numpy(fs.images[view][r].astype(np.float32))) for r in chunks(len(fs), batch)
    ]
    return torch.cat(out).numpy() if out else np.zeros((0, heads.cfg.dim), np.float32)


@torch.no_grad()
def embed_texts(
    module: Callable[..., torch.Tensor], text: TextFeatures, ids: np.ndarray, batch: int = 1000
) -> np.ndarray:
    out = []
    for s in range(0, len(ids), batch):
        st, m = text.padded(ids[s : s + batch])
        r = module(st, m)
        out.append(r if isinstance(r, torch.Tensor) else r[0])
    return torch.cat(out).numpy()


@torch.no_grad()
def embed_gate_inputs(text: TextFeatures, ids: np.ndarray, batch: int = 2000) -> torch.Tensor:
    out = []
    for s in range(0, len(ids), batch):
        st, m = text.padded(ids[s : s + batch])
        out.append(gate_input(st, m))
    return torch.cat(out)
