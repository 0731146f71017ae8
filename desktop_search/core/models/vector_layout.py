"""The layout of the built-in model's vectors: the heads' joint-space part, then the concept
bridge's half (:mod:`.concepts`), then the colour part (:mod:`.colours`), each present when the
weights have it. A photo's and a query's parts line up, so the search's one dot product adds the
parts' matches; photo texts fill only the heads' part. Older vectors are a prefix of newer ones (see
``indexing/model_change.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .colours import ColourParts
from .concepts import ConceptBridge


def photo_vectors(heads: np.ndarray, concepts: ConceptBridge | None, pooled: np.ndarray | None,
                   colours: ColourParts | None, cells: np.ndarray | None, batch: Sequence[np.ndarray]) -> np.ndarray:
    """Photos' stored vectors: the heads' part, the concept half (from the pooled feature map), the
    colour part (from the feature map's cells and the input images' colour shares)."""
    parts = [heads]
    if concepts is not None and pooled is not None:
        parts.append(concepts.photos(pooled))
    if colours is not None and cells is not None:
        from .colours import cell_shares

        grid = round(cells.shape[1] ** 0.5)
        parts.append(colours.photos(cells, np.stack([cell_shares(np.asarray(image), grid) for image in batch])))
    return np.concatenate(parts, axis=1) if len(parts) > 1 else heads


def query_vectors(head: np.ndarray, concepts: ConceptBridge | None, sentences: np.ndarray | None,
                   colours: ColourParts | None, texts: Sequence[str], matmul: Any) -> np.ndarray:
    """Queries' vectors: the query head's unit vector, the concept half (from the MiniLM sentence
    embeddings; zeros without them), the colours the texts name (zeros without texts)."""
    parts = [head]
    if concepts is not None:
        parts.append(concepts.queries(sentences, matmul) if sentences is not None
                     else np.zeros((len(head), concepts.dim), np.float32))
    if colours is not None:
        parts.append(colours.queries(texts) if texts else np.zeros((len(head), colours.dim), np.float32))
    return np.concatenate(parts, axis=1) if len(parts) > 1 else head
