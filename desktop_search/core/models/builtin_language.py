"""What the built-in model makes of a query's language: which encoder reads it (English MiniLM or
the multilingual heads), whether its words are known at all, and the scale that gives its scores a
meaning. A mixin of :class:`~.builtin.BuiltinModel`, which provides the attributes listed below."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: queries whose familiarity is remembered (more than the searcher's cache of query vectors, 256)
FAMILIARITY_CACHE = 1024


class QueryUnderstanding:
    """Needs: ``weights_path`` (None: the packaged weights), ``weights_sha256``, ``version``,
    ``trained``, ``legacy_versions``, ``_multilingual``, ``_relevance_scale``,
    ``_multilingual_lock`` and ``_once`` (see ``BuiltinModel``)."""

    weights_path: Path | None
    weights_sha256: str
    version: str
    trained: bool
    legacy_versions: Sequence[str]
    _multilingual: Any
    _relevance_scale: Any
    _multilingual_lock: Any
    _once: Callable[..., Any]
    _familiarity: Any
    _familiarity_lock: Any
    concepts: Any
    encode_queries: Callable[[Sequence[str]], np.ndarray]
    _query_vectors: Callable[..., np.ndarray]

    def multilingual(self) -> Any:
        """The :class:`~.multilingual.MultilingualEncoder` for texts in other languages than English
        (its ``queries``, ``photo_texts`` and ``minilm_like``), loaded on first use; None when it is
        unavailable (no heads for these weights, the package missing, untrained heads)."""

        def make() -> Any:
            from .multilingual import load_multilingual

            # heads made for an earlier version whose heads these weights keep (upgrades_from) fit too
            same_heads = [v.rsplit("-", 1)[-1] for v in self.legacy_versions]
            return (load_multilingual(self.weights_sha256, same_heads=same_heads) if self.trained else None) or False

        return self._once("_multilingual", self._multilingual_lock, make, while_open=False) or None

    def _multilingual_queries(self, multilingual: Any, texts: Sequence[str]) -> np.ndarray:
        """Queries in other languages: the multilingual heads' joint-space vector, and the concept
        bridge's half from their estimate of MiniLM's sentence embedding of the English text."""
        head, sentences, embeddings = self._multilingual_parts(multilingual, texts)
        self._remember_familiarity(texts, None, np.matmul, multilingual=embeddings)
        return self._query_vectors(head, sentences, texts=texts, remember=False)

    def _multilingual_parts(
        self, multilingual: Any, texts: Sequence[str]
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """The multilingual heads' joint-space vectors, their estimate of MiniLM's sentence
        embeddings of the English texts (None without a concept bridge), and the multilingual
        encoder's own sentence embeddings (which judge the texts' familiarity)."""
        head, sentences, embeddings = multilingual.query_parts(list(texts))
        return head, sentences if self.concepts is not None else None, embeddings

    def _route_languages(self, texts: Sequence[str]) -> tuple[list[int], list[int], Any]:
        """``multilingual.route_languages`` for this model (other, unsure, encoder)."""
        from .multilingual import route_languages

        return route_languages(texts, trained=self.trained, loaded=bool(self._multilingual), load=self.multilingual)

    @property
    def relevance_scale(self) -> Any:
        """``<weights stem>-relevance.json`` beside the weights, when fitted for them (bench/relevance.py)."""

        def make() -> Any:
            from ..search.relevance import scale_beside

            path = self.weights_path
            return (scale_beside(Path(path), self.version) if path is not None else None) or False

        return self._once("_relevance_scale", self._multilingual_lock, make, while_open=False) or None

    def _remember_familiarity(
        self, texts: Sequence[str], sentences: np.ndarray | None, matmul: Any, multilingual: np.ndarray | None = None
    ) -> None:
        """Each text's familiarity (search/relevance.py), from its MiniLM sentence embedding, or for
        a text read in another language from the multilingual encoder's embedding (``multilingual``;
        not judged where the scale has no bank for it)."""
        scale = self.relevance_scale
        if scale is None or scale.familiar is None or not texts:
            return
        values: Any = np.full(len(texts), np.nan, np.float32)
        if sentences is not None:
            s = np.asarray(sentences, np.float32)
            concept = self.concepts.class_similarity(s, matmul).max(axis=1) if self.concepts is not None else None
            values = scale.familiarity(s, concept, matmul)
            if values is None:
                return
        elif multilingual is not None:
            judged = scale.familiarity_multilingual(np.asarray(multilingual, np.float32), matmul)
            if judged is not None:
                values = judged
        with self._familiarity_lock:
            for text, f in zip(texts, values, strict=True):
                key = text.strip()
                self._familiarity.pop(key, None)
                self._familiarity[key] = float(f)
            while len(self._familiarity) > FAMILIARITY_CACHE:
                self._familiarity.popitem(last=False)

    def query_familiarity(self, text: str) -> float | None:
        """How close a text query comes to what the model was trained on (search/relevance.py):
        remembered from its encoding, else encoded again; None without a fitted bank and for a
        query read in another language than English."""
        scale = self.relevance_scale
        if scale is None or scale.familiar is None:
            return None
        key = text.strip()
        with self._familiarity_lock:
            value = self._familiarity.get(key)
        if value is None:
            self.encode_queries([key])
            with self._familiarity_lock:
                value = self._familiarity.get(key)
        return None if value is None or np.isnan(value) else value

    def knows_words(self, text: str) -> bool:
        from .lexicon import knows_words

        return knows_words(text)
