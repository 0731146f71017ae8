"""One relevance scale for every search: 0-100, read as strong / good / weak.

A model's raw scores mean nothing across queries: a nonsense query's best photo can outscore a real
one's ("xqzvbnm plork" 11.55 against "snow" 11.37), and an example photo's cosine (0.66) is on another
scale again. A photo's relevance here is how far its match stands above what the same query matches
in a *reference bank* of ordinary photos (the bank's mean photo vector ships with the model, in
``weights/<model>-relevance.json``), passed through a logistic curve fitted on the dev splits:

    c   = (score - baseline(query)) / unit          the match above the bank's average photo
    rel = 100 / (1 + exp(-(c - good) / width))      50 where a photo becomes a good match

``good`` is set where 95 % of real caption queries still have a good match (bench/relevance.py
prints the figures); ``good + width * ln 3`` (75) is a strong one. A query none of whose words the
text encoder knows ("xqzvbnm plork") has no good match, whatever its scores. A photo whose file name
the query names is a strong match.

The model knows when it does not know: a query far from everything it was trained on ("quarterly tax
return spreadsheet", "mri scan of a human brain") still finds a closest photo that may clear the bar.
Its *familiarity* F is how close its MiniLM sentence embedding comes to what the model learned: the
mean cosine of its ``k`` nearest training captions (a bank of their embeddings ships beside the scale,
``weights/<model>-relevance.npy``), or of the concept bridge's class names less ``concept_delta`` (a
query naming an ImageNet concept, "refrigerator", is known), whichever is higher. Below ``f0`` the
query's matches are lowered by ``lam * (f0 - F)`` before the curve: ``c = (score - baseline) / unit
- lam * max(0, f0 - F)``. A query read in another language is judged the same way in the multilingual
encoder's space (the same captions embedded by it, ``weights/<model>-relevance-multilingual.npy``),
with its own point where the lowering starts. Numpy only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: (a, b) -> a @ b (torch's on the torch query path, see ``models/concepts.py``)
MatMul = Callable[[np.ndarray, np.ndarray], np.ndarray]

#: relevance at which a photo is a good match (the window's default cutoff), and a strong one
GOOD = 50.0
STRONG = 75.0
#: the relevance of a photo whose file name the query names
NAMED = 90.0
#: the most a photo can score for a query whose words the model does not know
UNKNOWN_WORDS_CAP = 25.0


def strength(relevance: float | None) -> str | None:
    """"strong", "good" or "weak" (None without a relevance)."""
    if relevance is None:
        return None
    return "strong" if relevance >= STRONG else "good" if relevance >= GOOD else "weak"


@dataclass(frozen=True)
class Part:
    """One part of a search as the vector matrix weighs it: a text query's vector (scored through
    the model's fusion) or an example photo's unit direction (scored by cosine)."""

    vector: np.ndarray
    weight: float
    is_image: bool


@dataclass(frozen=True)
class RelevanceScale:
    """A model's reference bank statistics and the fitted curve (see the module docstring)."""

    version: str
    #: the bank's mean photo vector (text queries see photo vectors with their length)
    mean: np.ndarray
    #: the bank's mean photo direction (example photos compare directions)
    direction_mean: np.ndarray
    text_good: float
    text_width: float
    image_good: float
    image_width: float
    #: what the model knows (module docstring): unit MiniLM sentence embeddings of training captions
    #: (None: every query is taken as familiar), how many nearest ones F averages, where the
    #: lowering starts, its slope, and how much less a concept's name counts than a caption
    familiar: np.ndarray | None = None
    familiar_k: int = 10
    familiar_f0: float = 0.0
    familiar_lam: float = 0.0
    concept_delta: float = 0.35
    #: queries read in another language: unit embeddings of the same captions by the multilingual
    #: encoder (None: such queries are not judged), and where the lowering starts in that space
    familiar_multilingual: np.ndarray | None = None
    familiar_multilingual_f0: float = 0.0

    @classmethod
    def load(cls, path: Path) -> RelevanceScale:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        fam = raw.get("familiarity") or {}
        bank = multilingual = None
        if fam:
            bank = np.load(Path(path).with_name(str(fam["bank"])), allow_pickle=False).astype(np.float32)
        other = raw.get("familiarity_multilingual") or {}
        if other:
            multilingual = np.load(Path(path).with_name(str(other["bank"])), allow_pickle=False).astype(np.float32)
        return cls(
            version=str(raw["version"]),
            mean=np.asarray(raw["mean"], np.float32),
            direction_mean=np.asarray(raw["direction_mean"], np.float32),
            text_good=float(raw["text"]["good"]),
            text_width=float(raw["text"]["width"]),
            image_good=float(raw["image"]["good"]),
            image_width=float(raw["image"]["width"]),
            familiar=bank,
            familiar_k=int(fam.get("k", 10)),
            familiar_f0=float(fam.get("f0", 0.0)),
            familiar_lam=float(fam.get("lam", 0.0)),
            concept_delta=float(fam.get("concept_delta", 0.35)),
            familiar_multilingual=multilingual,
            familiar_multilingual_f0=float(other.get("f0", 0.0)),
        )

    def as_json(self, bank_file: str | None = None, multilingual_bank_file: str | None = None,
                **figures: object) -> dict[str, object]:
        out: dict[str, object] = {
            "version": self.version,
            "text": {"good": self.text_good, "width": self.text_width},
            "image": {"good": self.image_good, "width": self.image_width},
        }
        if bank_file is not None and self.familiar is not None:
            out["familiarity"] = {"bank": bank_file, "k": self.familiar_k, "f0": round(self.familiar_f0, 6),
                                  "lam": self.familiar_lam, "concept_delta": self.concept_delta}
        if multilingual_bank_file is not None and self.familiar_multilingual is not None:
            out["familiarity_multilingual"] = {"bank": multilingual_bank_file,
                                               "f0": round(self.familiar_multilingual_f0, 6)}
        out.update({
            "figures": figures,
            "mean": [round(float(x), 6) for x in self.mean],
            "direction_mean": [round(float(x), 6) for x in self.direction_mean],
        })
        return out

    def familiarity(self, sentences: np.ndarray, concept_max: np.ndarray | None = None,
                    matmul: MatMul = np.matmul) -> np.ndarray | None:
        """F for each query (module docstring) from its unit MiniLM sentence embedding (N, 384) and
        its best cosine to a concept's name (N,); None without a bank."""
        if self.familiar is None or len(self.familiar) == 0:
            return None
        f = self._nearest_mean(sentences, "familiar", matmul)
        if concept_max is not None:
            f = np.maximum(f, np.asarray(concept_max, np.float32) - self.concept_delta)
        return np.asarray(f, np.float32)

    def familiarity_multilingual(self, embeddings: np.ndarray, matmul: MatMul = np.matmul) -> np.ndarray | None:
        """F for queries read in another language, from the multilingual encoder's unit embeddings
        (N, D): the mean cosine of their ``familiar_k`` nearest captions in that encoder's space,
        moved onto the English scale (its f0 where the multilingual one starts lowering); None
        without a bank for that encoder."""
        bank = self.familiar_multilingual
        if bank is None or len(bank) == 0 or bank.shape[1] != np.asarray(embeddings).shape[-1]:
            return None
        f = self._nearest_mean(embeddings, "familiar_multilingual", matmul)
        return np.asarray(f - self.familiar_multilingual_f0 + self.familiar_f0, np.float32)

    def _nearest_mean(self, queries: np.ndarray, bank: str, matmul: MatMul) -> np.ndarray:
        """Each query's mean cosine to its ``familiar_k`` nearest rows of the bank named ``bank``."""
        sims = matmul(np.asarray(queries, np.float32), self._transposed(bank))
        k = min(self.familiar_k, sims.shape[1])
        return np.partition(sims, sims.shape[1] - k, axis=1)[:, -k:].mean(axis=1)

    def _transposed(self, name: str) -> np.ndarray:
        cached = self.__dict__.get(f"_{name}_t_cache")
        if cached is None:
            bank = getattr(self, name)
            assert bank is not None
            cached = np.ascontiguousarray(bank.T)
            object.__setattr__(self, f"_{name}_t_cache", cached)
        return cached

    def shortfall(self, familiarity: float | None) -> float:
        """How much a query of this familiarity has its matches lowered (in the units of ``c``)."""
        if familiarity is None or self.familiar_lam <= 0:
            return 0.0
        return self.familiar_lam * max(0.0, self.familiar_f0 - float(familiarity))

    def relevance(
        self, scores: Sequence[float] | np.ndarray, parts: Sequence[Part], text_unit: float, text_offset: float,
        unfamiliar: float = 0.0,
    ) -> np.ndarray:
        """0-100 for each raw ``score`` of a search made of ``parts``.

        ``text_unit`` and ``text_offset``: the fusion's score of a photo without text is
        ``text_unit * image_similarity + text_offset`` (photos with text are scored in the same
        units). An example part's weight already brings its cosine to those units. ``unfamiliar``:
        the text part's :meth:`shortfall`, which raises its baseline."""
        baseline = unit = good = width = 0.0
        for p in parts:
            v = np.asarray(p.vector, np.float32).reshape(-1)
            if p.is_image:
                d = self.direction_mean[: len(v)]
                baseline += p.weight * float(v[: len(d)] @ d)
                u, g, w = 1.0, self.image_good, self.image_width
            else:
                m = self.mean[: len(v)]
                baseline += p.weight * (text_unit * (float(v[: len(m)] @ m) + unfamiliar) + text_offset)
                u, g, w = text_unit, self.text_good, self.text_width
            unit += p.weight * u
            good += p.weight * u * g
            width += p.weight * u * w
        if unit <= 0:
            return np.full(len(scores), np.nan)
        good /= unit
        width = max(width / unit, 1e-6)
        c = (np.asarray(scores, np.float64) - baseline) / unit
        return 100.0 / (1.0 + np.exp(-(c - good) / width))


def load_scale(path: Path, version: str) -> RelevanceScale | None:
    """The scale in ``path`` when it was fitted for this model ``version``, else None."""
    try:
        scale = RelevanceScale.load(path)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return scale if scale.version == version else None


def scale_beside(weights: Path, version: str) -> RelevanceScale | None:
    """The scale fitted for a weights file: ``<its stem>-relevance.json`` beside it."""
    return load_scale(weights.with_name(f"{weights.stem}-relevance.json"), version)


def found_by_text(text_score: float, relevance: float | None) -> float:
    """The relevance of a photo raised by its recognised text (docs/TEXT.md): at least
    :data:`STRONG` (75) when three quarters of the query's words (by weight) are in its text — the
    fusion's threshold —, rising to :data:`NAMED` (90, as a photo the query names by its file name)
    when all of them are there as written; its own relevance when that is higher."""
    from ..text.fusion import TAU

    share = min(1.0, max(0.0, (text_score - TAU) / (1.0 - TAU)))
    floor = STRONG + (NAMED - STRONG) * share
    return round(max(floor, relevance if relevance is not None else 0.0), 1)


def logistic_width(good: float, strong: float) -> float:
    """The curve's width that puts relevance 75 at ``strong`` when 50 is at ``good``."""
    return max((strong - good) / math.log(3.0), 1e-6)


def rate(
    scores: Sequence[float], parts: Sequence[Part], model: object, text: str | None, named: Sequence[bool]
) -> list[float | None]:
    """Each hit's relevance (None where ``model`` has no fitted scale): its score on ``model``'s
    scale, lowered when the query is far from what the model knows, capped when its words are
    unknown to it, raised to :data:`NAMED` where the query
    names the photo's file."""
    scale = getattr(model, "relevance_scale", None)
    if scale is None or not parts:  # a model without a fitted scale: no result is rated
        return [None] * len(named)
    fusion = getattr(model, "fusion", None)
    unit = float(getattr(fusion, "s_img", 1.0))
    offset = float(getattr(fusion, "c_none", 0.0))
    unfamiliar = 0.0
    if text and text.strip() and any(not p.is_image for p in parts):
        familiarity = getattr(model, "query_familiarity", None)
        unfamiliar = scale.shortfall(familiarity(text.strip()) if familiarity is not None else None)
    rel = scale.relevance(scores, parts, unit, offset, unfamiliar)
    if text and text.strip() and not getattr(model, "knows_words", lambda _t: True)(text):
        rel = np.minimum(rel, UNKNOWN_WORDS_CAP)
    return [round(max(NAMED, float(r)) if n else float(r), 1) for r, n in zip(rel, named, strict=True)]
