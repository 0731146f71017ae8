"""Indexing throughput: photos per second through the real pipeline, against this machine's limit.

In one process, with one loaded ``builtin`` model shared by every measurement:

(a) generated 12-megapixel camera-like JPEGs (4000x3000, ~3.5 MB, quality 90, EXIF with some
    rotated) through the real pipeline: ``PhotoLibrary.index()`` on a fresh library;
(b) the Flickr8k originals (500 px) through the real pipeline, when the data set is present;
(c) the model alone on pre-decoded, preprocessed arrays, batch 32 (``encode_images``): the most this
    machine can do with this model; measured before, between and after the pipelines;
(d) a naive pipeline: full-size Pillow decode, EXIF transpose, resize, one image at a time through
    the model, no parallelism.

(a) to (d) run in ``--rounds`` rounds (default 3), alternating: model alone, 12 MP, originals, naive,
model alone, ... Each figure is the total over all rounds (photos / seconds), so a noisy neighbour
on a shared machine weighs on the pipelines and on the model alike; the per-round efficiencies are
printed too, to show the spread (single rounds of ~5 s varied 0.69-0.87 on the originals here).

CPU time per photo of the 12-MP run is split by thread: ``decode`` (the decode workers' own CPU in
decode + metadata + thumbnail + preprocess), ``model`` (the inference thread inside the encoder
calls plus torch's intra-op threads), ``other`` (the rest of the process: scan, SQL, Python glue).

    .venv/bin/python bench/indexing.py [--json] [--quick] [--rounds 3] [--data /work/shared/data/flickr8k]

``DESKTOP_SEARCH_MALLOC_TUNING=0`` runs everything (model alone and pipelines alike) with glibc's
default allocator settings, for comparison (see ``core/models/device.tune_cpu_allocator``).
"""

from __future__ import annotations

import io
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C
import numpy as np
from PIL import Image, ImageDraw, ImageOps

W12, H12 = 4000, 3000
BATCH = 32
#: model-only configurations: (callers, images per call); see model_only()
MODEL_CONFIGS = ((1, 32), (2, 4))
GEN_VERSION = "v1"


# -- inputs ------------------------------------------------------------------------------------
def _noise_fields() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(12345)
    luma = rng.normal(0, 4.5, (H12, W12 + 64)).astype(np.float32).round().astype(np.int16)
    chroma = rng.normal(0, 3, (H12 // 2, W12 // 2 + 32, 3)).astype(np.float32).round().astype(np.int16)
    return luma, chroma


def camera_like_jpeg(seed: int, noise: tuple[np.ndarray, np.ndarray], orientation: int = 1) -> bytes:
    """A 12-MP JPEG whose size and decode cost resemble a phone photo: smooth gradients, shapes,
    mid-frequency texture, per-pixel luma and chroma noise, quality 90, camera EXIF."""
    rng = np.random.default_rng(seed)
    luma, chroma = noise
    lo = rng.normal(0, 1, (12, 16, 3)).astype(np.float32) * 40
    lo += np.linspace(0, 1, 16, dtype=np.float32)[None, :, None] * rng.uniform(-80, 80, 3).astype(np.float32)
    lo += np.linspace(0, 1, 12, dtype=np.float32)[:, None, None] * rng.uniform(-80, 80, 3).astype(np.float32)
    lo += rng.uniform(60, 190, 3).astype(np.float32)
    im = Image.fromarray(np.clip(lo, 0, 255).astype(np.uint8)).resize((W12, H12), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(im)
    for _ in range(40):
        x, y, r = int(rng.integers(0, W12)), int(rng.integers(0, H12)), int(rng.integers(30, 600))
        colour = tuple(int(v) for v in rng.integers(0, 255, 3))
        if rng.random() < 0.5:
            draw.ellipse((x, y, x + r, y + int(r * rng.uniform(0.3, 1.5))), fill=colour)
        else:
            draw.rectangle((x, y, x + r, y + int(r * rng.uniform(0.2, 2))), fill=colour)
    tex = rng.normal(128, 14, (H12 // 4, W12 // 4)).clip(0, 255).astype(np.uint8)
    texture = Image.fromarray(tex).resize((W12, H12), Image.Resampling.BILINEAR)
    a = np.asarray(im, dtype=np.int16)
    a += (np.asarray(texture, dtype=np.int16) - 128)[:, :, None]
    o = int(rng.integers(0, 64))
    a += luma[:, o : o + W12, None]
    o = int(rng.integers(0, 32))
    a += np.repeat(np.repeat(chroma[:, o : o + W12 // 2], 2, 0), 2, 1)
    out = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    exif = Image.Exif()
    exif[0x010F] = "BenchCam"
    exif[0x0110] = "BC-12"
    exif[0x0112] = orientation
    exif.get_ifd(0x8769)[0x9003] = f"2023:{1 + seed % 12:02d}:{1 + seed % 28:02d} 12:{seed % 60:02d}:00"
    buf = io.BytesIO()
    out.save(buf, "JPEG", quality=90, exif=exif.tobytes())
    return buf.getvalue()


def generated_12mp(n: int, args: Any) -> Path:
    """``n`` distinct 12-MP JPEGs (every 4th one rotated by EXIF), cached between runs."""
    folder = C.CACHE_DIR / f"12mp-{GEN_VERSION}" / str(n)
    marker = folder / ".complete"
    if marker.exists():
        return folder
    C.note(args, f"generating {n} 12-megapixel JPEGs in {folder} (cached for later runs)…")
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    noise = _noise_fields()
    for i in range(n):
        (folder / f"IMG_{i + 1:04d}.JPG").write_bytes(camera_like_jpeg(i, noise, 6 if i % 4 == 3 else 1))
    marker.touch()
    return folder


def originals_folder(data: Path, limit: int | None) -> Path | None:
    src = data / "originals"
    if not src.is_dir():
        return None
    files = sorted(p for p in src.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
    if not files:
        return None
    if limit is None or limit >= len(files):
        return src
    # a subset: symlinks in a scratch folder (the data set is never copied)
    folder = Path(tempfile.mkdtemp(prefix="bench-originals-"))
    for f in files[:limit]:
        (folder / f.name).symlink_to(f)
    return folder


# -- measurements ------------------------------------------------------------------------------
def model_only(model: Any, arrays: list[np.ndarray], batches: int, streams: int = 1, chunk: int = BATCH) -> dict[str, float]:
    """encode_images on preprocessed arrays, batches of 32, nothing else running in this process.

    ``streams=1, chunk=32``: one caller, whole batches, torch's intra-op threads as the model set
    them up (the plain way to run a model). ``streams=2, chunk=4``: two single-threaded callers on
    alternate batches, each batch in calls of 4 images (what the pipeline does on a CPU). The
    better of the two is taken as this machine's limit for the model.
    """
    from concurrent.futures import ThreadPoolExecutor

    def single_threaded() -> None:
        import torch

        torch.set_num_threads(1)  # per calling thread under OpenMP

    def run(b: int) -> int:
        batch = [arrays[(b * BATCH + i) % len(arrays)] for i in range(BATCH)]
        for i in range(0, BATCH, chunk):
            model.encode_images(batch[i : i + chunk])
        return len(batch)

    k0 = _kernel()
    cpu0, t0 = C.process_cpu_seconds(), time.perf_counter()
    if streams == 1:
        images = sum(run(b) for b in range(batches))
    else:
        with ThreadPoolExecutor(streams, initializer=single_threaded) as pool:
            images = sum(pool.map(run, range(batches)))
    seconds = time.perf_counter() - t0
    sys_s, faults = (b - a for a, b in zip(k0, _kernel(), strict=True))
    return {"images": images, "seconds": seconds, "cpu_s": C.process_cpu_seconds() - cpu0, "sys_s": sys_s, "faults": faults}


def _kernel() -> tuple[float, int]:
    """(kernel CPU seconds, minor page faults) of this process so far."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_stime, r.ru_minflt


class CpuSplit:
    """Attributes CPU time to decode workers and to the model while a pipeline runs."""

    def __init__(self, model: Any) -> None:
        from desktop_search.core.indexing.pipeline import Indexer

        self.lock = threading.Lock()
        self.decode_s = 0.0
        self.model_main_s = 0.0
        self.decode_tids: set[int] = set()
        self._indexer_cls = Indexer
        self._orig_prepare = Indexer._prepare
        self._model = model
        self._orig = {name: getattr(model, name) for name in ("encode_images", "encode_photo_texts")}

    def __enter__(self) -> CpuSplit:
        split = self
        orig_prepare = self._orig_prepare

        def prepare(indexer: Any, *a: Any, **kw: Any) -> Any:
            t = time.thread_time()
            try:
                return orig_prepare(indexer, *a, **kw)
            finally:
                dt = time.thread_time() - t
                with split.lock:
                    split.decode_s += dt
                    split.decode_tids.add(threading.get_native_id())

        self._indexer_cls._prepare = prepare  # type: ignore[method-assign]
        for name, fn in self._orig.items():
            setattr(self._model, name, self._timed(fn))
        self.main_tid = threading.get_native_id()
        self.threads0 = C.thread_cpu_seconds()
        self.cpu0 = C.process_cpu_seconds()
        return self

    def _timed(self, fn: Any) -> Any:
        def wrapper(*a: Any, **kw: Any) -> Any:
            t = time.thread_time()
            try:
                return fn(*a, **kw)
            finally:
                self.model_main_s += time.thread_time() - t

        return wrapper

    def __exit__(self, *exc: object) -> None:
        self.total_s = C.process_cpu_seconds() - self.cpu0
        threads1 = C.thread_cpu_seconds()
        # torch's intra-op pool threads live on across the run; the decode pool's threads have
        # ended by now (their CPU is counted in decode_s), so what remains is the model's helpers
        helpers = sum(
            cpu - self.threads0.get(tid, 0.0)
            for tid, cpu in threads1.items()
            if tid != self.main_tid and tid not in self.decode_tids
        )
        self.model_s = self.model_main_s + helpers
        self._indexer_cls._prepare = self._orig_prepare  # type: ignore[method-assign]
        for name in self._orig:
            delattr(self._model, name)  # back to the class's methods

    def per_photo_ms(self, photos: int) -> dict[str, float | None]:
        if not photos:
            return {"decode": None, "model": None, "other": None}
        other = max(0.0, self.total_s - self.decode_s - self.model_s)
        return {
            "decode": C.rounded(1000 * self.decode_s / photos, 1),
            "model": C.rounded(1000 * self.model_s / photos, 1),
            "other": C.rounded(1000 * other / photos, 1),
        }


def pipeline(folder: Path, model: Any, workdir: Path, label: str, args: Any) -> dict[str, Any]:
    """Index ``folder`` into a fresh library through PhotoLibrary.index(); the model is preloaded."""
    from desktop_search.core.app import PhotoLibrary

    lib = PhotoLibrary.open(workdir / f"lib-{label}", model_name="builtin")
    try:
        lib.add_folder(folder)
        lib.get_model()  # the shared, warmed model (registered below): no load inside the timing
        embed_start = None
        last = None
        C.trim_heap()
        C.reset_peak_rss()
        k0 = _kernel()
        with CpuSplit(model) as split:
            t0 = time.perf_counter()
            for event in lib.index():
                if event.phase == "embed" and embed_start is None:
                    embed_start = time.perf_counter()
                last = event
            seconds = time.perf_counter() - t0
        sys_s, faults = (b - a for a, b in zip(k0, _kernel(), strict=True))
        peak = C.peak_rss_bytes()
        counts = last.counts if last else None
        embedded = counts.embedded if counts else 0
        failed = counts.failed if counts else 0
        if failed:
            C.note(args, f"{label}: {failed} photos failed")
        embed_s = time.perf_counter() - embed_start if embed_start else None
        return {
            "photos": embedded,
            "seconds": seconds,
            "ips": embedded / seconds if seconds > 0 else 0.0,
            "embed_phase_ips": embedded / embed_s if embed_s else None,
            "cpu_ms_per_photo": split.per_photo_ms(embedded),
            "cpu_s": split.total_s,
            "peak_rss": peak,
            "sys_ms_per_photo": 1000 * sys_s / embedded if embedded else None,
            "faults_per_photo": faults / embedded if embedded else None,
        }
    finally:
        lib.close()


def naive(files: list[Path], model: Any) -> dict[str, float]:
    """What common photo-search tools do: full decode, orientation, resize, one by one."""
    size = model.image_size
    t0 = time.perf_counter()
    for path in files:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im.convert("RGB"))
        w, h = im.size
        s = size / min(w, h)
        im = im.resize((max(size, round(w * s)), max(size, round(h * s))), Image.Resampling.BICUBIC)
        left, top = (im.width - size) // 2, (im.height - size) // 2
        arr = np.asarray(im.crop((left, top, left + size, top + size)), dtype=np.uint8)
        model.encode_images([arr])
    seconds = time.perf_counter() - t0
    return {"images": len(files), "seconds": seconds, "ips": len(files) / seconds}


def cpu_efficiency(model_cpu_ms: float, pipeline_ms: dict[str, float | None]) -> float | None:
    parts = [v for v in pipeline_ms.values() if v is not None]
    return C.rounded(model_cpu_ms / sum(parts), 3) if parts and sum(parts) > 0 else None


def merged(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several pipeline runs of one kind as one: totals, per-photo averages weighted by photos."""
    photos = sum(r["photos"] for r in runs)

    def per_photo(get: Any) -> float | None:
        return _weighted([(get(r), r["photos"]) for r in runs])

    parts = {part: C.rounded(per_photo(lambda r, k=part: r["cpu_ms_per_photo"][k]), 1) for part in ("decode", "model", "other")}
    embed = [r["embed_phase_ips"] for r in runs if r["embed_phase_ips"]]
    return {
        "photos": photos,
        "seconds": sum(r["seconds"] for r in runs),
        "ips": photos / sum(r["seconds"] for r in runs),
        "embed_phase_ips": float(np.median(embed)) if embed else None,
        "cpu_ms_per_photo": parts,
        "peak_rss": max(r["peak_rss"] for r in runs),
        "sys_ms_per_photo": per_photo(lambda r: r["sys_ms_per_photo"]),
        "faults_per_photo": per_photo(lambda r: r["faults_per_photo"]),
        "rounds_ips": [C.rounded(r["ips"], 2) for r in runs],
    }


def _weighted(values: list[tuple[float | None, int]]) -> float | None:
    known = [(v, w) for v, w in values if v is not None]
    total = sum(w for _, w in known)
    return sum(v * w for v, w in known) / total if total else None


# -- main --------------------------------------------------------------------------------------
def main() -> int:
    p = C.parser(__doc__.split("\n\n")[0])
    p.add_argument("--data", default=C.DEFAULT_DATA, help="Flickr8k folder (originals/ is used when present)")
    p.add_argument("--n12", type=int, default=None, help="how many 12-MP JPEGs (default 96, quick 16)")
    p.add_argument("--originals", type=int, default=None, help="how many originals (default all, quick 32)")
    p.add_argument("--rounds", type=int, default=None, help="rounds of model alone / 12 MP / originals (default 3, quick 1)")
    args = p.parse_args()
    rounds = max(1, args.rounds or (1 if args.quick else 3))
    n12 = args.n12 or (16 if args.quick else 96)
    n_orig = args.originals or (32 if args.quick else None)
    model_batches = 2 if args.quick else 4
    n_naive = 4 if args.quick else 24

    C.isolate_home()
    from desktop_search.core.library.imageio import decode
    from desktop_search.core.models import load_model
    from desktop_search.core.models.registry import register_model

    load_before = C.load_avg()
    folder12 = generated_12mp(n12, args)
    orig = originals_folder(Path(args.data), n_orig)
    if orig is None:
        C.note(args, f"no Flickr8k originals under {args.data}: part (b) is skipped")

    C.note(args, "loading the builtin model…")
    t = time.perf_counter()
    model = load_model("builtin")
    load_s = time.perf_counter() - t
    register_model("builtin", lambda name, device: model)  # every library below shares this instance
    model.close = lambda: None  # type: ignore[method-assign]  # ... and must not close it

    # preprocessed inputs for the model-only runs: real photos when available
    sources = sorted((Path(args.data) / "originals").glob("*.jpg"))[:BATCH] if orig else sorted(folder12.glob("*.JPG"))[:8]
    arrays = [model.preprocess(decode(s, min_side=model.image_size).image) for s in sources]
    # warm-up of both model-alone configurations: the first calls of a shape and of a thread count
    # compile and cache kernels (oneDNN) and grow the allocator; cold, the first run measured 16
    # photos/s where the following ones measured 35-52
    for cfg in MODEL_CONFIGS:
        model_only(model, arrays, 2, *cfg)

    work = Path(tempfile.mkdtemp(prefix="bench-indexing-"))
    try:
        # model alone, then per round: 12 MP, originals, model alone (configurations in alternating
        # order, so neither always runs first)
        C.note(args, f"model alone (1/{rounds + 1})…")
        model_runs = [[model_only(model, arrays, model_batches, *cfg) for cfg in MODEL_CONFIGS]]
        runs12: list[dict[str, Any]] = []
        runs_orig: list[dict[str, Any]] = []
        naive_runs: list[dict[str, float]] = []
        per_round_naive = max(1, n_naive // rounds)
        naive_files = sorted(folder12.glob("*.JPG"))[: per_round_naive * rounds]
        for r in range(rounds):
            C.note(args, f"round {r + 1}/{rounds}: pipeline on {n12} 12-MP JPEGs…")
            runs12.append(pipeline(folder12, model, work, f"12mp-{r}", args))
            if orig is not None:
                C.note(args, f"round {r + 1}/{rounds}: pipeline on the Flickr8k originals…")
                runs_orig.append(pipeline(orig, model, work, f"originals-{r}", args))
            C.note(args, f"round {r + 1}/{rounds}: naive pipeline on {per_round_naive} 12-MP JPEGs…")
            naive_runs.append(naive(naive_files[r * per_round_naive : (r + 1) * per_round_naive], model))
            C.note(args, f"model alone ({r + 2}/{rounds + 1})…")
            order = MODEL_CONFIGS if r % 2 else MODEL_CONFIGS[::-1]
            done = {cfg: model_only(model, arrays, model_batches, *cfg) for cfg in order}
            model_runs.append([done[cfg] for cfg in MODEL_CONFIGS])
        p12 = merged(runs12)
        po = merged(runs_orig) if runs_orig else None
        nv = {
            "images": sum(r["images"] for r in naive_runs),
            "ips": sum(r["images"] for r in naive_runs) / sum(r["seconds"] for r in naive_runs),
        }
    finally:
        if args.keep:
            C.note(args, f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
            if orig is not None and orig != Path(args.data) / "originals":
                shutil.rmtree(orig, ignore_errors=True)

    def combined(runs: list[dict[str, float]]) -> tuple[float, float]:
        images = sum(r["images"] for r in runs)
        return images / sum(r["seconds"] for r in runs), 1000 * sum(r["cpu_s"] for r in runs) / images

    one_stream, one_cpu = combined([m[0] for m in model_runs])
    two_streams, two_cpu = combined([m[1] for m in model_runs])
    model_ips = max(one_stream, two_streams)
    best_config = 0 if one_stream >= two_streams else 1
    best = [m[best_config] for m in model_runs]

    def round_efficiency(runs: list[dict[str, Any]]) -> list[float | None]:
        # each round against the model-alone runs on either side of it
        return [
            C.rounded(run["ips"] / combined([model_runs[r][best_config], model_runs[r + 1][best_config]])[0], 3)
            for r, run in enumerate(runs)
        ]

    from desktop_search.core.models import device

    malloc_tuned = device._malloc_tuned  # set when the model first chose its device (configure_torch)
    best_images = sum(r["images"] for r in best)
    peak_rss = max(p12["peak_rss"], po["peak_rss"] if po else 0)
    model_cpu_ms = one_cpu if one_stream >= two_streams else two_cpu
    import torch

    result: dict[str, Any] = {
        "model_only_ips": C.rounded(model_ips, 2),
        "pipeline_ips_12mp": C.rounded(p12["ips"], 2),
        "pipeline_ips_originals": C.rounded(po["ips"], 2) if po else None,
        "naive_ips_12mp": C.rounded(nv["ips"], 2),
        "efficiency_12mp": C.rounded(p12["ips"] / model_ips, 3),
        "efficiency_originals": C.rounded(po["ips"] / model_ips, 3) if po else None,
        "speedup_vs_naive": C.rounded(p12["ips"] / nv["ips"], 2),
        "cpu_ms_per_photo": p12["cpu_ms_per_photo"],
        "peak_rss_mb": C.rounded(peak_rss / 2**20, 1),
        # context
        # CPU time of the model alone / CPU time of the pipeline, per photo: the efficiency an idle
        # machine would show with every core busy; robust to other programs' load
        "cpu_efficiency_12mp": cpu_efficiency(model_cpu_ms, p12["cpu_ms_per_photo"]),
        "cpu_efficiency_originals": cpu_efficiency(model_cpu_ms, po["cpu_ms_per_photo"]) if po else None,
        "cpu_ms_per_photo_originals": po["cpu_ms_per_photo"] if po else None,
        "model_only_cpu_ms_per_photo": C.rounded(model_cpu_ms, 1),
        "model_only_ips_batch32": C.rounded(one_stream, 2),
        "model_only_ips_2x1thread_calls_of_4": C.rounded(two_streams, 2),
        "efficiency_12mp_vs_batch32": C.rounded(p12["ips"] / one_stream, 3),
        "efficiency_originals_vs_batch32": C.rounded(po["ips"] / one_stream, 3) if po else None,
        "model_only_ips_runs": [[C.rounded(r["images"] / r["seconds"], 2) for r in m] for m in model_runs],
        "rounds": rounds,
        "efficiency_12mp_rounds": round_efficiency(runs12),
        "efficiency_originals_rounds": round_efficiency(runs_orig) if runs_orig else None,
        # kernel time and minor page faults per photo (page faults of freed and re-faulted
        # activation memory were 6-15 ms of kernel time per image before the allocator settings)
        "sys_ms_per_photo": {
            "model_only": C.rounded(1000 * sum(r["sys_s"] for r in best) / best_images, 1),
            "12mp": C.rounded(p12["sys_ms_per_photo"], 1),
            "originals": C.rounded(po["sys_ms_per_photo"], 1) if po else None,
        },
        "faults_per_photo": {
            "model_only": round(sum(r["faults"] for r in best) / best_images),
            "12mp": round(p12["faults_per_photo"] or 0),
            "originals": round(po["faults_per_photo"] or 0) if po else None,
        },
        "malloc_tuning": malloc_tuned,
        "embed_phase_ips_12mp": C.rounded(p12["embed_phase_ips"], 2),
        "embed_phase_ips_originals": C.rounded(po["embed_phase_ips"], 2) if po else None,
        "photos": {"12mp": p12["photos"], "originals": po["photos"] if po else 0, "naive": nv["images"],
                   "model_only": sum(r["images"] for m in model_runs for r in m)},
        "model_load_s": C.rounded(load_s, 2),
        "torch_threads": torch.get_num_threads(),
        "quick": args.quick,
        "machine": C.machine() | {"load_avg_before": load_before},
    }
    rows = [
        ("(c) model alone (best of below)", result["model_only_ips"], 1.0, None),
        ("    batch 32, one caller, torch threads", result["model_only_ips_batch32"], C.rounded(one_stream / model_ips, 3), None),
        ("    2 single-thread callers, calls of 4", result["model_only_ips_2x1thread_calls_of_4"], C.rounded(two_streams / model_ips, 3), None),
        ("(a) pipeline, 12-MP JPEGs", result["pipeline_ips_12mp"], result["efficiency_12mp"], ">= 0.55"),
        ("(b) pipeline, Flickr8k originals", result["pipeline_ips_originals"], result["efficiency_originals"], ">= 0.85"),
        ("(d) naive, 12-MP JPEGs", result["naive_ips_12mp"], C.rounded(nv["ips"] / model_ips, 3), None),
    ]
    text = C.table(rows, ("indexing", "photos/s", "vs model", "target"))
    cpu = result["cpu_ms_per_photo"]
    text += (
        f"\n\nspeed-up of the pipeline over the naive one (12 MP): {result['speedup_vs_naive']}x (target >= 4)"
        f"\nCPU ms per 12-MP photo: decode {cpu['decode']}, model {cpu['model']}, other {cpu['other']}"
        f"  (model alone: {result['model_only_cpu_ms_per_photo']} ms)"
        f"\nefficiency per round ({rounds}): 12 MP {result['efficiency_12mp_rounds']},"
        f" originals {result['efficiency_originals_rounds']}"
        f"\nCPU-time efficiency (model alone / pipeline, per photo): 12 MP {result['cpu_efficiency_12mp']},"
        f" originals {result['cpu_efficiency_originals']}"
        f"\nkernel ms / page faults per photo: model alone {result['sys_ms_per_photo']['model_only']} /"
        f" {result['faults_per_photo']['model_only']}, 12 MP {result['sys_ms_per_photo']['12mp']} /"
        f" {result['faults_per_photo']['12mp']}, originals {result['sys_ms_per_photo']['originals']} /"
        f" {result['faults_per_photo']['originals']} (malloc tuning: {malloc_tuned})"
        f"\npeak RSS {result['peak_rss_mb']} MB; torch threads {result['torch_threads']}; "
        f"load average before {load_before}, after {C.load_avg()}"
    )
    C.emit(args, result, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
