"""Text recognition benchmark: speed per photo, and word queries over images of text mixed into photos.

    nice python bench/text_search.py [--images DIR] [--flickr DIR] [--photos 1000] [--json] [--quick]

1. Generates the test set of images of text (bench/text_images.py, cached) unless --images names one.
2. Reads every image of text and 1,000 Flickr8k dev photos (skipped cleanly when absent) with
   `desktop_search.core.text.recognize.read_text`, timing each, and stores the text with
   `desktop_search.core.text.store` in a real SQLite database.
3. Word queries: for every word of 4+ letters (Chinese: every word) written at 14 px or larger, is its image
   in the top 5 of `search_text` among all images (target >= 95 %)? Broken down by size, font, kind,
   background, photographed or not, script; also for 10-12 px, and two-word queries.
4. False hits: ordinary query words ("dog", "beach", ...) against the Flickr photos (which have no text
   rendered into them; what they show of real text, such as a shirt's print, also counts).
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import text_images  # noqa: E402
from _common import CACHE_DIR, DEFAULT_DATA  # noqa: E402

ORDINARY = ["dog", "beach", "man", "woman", "water", "ball", "grass", "snow", "running", "street", "people",
            "child", "red", "shirt", "bike", "jump", "two dogs", "dog on the beach"]


def percentile(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def summarize_times(xs: list[float]) -> dict[str, float]:
    if not xs:
        return {}
    return {"n": len(xs), "mean_ms": 1000 * statistics.fmean(xs), "p50_ms": 1000 * percentile(xs, 0.5),
            "p90_ms": 1000 * percentile(xs, 0.9), "max_ms": 1000 * max(xs)}


def main() -> None:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", type=Path, help="a folder from bench/text_images.py (generated when absent)")
    p.add_argument("--flickr", type=Path, default=Path(os.environ.get("FLICKR8K_DIR", DEFAULT_DATA)))
    p.add_argument("--photos", type=int, default=1000, help="Flickr8k dev photos to mix in")
    p.add_argument("--count", type=int, default=240, help="images of text to generate")
    p.add_argument("--quick", action="store_true", help="40 images of text, 100 photos")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout (the table on stderr)")
    p.add_argument("--db", type=Path, help="keep the database here")
    p.add_argument("--probe-side", type=int, help="the fast exit's image size (default: recognize.PROBE_SIDE)")
    a = p.parse_args()
    out = sys.stderr if a.json else sys.stdout
    if a.quick:
        a.count, a.photos = 40, 100

    from desktop_search.core.text import recognize, store

    images_dir = a.images or (CACHE_DIR / f"text_images_{a.count}")
    if not (images_dir / "manifest.json").exists():
        print(f"generating {a.count} images of text in {images_dir} ...", file=out)
        text_images.generate(images_dir, a.count)
    manifest = json.loads((images_dir / "manifest.json").read_text(encoding="utf-8"))
    text_items = manifest["images"][: a.count]

    photos: list[Path] = []
    dev = a.flickr / "splits" / "dev.txt"
    if dev.exists():
        names = [n.strip() for n in dev.read_text().splitlines() if n.strip()][: a.photos]
        photos = [a.flickr / "images" / n for n in names if (a.flickr / "images" / n).exists()]
    else:
        print(f"Flickr8k not found at {a.flickr}: images of text only", file=out)

    db_path = a.db or Path(os.environ.get("TMPDIR", "/tmp")) / f"text_bench_{os.getpid()}.db"
    if db_path.exists():
        db_path.unlink()
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT, content_hash TEXT, status TEXT)")
    store.ensure_text_schema(conn)

    if a.probe_side:
        recognize.PROBE_SIDE = a.probe_side
    t0 = time.perf_counter()
    eng = recognize.engine()
    load_s = time.perf_counter() - t0
    load_avg_start = os.getloadavg()[0]

    entries: list[tuple[int, Path, dict[str, Any] | None]] = []
    for i, item in enumerate(text_items, start=1):
        entries.append((i, images_dir / item["file"], item))
    for j, path in enumerate(photos, start=100_000):
        entries.append((j, path, None))
    # the order photos meet the engine in does not favour either kind
    random.Random(0).shuffle(entries)

    times_text: list[float] = []
    times_plain: list[float] = []
    cpu_text: list[float] = []
    cpu_plain: list[float] = []
    probed_plain = 0
    probed_text = 0
    with_text_plain = 0
    for n, (pid, path, item) in enumerate(entries, start=1):
        conn.execute("INSERT INTO photos VALUES (?, ?, ?, 'indexed')", (pid, str(path), f"h{pid}"))
        t, c = time.perf_counter(), time.process_time()
        res = recognize.read_text(path, eng=eng)
        dt, dc = time.perf_counter() - t, time.process_time() - c
        (cpu_plain if item is None else cpu_text).append(dc)
        store.save_text(conn, pid, f"h{pid}", res, eng.files.name)
        if item is None:
            times_plain.append(dt)
            probed_plain += res.probed_only
            with_text_plain += bool(res.lines)
        else:
            times_text.append(dt)
            probed_text += res.probed_only
        if n % 100 == 0:
            print(f"  read {n} / {len(entries)}", file=out, flush=True)
    assert store.pending_count(conn) == 0

    # --- word queries; a word written in more than 5 images (by the manifest) cannot put each of them in
    # the top 5: such words are counted apart ("ambiguous")
    from desktop_search.core.text.normalize import loose

    truth = {i: loose(" ".join(item["lines"])) for i, item in enumerate(text_items, start=1)}
    ambiguous: list[int] = []
    by: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    small: list[int] = []
    pairs: list[int] = []
    misses: list[dict[str, Any]] = []
    rng = random.Random(1)
    query_times: list[float] = []
    for i, item in enumerate(text_items, start=1):
        chinese = item["script"] == "chinese"
        seen: set[str] = set()
        good_words = []
        for w in item["words"]:
            word = w["word"]
            if word in seen:
                continue
            seen.add(word)
            is_cjk = any(text_images_cjk(c) for c in word)
            if not is_cjk and len(word) < 4:
                continue
            t = time.perf_counter()
            hits = store.search_text(conn, word, limit=5)
            query_times.append(time.perf_counter() - t)
            ok = int(any(h[0] == i for h in hits))
            holders = sum(1 for t in truth.values() if loose(word) in t)
            if holders > 5:
                if w["size"] >= 14:
                    ambiguous.append(ok)
                continue
            if w["size"] >= 14:
                good_words.append(word)
                for key, value in [
                    ("all", "all"), ("size", f"{w['size']:>2} px"), ("kind", item["kind"]),
                    ("font", item["font"]), ("background", item["background"]),
                    ("photographed", str(item["photographed"])), ("script", "chinese" if chinese else "latin"),
                    ("rotated", str(bool(item["rotation"]))),
                ]:
                    by[key][value].append(ok)
                if not ok:
                    misses.append({"file": item["file"], "word": word, "size": w["size"], "kind": item["kind"],
                                   "got": [h[2] for h in hits[:2]]})
            else:
                small.append(ok)
        if len(good_words) >= 2:
            w1, w2 = rng.sample(good_words, 2)
            hits = store.search_text(conn, f"{w1} {w2}", limit=5)
            pairs.append(int(any(h[0] == i for h in hits)))

    # --- false hits on ordinary words
    false_hits: dict[str, dict[str, int]] = {}
    for q in ORDINARY:
        hits = store.search_text(conn, q, limit=1000)
        false_hits[q] = {"photos": sum(1 for h in hits if h[0] >= 100_000),
                         "text_images": sum(1 for h in hits if h[0] < 100_000)}

    # photos at their original resolution (longest side 500 px): the probe's cost on real-sized input
    times_orig: list[float] = []
    probed_orig = 0
    originals = sorted((a.flickr / "originals").glob("*.jpg"))[: 50 if a.quick else 200]
    for path in originals:
        t = time.perf_counter()
        res = recognize.read_text(path, eng=eng)
        times_orig.append(time.perf_counter() - t)
        probed_orig += res.probed_only

    db_bytes = db_path.stat().st_size
    result: dict[str, Any] = {
        "engine": eng.files.name,
        "engine_load_s": round(load_s, 3),
        "threads": eng.det.get_session_options().intra_op_num_threads,
        "load_average_start": round(load_avg_start, 2),
        "load_average_end": round(os.getloadavg()[0], 2),
        "images_of_text": len(text_items),
        "photos": len(photos),
        "time_photos_without_text": summarize_times(times_plain),
        "photos_stopped_at_probe": probed_plain,
        "photos_with_some_text_read": with_text_plain,
        "time_photos_500px": summarize_times(times_orig),
        "photos_500px_stopped_at_probe": probed_orig,
        "time_images_of_text": summarize_times(times_text),
        "images_of_text_stopped_at_probe": probed_text,
        "word_top5": {k: {v: {"n": len(xs), "rate": round(sum(xs) / len(xs), 4)} for v, xs in sorted(d.items())}
                      for k, d in by.items()},
        "word_top5_ambiguous_words": {"n": len(ambiguous), "rate": round(sum(ambiguous) / max(1, len(ambiguous)), 4)},
        "cpu_photos_without_text": summarize_times(cpu_plain),
        "cpu_images_of_text": summarize_times(cpu_text),
        "probe_side": recognize.PROBE_SIDE,
        "word_top5_10_12px": {"n": len(small), "rate": round(sum(small) / max(1, len(small)), 4)},
        "two_word_top5": {"n": len(pairs), "rate": round(sum(pairs) / max(1, len(pairs)), 4)},
        "query_ms": summarize_times(query_times),
        "false_hits": false_hits,
        "database_bytes": db_bytes,
        "misses": misses[:40],
    }
    _print_table(result, out)
    if a.json:
        print(json.dumps(result, ensure_ascii=False))
    conn.close()
    if not a.db:
        db_path.unlink(missing_ok=True)


def text_images_cjk(ch: str) -> bool:
    from desktop_search.core.text.normalize import is_cjk

    return is_cjk(ch)


def _print_table(r: dict[str, Any], out: Any) -> None:
    def line(s: str = "") -> None:
        print(s, file=out)

    line(f"engine {r['engine']} (load {r['engine_load_s']} s, {r['threads']} threads; load average "
         f"{r['load_average_start']} -> {r['load_average_end']})")
    for key, label in [("time_photos_without_text", "photos (Flickr8k dev)"),
                       ("time_photos_500px", "photos 500 px (originals)"),
                       ("time_images_of_text", "images of text")]:
        t = r[key]
        if t:
            line(f"{label:<24} n={t['n']:>5}  mean {t['mean_ms']:7.1f} ms  p50 {t['p50_ms']:7.1f}  "
                 f"p90 {t['p90_ms']:7.1f}  max {t['max_ms']:7.1f}")
    for key, label in [("cpu_photos_without_text", "CPU s, photos"), ("cpu_images_of_text", "CPU s, images of text")]:
        t = r[key]
        if t:
            line(f"{label:<24} n={t['n']:>5}  mean {t['mean_ms']:7.1f} ms  p50 {t['p50_ms']:7.1f}  "
                 f"p90 {t['p90_ms']:7.1f}  (process CPU time, all threads)")
    line(f"probe side {r['probe_side']} px")
    line(f"photos stopped at the probe: {r['photos_stopped_at_probe']} / {r['photos']}; photos with some text "
         f"read: {r['photos_with_some_text_read']}; images of text stopped at the probe: "
         f"{r['images_of_text_stopped_at_probe']}; 500 px photos stopped at the probe: "
         f"{r['photos_500px_stopped_at_probe']}")
    line("word in top 5 (4+ letters, >= 14 px, written in at most 5 images):")
    for key, d in r["word_top5"].items():
        for v, s in d.items():
            line(f"  {key:<13} {v:<34} {s['rate']:7.1%}  (n={s['n']})")
    s = r["word_top5_ambiguous_words"]
    line(f"  words written in more than 5 images: {s['rate']:.1%} (n={s['n']})")
    s = r["word_top5_10_12px"]
    line(f"  10-12 px words: {s['rate']:.1%} (n={s['n']});  two-word queries: {r['two_word_top5']['rate']:.1%} "
         f"(n={r['two_word_top5']['n']})")
    q = r["query_ms"]
    if q:
        line(f"query time: p50 {q['p50_ms']:.2f} ms, p90 {q['p90_ms']:.2f} ms")
    line("ordinary words: photos hit / images of text hit")
    for w, d in r["false_hits"].items():
        line(f"  {w:<18} {d['photos']:>4} / {d['text_images']:>4}")
    line(f"database: {r['database_bytes'] / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
