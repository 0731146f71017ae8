"""Fit and measure the relevance scale (core/search/relevance.py) of the built-in model.

    python bench/relevance.py [--data ../shared/data] [--write]

The reference bank: 1,500 Flickr8k train photos and the 1,000 COCO-people train photos (their mean
vector and mean direction ship in ``weights/builtin-relevance.json``, no photo's own vector). The
curve is chosen on the dev splits: a photo is a good match (50) where 95 % of the real caption
queries of each dev split still have one, a strong match (75) at their median best match. Example
photos: good from the 99th percentile of the bank's photo-to-photo matches, strong at the median
nearest neighbour. Prints, on Flickr8k dev (1,000 photos, no captions on the photos): the share of
real caption queries with a good match, which of 30 nonsense and off-topic queries
(tests/data/offtopic_queries_flickr8k.json) have none, and the same on COCO-people dev.
``--write`` writes the scale beside the weights. Skips cleanly where the data is absent.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from desktop_search.core.models.evaluation import encode_photos  # noqa: E402
from desktop_search.core.models.registry import load_model  # noqa: E402
from desktop_search.core.search.relevance import GOOD, Part, RelevanceScale, logistic_width  # noqa: E402

OFFTOPIC = ROOT / "tests" / "data" / "offtopic_queries_flickr8k.json"


def captions(folder: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    with open(folder / "captions.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            out[row["image"]].append(row["caption"])
    return out


def split(folder: Path, name: str) -> list[str]:
    return (folder / "splits" / f"{name}.txt").read_text(encoding="utf-8").split()


def queries(model, texts: list[str]) -> np.ndarray:
    return np.concatenate([model.encode_queries(texts[i : i + 256]) for i in range(0, len(texts), 256)])


def best_matches(q: np.ndarray, photos: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Each query's best photo's match above the bank's average photo (the scale's ``c``)."""
    return (q @ photos.T - (q @ mean)[:, None]).max(axis=1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--write", action="store_true", help="write weights/builtin-relevance.json")
    args = ap.parse_args()
    flickr, coco = args.data / "flickr8k", args.data / "coco-people-dev"
    if not (flickr / "captions.csv").is_file() or not (coco / "captions.csv").is_file():
        print(f"skipped: Flickr8k and COCO-people not found under {args.data}")
        return 0
    t0 = time.monotonic()
    model = load_model("builtin", device="cpu")
    fcap, ccap = captions(flickr), captions(coco)
    train = split(flickr, "train")
    random.Random(0).shuffle(train)
    bank_paths = [flickr / "images" / n for n in train[:1500]] + [coco / "images" / n for n in split(coco, "train")]
    bank = encode_photos(model, bank_paths)
    mean = bank.mean(axis=0)
    directions = bank / np.linalg.norm(bank, axis=1, keepdims=True)
    direction_mean = directions.mean(axis=0)

    devs = {}
    for label, folder, caps in (("flickr8k", flickr, fcap), ("coco-people", coco, ccap)):
        names = split(folder, "dev")
        photos = encode_photos(model, [folder / "images" / n for n in names])
        texts = [c for n in names for c in caps[n]]
        q = queries(model, texts)
        devs[label] = (photos, best_matches(q, photos, mean), q, texts)
    good = min(float(np.percentile(top, 5)) for _, top, _, _ in devs.values())
    strong = float(np.median(np.concatenate([top for _, top, _, _ in devs.values()])))
    nn = directions @ directions.T - (directions @ direction_mean)[:, None]
    np.fill_diagonal(nn, -np.inf)
    image_good = float(np.percentile(nn[np.isfinite(nn)], 99))
    image_strong = float(np.median(nn.max(axis=1)))
    scale = RelevanceScale(
        version=model.version, mean=mean, direction_mean=direction_mean,
        text_good=good, text_width=logistic_width(good, strong),
        image_good=image_good, image_width=logistic_width(image_good, image_strong),
    )
    fusion = model.fusion
    unit, offset = float(fusion.s_img), float(fusion.c_none)

    def top_relevance(q: np.ndarray, photos: np.ndarray, texts: list[str]) -> np.ndarray:
        out = []
        for v, text in zip(q, texts, strict=True):
            scores = fusion.image_only_score(photos @ v)
            rel = scale.relevance([float(scores.max())], [Part(v, 1.0, False)], unit, offset)[0]
            out.append(min(rel, 25.0) if not model.knows_words(text) else rel)
        return np.array(out)

    figures: dict[str, object] = {}
    for label, (photos, _, q, texts) in devs.items():
        rel = top_relevance(q, photos, texts)
        figures[f"{label}_captions_with_a_good_match"] = round(float((rel >= GOOD).mean()), 4)
        print(f"{label} dev: {len(texts)} caption queries, {100 * (rel >= GOOD).mean():.1f} % have a good match")
    off = json.loads(OFFTOPIC.read_text(encoding="utf-8"))
    rel = top_relevance(queries(model, off), devs["flickr8k"][0], off)
    caught = int((rel < GOOD).sum())
    figures["offtopic_without_a_good_match"] = f"{caught}/{len(off)}"
    print(f"flickr8k dev: {caught} of {len(off)} nonsense and off-topic queries have no good match")
    for text, r in sorted(zip(off, rel, strict=True), key=lambda x: -x[1]):
        print(f"  {r:5.1f}  {'good' if r >= GOOD else 'none'}  {text}")
    print(f"scale: text good {good:.4f} width {scale.text_width:.4f}; image good {image_good:.4f} "
          f"width {scale.image_width:.4f}  ({time.monotonic() - t0:.0f} s)")
    if args.write:
        from desktop_search.core.models.builtin import DEFAULT_WEIGHTS

        out = DEFAULT_WEIGHTS.with_name(f"{DEFAULT_WEIGHTS.stem}-relevance.json")
        out.write_text(json.dumps(scale.as_json(**figures)) + "\n", encoding="utf-8")
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
