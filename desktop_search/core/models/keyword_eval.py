"""Keyword queries in several languages against photos judged by their English captions.

Query files (``tests/data/keyword_queries_flickr8k_<lang>.json``) hold entries
``{"q": "<query in that language>", "en": "<the English query>", "any": ["<caption words>"], "lang": ...}``.
A photo is relevant to a query when one of its English captions contains one of the ``any`` words or
phrases (whole words, lower case); precision at k = min(10, relevant photos) per query, averaged
over the queries that have relevant photos. The queries go through the model's own
``encode_queries`` (so its language routing is part of what is measured), against image vectors
only (photos without texts).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .base import EmbeddingModel

LANGS = ("en", "zh", "es", "de", "fr", "pt", "ja", "ru")


def read_queries(path: Path) -> list[dict]:
    entries = json.loads(Path(path).read_text(encoding="utf-8"))
    for e in entries:
        if not isinstance(e, dict) or not isinstance(e.get("q"), str) or not e.get("any"):
            raise ValueError(f"{path}: each entry needs a string 'q' and a list 'any'")
    return entries


def query_files(folder: Path, stem: str = "keyword_queries_flickr8k") -> dict[str, Path]:
    """{lang: file} for ``<stem>_<lang>.json`` in ``folder``, English first."""
    found = {p.stem[len(stem) + 1 :]: p for p in sorted(Path(folder).glob(f"{stem}_*.json"))}
    return {k: found[k] for k in sorted(found, key=lambda k: (k != "en", k))}


def _words(text: str) -> str:
    return " " + " ".join(re.findall(r"[a-z0-9]+", text.lower())) + " "


def relevance(any_words: Sequence[Sequence[str]], captions: Sequence[Sequence[str]]) -> np.ndarray:
    """(Q, N) bool: photo n has a caption containing one of query q's words or phrases (whole words)."""
    texts = ["\n".join(_words(c) for c in caps) for caps in captions]
    out = np.zeros((len(any_words), len(captions)), dtype=bool)
    for qi, words in enumerate(any_words):
        needles = [_words(w) for w in words]
        out[qi] = [any(n in t for n in needles) for t in texts]
    return out


def precision_at_k(scores: np.ndarray, relevant: np.ndarray, k_max: int = 10) -> np.ndarray:
    """Per query P@k with k = min(k_max, relevant photos) (NaN for a query without relevant photos);
    ties count against the query (stable order of a descending sort)."""
    out = np.full(len(scores), np.nan)
    for i, (row, rel) in enumerate(zip(scores, relevant, strict=True)):
        n_rel = int(rel.sum())
        if n_rel == 0:
            continue
        k = min(k_max, n_rel)
        top = np.argsort(-row, kind="stable")[:k]
        out[i] = rel[top].mean()
    return out


def keyword_table(
    model: EmbeddingModel, image_vecs: np.ndarray, captions: Sequence[Sequence[str]], files: dict[str, Path]
) -> dict[str, dict[str, object]]:
    """Per language: mean P@k (percent), queries counted, the ratio to English on the same English
    queries, and each query's P@k."""
    table: dict[str, dict[str, object]] = {}
    by_lang: dict[str, dict[str, float]] = {}
    for lang, path in files.items():
        entries = read_queries(path)
        rel = relevance([e["any"] for e in entries], captions)
        q = model.encode_queries([e["q"] for e in entries])
        p = precision_at_k(q @ image_vecs.T, rel)
        per = {e["en"] if "en" in e else e["q"]: float(v) for e, v in zip(entries, p, strict=True) if not np.isnan(v)}
        by_lang[lang] = per
        table[lang] = {
            "p_at_k": round(100 * float(np.mean(list(per.values()))), 1) if per else 0.0,
            "queries": len(per),
            "per_query": {e["q"]: round(100 * float(v), 1) for e, v in zip(entries, p, strict=True) if not np.isnan(v)},
        }
    english = by_lang.get("en")
    if english:
        for lang, per in by_lang.items():
            common = [k for k in per if k in english]
            en_mean = float(np.mean([english[k] for k in common])) if common else 0.0
            table[lang]["ratio_to_en"] = round(float(np.mean([per[k] for k in common])) / en_mean, 3) if en_mean else None
    return table
