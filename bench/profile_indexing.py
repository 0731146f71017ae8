"""Where the indexing CPU goes: a py-spy profile of ``desktop-search index``, grouped by stage.

Runs the real CLI (``python -m desktop_search --library TMP index FOLDER --json``) under
``py-spy record --format raw`` on the 12-MP JPEGs of ``bench/indexing.py`` and on the Flickr8k
originals, then sums the sampled stacks of the index phase by stage: JPEG decoding, the network,
thumbnails, the network's input, metadata, the database writes, scanning. Start-up (imports, model
load) is counted apart. This is the profile behind the "which resource is the limit" lines of
``docs/BENCHMARKS.md``; ``--raw-dir`` keeps the collapsed stacks for a flame graph.

Python frames only by default: ``--native`` also unwinds C frames (libjpeg, oneDNN), but py-spy then
stops the process for every sample (a 12-MP run took 31 s instead of 8 here) and attributes
stacks it cannot unwind to their innermost frame, which skews the shares.

    .venv/bin/python bench/profile_indexing.py [--json] [--quick] [--what 12mp,originals] [--rate 100]

Needs py-spy (``pip install py-spy``; in the dev extra). On Linux it may need ptrace rights
(root, or ``kernel.yama.ptrace_scope = 0``) when it attaches; here it starts the process itself.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C

#: (stage, substrings of a sampled stack that put it there); the first match wins
STAGES: list[tuple[str, tuple[str, ...]]] = [
    ("start-up (imports, model load)", ("load_model", "_find_and_load", "<module>")),
    ("JPEG decoding", ("ImageFile.load",)),
    ("network, photos", ("encode_images",)),
    ("network, photo texts", ("encode_photo_texts",)),
    ("thumbnail", ("make_thumbnail",)),
    ("network input (resize, crop)", ("preprocess",)),
    ("metadata (EXIF, IPTC)", ("read_meta",)),
    ("other preparation (open, stat)", ("Indexer._prepare ",)),
    ("database writes", ("_store", "_refresh_texts")),
    ("scan, hashes, bookkeeping", ("scan", "hash", "bookkeeping")),
]
START_UP = STAGES[0][0]
OTHER = "other (glue, waits, collector)"


def py_spy() -> str | None:
    here = Path(sys.executable).with_name("py-spy")
    return str(here) if here.exists() else shutil.which("py-spy")


def stage_of(stack: str) -> str:
    for name, keys in STAGES:
        if any(k in stack for k in keys):
            return name
    return OTHER


def shares(raw: Path) -> tuple[Counter[str], int]:
    """Samples per stage from py-spy's raw (collapsed) output: ``frame;frame;... count`` lines."""
    counts: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        counts[stage_of(stack)] += int(n)
        total += int(n)
    return counts, total


def profile(label: str, folder: Path, args: Any, workdir: Path) -> dict[str, Any]:
    raw = workdir / f"{label}.txt"
    cmd = [py_spy() or "py-spy", "record", "--format", "raw", "--rate", str(args.rate), "--output", str(raw)]
    if args.native:
        cmd.append("--native")
    cmd += ["--", sys.executable, "-m", "desktop_search", "--library", str(workdir / f"lib-{label}"), "index", str(folder), "--json"]
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    if done.returncode != 0 or not raw.exists():
        raise SystemExit(f"py-spy failed on {label} ({done.returncode}): {done.stderr.strip()[-500:]}")
    # the CLI's one JSON line; py-spy writes its own lines ("py-spy> ...") to the same stdout
    counts = json.loads(next(line for line in reversed(done.stdout.splitlines()) if line.startswith("{")))
    by_stage, total = shares(raw)
    index_samples = total - by_stage[START_UP]
    return {
        "photos": counts.get("embedded", 0),
        "index_seconds": counts.get("seconds"),
        "wall_seconds": round(wall, 2),
        "samples": total,
        "start_up_share": C.rounded(by_stage[START_UP] / total if total else 0.0, 3),
        # percent of the index phase's samples (start-up left out), largest first
        "index_phase_percent": {
            name: round(100 * n / index_samples, 1)
            for name, n in by_stage.most_common()
            if name != START_UP and index_samples
        },
        "raw": str(raw) if args.raw_dir else None,
    }


def main() -> int:
    p = C.parser(__doc__.split("\n\n")[0])
    p.add_argument("--data", default=C.DEFAULT_DATA, help="Flickr8k folder (its originals/ are profiled)")
    p.add_argument("--what", default="12mp,originals", help="comma-separated: 12mp, originals")
    p.add_argument("--n12", type=int, default=None, help="how many 12-MP JPEGs (default 96, quick 16)")
    p.add_argument("--rate", type=int, default=100, help="py-spy samples per second (default 100)")
    p.add_argument("--native", action="store_true", help="unwind C frames too (slow, skews shares; see above)")
    p.add_argument("--raw-dir", default=None, help="keep py-spy's collapsed stacks in this folder")
    args = p.parse_args()
    if py_spy() is None:
        print("py-spy is not installed: pip install py-spy", file=sys.stderr)
        return 2
    C.isolate_home()
    from indexing import generated_12mp, originals_folder

    workdir = Path(args.raw_dir) if args.raw_dir else Path(tempfile.mkdtemp(prefix="bench-profile-"))
    workdir.mkdir(parents=True, exist_ok=True)
    folders: dict[str, Path] = {}
    what = [w.strip() for w in args.what.split(",") if w.strip()]
    if "12mp" in what:
        folders["12mp"] = generated_12mp(args.n12 or (16 if args.quick else 96), args)
    if "originals" in what:
        orig = originals_folder(Path(args.data), 32 if args.quick else None)
        if orig is None:
            C.note(args, f"no Flickr8k originals under {args.data}: skipped")
        else:
            folders["originals"] = orig
    result: dict[str, Any] = {"load_avg_before": C.load_avg(), "rate": args.rate, "native": args.native}
    for label, folder in folders.items():
        C.note(args, f"profiling {label} ({folder})…")
        result[label] = profile(label, folder, args, workdir)
    result["load_avg_after"] = C.load_avg()
    if not args.raw_dir and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    orig = folders.get("originals")
    if orig is not None and orig.name.startswith("bench-originals-"):  # a scratch folder of symlinks
        shutil.rmtree(orig, ignore_errors=True)

    lines = []
    for label in folders:
        r = result[label]
        lines.append(
            f"{label}: {r['photos']} photos, index {r['index_seconds']} s under the profiler, "
            f"{r['samples']} samples ({100 * (r['start_up_share'] or 0):.0f} % start-up, left out below)"
        )
        lines.append(C.table([(name, f"{pct:.1f}") for name, pct in r["index_phase_percent"].items()], ["stage", "% of index phase"]))
    C.emit(args, result, "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
