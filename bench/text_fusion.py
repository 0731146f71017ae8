"""Fusing the meaning score with the text score, measured on a real library (proposal for the lead).

    nice python bench/text_fusion.py [--images DIR] [--flickr DIR] [--photos 1000] [--queries 1000]

Builds a library (PhotoLibrary, builtin model) of 1,000 Flickr8k dev photos and the images of text of
bench/text_images.py, reads their text into the same database (core/text/store.py), then compares for
each rule "fused = m + beta * t if t >= tau" (t = search_text's score, 0..1; m = the meaning score
scaled to 0..1 over the query's candidates, best = 1: the library's scores are logits of no fixed scale):
- caption queries (the first caption of each dev photo): R@1 of its photo, and how often an image of text
  enters the top 5 (a caption is no text query: it should not);
- word queries (a word written in at most 5 images of text, 4+ letters, >= 14 px): top-5 rate.
The meaning side takes the library's top 300; a text hit outside them enters with the 300th's score.
"""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import text_images  # noqa: E402
from _common import CACHE_DIR, DEFAULT_DATA  # noqa: E402

POOL = 300
RULES = [(0.0, 1.0)] + [(b, t) for t in (0.99, 0.75, 0.5) for b in (0.1, 0.25, 0.5, 1.0)]


def main() -> None:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", type=Path)
    p.add_argument("--flickr", type=Path, default=Path(os.environ.get("FLICKR8K_DIR", DEFAULT_DATA)))
    p.add_argument("--photos", type=int, default=1000)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--words", type=int, default=400)
    p.add_argument("--work", type=Path, help="keep the library here, and reuse it when it is there")
    a = p.parse_args()
    dev = a.flickr / "splits" / "dev.txt"
    if not dev.exists():
        print(f"Flickr8k not found at {a.flickr}: nothing to measure")
        return
    images_dir = a.images or (CACHE_DIR / "text_images_240")
    if not (images_dir / "manifest.json").exists():
        text_images.generate(images_dir, 240)
    manifest = json.loads((images_dir / "manifest.json").read_text(encoding="utf-8"))

    work = a.work or Path(tempfile.mkdtemp(prefix="text_fusion_"))
    reuse = (work / "lib" / "library.db").exists()
    os.environ["DESKTOP_SEARCH_HOME"] = str(work / "home")
    folder = work / "photos"
    names = [n.strip() for n in dev.read_text().splitlines() if n.strip()][: a.photos]
    if not reuse:
        folder.mkdir(parents=True)
        for n in names:
            shutil.copy(a.flickr / "images" / n, folder / n)
        for item in manifest["images"]:
            shutil.copy(images_dir / item["file"], folder / item["file"])

    from desktop_search.core.app import PhotoLibrary
    from desktop_search.core.db.engine import connect
    from desktop_search.core.text import recognize, store
    from desktop_search.core.text.fusion import fuse
    from desktop_search.core.types import SearchQuery

    lib = PhotoLibrary.open(work / "lib")
    t0 = time.perf_counter()
    if not reuse:
        lib.add_folder(str(folder))
        for _ in lib.index():
            pass
    index_s = time.perf_counter() - t0
    conn = connect(work / "lib" / "library.db")
    store.ensure_text_schema(conn)
    t0 = time.perf_counter()
    for pid, path, h in store.pending(conn):
        store.save_text(conn, pid, h, recognize.read_text(path), "bench")
    text_s = time.perf_counter() - t0
    ids = {Path(path).name: int(pid) for pid, path in conn.execute("SELECT id, path FROM photos")}
    text_ids = {ids[i["file"]] for i in manifest["images"]}
    print(f"library of {len(ids)} photos: indexed in {index_s:.0f} s, text read in {text_s:.0f} s", flush=True)

    def fused_rank(query: str, target: int) -> dict[tuple[float, float], tuple[int, int]]:
        """Per rule: (rank of target, images of text in the top 5)."""
        results = lib.search(SearchQuery(text=query, limit=POOL))
        raw = {r.photo_id: r.score for r in results}
        text_hits = store.search_text(conn, query, limit=POOL)
        out = {}
        for beta, tau in RULES:
            # the app's rule (core/text/fusion.py): m + beta * t when t >= tau, text hits in text-score order
            scored = [i for i, _s, _line in fuse(raw, text_hits, beta, tau)]
            rank = scored.index(target) + 1 if target in scored else 10**6
            out[(beta, tau)] = (rank, sum(1 for i in scored[:5] if i in text_ids))
        return out

    # caption queries
    captions: dict[str, str] = {}
    with open(a.flickr / "captions.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            captions.setdefault(row["image"], row["caption"])
    r1 = {rule: 0 for rule in RULES}
    intrusions = {rule: 0 for rule in RULES}
    queries = [(captions[n], ids[n]) for n in names[: a.queries] if n in captions and n in ids]
    for q, target in queries:
        for rule, (rank, n_text) in fused_rank(q, target).items():
            r1[rule] += rank == 1
            intrusions[rule] += n_text > 0
    # word queries
    words = word_queries(manifest, ids, a.words)
    top5 = {rule: 0 for rule in RULES}
    for word, target in words:
        for rule, (rank, _n) in fused_rank(word, target).items():
            top5[rule] += rank <= 5
    print(f"{len(queries)} caption queries, {len(words)} word queries")
    print(f"{'beta':>5} {'tau':>5}  {'caption R@1':>11}  {'text image in top 5':>19}  {'word top 5':>10}")
    for rule in RULES:
        beta, tau = rule
        print(f"{beta:5.2f} {tau:5.2f}  {100 * r1[rule] / len(queries):10.1f}%  "
              f"{100 * intrusions[rule] / len(queries):18.1f}%  {100 * top5[rule] / max(1, len(words)):9.1f}%")
    lib.close()
    conn.close()
    if not a.work:
        shutil.rmtree(work, ignore_errors=True)



def word_queries(manifest: dict, ids: dict, count: int) -> list[tuple[str, int]]:
    """(word, photo id) pairs: words of 4+ letters (any Chinese word) at 14 px or more whose text
    at most 5 images hold, shuffled with a fixed seed, the first ``count``."""
    from desktop_search.core.text.normalize import loose

    truth = {ids[i["file"]]: loose(" ".join(i["lines"])) for i in manifest["images"]}
    words = []
    for item in manifest["images"]:
        for w in item["words"]:
            word = w["word"]
            if w["size"] < 14 or (len(word) < 4 and item["script"] == "latin"):
                continue
            if sum(1 for t in truth.values() if loose(word) in t) <= 5:
                words.append((word, ids[item["file"]]))
    random.Random(2).shuffle(words)
    return words[:count]

if __name__ == "__main__":
    main()
