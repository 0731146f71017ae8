"""The text fusion as wired into the app, measured through ``PhotoLibrary.search`` (issue 16).

    nice python bench/text_wired.py --work /tmp/fusionlib [--images DIR] [--flickr DIR] [--queries 1000]

Needs a library built by bench/text_fusion.py (``--work``: 1,000 Flickr8k dev photos + the images of
text of bench/text_images.py, their text read); it is copied first, so the original stays as it was.
For the caption queries (the first caption of each dev photo): R@1 with text fusion on and off, and
how often an image of text enters the top 5; for word queries (a word of 4+ letters or Chinese, at
>= 14 px, written in at most 5 images): the share whose image is in the top 5, and how often the top
result carries ``text_match``. Query time p50 / p90 with text on and off.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from _common import DEFAULT_DATA  # noqa: E402
from text_fusion import word_queries  # noqa: E402


def main() -> None:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--work", type=Path, required=True, help="a library folder made by bench/text_fusion.py --work")
    p.add_argument("--images", type=Path, default=Path("/tmp/textset"))
    p.add_argument("--flickr", type=Path, default=Path(os.environ.get("FLICKR8K_DIR", DEFAULT_DATA)))
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--words", type=int, default=400)
    a = p.parse_args()
    copy = Path(tempfile.mkdtemp(prefix="text_wired_"))
    shutil.copytree(a.work / "lib", copy / "lib")
    os.environ["DESKTOP_SEARCH_HOME"] = str(copy / "home")

    from desktop_search.core.app import PhotoLibrary
    from desktop_search.core.types import SearchQuery

    manifest = json.loads((a.images / "manifest.json").read_text(encoding="utf-8"))
    lib = PhotoLibrary.open(copy / "lib")  # migrates the copy to the current schema
    status = lib.status()
    print(f"library: {status.indexed} photos, text read {status.text_read}, pending {status.text_pending}", flush=True)
    ids = {Path(path).name: int(pid) for pid, path in lib._fetch("SELECT id, path FROM photos", ())}
    text_ids = {ids[i["file"]] for i in manifest["images"]}
    searcher = lib._searcher
    text_hits = searcher._text_hits

    def run(query: str, text_on: bool, limit: int = 5) -> tuple[list, float]:
        searcher._text_hits = text_hits if text_on else None
        t0 = time.perf_counter()
        results = lib.search(SearchQuery(text=query, limit=limit))
        return results, 1000 * (time.perf_counter() - t0)

    captions: dict[str, str] = {}
    with open(a.flickr / "captions.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            captions.setdefault(row["image"], row["caption"])
    dev = [n.strip() for n in (a.flickr / "splits" / "dev.txt").read_text().splitlines() if n.strip()]
    queries = [(captions[n], ids[n]) for n in dev[: a.queries] if n in captions and n in ids]
    r1 = {True: 0, False: 0}
    intrusions = {True: 0, False: 0}
    ms: dict[bool, list[float]] = {True: [], False: []}
    for q, target in queries:
        for on in (False, True):
            results, t = run(q, on)
            ms[on].append(t)
            r1[on] += bool(results) and results[0].photo_id == target
            intrusions[on] += any(r.photo_id in text_ids for r in results[:5])
    words = word_queries(manifest, ids, a.words)
    top5 = {True: 0, False: 0}
    marked = 0
    for word, target in words:
        for on in (False, True):
            results, t = run(word, on)
            ms[on].append(t)
            top5[on] += any(r.photo_id == target for r in results[:5])
            if on:
                marked += bool(results) and results[0].text_match is not None
    n, m = len(queries), max(1, len(words))
    print(f"{n} caption queries, {len(words)} word queries (through PhotoLibrary.search, limit 5)")
    for on in (False, True):
        q = sorted(ms[on])
        print(f"text {'on ' if on else 'off'}: caption R@1 {100 * r1[on] / n:.1f} %, image of text in a caption's "
              f"top 5 {100 * intrusions[on] / n:.1f} %, word in top 5 {100 * top5[on] / m:.1f} %, query ms p50 "
              f"{statistics.median(q):.1f} p90 {q[int(0.9 * (len(q) - 1))]:.1f}")
    print(f"word queries whose first result is marked as found by its text: {100 * marked / m:.1f} %")
    lib.close()
    shutil.rmtree(copy, ignore_errors=True)


if __name__ == "__main__":
    main()
