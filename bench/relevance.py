"""Fit and measure the relevance scale (core/search/relevance.py) of the built-in model.

    python bench/relevance.py [--data ../shared/data] [--write] [--cache DIR] [--refit-bank]

The reference bank: 1,500 Flickr8k train photos and the 1,000 COCO-people train photos (their mean
vector and mean direction ship in ``weights/builtin-relevance.json``, no photo's own vector). The
curve is chosen on the dev splits: a photo is a good match (50) where 95 % of the real caption
queries of each dev split still have one, a strong match (75) at their median best match. Example
photos: good from the 99th percentile of the bank's photo-to-photo matches, strong at the median
nearest neighbour. The bank's figures are kept from the scale beside the weights when it was fitted
for these weights (``--refit-bank`` encodes the 2,500 photos again).

Familiarity (what the model knows): the MiniLM sentence embeddings of 4,096 Flickr8k training
captions ship as ``weights/builtin-relevance.npy``; a query's matches are lowered by LAM * (f0 - F)
below f0, the 10th percentile of the dev caption queries' familiarity; the curve is then chosen on
the lowered matches as above. Queries read in another language are judged the same way in the
multilingual encoder's space (``weights/builtin-relevance-multilingual.npy``: the same captions), the
lowering starting below the least familiar 5 % of the everyday keyword queries in seven languages.

Prints, on Flickr8k dev (1,000 photos, no captions on the photos): the share of real caption queries
with a good match, which of the nonsense and off-topic queries (tests/data/offtopic_queries_flickr8k.json,
tuned on, and tests/data/offtopic_queries_flickr8k_heldout.json, never tuned on) have none, the
everyday keyword queries (tests/data/keyword_queries_*.json) with a relevant photo in the split that
have a good match, and the same on COCO-people dev. ``--write`` writes the scale beside the weights;
``--cache DIR`` keeps the dev photos' vectors (per model version) for the next run. Skips cleanly
where the data is absent.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from desktop_search.core.models.evaluation import encode_photos  # noqa: E402
from desktop_search.core.models.registry import load_model  # noqa: E402
from desktop_search.core.search.relevance import (  # noqa: E402
    GOOD,
    UNKNOWN_WORDS_CAP,
    Part,
    RelevanceScale,
    logistic_width,
    scale_beside,
)

DATA = ROOT / "tests" / "data"
OFFTOPIC = DATA / "offtopic_queries_flickr8k.json"
HELDOUT = DATA / "offtopic_queries_flickr8k_heldout.json"
KEYWORDS = {"flickr8k": DATA / "keyword_queries_flickr8k.json", "coco-people": DATA / "keyword_queries_coco_people.json"}
#: everyday keyword queries in the other languages the app is measured on (Flickr8k dev)
OTHER_LANGUAGES = sorted(p for p in DATA.glob("keyword_queries_flickr8k_*.json") if not p.stem.endswith("_en"))
#: off-topic queries the language router reads as another language, or in one
OTHER_OFFTOPIC = ["quarterly tax return spreadsheet", "wifi password", "Steuererklärung Tabelle",
                  "déclaration d'impôts trimestrielle", "factura de la luz", "Röntgenbild eines gebrochenen Handgelenks"]
#: training captions whose sentence embeddings make the familiarity bank; its k nearest; where the
#: lowering starts (percentile of the dev caption queries' familiarity) and its slope; a concept
#: name's handicap against a caption
BANK, K, F0_PERCENTILE, LAM, CONCEPT_DELTA = 4096, 10, 10, 2.0, 0.35
#: queries read in another language: the lowering starts below the least familiar 5 % of the
#: everyday keyword queries in those languages (in the multilingual encoder's space)
F0_MULTILINGUAL_PERCENTILE = 5


def captions(folder: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    with open(folder / "captions.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            out[row["image"]].append(row["caption"])
    return out


def split(folder: Path, name: str) -> list[str]:
    return (folder / "splits" / f"{name}.txt").read_text(encoding="utf-8").split()


def queries(model, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The queries' vectors and their familiarity (NaN without a bank in the model's scale)."""
    vecs, fam = [], []
    for i in range(0, len(texts), 256):
        chunk = texts[i : i + 256]
        vecs.append(model.encode_queries(chunk))
        fam += [model.query_familiarity(t) for t in chunk]  # remembered from the encoding just made
    return np.concatenate(vecs), np.array([np.nan if f is None else f for f in fam], np.float32)


def sentences(model, texts: list[str]) -> np.ndarray:
    """MiniLM's unit sentence embeddings of English texts (the familiarity bank)."""
    import torch

    from desktop_search.core.models.builtin import _unit
    from desktop_search.core.models.heads import masked_mean

    out = []
    with torch.inference_mode():
        for i in range(0, len(texts), 64):
            states, mask = model._text_states(texts[i : i + 64])
            out.append(_unit(masked_mean(states, mask).cpu().numpy()))
    return np.concatenate(out).astype(np.float32)


def dev_photos(model, folder: Path, label: str, names: list[str], cache: Path | None) -> np.ndarray:
    path = cache / f"{model.version}-{label}-dev.npy" if cache else None
    if path is not None and path.is_file():
        return np.load(path)
    photos = encode_photos(model, [folder / "images" / n for n in names])
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, photos)
    return photos


def keyword_queries(path: Path, caps: dict[str, list[str]], names: list[str]) -> list[str]:
    """The keyword queries with at least one relevant photo (a caption has one of its words) among ``names``."""
    out = []
    for kw in json.loads(path.read_text(encoding="utf-8")):
        pattern = re.compile(r"\b(" + "|".join(re.escape(w) for w in kw["any"]) + r")\b")
        if any(pattern.search(c.lower()) for n in names for c in caps[n]):
            out.append(kw["q"])
    return out


def best_matches(q: np.ndarray, photos: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Each query's best photo's match above the bank's average photo (the scale's ``c``)."""
    return (q @ photos.T - (q @ mean)[:, None]).max(axis=1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--write", action="store_true", help="write weights/builtin-relevance.json (and .npy)")
    ap.add_argument("--cache", type=Path, help="keep the dev photos' vectors here between runs")
    ap.add_argument("--refit-bank", action="store_true", help="encode the reference bank's photos again")
    args = ap.parse_args()
    flickr, coco = args.data / "flickr8k", args.data / "coco-people-dev"
    if not (flickr / "captions.csv").is_file() or not (coco / "captions.csv").is_file():
        print(f"skipped: Flickr8k and COCO-people not found under {args.data}")
        return 0
    t0 = time.monotonic()
    model = load_model("builtin", device="cpu")
    model.cpu_query_threads = 2  # the torch query path: many queries at once
    model.prepare_parallel_queries()
    fcap, ccap = captions(flickr), captions(coco)
    train = split(flickr, "train")
    random.Random(0).shuffle(train)
    from desktop_search.core.models.builtin import DEFAULT_WEIGHTS

    kept = None if args.refit_bank else scale_beside(DEFAULT_WEIGHTS, model.version)
    if kept is not None:
        mean, direction_mean = kept.mean, kept.direction_mean
        image_good, image_width = kept.image_good, kept.image_width
        print("reference bank: kept from the scale beside the weights (--refit-bank to encode it again)")
    else:
        bank_paths = [flickr / "images" / n for n in train[:1500]] + [coco / "images" / n for n in split(coco, "train")]
        bank = encode_photos(model, bank_paths)
        mean = bank.mean(axis=0)
        directions = bank / np.linalg.norm(bank, axis=1, keepdims=True)
        direction_mean = directions.mean(axis=0)
        nn = directions @ directions.T - (directions @ direction_mean)[:, None]
        np.fill_diagonal(nn, -np.inf)
        image_good = float(np.percentile(nn[np.isfinite(nn)], 99))
        image_width = logistic_width(image_good, float(np.median(nn.max(axis=1))))

    # the familiarity bank: training captions (seeded sample), as MiniLM sentence embeddings
    train_caps = [c for n in split(flickr, "train") for c in fcap[n]]
    random.Random(1).shuffle(train_caps)
    familiar = sentences(model, train_caps[:BANK])
    scale = RelevanceScale(
        version=model.version, mean=mean, direction_mean=direction_mean, text_good=0.0, text_width=1.0,
        image_good=image_good, image_width=image_width, familiar=familiar.astype(np.float16).astype(np.float32),
        familiar_k=K, familiar_lam=LAM, concept_delta=CONCEPT_DELTA,
    )
    multilingual = model.multilingual()
    if multilingual is not None:  # queries in other languages: the same captions, the multilingual encoder
        familiar_ml = multilingual.encoder.embed_batched(train_caps[:BANK], batch=256).astype(np.float16)
        others = [k["q"] for path in OTHER_LANGUAGES for k in json.loads(path.read_text(encoding="utf-8"))]
        scale = replace(scale, familiar_multilingual=familiar_ml.astype(np.float32))
        # with both starting points still at 0 the scale gives the raw familiarity in that space
        f_others = scale.familiarity_multilingual(multilingual.encoder(others))
        assert f_others is not None
        scale = replace(scale, familiar_multilingual_f0=float(np.percentile(f_others, F0_MULTILINGUAL_PERCENTILE)))
    model._relevance_scale = scale  # the model remembers each query's familiarity from here on

    devs = {}
    for label, folder, caps in (("flickr8k", flickr, fcap), ("coco-people", coco, ccap)):
        names = split(folder, "dev")
        photos = dev_photos(model, folder, label, names, args.cache)
        texts = [c for n in names for c in caps[n]]
        q, fam = queries(model, texts)
        devs[label] = (photos, best_matches(q, photos, mean), fam, q, texts, names, caps)
        print(f"{label} dev encoded ({time.monotonic() - t0:.0f} s)", flush=True)
    f0 = float(np.percentile(np.concatenate([d[2] for d in devs.values()]), F0_PERCENTILE))
    scale = replace(scale, familiar_f0=f0)

    def lowered(top: np.ndarray, fam: np.ndarray) -> np.ndarray:
        return top - LAM * np.maximum(0.0, f0 - fam)

    tops = [lowered(d[1], d[2]) for d in devs.values()]
    good = min(float(np.percentile(top, 5)) for top in tops)
    strong = float(np.median(np.concatenate(tops)))
    scale = replace(scale, text_good=good, text_width=logistic_width(good, strong))
    model._relevance_scale = scale
    fusion = model.fusion
    unit, offset = float(fusion.s_img), float(fusion.c_none)

    def top_relevance(q: np.ndarray, fam: np.ndarray, photos: np.ndarray, texts: list[str]) -> np.ndarray:
        out = []
        for v, f, text in zip(q, fam, texts, strict=True):
            scores = fusion.image_only_score(photos @ v)
            short = scale.shortfall(None if np.isnan(f) else float(f))
            rel = scale.relevance([float(scores.max())], [Part(v, 1.0, False)], unit, offset, short)[0]
            out.append(min(rel, UNKNOWN_WORDS_CAP) if not model.knows_words(text) else rel)
        return np.array(out)

    figures: dict[str, object] = {}
    for label, (photos, _, fam, q, texts, names, caps) in devs.items():
        rel = top_relevance(q, fam, photos, texts)
        figures[f"{label}_captions_with_a_good_match"] = round(float((rel >= GOOD).mean()), 4)
        print(f"{label} dev: {len(texts)} caption queries, {100 * (rel >= GOOD).mean():.1f} % have a good match")
        kws = keyword_queries(KEYWORDS[label], caps, names)
        kq, kf = queries(model, kws)
        krel = top_relevance(kq, kf, photos, kws)
        figures[f"{label}_keyword_queries_with_a_good_match"] = f"{int((krel >= GOOD).sum())}/{len(kws)}"
        print(f"{label} dev: {int((krel >= GOOD).sum())} of {len(kws)} keyword queries with a relevant photo "
              f"have a good match; without one: {[t for t, r in zip(kws, krel, strict=True) if r < GOOD]}")
    for key, path in (("offtopic", OFFTOPIC), ("offtopic_heldout", HELDOUT)):
        off = json.loads(path.read_text(encoding="utf-8"))
        oq, of = queries(model, off)
        rel = top_relevance(oq, of, devs["flickr8k"][0], off)
        caught = int((rel < GOOD).sum())
        figures[f"{key}_without_a_good_match"] = f"{caught}/{len(off)}"
        print(f"flickr8k dev: {caught} of {len(off)} queries of {path.name} have no good match")
        for text, r, f in sorted(zip(off, rel, of, strict=True), key=lambda x: -x[1]):
            print(f"  {r:5.1f}  {'good' if r >= GOOD else 'none'}  F {f:.3f}  {text}")
    if scale.familiar_multilingual is not None:
        f8 = devs["flickr8k"]

        def other_languages(judged: bool) -> tuple[dict[str, tuple[list[str], np.ndarray]], np.ndarray, np.ndarray]:
            """Relevance of each language's keyword queries' best photo and of the off-topic ones
            (and the latter's familiarity), with queries read in another language judged or not."""
            model._relevance_scale = scale if judged else replace(scale, familiar_multilingual=None)
            model._familiarity.clear()
            kw = {}
            for path in OTHER_LANGUAGES:
                kws = [k["q"] for k in json.loads(path.read_text(encoding="utf-8"))
                       if any(re.search(r"\b(" + "|".join(map(re.escape, k["any"])) + r")\b", c.lower())
                              for n in f8[5] for c in f8[6][n])]
                kq, kf = queries(model, kws)
                kw[path.stem.rsplit("_", 1)[-1]] = (kws, top_relevance(kq, kf, f8[0], kws))
            oq, of = queries(model, OTHER_OFFTOPIC)
            model._relevance_scale = scale
            return kw, top_relevance(oq, of, f8[0], OTHER_OFFTOPIC), of

        before, off_before, _ = other_languages(judged=False)
        after, rel, of = other_languages(judged=True)
        for lang, (kws, krel) in after.items():
            was = before[lang][1]
            lost = [t for t, r, b in zip(kws, krel, was, strict=True) if r < GOOD <= b]
            figures[f"flickr8k_keyword_queries_{lang}_with_a_good_match"] = f"{int((krel >= GOOD).sum())}/{len(krel)}"
            print(f"flickr8k dev, {lang}: {int((krel >= GOOD).sum())} of {len(krel)} keyword queries with a relevant "
                  f"photo have a good match ({int((was >= GOOD).sum())} when not judged in that language; lost: {lost})")
        caught = int((rel < GOOD).sum())
        figures["offtopic_other_languages_without_a_good_match"] = f"{caught}/{len(OTHER_OFFTOPIC)}"
        print(f"flickr8k dev: {caught} of {len(OTHER_OFFTOPIC)} off-topic queries routed to or written in another "
              f"language have no good match ({int((off_before < GOOD).sum())} when not judged in that language)")
        for text, r, f in sorted(zip(OTHER_OFFTOPIC, rel, of, strict=True), key=lambda x: -x[1]):
            print(f"  {r:5.1f}  {'good' if r >= GOOD else 'none'}  F {f:.3f}  {text}")
    print(f"familiarity per query: {familiarity_ms(model, scale):.2f} ms (median of 30, numpy)")
    print(f"scale: text good {good:.4f} width {scale.text_width:.4f}; familiarity f0 {f0:.4f} lam {LAM} "
          f"(other languages: from {scale.familiar_multilingual_f0:.4f}); "
          f"image good {image_good:.4f} width {image_width:.4f}  ({time.monotonic() - t0:.0f} s)")
    if args.write:
        out = DEFAULT_WEIGHTS.with_name(f"{DEFAULT_WEIGHTS.stem}-relevance.json")
        bank_file = f"{DEFAULT_WEIGHTS.stem}-relevance.npy"
        np.save(out.with_name(bank_file), familiar.astype(np.float16))
        ml_file = None
        if scale.familiar_multilingual is not None:
            ml_file = f"{DEFAULT_WEIGHTS.stem}-relevance-multilingual.npy"
            np.save(out.with_name(ml_file), scale.familiar_multilingual.astype(np.float16))
        out.write_text(json.dumps(scale.as_json(bank_file, ml_file, **figures)) + "\n", encoding="utf-8")
        print(f"wrote {out}, {bank_file}" + (f" and {ml_file}" if ml_file else ""))
    return 0


def familiarity_ms(model, scale: RelevanceScale) -> float:
    """What judging a query's familiarity costs (its nearest captions in the bank, its best concept
    name), in milliseconds: the median of 30 random queries."""
    rng = np.random.default_rng(0)
    times = []
    for _ in range(30):
        s = rng.normal(size=(1, 384)).astype(np.float32)
        s /= np.linalg.norm(s)
        t = time.perf_counter()
        scale.familiarity(s, model.concepts.class_similarity(s).max(axis=1))
        times.append(time.perf_counter() - t)
    return 1000 * float(np.median(times))


if __name__ == "__main__":
    raise SystemExit(main())
