"""The text stage's speed per photo, today's settings against earlier ones, alternated image by image.

    nice python bench/text_speed.py [--images DIR] [--flickr DIR] [--photos 300] [--originals 200] [--json]

The machine is shared (other jobs come and go), so each image is read with every configuration one
after the other, in an order that alternates, and both wall time and process CPU time (all threads) are
kept; the load average is printed at the start and the end. Configurations:

- ``now``: the module's settings (``recognize.PROBE_WHOLE_MAX``, ``REC_BATCH``, 2 threads);
- ``before``: the settings before the speed work (a 448 px probe for every image larger than that, then
  a second detector pass; recogniser batches of 8);
- ``1 thread``: today's settings with a one-thread engine (what the window uses while it is in use).

Photos without text: the Flickr8k dev photos (224 px in shared/) and the originals (500 px); photos with
text: the images of bench/text_images.py (generated when absent). The figures answer issue 16's
targets: <= 60 ms per photo without text, <= 400 ms per photo with text (wall time).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import text_images  # noqa: E402
from _common import CACHE_DIR, DEFAULT_DATA  # noqa: E402


def percentile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def summary(xs: list[float]) -> dict[str, float]:
    return {"n": len(xs), "mean_ms": round(1000 * statistics.fmean(xs), 1),
            "p50_ms": round(1000 * percentile(xs, 0.5), 1), "p90_ms": round(1000 * percentile(xs, 0.9), 1)}


def main() -> None:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", type=Path, help="a folder from bench/text_images.py (generated when absent)")
    p.add_argument("--count", type=int, default=240, help="images of text")
    p.add_argument("--flickr", type=Path, default=Path(os.environ.get("FLICKR8K_DIR", DEFAULT_DATA)))
    p.add_argument("--photos", type=int, default=300, help="Flickr8k dev photos (224 px)")
    p.add_argument("--originals", type=int, default=200, help="Flickr8k originals (500 px)")
    p.add_argument("--configs", default="now,before,1 thread", help="comma-separated: now, before, 1 thread")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()

    from desktop_search.core.text import recognize

    images_dir = a.images or (CACHE_DIR / f"text_images_{a.count}")
    if not (images_dir / "manifest.json").exists():
        text_images.generate(images_dir, a.count)
    manifest = json.loads((images_dir / "manifest.json").read_text(encoding="utf-8"))
    groups: dict[str, list[Path]] = {
        "images of text": [images_dir / it["file"] for it in manifest["images"][: a.count]],
    }
    dev = a.flickr / "splits" / "dev.txt"
    if dev.exists():
        names = [n.strip() for n in dev.read_text().splitlines() if n.strip()][: a.photos]
        groups["photos 224 px (no text)"] = [a.flickr / "images" / n for n in names]
        groups["photos 500 px (no text)"] = sorted((a.flickr / "originals").glob("*.jpg"))[: a.originals]

    now = {"PROBE_WHOLE_MAX": recognize.PROBE_WHOLE_MAX, "REC_BATCH": recognize.REC_BATCH}
    before = {"PROBE_WHOLE_MAX": 0, "REC_BATCH": 8}
    engine2 = recognize.TextEngine(threads=2)
    engine1 = recognize.TextEngine(threads=1)
    configs: dict[str, tuple[dict[str, int], recognize.TextEngine]] = {
        "now": (now, engine2), "before": (before, engine2), "1 thread": (now, engine1)}
    names_ = [c.strip() for c in a.configs.split(",") if c.strip()]

    def reader(name: str) -> Callable[[Path], Any]:
        settings, eng = configs[name]

        def read(path: Path) -> Any:
            for k, v in settings.items():
                setattr(recognize, k, v)
            return recognize.read_text(path, eng=eng)
        return read

    readers = {n: reader(n) for n in names_}
    for r in readers.values():  # warm up each engine once
        r(groups["images of text"][0])
    load_start = os.getloadavg()
    wall: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    lines: dict[tuple[str, str], int] = {}
    k = 0
    for group, paths in groups.items():
        for path in paths:
            order = names_ if k % 2 == 0 else names_[::-1]
            k += 1
            for n in order:
                t, c = time.perf_counter(), time.process_time()
                res = readers[n](path)
                wall.setdefault((group, n), []).append(time.perf_counter() - t)
                cpu.setdefault((group, n), []).append(time.process_time() - c)
                lines[(group, n)] = lines.get((group, n), 0) + len(res.lines)
    for key, v in now.items():
        setattr(recognize, key, v)
    load_end = os.getloadavg()
    result: dict[str, Any] = {"load_average_start": [round(x, 2) for x in load_start],
                              "load_average_end": [round(x, 2) for x in load_end], "groups": {}}
    print(f"load average (1, 5, 15 min) {result['load_average_start']} -> {result['load_average_end']}, "
          f"{os.cpu_count()} CPUs", file=sys.stderr if a.json else sys.stdout)
    for group in groups:
        for n in names_:
            w, c = summary(wall[(group, n)]), summary(cpu[(group, n)])
            result["groups"].setdefault(group, {})[n] = {"wall": w, "cpu": c, "lines": lines[(group, n)]}
            print(f"{group:<24} {n:<9} n={w['n']:>4}  wall mean {w['mean_ms']:6.1f} p50 {w['p50_ms']:6.1f} "
                  f"p90 {w['p90_ms']:6.1f} ms | CPU mean {c['mean_ms']:6.1f} p50 {c['p50_ms']:6.1f} "
                  f"p90 {c['p90_ms']:6.1f} ms | lines {lines[(group, n)]}",
                  file=sys.stderr if a.json else sys.stdout)
    if a.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
