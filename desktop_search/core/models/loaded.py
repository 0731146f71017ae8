"""The models one library has loaded, by name: loaded on first use, shared between threads.

A model that cannot be had (offline, missing weights) has ``builtin`` stand in for it, with a
one-line :attr:`LoadedModels.warning`; a switch of the library's model (:meth:`load_for_switch`)
gets no stand-in.
"""

from __future__ import annotations

import logging
import threading

from ..errors import ModelUnavailable, UserError
from .base import EmbeddingModel
from .registry import DEFAULT_MODEL, load_model

log = logging.getLogger(__name__)


class LoadedModels:
    def __init__(self, device: str | None = None) -> None:
        self.device = device
        #: why a model is stood in for (the last one), for the CLI and the window to say once
        self.warning: str | None = None
        self._models: dict[str, EmbeddingModel] = {}
        self._fallbacks: set[str] = set()  # model names that builtin stands in for (unavailable)
        self._lock = threading.Lock()

    def __contains__(self, name: str) -> bool:
        return name in self._models

    def get(self, name: str) -> EmbeddingModel | None:
        """The model loaded under ``name``, or None (nothing is loaded here)."""
        return self._models.get(name)

    def values(self) -> list[EmbeddingModel]:
        return list(self._models.values())

    def stood_in(self, name: str) -> bool:
        """Whether ``builtin`` stands in for ``name`` (it could not be had)."""
        return name in self._fallbacks

    def load(self, name: str) -> EmbeddingModel:
        """The model of that name; loads it on first use (``builtin`` for one that cannot be had)."""
        with self._lock:
            model = self._models.get(name)
            if model is None:
                try:
                    model = load_model(name, device=self.device)
                except ModelUnavailable as exc:
                    if name == DEFAULT_MODEL:
                        raise UserError(f"the built-in model cannot be loaded: {exc}") from exc
                    self.warning = f"model {name} is unavailable ({exc}); using {DEFAULT_MODEL}"
                    self._fallbacks.add(name)
                    log.info(self.warning)  # the CLI and the window say it to the user, once
                    model = self._models.get(DEFAULT_MODEL) or load_model(DEFAULT_MODEL, device=self.device)
                    self._models[DEFAULT_MODEL] = model
                self._models[name] = model
            return model

    def load_for_switch(self, name: str) -> None:
        """Load ``name`` itself (no stand-in: raises :class:`ModelUnavailable`)."""
        with self._lock:
            if name not in self._models or name in self._fallbacks:
                self._models[name] = load_model(name, device=self.device)
                self._fallbacks.discard(name)

    def close(self) -> None:
        for model in self._models.values():
            model.close()
        self._models.clear()
