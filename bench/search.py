"""Search latency and memory at 10,000 / 100,000 / 1,000,000 photos.

For each size a real library database is filled with synthetic vectors (photos and vectors rows
written straight through sqlite3; one photo in five has a text vector, as a caption or a meaningful
file name would give) under the ``builtin`` model's key. Then, in a fresh process per size:

* ``load_s``: ``PhotoLibrary.load_model()`` after the network is loaded, i.e. the app's own
  ``_load_matrix`` reading every vector into the resident ``VectorMatrix``;
* ``rss_bytes_per_photo``: the process's resident memory after the load minus before, per photo
  (``matrix_bytes_per_photo``: the matrix's own arrays, ``VectorMatrix.nbytes()`` / N);
* ``text_*``: ``PhotoLibrary.search(SearchQuery(text=…, limit=50))`` end to end: encode the query,
  score every photo (image and text matrices, fusion), top 50, read the 50 rows;
* ``image_*``: "more like this" for a photo already in the library (``photo_ids=(id,)``), no encoding;
* ``outside_image_*``: an example file from outside the library (decode + encode + rank), fewer runs.
* with ``--stages``, ``stages``: after those runs, the same text and "more like this" queries again
  with each stage timed (perf_counter around the app's and the matrix's steps; ms per query, p50 /
  p95 / mean): the active model's name, the query's encoding, the matrix (the image and text
  similarities: int8 scans and the exact re-rank's rows; the fusion; top k; the rest: filters,
  candidate selection), the 50 result rows, and the rest of ``PhotoLibrary.search``; also the
  searching thread's own CPU ms per stage (p50; steady on a busy machine, but work on helper threads
  is not in it).

p50 and p95 over 200 queries of each kind (40 with --quick).

    .venv/bin/python bench/search.py [--json] [--quick] [--sizes 10000,100000,1000000] [--stages]
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C
import numpy as np

TEXT_FRACTION = 0.2
DB_VERSION = "v1"
FALLBACK_QUERIES = [
    "a dog running on the beach", "children playing in the snow", "a man riding a bicycle",
    "two people sitting on a bench", "a girl in a red dress", "sunset over the sea",
    "a black and white dog jumps over a fence", "people walking in a city street",
    "a boy swimming in a pool", "a woman climbing a rock wall", "birthday cake with candles",
    "mountains covered in snow", "a brown dog carrying a stick", "a crowd at a concert",
    "kids building a sandcastle", "a cat sleeping on a sofa", "a skier going down a slope",
    "a man surfing a big wave", "a family having a picnic", "a car parked by the road",
]


# -- the library -------------------------------------------------------------------------------
def model_key() -> tuple[str, int]:
    from desktop_search.core.models import load_model

    model = load_model("builtin")
    return model.key, model.dim


def build_library(n: int, key: str, dim: int, args: Any) -> Path:
    """A library database with ``n`` indexed photos and synthetic vectors, cached between runs."""
    safe = "".join(c if c.isalnum() else "_" for c in key)
    root = C.CACHE_DIR / f"search-{DB_VERSION}" / f"{n}-{safe}"
    if (root / ".complete").exists():
        return root
    C.note(args, f"building a {n}-photo library in {root} (cached for later runs)…")
    root.mkdir(parents=True, exist_ok=True)
    for leftover in root.glob("library.db*"):
        leftover.unlink()
    from desktop_search.core.app import PhotoLibrary

    PhotoLibrary.open(root, model_name="builtin").close()  # schema, meta
    fill_database(root / "library.db", n, key, dim, seed=n)
    (root / ".complete").touch()
    return root


def fill_database(db: Path, n: int, key: str, dim: int, seed: int, folder: str = "/bench/photos",
                  files: list[tuple[str, int, float, str]] | None = None, text_fraction: float = TEXT_FRACTION) -> None:
    """Insert ``n`` indexed photos (or the given (path, size, mtime, content_hash) files) with
    random unit vectors straight through sqlite3."""
    rng = np.random.default_rng(seed)
    conn = sqlite3.connect(str(db))
    conn.execute("PRAGMA synchronous = OFF")
    now = datetime(2024, 6, 1).isoformat(" ")
    cur = conn.execute("INSERT INTO folders (path, exclusions, added_at) VALUES (?, '[]', ?)", (folder, now))
    folder_id = cur.lastrowid
    base = datetime(2010, 1, 1)
    step = 20_000
    for start in range(0, n, step):
        m = min(step, n - start)
        img = rng.standard_normal((m, dim), dtype=np.float32)
        img /= np.linalg.norm(img, axis=1, keepdims=True)
        img16 = img.astype(np.float16)
        has_text = rng.random(m) < text_fraction
        txt = rng.standard_normal((m, dim), dtype=np.float32)
        txt /= np.linalg.norm(txt, axis=1, keepdims=True)
        txt16 = txt.astype(np.float16)
        gates = rng.normal(0, 1, m)
        days = rng.integers(0, 5000, m)
        photos = []
        vectors = []
        for j in range(m):
            i = start + j
            pid = i + 1
            if files is not None:
                path, size, mtime, digest = files[i]
            else:
                path, size, mtime, digest = f"{folder}/{i // 1000:04d}/IMG_{i:07d}.jpg", 2_000_000 + i, 1.6e9 + i, f"{i:040x}"
            date = (base + timedelta(days=int(days[j]), seconds=i % 86400)).isoformat(" ") if i % 5 else None
            text = f"holiday photo {i % 97}" if has_text[j] else None
            if files is not None:
                date = None  # as a scan of files without EXIF records
            photos.append((pid, folder_id, path, size, mtime, digest, 4000, 3000, date, None, None, text, "indexed", None, None, now))
            vectors.append((pid, key, img16[j].tobytes(), txt16[j].tobytes() if has_text[j] else None,
                            float(gates[j]) if has_text[j] else None, text))
        conn.executemany("INSERT INTO photos (id, folder_id, path, size, mtime, content_hash, width, height, date_taken, "
                         "camera, caption, text, status, error, thumbnail, updated_at) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", photos)
        conn.executemany("INSERT INTO vectors (photo_id, model, image, text_vec, text_gate, text_source) "
                         "VALUES (?, ?, ?, ?, ?, ?)", vectors)
        conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def queries(data: Path, count: int) -> list[str]:
    captions = data / "captions.csv"
    texts: list[str] = []
    if captions.exists():
        import csv

        with captions.open(encoding="utf-8") as f:
            texts = [row["caption"].strip(" .") for row in csv.DictReader(f)]
    if not texts:
        texts = FALLBACK_QUERIES
    rnd = random.Random(1)
    return [rnd.choice(texts) for _ in range(count)]


def example_files(data: Path, count: int, args: Any) -> list[Path]:
    orig = data / "originals"
    files = sorted(orig.glob("*.jpg"))[:count] if orig.is_dir() else []
    if files:
        return files
    from PIL import Image

    folder = Path(tempfile.mkdtemp(prefix="bench-examples-"))
    rng = np.random.default_rng(3)
    for i in range(count):
        arr = rng.integers(0, 255, (375, 500, 3), dtype=np.uint8)
        Image.fromarray(arr).save(folder / f"example_{i}.jpg", quality=90)
    return sorted(folder.glob("*.jpg"))


# -- one size, in a fresh process ----------------------------------------------------------------
def child(root: Path, n: int, n_queries: int, n_outside: int, data: Path, args: Any) -> dict[str, Any]:
    from desktop_search.core.app import PhotoLibrary
    from desktop_search.core.types import SearchQuery

    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)  # this (the searching) thread's own setting
    lib = PhotoLibrary.open(root)
    model = lib.get_model()  # the network: not part of the library's load time
    model.encode_queries(["warm up"])
    C.trim_heap()
    rss0 = C.rss_bytes()
    t0 = time.perf_counter()
    lib.load_model()  # reads every vector into the resident matrix (PhotoLibrary._load_matrix)
    load_s = time.perf_counter() - t0
    C.trim_heap()
    rss1 = C.rss_bytes()
    matrix = lib._matrix(model.key)
    loaded = len(matrix)
    warm_up = getattr(lib, "warm_up_search", None)
    if warm_up is not None:
        warm_up()  # as the window does after its first search (torch's int8 kernel for a large library)

    texts = queries(data, n_queries)
    rnd = random.Random(2)
    ids = [int(i) for i in rnd.sample(range(1, n + 1), min(n, n_queries))]
    for q in texts[:5]:
        lib.search(SearchQuery(text=q, limit=50))
    for pid in ids[:5]:
        lib.search(SearchQuery(photo_ids=(pid,), limit=50))

    def timed(query: SearchQuery) -> float:
        t = time.perf_counter()
        results = lib.search(query)
        dt = (time.perf_counter() - t) * 1000
        if len(results) != min(50, n - len(query.photo_ids)):
            raise SystemExit(f"expected 50 results, got {len(results)}")
        return dt

    text_ms = [timed(SearchQuery(text=q, limit=50)) for q in texts]
    image_ms = [timed(SearchQuery(photo_ids=(pid,), limit=50)) for pid in ids]
    outside = example_files(data, n_outside, args)
    outside_ms = [timed(SearchQuery(image_paths=(str(f),), limit=50)) for f in outside]
    stages = None
    if args.stages:
        stages = {
            "text": stage_times(lib, matrix, model, [SearchQuery(text=q, limit=50) for q in texts]),
            "image": stage_times(lib, matrix, model, [SearchQuery(photo_ids=(pid,), limit=50) for pid in ids]),
            "load_avg": C.load_avg(),
        }
    lib.close()
    return {
        "text_p50_ms": C.rounded(C.percentile(text_ms, 50), 2),
        "text_p95_ms": C.rounded(C.percentile(text_ms, 95), 2),
        "image_p50_ms": C.rounded(C.percentile(image_ms, 50), 2),
        "image_p95_ms": C.rounded(C.percentile(image_ms, 95), 2),
        "load_s": C.rounded(load_s, 3),
        "rss_bytes_per_photo": C.rounded((rss1 - rss0) / n, 0),
        "matrix_bytes_per_photo": C.rounded(matrix.nbytes() / n, 0),
        "outside_image_p50_ms": C.rounded(C.percentile(outside_ms, 50), 1),
        "outside_image_p95_ms": C.rounded(C.percentile(outside_ms, 95), 1),
        "photos_loaded": loaded,
        "queries": {"text": len(text_ms), "image": len(image_ms), "outside_image": len(outside_ms)},
        "load_avg": C.load_avg(),
        **({"stages": stages} if stages is not None else {}),
    }


#: (label, where, attribute) of the stages timed by --stages; a step the code no longer has is skipped
STAGES = (
    ("model name", "lib", "_search_model_name"),
    ("encode query", "searcher", "_query_vector"),
    ("matrix", "matrix", "search"),
    ("matrix: image sims", "matrix", "_image_sims"),
    ("matrix: text sims", "matrix", "_text_sims"),
    ("matrix: fusion", "fusion", "score"),
    ("matrix: top k", "module", "top_k"),
    ("result rows", "searcher", "_results"),
)


def stage_times(lib: Any, matrix: Any, model: Any, queries: list[Any]) -> dict[str, dict[str, float | None]]:
    """ms per query of each stage of ``PhotoLibrary.search`` (p50 / p95 / mean over ``queries``),
    timed by wrapping the steps in place; a stage called several times in a query is summed."""
    from desktop_search.core.search import matrix as matrix_module

    owners = {"lib": lib, "searcher": lib._searcher, "matrix": matrix, "fusion": model.fusion, "module": matrix_module}
    current: dict[str, float] = {}
    cpu: dict[str, float] = {}
    originals = []

    def timed_step(label: str, step: Any) -> Any:
        def run(*a: Any, **k: Any) -> Any:
            t, c = time.perf_counter(), time.thread_time()
            try:
                return step(*a, **k)
            finally:
                current[label] = current.get(label, 0.0) + (time.perf_counter() - t) * 1000
                cpu[label] = cpu.get(label, 0.0) + (time.thread_time() - c) * 1000

        return run

    for label, where, name in STAGES:
        owner = owners[where]
        step = getattr(owner, name, None)
        if step is not None:
            originals.append((owner, name, owner.__dict__.get(name)))
            setattr(owner, name, timed_step(label, step))
    per: dict[str, list[float]] = {}
    per_cpu: dict[str, list[float]] = {}

    def rows(total: float, times: dict[str, float]) -> dict[str, float]:
        inner = sum(v for k, v in times.items() if k.startswith("matrix: "))
        row = {"total": total, **times}
        if "matrix" in times:
            row["matrix: rest"] = times["matrix"] - inner
        row["rest"] = total - sum(v for k, v in times.items() if not k.startswith("matrix: "))
        return row

    try:
        for query in queries:
            current.clear()
            cpu.clear()
            lib._searcher._query_cache.clear()  # encode every query (the timed runs above remembered them)
            t, c = time.perf_counter(), time.thread_time()
            lib.search(query)
            total, total_cpu = (time.perf_counter() - t) * 1000, (time.thread_time() - c) * 1000
            for k, v in rows(total, current).items():
                per.setdefault(k, []).append(v)
            for k, v in rows(total_cpu, cpu).items():
                per_cpu.setdefault(k, []).append(v)
    finally:
        for owner, name, original in reversed(originals):
            if original is None:
                delattr(owner, name)  # back to the class's method
            else:
                setattr(owner, name, original)
    return {k: {"p50": C.rounded(C.percentile(v, 50), 2), "p95": C.rounded(C.percentile(v, 95), 2),
                "mean": C.rounded(sum(v) / len(v), 2), "cpu_p50": C.rounded(C.percentile(per_cpu[k], 50), 2)}
            for k, v in per.items()}


def main() -> int:
    p = C.parser(__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default=None, help="comma-separated library sizes (default 10000,100000,1000000)")
    p.add_argument("--data", default=C.DEFAULT_DATA, help="Flickr8k folder (captions as queries, originals as examples)")
    p.add_argument("--queries", type=int, default=None, help="queries of each kind (default 200, quick 40)")
    p.add_argument("--torch-threads", type=int, default=None,
                   help="what-if: torch threads in the searching thread (default: as the app leaves them)")
    p.add_argument("--stages", action="store_true",
                   help="also time each stage of the text and 'more like this' queries (a second pass)")
    p.add_argument("--child", type=int, default=None, help=argparse_hidden())
    p.add_argument("--root", default=None, help=argparse_hidden())
    args = p.parse_args()
    n_queries = args.queries or (40 if args.quick else 200)
    n_outside = 10 if args.quick else 40
    data = Path(args.data)
    C.isolate_home()

    if args.child is not None:
        out = child(Path(args.root), args.child, n_queries, n_outside, data, args)
        print(json.dumps(out))
        return 0

    default_sizes = "10000" if args.quick else "10000,100000,1000000"
    sizes = [int(s) for s in (args.sizes or default_sizes).split(",") if s.strip()]
    C.note(args, "loading the builtin model for its key…")
    key, dim = model_key()
    results: dict[str, Any] = {}
    for n in sizes:
        root = build_library(n, key, dim, args)
        C.note(args, f"{n} photos: measuring in a fresh process…")
        cmd = [sys.executable, __file__, "--child", str(n), "--root", str(root), "--data", str(data),
               "--queries", str(n_queries)] + (["--quick"] if args.quick else [])
        if args.torch_threads:
            cmd += ["--torch-threads", str(args.torch_threads)]
        if args.stages:
            cmd += ["--stages"]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            raise SystemExit(f"the {n}-photo run failed")
        results[str(n)] = json.loads(proc.stdout.strip().splitlines()[-1])

    result = {"sizes": results, "torch_threads": args.torch_threads or "as the app leaves them", "quick": args.quick,
              "machine": C.machine()}
    rows = []
    for n, r in results.items():
        rows.append((f"{int(n):,}", r["text_p50_ms"], r["text_p95_ms"], r["image_p50_ms"], r["image_p95_ms"],
                     r["outside_image_p50_ms"], r["load_s"], r["rss_bytes_per_photo"], r["matrix_bytes_per_photo"]))
    text = C.table(rows, ("photos", "text p50", "text p95", "image p50", "image p95", "file p50", "load s",
                          "RSS B/photo", "matrix B/photo"))
    text += ("\n(ms; targets: p95 <= 30 ms at 100,000 and <= 150 ms at 1,000,000; <= 1,536 B/photo resident)"
             f"\nload average {C.load_avg()}")
    for n, r in results.items():
        if "stages" in r:
            for kind in ("text", "image"):
                st = r["stages"][kind]
                text += f"\n\n{int(n):,} photos, {kind} queries, ms per query by stage (load {r['stages']['load_avg']})\n"
                text += C.table([(k, v["p50"], v["p95"], v["mean"], v["cpu_p50"]) for k, v in st.items()],
                                ("stage", "p50", "p95", "mean", "CPU p50"))
    C.emit(args, result, text)
    return 0


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    sys.exit(main())
