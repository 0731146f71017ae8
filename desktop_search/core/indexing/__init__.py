"""The indexing pipeline: scan, bookkeeping, decode in parallel with inference, store."""

from .pipeline import FolderSpec, Indexer

__all__ = ["FolderSpec", "Indexer"]
