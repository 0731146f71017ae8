"""A tiny, deterministic, numpy-only embedding model for fast tests of everything but model quality.

Images embed as their mean colour; texts embed colour words ("red", "green", ...) to the same
direction, so a query for "red" ranks red photos first. Registered as the model name ``tiny``.
Tests about quality use the real ``builtin`` network instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from desktop_search.core.models.base import EmbeddingModel, FusionScorer, ImageOnlyScorer, PhotoTextVectors
from desktop_search.core.models.registry import register_model
from desktop_search.core.types import IndexCounts

COLOURS = {
    "red": (1.0, 0.0, 0.0),
    "green": (0.0, 1.0, 0.0),
    "blue": (0.0, 0.0, 1.0),
    "yellow": (1.0, 1.0, 0.0),
    "cyan": (0.0, 1.0, 1.0),
    "magenta": (1.0, 0.0, 1.0),
    "white": (1.0, 1.0, 1.0),
    "black": (0.05, 0.05, 0.05),
}
DIM = 8


def _normalise(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-8)).astype(np.float32)


def colour_vector(rgb: Sequence[float]) -> np.ndarray:
    v = np.zeros(DIM, np.float32)
    r, g, b = (float(c) for c in rgb)
    v[:3] = (r - 0.5, g - 0.5, b - 0.5)
    v[3] = 0.1
    return _normalise(v)


class TinyModel(EmbeddingModel):
    name = "tiny"
    version = "1"
    dim = DIM
    image_size = 8
    device = "cpu"

    def __init__(self) -> None:
        self.images_encoded = 0

    def preprocess(self, image: Image.Image) -> np.ndarray:
        small = image.convert("RGB").resize((self.image_size, self.image_size))
        return np.asarray(small, dtype=np.float32) / 255.0

    def encode_images(self, batch: Sequence[np.ndarray]) -> np.ndarray:
        self.images_encoded += len(batch)
        return np.stack([colour_vector(a.reshape(-1, 3).mean(0)) for a in batch])

    def _text(self, text: str) -> np.ndarray:
        words = [w for w in text.lower().replace("_", " ").split() if w in COLOURS]
        if not words:
            return _normalise(np.full(DIM, 0.01, np.float32))
        return colour_vector(np.mean([COLOURS[w] for w in words], axis=0))

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._text(t) for t in texts])

    def encode_photo_texts(self, texts: Sequence[str]) -> PhotoTextVectors:
        return PhotoTextVectors(np.stack([self._text(t) for t in texts]), np.zeros(len(texts), np.float32))

    @property
    def fusion(self) -> FusionScorer:
        return ImageOnlyScorer()


_SHARED = TinyModel()


def _factory(name: str, device: str | None) -> EmbeddingModel:
    return _SHARED


register_model("tiny", _factory)


def last_counts(events) -> IndexCounts:  # type: ignore[no-untyped-def]
    """Run an indexing job's events to the end; the counts of its last event."""
    last = None
    for event in events:
        last = event
    assert last is not None
    return last.counts


def solid_image(path, rgb: tuple[int, int, int], size=(64, 48), fmt: str | None = None) -> None:
    """Write a solid-colour photo with a little noise (so files differ in content)."""
    rng = np.random.default_rng(abs(hash((str(path), rgb))) % (2**32))
    arr = np.clip(np.array(rgb, np.float32) + rng.normal(0, 4, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
    Image.fromarray(arr).save(path, format=fmt)


class TinyModelV2(TinyModel):
    """The same idea under another name: stands for "the user switched models"."""

    name = "tiny2"
    version = "1"


_SHARED_V2 = TinyModelV2()
register_model("tiny2", lambda name, device: _SHARED_V2)
