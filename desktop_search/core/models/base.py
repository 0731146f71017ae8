"""The one interface every embedding backend implements.

Everything here is import-light (numpy and Pillow only) so that the search and indexing code can be
imported without torch; backends import torch lazily when they are constructed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from ..search.relevance import RelevanceScale


@dataclass(frozen=True)
class PhotoTextVectors:
    """A photo's own text (caption or meaningful filename) embedded for fusion.

    vectors: (B, dim) float32, L2-normalised, comparable with query vectors by dot product.
    gate: (B,) float32, the photo-side attention logit (how informative this text is); stored with
          the photo and fed to :meth:`FusionScorer.score`.
    """

    vectors: np.ndarray
    gate: np.ndarray


class FusionScorer(ABC):
    """Combines a query's match to each photo's image and to its text into one ranking score.

    Numpy only, vectorised over N photos, O(N) element-wise work: it runs on every query over the
    whole library. Contract: where ``has_text`` is False the score depends on the image similarity
    alone, through a fixed increasing function, so a photo without text is never pushed down for lack
    of a caption relative to other photos without text.
    """

    #: whether a photo's score depends only on the query and that photo's own inputs; then a text
    #: query may score the photos with text apart from the others (``VectorMatrix`` does). False for a
    #: scorer that uses statistics over all photos (CLIP's ``CalibratedMaxScorer``); a subclass that
    #: changes this must say so.
    rowwise: bool = False

    #: what one unit of an example photo's cosine similarity weighs against this scorer's text-query
    #: scores when a search has both (text AND "like this photo"): the two must be on one scale, or
    #: the part with the larger numbers decides alone
    example_weight: float = 1.0

    @abstractmethod
    def score(
        self,
        query: np.ndarray,
        image_sims: np.ndarray,
        text_sims: np.ndarray | None,
        photo_gate: np.ndarray | None,
        has_text: np.ndarray | None,
        query_is_image: bool = False,
    ) -> np.ndarray:
        """Return (N,) float32 fused scores; higher is better."""


class ImageOnlyScorer(FusionScorer):
    """Ranks by image similarity alone (backends without learned fusion)."""

    rowwise = True

    def score(self, query, image_sims, text_sims, photo_gate, has_text, query_is_image=False):
        if query_is_image or text_sims is None or has_text is None:
            return image_sims.astype(np.float32, copy=False)
        # Without a learned fusion: take the better of the two matches for photos with text.
        return np.where(has_text, np.maximum(image_sims, text_sims), image_sims).astype(np.float32)


class EmbeddingModel(ABC):
    """An image and text encoder into one joint, L2-normalised vector space.

    Instances are used from a single inference thread; ``preprocess`` alone must be thread-safe
    (it runs in decode workers) and must not need torch.
    """

    #: registry name, e.g. ``"builtin"`` or ``"clip:ViT-B-32/laion2b_s34b_b79k"``
    name: str
    #: changes whenever the weights or preprocessing change; vectors are stored under :attr:`key`
    version: str
    #: dimension of image, query and photo-text vectors
    dim: int
    #: side of the square input the image encoder takes
    image_size: int
    #: "cuda", "mps" or "cpu"
    device: str

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"

    @abstractmethod
    def preprocess(self, image: Image.Image) -> np.ndarray:
        """Turn a decoded RGB image into the encoder's input array (numpy, no torch)."""

    @abstractmethod
    def encode_images(self, batch: Sequence[np.ndarray]) -> np.ndarray:
        """(B, dim) float32 vectors from preprocessed arrays: a unit direction, times an optional
        per-photo weight (a length near 1) that text queries see through the dot product and
        example-photo search ignores (it compares directions)."""

    @abstractmethod
    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """(B, dim) float32 vectors for search queries, L2-normalised (a model may append a part
        whose length weighs it, as the builtin's concept bridge does: then the first part is)."""

    @abstractmethod
    def encode_photo_texts(self, texts: Sequence[str]) -> PhotoTextVectors:
        """Embed photos' captions or meaningful filenames for fusion."""

    @property
    @abstractmethod
    def fusion(self) -> FusionScorer:
        """The scorer that combines image and text matches for this model."""

    @property
    def relevance_scale(self) -> RelevanceScale | None:
        """The scale that gives this model's scores a meaning (0-100, ``search/relevance.py``),
        fitted for this :attr:`version`; None where none was fitted (results then carry no
        relevance, and nothing is called a good match)."""
        return None

    def knows_words(self, text: str) -> bool:
        """False when ``text`` is made of words this model's text encoder never learned (then no
        photo is a good match for it)."""
        return True

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release device memory; the model must not be used afterwards."""
