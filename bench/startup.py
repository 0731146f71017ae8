"""Start-up: seconds from process start to the window shown, and to the first result of a query
typed at once, with a 100,000-photo library.

The library holds 100,000 real (tiny) files, the rescan benchmark's, recorded as indexed with
synthetic vectors under the ``builtin`` model's key, so the catch-up rescan the window starts after
loading the model runs for real (after the first query's search, since 2026-11-26). Before the
runs the cached library gets one engine start (``load_model``), as from a previous session: it
remembers the model's vector key, which the next start reads while the model loads (the very first
start after indexing has no such key and reads the vectors after the model). Each run starts
``desktop-search gui --library COPY --query TEXT`` in a fresh process through
``bench/_startup_child.py``, which adds two probes to the real window: the first paint of the main
window, and the first non-empty results reaching its results model. Times are from just before the
process is spawned. Without a display the window renders offscreen (``QT_QPA_PLATFORM=offscreen``).

For comparison, ``core_first_result_s`` is the same query through the engine alone in a fresh
process (``PhotoLibrary.open`` → ``search``), no window; ``search`` loads the model lazily, without
the read of the vectors beside it that ``load_model`` does.

``--phases`` adds a breakdown of the window runs: when each step on the way to the first result
started and ended (importing torch, opening the library, building the model and each encoder,
reading the vectors, encoding the query, the search, the catch-up scan), medians over the runs, in
seconds from process start. The probes cost a few milliseconds. Since the builtin model answers
text queries in numpy (``core/models/numpy_text.py``), no torch is imported on the way to the first
result: the phases show ``encoder_numpy_minilm`` where they showed ``import_torch`` and
``encoder_minilm``.

    .venv/bin/python bench/startup.py [--json] [--quick] [--photos 100000] [--runs 3] [--phases]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C

QUERY = "a dog running on the beach"
CORE_CHILD = """
import sys, time, json
t_import = time.time()
from desktop_search.core.app import PhotoLibrary
from desktop_search.core.types import SearchQuery
lib = PhotoLibrary.open(sys.argv[1])
t_open = time.time()
results = lib.search(SearchQuery(text=sys.argv[2], limit=50))
print(json.dumps({"open": t_open, "results": time.time(), "count": len(results)}))
"""


def build_library(n: int, args: Any) -> Path:
    """A library of ``n`` real files (the rescan benchmark's tree), cached between runs."""
    import rescan
    from search import fill_database, model_key

    key, dim = model_key()
    safe = "".join(c if c.isalnum() else "_" for c in key)
    root = C.CACHE_DIR / "startup-v1" / f"{n}-{safe}"
    if (root / ".complete").exists():
        return root
    tree = rescan.generated_tree(n, args)
    C.note(args, f"building a {n}-photo library of real files in {root} (cached for later runs)…")
    root.mkdir(parents=True, exist_ok=True)
    for leftover in root.glob("library.db*"):
        leftover.unlink()
    from desktop_search.core.app import PhotoLibrary
    from desktop_search.core.library.scanner import content_hash, normalise, walk

    PhotoLibrary.open(root, model_name="builtin").close()
    files = [(f.path, f.size, f.mtime, content_hash(f.path, f.size)) for f in walk(normalise(tree))]
    fill_database(root / "library.db", len(files), key, dim, seed=n, folder=normalise(tree), files=files)
    (root / ".complete").touch()
    return root


WARM_CHILD = """
import sys
from desktop_search.core.app import PhotoLibrary
lib = PhotoLibrary.open(sys.argv[1])
lib.load_model()
lib.close()
"""


def remember_vector_key(root: Path, env: dict[str, str], args: Any) -> None:
    """Start the engine once on the cached library, as the user's previous session did: a start
    remembers the search model's vector key in the library (``meta``), and the next start reads those
    vectors while the model loads. Without it every run would measure the very first start."""
    import sqlite3

    conn = sqlite3.connect(str(root / "library.db"))
    try:
        known = conn.execute("SELECT count(*) FROM meta WHERE key LIKE 'vector\\_key:%' ESCAPE '\\'").fetchone()[0]
    finally:
        conn.close()
    if known:
        return
    C.note(args, "a first start on the cached library (it remembers the model's vector key)…")
    subprocess.run([sys.executable, "-c", WARM_CHILD, str(root)], env=env, cwd=str(C.REPO), check=True,
                   capture_output=True)


def scratch_copy(lib: Path) -> Path:
    """A copy of the library for one run (the window writes to it: settings, the catch-up scan)."""
    dest = Path(tempfile.mkdtemp(prefix="bench-startup-")) / "lib"
    dest.mkdir()
    shutil.copy2(lib / "library.db", dest / "library.db")
    return dest


def gui_run(lib: Path, timeout: float, env: dict[str, str]) -> dict[str, Any]:
    copy = scratch_copy(lib)
    child = Path(__file__).resolve().parent / "_startup_child.py"
    cmd = [sys.executable, str(child), "gui", "--library", str(copy), "--query", QUERY]
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    out: dict[str, Any] = {}
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        out["error"] = f"no results within {timeout:.0f} s"
    phases: dict[str, dict[str, Any]] = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "STARTUP":
            if parts[1] == "phase" and len(parts) >= 6:
                entry = phases.setdefault(parts[2], {"thread": parts[5]})
                entry.setdefault(parts[3], float(parts[4]) - t0)  # the first start and the first end
            elif parts[1] == "cpu" and len(parts) >= 4:
                out["gui_thread_cpu_s"], out["process_cpu_s"] = float(parts[2]), float(parts[3])
            elif parts[1] == "window":
                out["window_s"] = float(parts[2]) - t0
            elif parts[1] == "results":
                out["first_result_s"] = float(parts[2]) - t0
                out["results"] = int(parts[3])
            elif parts[1] == "error":
                out["error"] = " ".join(parts[2:])
    if phases:
        out["phases"] = phases
    if "first_result_s" not in out and "error" not in out:
        out["error"] = f"exit code {proc.returncode}: {stderr.strip().splitlines()[-1] if stderr.strip() else ''}"
    shutil.rmtree(copy.parent, ignore_errors=True)
    return out


def core_run(lib: Path, env: dict[str, str]) -> dict[str, Any]:
    copy = scratch_copy(lib)
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-c", CORE_CHILD, str(copy), QUERY], capture_output=True, text=True,
                          env=env, cwd=str(C.REPO))
    shutil.rmtree(copy.parent, ignore_errors=True)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"open_s": r["open"] - t0, "first_result_s": r["results"] - t0, "results": r["count"]}


def phase_summary(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per phase: median start, end and duration over the runs, in seconds from process start; a
    phase still running when the first results arrived has no end."""
    names: dict[str, str] = {}
    for r in runs:
        for name, p in r.get("phases", {}).items():
            names.setdefault(name, p["thread"])
    out: dict[str, dict[str, Any]] = {}
    for name, thread in names.items():
        rows = [r["phases"][name] for r in runs if name in r.get("phases", {})]
        starts = [p["start"] for p in rows if "start" in p]
        ends = [p["end"] for p in rows if "end" in p]
        spans = [p["end"] - p["start"] for p in rows if "start" in p and "end" in p]
        out[name] = {
            "start": C.rounded(C.median(starts), 3) if starts else None,
            "end": C.rounded(C.median(ends), 3) if ends else None,
            "seconds": C.rounded(C.median(spans), 3) if spans else None,
            "thread": thread,
        }
    return dict(sorted(out.items(), key=lambda kv: kv[1]["start"] if kv[1]["start"] is not None else 1e9))


def main() -> int:
    p = C.parser(__doc__.split("\n\n")[0])
    p.add_argument("--photos", type=int, default=None, help="library size (default 100000, quick 5000)")
    p.add_argument("--runs", type=int, default=None, help="timed runs after a warm-up one (default 3, quick 1)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the first result")
    p.add_argument("--phases", action="store_true",
                   help="also time each step on the way to the first result (probes in the window runs)")
    p.add_argument("--omp-threads", type=int, default=None,
                   help="what-if: OMP_NUM_THREADS/MKL_NUM_THREADS for the app (default: unset, as users run it)")
    args = p.parse_args()
    n = args.photos or (5000 if args.quick else 100_000)
    runs = args.runs or (1 if args.quick else 3)
    C.isolate_home()
    env = os.environ.copy()
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env["PYTHONPATH"] = str(C.REPO) + os.pathsep + env.get("PYTHONPATH", "")
    if args.phases:
        env["DESKTOP_SEARCH_BENCH_PHASES"] = "1"
    if args.omp_threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(args.omp_threads)

    lib = build_library(n, args)
    remember_vector_key(lib, env, args)
    gui: list[dict[str, Any]] = []
    core: list[dict[str, Any]] = []
    for i in range(runs + 1):
        C.note(args, f"run {i}{' (warm-up, not counted)' if i == 0 else ''}: window…")
        g = gui_run(lib, args.timeout, env)
        C.note(args, f"  {({k: v for k, v in g.items() if k != 'phases'})}")
        c = core_run(lib, env)
        C.note(args, f"  engine alone: {c}")
        if i:
            gui.append(g)
            core.append(c)

    def med(rows: list[dict[str, Any]], key: str) -> float | None:
        values = [r[key] for r in rows if key in r]
        return C.rounded(C.median(values), 3) if values else None

    errors = sorted({r["error"] for r in gui + core if "error" in r})
    result = {
        "window_s": med(gui, "window_s"),
        "first_result_s": med(gui, "first_result_s"),
        "core_first_result_s": med(core, "first_result_s"),
        "core_open_s": med(core, "open_s"),
        "photos": n,
        "runs": {"window_s": [C.rounded(r.get("window_s"), 3) for r in gui],
                 "first_result_s": [C.rounded(r.get("first_result_s"), 3) for r in gui],
                 "core_first_result_s": [C.rounded(r.get("first_result_s"), 3) for r in core]},
        "errors": errors,
        "platform": env.get("QT_QPA_PLATFORM", "default"),
        "omp_threads": args.omp_threads or "unset",
        "quick": args.quick,
        "machine": C.machine(),
    }
    if args.phases:
        result["phases"] = phase_summary(gui)
        result["gui_thread_cpu_s"] = med(gui, "gui_thread_cpu_s")
        result["process_cpu_s"] = med(gui, "process_cpu_s")
    text = C.table(
        [("window shown", result["window_s"], "<= 1.5"),
         ("first result (window, query typed at once)", result["first_result_s"], "<= 4"),
         ("first result, engine alone (no window)", result["core_first_result_s"], None)],
        (f"start-up, {n} photos", "seconds", "target"),
    )
    if args.phases:
        text += "\n\n" + C.table(
            [(name, p["start"], p["end"], p["seconds"], p["thread"]) for name, p in result["phases"].items()],
            ("phase (window runs, medians)", "start s", "end s", "seconds", "thread"),
        )
        text += (f"\nCPU seconds up to the first result: GUI thread {C._fmt(result['gui_thread_cpu_s'])}, "
                 f"whole process {C._fmt(result['process_cpu_s'])}")
    if errors:
        text += "\nerrors: " + "; ".join(errors)
    text += f"\nQt platform {result['platform']}; load average {C.load_avg()}"
    C.emit(args, result, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
