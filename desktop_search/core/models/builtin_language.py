"""What the built-in model makes of a query's language: which encoder reads it (English MiniLM or
the multilingual heads), whether its words are known at all, and the scale that gives its scores a
meaning. A mixin of :class:`~.builtin.BuiltinModel`, which provides the attributes listed below."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


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

    def knows_words(self, text: str) -> bool:
        from .lexicon import knows_words

        return knows_words(text)
