"""Model names to loaders.

``builtin`` is the embedded default network; ``clip:ARCH/PRETRAINED`` names a CLIP-family model
loaded through open_clip (downloaded on first use); tests and benchmarks can register their own.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import ModelUnavailable
from .base import EmbeddingModel

__all__ = ["DEFAULT_MODEL", "ModelUnavailable", "check_model_name", "load_model", "register_model"]

DEFAULT_MODEL = "builtin"

Factory = Callable[[str, "str | None"], EmbeddingModel]
_FACTORIES: dict[str, Factory] = {}


def register_model(prefix: str, factory: Factory) -> None:
    """Register ``factory(name, device)`` for names equal to ``prefix`` or starting with ``prefix:``."""
    _FACTORIES[prefix] = factory


def check_model_name(name: str) -> None:
    """Raise :class:`ModelUnavailable` for a name no registered loader takes (a typo), without
    loading anything; whether a known name's weights are present is found out when it loads."""
    if name not in _FACTORIES and name.split(":", 1)[0] not in _FACTORIES:
        raise ModelUnavailable(f"unknown model {name!r}; see 'desktop-search models list'")


def _builtin_factory(name: str, device: str | None) -> EmbeddingModel:
    from .builtin import load_builtin

    return load_builtin(name, device=device)


def _clip_factory(name: str, device: str | None) -> EmbeddingModel:
    from .openclip_backend import load_clip

    return load_clip(name, device=device)


register_model("builtin", _builtin_factory)
register_model("clip", _clip_factory)


def load_model(name: str = DEFAULT_MODEL, device: str | None = None) -> EmbeddingModel:
    """Load a model by name; raises :class:`ModelUnavailable` with a one-line reason."""
    prefix = name.split(":", 1)[0]
    if name in _FACTORIES:
        prefix = name
    factory = _FACTORIES.get(prefix)
    if factory is None:
        raise ModelUnavailable(f"unknown model {name!r}; see 'desktop-search models list'")
    return factory(name, device)
