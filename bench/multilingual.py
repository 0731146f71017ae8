"""Search in other languages: keyword queries in eight languages on Flickr8k dev (issue 17).

For each ``tests/data/keyword_queries_flickr8k_<lang>.json`` (the same 40 everyday keyword queries
in en, zh, es, de, fr, pt, ja, ru), every query goes through the builtin model's own
``encode_queries`` (its language routing included) against the image vectors of the 1,000 dev
photos (no texts on the photos). A photo is relevant when one of its English captions contains one
of the query's ``any`` words (whole words, lower case); P@k with k = min(10, relevant photos), mean
over the queries; ``ratio_to_en``: that mean over the English figure for the same queries (target
≥ 0.85 for each language). ``core/models/keyword_eval.py`` has the protocol.

``--captions`` adds the English caption queries (5,000, the ``eval`` protocol's text → image R@1 /
R@5 / R@10) with the routing on, how many the router sends away from English, and the largest
difference from the routing off (``DESKTOP_SEARCH_MULTILINGUAL=0``), to show that English search is
unchanged; ``--photo-texts`` photos whose only text is a keyword in one of the languages,
found by the English queries (see ``photo_text_check``).

    .venv/bin/python bench/multilingual.py [--json] [--data DIR] [--captions] [--photo-texts]
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C
import numpy as np

QUERIES = C.REPO / "tests" / "data"


def image_vectors(model: Any, paths: list[Path]) -> np.ndarray:
    """The dev photos' image vectors, cached by model key and photo list."""
    from desktop_search.core.models.evaluation import encode_photos

    h = hashlib.sha256(("\n".join(str(p) for p in paths) + model.key).encode()).hexdigest()[:16]
    cache = C.CACHE_DIR / f"multilingual-images-{h}.npy"
    if cache.is_file():
        return np.load(cache)
    vecs = encode_photos(model, paths)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, vecs)
    return vecs


def caption_check(model: Any, image_vecs: np.ndarray, captions: list[list[str]]) -> dict[str, Any]:
    """English caption queries (text → image R@k) with the routing on, how many of them the router
    sends away from the English path, and whether the vectors with the routing off
    (``DESKTOP_SEARCH_MULTILINGUAL=0``) are the same (checked on a sample of 500: the full set twice
    takes long through the single-query numpy encoder)."""
    from desktop_search.core.models.evaluation import ranks_from_scores, recall_summary
    from desktop_search.core.models.multilingual import is_english

    pairs = [(c, i) for i, caps in enumerate(captions) for c in caps]
    targets = np.array([i for _, i in pairs])
    texts = [c for c, _ in pairs]
    routed = [t for t in texts if not is_english(t)]
    model.prepare_parallel_queries()  # batches of captions: torch's MiniLM, not the per-query numpy path
    model.cpu_query_threads = 2
    q = model.encode_queries(texts)
    out: dict[str, Any] = {"queries": len(texts), "not_taken_for_english": len(routed), "examples": routed[:5]}
    out["routing_on"] = recall_summary(ranks_from_scores(q @ image_vecs.T, targets))
    sample = list(range(0, len(texts), max(1, len(texts) // 500)))
    os.environ["DESKTOP_SEARCH_MULTILINGUAL"] = "0"
    try:
        off = model.encode_queries([texts[i] for i in sample])
    finally:
        os.environ.pop("DESKTOP_SEARCH_MULTILINGUAL", None)
    out["max_abs_difference_routing_off"] = float(np.abs(off - q[sample]).max())
    model.cpu_query_threads = 1
    return out


def photo_text_check(model: Any, files: dict[str, Path], captions: list[list[str]]) -> dict[str, Any]:
    """Photo texts in other languages, as a file name or a short caption gives them: every dev photo
    relevant to one of the keyword queries gets as its only text that query in one language (the
    first query it is relevant to; "playa" for a beach photo), and the English queries rank the
    texted photos by text similarity alone (the photo-text vectors of ``encode_photo_texts``). A
    photo is relevant to the query its text came from; P@k as above, per language of the texts."""
    from desktop_search.core.models.keyword_eval import precision_at_k, read_queries, relevance

    entries = {lang: read_queries(p) for lang, p in files.items()}
    en = entries["en"]
    rel = relevance([e["any"] for e in en], captions)
    first = np.where(rel.any(0), rel.argmax(0), -1)
    photos = np.flatnonzero(first >= 0)
    q = model.encode_queries([e["q"] for e in en])
    truth = first[photos][None, :] == np.arange(len(en))[:, None]
    out: dict[str, Any] = {"photos": len(photos)}
    for lang, ents in entries.items():
        ptv = model.encode_photo_texts([ents[first[i]]["q"] for i in photos])
        out[lang] = round(100 * float(np.nanmean(precision_at_k(q @ ptv.vectors.T, truth))), 1)
    return out


def main() -> int:
    ap = C.parser(__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("FLICKR8K", C.DEFAULT_DATA)))
    ap.add_argument("--captions", action="store_true", help="also English caption queries, routing on and off")
    ap.add_argument("--photo-texts", action="store_true", help="also photo texts in each language")
    ap.add_argument("--model", default="builtin")
    args = ap.parse_args()
    from desktop_search.core.models.dataset import load_captioned
    from desktop_search.core.models.keyword_eval import keyword_table, query_files
    from desktop_search.core.models.registry import load_model

    data = load_captioned(args.data / "images", args.data / "captions.csv", args.data / "splits" / "dev.txt")
    if args.quick:
        data = data.subset(data.names[:200])
    model = load_model(args.model, device="cpu")
    t0 = time.perf_counter()
    vecs = image_vectors(model, data.paths)
    files = query_files(QUERIES)
    t1 = time.perf_counter()
    table = keyword_table(model, vecs, data.captions, files)
    report: dict[str, Any] = {
        "model": model.key,
        "photos": len(data),
        "keyword_seconds": round(time.perf_counter() - t1, 2),
        "image_seconds": round(t1 - t0, 1),
        "languages": table,
    }
    if args.captions:
        report["english_captions"] = caption_check(model, vecs, data.captions)
    if args.photo_texts:
        report["photo_texts"] = photo_text_check(model, files, data.captions)
    report["machine"] = C.machine()
    model.close()
    lines = [f"{'lang':5s} {'P@k':>6s} {'ratio':>6s} queries"]
    for lang, row in table.items():
        lines.append(f"{lang:5s} {row['p_at_k']:6.1f} {row.get('ratio_to_en') or 0:6.3f} {row['queries']}")
    if args.captions:
        ec = report["english_captions"]
        lines.append(f"English captions ({ec['queries']}; {ec['not_taken_for_english']} routed away): "
                     f"{ec['routing_on']}, routing off differs by {ec['max_abs_difference_routing_off']:.1e}")
    if args.photo_texts:
        lines.append(f"photo texts (English queries, text only): {report['photo_texts']}")
    if args.json:
        print("\n".join(lines), file=sys.stderr)
        print(json.dumps(report))
    else:
        print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
