"""Rescan: seconds to bring an unchanged library of 100,000 files up to date (nothing to embed).

Generates small distinct JPEGs and PNGs (copies of a few tiny photos under distinct names, 1,000 a
folder, cached between runs) and records them as indexed under the ``tiny`` test model's key (the
model plays no part in a rescan): straight into the database by default, or with
``--index-with-tiny`` by indexing them for real (minutes). Then it times ``PhotoLibrary.index()``
on a freshly opened library: the walk, the comparison with the database, and the embed phase
finding nothing to do. The first rescan is discarded (it warms the page cache and the interpreter);
the figure is the median of the next ones.

    .venv/bin/python bench/rescan.py [--json] [--quick] [--files 100000] [--index-with-tiny]
"""

from __future__ import annotations

import io
import shutil
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C
import numpy as np
from PIL import Image

PER_FOLDER = 1000
GEN_VERSION = "v1"


def seeds() -> list[tuple[str, bytes]]:
    """A few tiny photos, JPEG and PNG, with a little noise."""
    out = []
    rng = np.random.default_rng(7)
    for i, rgb in enumerate([(200, 40, 40), (40, 180, 60), (40, 60, 200), (220, 210, 60)]):
        arr = np.clip(np.array(rgb, np.float32) + rng.normal(0, 6, (48, 64, 3)), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        fmt = "PNG" if i % 2 else "JPEG"
        Image.fromarray(arr).save(buf, fmt)
        out.append((".png" if fmt == "PNG" else ".jpg", buf.getvalue()))
    return out


def generated_tree(n: int, args: Any) -> Path:
    root = C.CACHE_DIR / f"rescan-{GEN_VERSION}" / str(n)
    if (root / ".complete").exists():
        return root
    C.note(args, f"writing {n} small files under {root} (cached for later runs)…")
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    src = seeds()
    for i in range(n):
        folder = root / f"{i // PER_FOLDER:03d}"
        if i % PER_FOLDER == 0:
            folder.mkdir()
        ext, data = src[i % len(src)]
        # distinct contents too (a trailing byte after the image data), as distinct photos would be
        (folder / f"IMG_{i:06d}{ext}").write_bytes(data + i.to_bytes(4, "little"))
    (root / ".complete").touch()
    return root


def drain(events: Any) -> Any:
    """Run an indexing job to the end; its last event."""
    last = deque(events, maxlen=1)
    if not last:
        raise SystemExit("the indexing job produced no events")
    return last[0]


def direct_library(root: Path, tree: Path) -> None:
    """An up-to-date library for ``tree`` written straight into the database (what indexing with
    the tiny model would record, minus thumbnails), in seconds instead of minutes."""
    from search import fill_database

    import tests.fakes as fakes
    from desktop_search.core.app import PhotoLibrary
    from desktop_search.core.library.scanner import content_hash, normalise, walk

    lib = PhotoLibrary.open(root, model_name="tiny")
    lib.close()
    files = [(f.path, f.size, f.mtime, content_hash(f.path, f.size)) for f in walk(normalise(tree))]
    fill_database(root / "library.db", len(files), fakes.TinyModel().key, fakes.DIM, seed=1,
                  folder=normalise(tree), files=files, text_fraction=0.0)


def main() -> int:
    p = C.parser(__doc__.split("\n\n")[0])
    p.add_argument("--files", type=int, default=None, help="library size (default 100000, quick 5000)")
    p.add_argument("--runs", type=int, default=3, help="timed rescans after the warm-up one")
    p.add_argument("--index-with-tiny", action="store_true",
                   help="build the library by indexing with the tiny model (minutes) instead of writing it directly")
    args = p.parse_args()
    n = args.files or (5000 if args.quick else 100_000)

    C.isolate_home()
    import tests.fakes  # noqa: F401  (registers the "tiny" model)
    from desktop_search.core.app import PhotoLibrary

    tree = generated_tree(n, args)
    work = Path(tempfile.mkdtemp(prefix="bench-rescan-"))
    try:
        t0 = time.perf_counter()
        if args.index_with_tiny:
            C.note(args, f"indexing {n} files with the tiny model…")
            lib = PhotoLibrary.open(work / "lib", model_name="tiny")
            lib.add_folder(tree)
            last = drain(lib.index())
            lib.close()
            if last.counts.embedded != n:
                C.note(args, f"warning: {last.counts.embedded} of {n} files were indexed")
        else:
            C.note(args, f"recording {n} files as indexed (straight into the database)…")
            direct_library(work / "lib", tree)
        index_s = time.perf_counter() - t0

        runs: list[float] = []
        counts = None
        for i in range(args.runs + 1):
            lib = PhotoLibrary.open(work / "lib")
            t0 = time.perf_counter()
            last = drain(lib.index())
            seconds = time.perf_counter() - t0
            lib.close()
            counts = last.counts
            if counts.unchanged != n or counts.embedded or counts.added or counts.removed:
                raise SystemExit(f"the rescan was not a no-op: {counts}")
            if i:
                runs.append(seconds)
            C.note(args, f"rescan {i}: {seconds:.2f} s{' (warm-up, not counted)' if i == 0 else ''}")
    finally:
        if args.keep:
            C.note(args, f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    seconds = C.median(runs)
    result = {
        "files": n,
        "seconds": C.rounded(seconds, 3),
        "runs_s": [C.rounded(r, 3) for r in runs],
        "files_per_s": C.rounded(n / seconds, 0),
        "initial_index_s": C.rounded(index_s, 1),
        "built_by": "tiny-model index" if args.index_with_tiny else "direct database writes",
        "model": "tiny",
        "quick": args.quick,
        "machine": C.machine(),
    }
    text = C.table(
        [("unchanged rescan", n, result["seconds"], "<= 10 s at 100,000")],
        ("rescan", "files", "seconds", "target"),
    )
    text += f"\nruns {result['runs_s']}; initial index {result['initial_index_s']} s; load average {C.load_avg()}"
    C.emit(args, result, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
