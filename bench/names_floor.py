"""A descriptive file name never hurts (issue 14, item 7): the floor on file-name texts, measured on
Flickr8k dev through the app's own vector matrix and the builtin model's fusion.

    nice python bench/names_floor.py [--flickr DIR] [--seed 0] [--json]

Photos and queries as ``desktop-search eval --caption-fraction 0.5 --seed 0`` (``evaluation.
caption_split``): a seeded half of the 1,000 dev photos gets a text made from its first caption, and
the queries are all the other captions (4,500), each with its own photo as the one right answer. The
texts:

* ``caption``: the first caption itself (the eval's protocol: a caption, so no floor applies);
* ``name, words``: the photo renamed after 3 or 4 consecutive words of its first caption, at a
  seeded place (``kneeling_in_front_of.jpg``, ``woman_crouches_near_three.jpg``: a descriptive name
  that matches its photo's other captions in part, as ``dog_running_in_the_heather.jpg`` does);
* ``name, content``: after its first caption's first 3 or 4 content words (stop words left out:
  ``boy_stick_kneeling_front.jpg``, ``children_playing_water.jpg``).

A name's text is what the app embeds for it: ``metadata.filename_words`` of the name (words under
3 letters and camera words dropped; a name left with none gives no text). Each set of texts is
scored with the texts marked as file names (``VectorMatrix.upsert(..., names)``: the fused score
never below the image-only score) and as captions (the fusion alone, as before), and without texts
(image only). Reported: R@1 / R@5 / R@10 and the median rank over all queries and over the queries
whose photo has a text, and the share of queries whose photo ranks lower than with no text at all.
Ranks are pessimistic on ties (as ``eval``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import _common as C  # noqa: E402

STOP = frozenset((
    "a", "an", "the", "is", "are", "was", "were", "be", "been", "being", "of", "in", "on", "at", "to",
    "for", "from", "with", "by", "and", "or", "but", "as", "into", "onto", "over", "under", "through",
    "near", "while", "his", "her", "its", "their", "this", "that", "these", "those", "some", "two",
    "three", "one", "who", "which", "has", "have", "there", "here", "it", "he", "she", "they", "them",
    "up", "down", "out", "off",
))


def name_from(caption: str, how: str, rng: np.random.Generator) -> str:
    """A descriptive file name made from a caption's words (see the module's docstring)."""
    words = re.findall(r"[A-Za-z]+", caption.lower())
    if how == "content":
        words = [w for w in words if w not in STOP]
        chosen = words[: int(rng.integers(3, 5))]
    else:
        size = min(len(words), int(rng.integers(3, 5)))
        start = int(rng.integers(0, len(words) - size + 1))
        chosen = words[start : start + size]
    return "_".join(chosen) + ".jpg"


def ranks(matrix, fusion, queries: np.ndarray, targets: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    """1-based rank of each query's photo (photo i has id i + 1), as the app's matrix scores it."""
    out = np.empty(len(queries), np.int64)
    for i, (q, t) in enumerate(zip(queries, targets, strict=True)):
        ids, scores = matrix.score_ids(q, fusion, False)
        target = scores[ids == t + 1][0]
        out[i] = int((scores >= target).sum())
    return out


def summary(r: np.ndarray) -> dict[str, float]:
    from desktop_search.core.models.evaluation import recall_summary

    return recall_summary(r) if len(r) else {}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--flickr", type=Path, default=Path(os.environ.get("FLICKR8K_DIR", C.DEFAULT_DATA)))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    if not (a.flickr / "splits" / "dev.txt").exists():
        print(f"Flickr8k not found at {a.flickr}: nothing to measure")
        return
    from desktop_search.core.library.metadata import filename_words
    from desktop_search.core.models import load_model
    from desktop_search.core.models.dataset import load_captioned
    from desktop_search.core.models.evaluation import caption_split, encode_photos
    from desktop_search.core.search.matrix import VectorMatrix

    t0 = time.monotonic()
    data = load_captioned(a.flickr / "images", a.flickr / "captions.csv", a.flickr / "splits" / "dev.txt")
    model = load_model("builtin")
    n = len(data.paths)
    cache = C.CACHE_DIR / "names_floor" / f"dev-images-{re.sub(r'[^A-Za-z0-9]+', '_', model.key)}.npy"
    if cache.exists():
        images = np.load(cache)
    else:
        images = encode_photos(model, data.paths)
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, images)
    has_text, first, pairs = caption_split(n, data.captions, 0.5, a.seed)
    queries = model.encode_queries([c for c, _ in pairs])
    targets = np.array([i for _, i in pairs], np.int64)
    fusion = model.fusion

    def matrix(texts: list[str | None], names: bool) -> VectorMatrix:
        vecs: list[np.ndarray | None] = [None] * n
        gates: list[float | None] = [None] * n
        idx = [i for i, t in enumerate(texts) if t]
        if idx:
            ptv = model.encode_photo_texts([texts[i] or "" for i in idx])
            for i, v, g in zip(idx, ptv.vectors, ptv.gate, strict=True):
                vecs[i], gates[i] = v, float(g)
        m = VectorMatrix(model.dim, capacity=n)
        m.upsert(range(1, n + 1), images, vecs, gates, [None] * n, [names] * n)
        return m

    baseline = ranks(matrix([None] * n, False), fusion, queries, targets)
    rng = np.random.default_rng(a.seed)
    sets: dict[str, list[str | None]] = {"caption": [first[i] if has_text[i] else None for i in range(n)]}
    examples: dict[str, list[str]] = {}
    for how in ("words", "content"):
        file_names = [name_from(first[i], how, rng) if has_text[i] else None for i in range(n)]
        sets[f"name, {how}"] = [filename_words(f) if f else None for f in file_names]
        examples[f"name, {how}"] = [f for f in file_names if f][:5]
    result: dict[str, object] = {"photos": n, "queries": len(pairs), "image_only": summary(baseline)}
    rows = [("image only", "", "all", *_cells(summary(baseline)), "", "")]
    caption_targets = np.array([bool(has_text[t]) for t in targets])
    rows += [("", "", "with text", *_cells(summary(baseline[caption_targets])), "", ""),
             ("", "", "without", *_cells(summary(baseline[~caption_targets])), "", "")]
    for label, texts in sets.items():
        with_text = np.array([bool(texts[t]) for t in targets])
        for floor in (False, True):
            r = ranks(matrix(texts, floor), fusion, queries, targets)
            key = f"{label}, {'floor' if floor else 'fusion'}"
            worse = float((r > baseline).mean() * 100)
            worse_texted = float((r[with_text] > baseline[with_text]).mean() * 100)
            worse_plain = float((r[~with_text] > baseline[~with_text]).mean() * 100)
            result[key] = {"all": summary(r), "photo_has_text": summary(r[with_text]),
                           "photo_has_none": summary(r[~with_text]),
                           "ranked_lower_than_image_only_pct": round(worse, 2),
                           "photo_has_text_ranked_lower_pct": round(worse_texted, 2),
                           "photo_has_none_ranked_lower_pct": round(worse_plain, 2),
                           "photos_with_text": int(sum(bool(t) for t in texts))}
            rows.append((label, "floor" if floor else "fusion", "all", *_cells(summary(r)), f"{worse:.1f}", ""))
            rows.append(("", "", "with text", *_cells(summary(r[with_text])), f"{worse_texted:.1f}",
                         str(int(with_text.sum()))))
            rows.append(("", "", "without", *_cells(summary(r[~with_text])), f"{worse_plain:.1f}",
                         str(int((~with_text).sum()))))
    result["example_names"] = examples
    result["seconds"] = round(time.monotonic() - t0, 1)
    text = C.table(rows, ("texts", "scored", "queries", "R@1", "R@5", "R@10", "median", "% lower", "n"))
    text += "\n(% lower: queries whose photo ranks lower than with no photo texts at all)"
    text += "\nexample names: " + json.dumps(examples)
    if a.json:
        print(json.dumps(result))
        print(text, file=sys.stderr)
    else:
        print(text)


def _cells(s: dict[str, float]) -> tuple[str, ...]:
    return tuple(str(s.get(k, "")) for k in ("r1", "r5", "r10", "median_rank"))


if __name__ == "__main__":
    main()
