"""Embedding models: the built-in CNN + MiniLM network with attention fusion, and CLIP-family models.

Import-light on purpose: torch is imported only when a model is loaded.
"""

from .base import EmbeddingModel, FusionScorer, PhotoTextVectors
from .registry import DEFAULT_MODEL, ModelUnavailable, load_model, register_model

__all__ = [
    "DEFAULT_MODEL",
    "EmbeddingModel",
    "FusionScorer",
    "ModelUnavailable",
    "PhotoTextVectors",
    "load_model",
    "register_model",
]
