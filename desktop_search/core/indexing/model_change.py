"""A library's vectors across a change of model or of a model's weights.

Which model key's vectors answer a model's searches while the library re-embeds, how many photos
still lack the new vectors, and, once none does, the swap: the older vectors are deleted. The
indexing job calls :meth:`VectorVersions.finish_upgrade` / :meth:`finish_switch` at its end.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from ..db import Meta, Photo, PhotoStatus, Vector
from ..models import EmbeddingModel

log = logging.getLogger(__name__)


class VectorVersions:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        #: model key → (the key whose vectors answer for it, how many of each vector's numbers to
        #: use): itself, or during an upgrade of its weights an older version's (see _upgrade_source)
        self._answering: dict[str, tuple[str, int]] = {}

    def answering(self, model: EmbeddingModel) -> tuple[str, int]:
        """(the key whose vectors answer ``model``'s searches, the numbers of each vector to use).

        Normally the model's own. While the library re-embeds after the model's weights changed to a
        version that can still read an older one's vectors (``legacy_versions``: the built-in model's
        concept bridge, then its colour part, added to the same heads), the older vectors answer, read
        up to their own width (a prefix of the new layout), until every photo has its new vectors; then
        the old ones are deleted."""
        found = self._answering.get(model.key)
        if found is None:
            found = self._upgrade_source(model) or (model.key, int(model.dim))
            self._answering[model.key] = found
        return found

    def _upgrade_source(self, model: EmbeddingModel) -> tuple[str, int] | None:
        legacy = [f"{model.name}@{v}" for v in getattr(model, "legacy_versions", ())]
        if not legacy:
            return None
        # the index on vectors.model answers this at once; the count below reads every photo
        with Session(self.engine) as s:
            present = set(s.scalars(select(Vector.model).where(Vector.model.in_(legacy)).distinct()))
        key = next((k for k in legacy if k in present), None)
        if key is None or not self.missing(model.key):
            return None
        # an older version's vectors are a prefix of this version's (the heads, then the concept
        # half when it had one): read as many numbers as they hold, at least the heads'
        with Session(self.engine) as s:
            stored = s.scalar(select(func.length(Vector.image)).where(Vector.model == key).limit(1)) or 0
        heads = int(getattr(model, "head_dim", model.dim))
        return key, max(heads, min(int(model.dim), int(stored) // 2))

    def missing(self, key: str) -> int:
        """Indexed photos without a vector of ``key``."""
        with Session(self.engine) as s:
            return s.scalar(
                select(func.count())
                .select_from(Photo)
                .outerjoin(Vector, (Vector.photo_id == Photo.id) & (Vector.model == key))
                .where(Photo.status == PhotoStatus.INDEXED, Vector.photo_id.is_(None))
            ) or 0

    def upgrading(self, model: EmbeddingModel) -> int | None:
        """Photos still to re-embed while older vectors of ``model`` answer, else None."""
        key, _ = self.answering(model)
        return None if key == model.key else self.missing(model.key)

    def finish_upgrade(self, model: EmbeddingModel) -> str | None:
        """Once every photo has ``model``'s new vectors, search with them and delete the older
        version's; returns the key deleted, or None."""
        key, _ = self.answering(model)
        if key == model.key or self.missing(model.key):
            return None
        with Session(self.engine) as s, s.begin():
            s.execute(delete(Vector).where(Vector.model == key))
        self._answering[model.key] = (model.key, int(model.dim))
        log.info("the library's vectors of %s replace those of %s", model.key, key)
        return key

    def finish_switch(self, key: str) -> bool:
        """After a switch of the library's model: once every photo has vectors of ``key``, delete
        every other key's and end the switch. Returns whether it did."""
        if self.missing(key):
            return False
        with Session(self.engine) as s, s.begin():
            s.execute(delete(Vector).where(Vector.model != key))
            s.execute(delete(Meta).where(Meta.key == "active_model"))
        self._answering.clear()
        return True
