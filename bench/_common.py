"""Helpers shared by the benchmarks: options, machine facts, memory, CPU time, output.

Every benchmark prints a human table, or with ``--json`` exactly one JSON object on stdout (the
table then goes to stderr). Each one measures its baseline in the same process as the thing it
compares, so the ratios hold on a shared, noisy machine even when absolute figures drift.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DEFAULT_DATA = "/work/shared/data/flickr8k"
#: generated inputs are cached here between runs (deterministic, so safe to reuse)
CACHE_DIR = Path(os.environ.get("DESKTOP_SEARCH_BENCH_CACHE", Path(tempfile.gettempdir()) / "desktop_search_bench"))


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    p.add_argument("--quick", action="store_true", help="a small variant for CI (same code paths)")
    p.add_argument("--keep", action="store_true", help="keep the temporary libraries (their paths are printed)")
    return p


def isolate_home() -> Path:
    """Point DESKTOP_SEARCH_HOME at a scratch folder so a benchmark never touches the user's data."""
    if "DESKTOP_SEARCH_HOME" not in os.environ:
        home = Path(tempfile.mkdtemp(prefix="desktop-search-bench-home-"))
        os.environ["DESKTOP_SEARCH_HOME"] = str(home)
    return Path(os.environ["DESKTOP_SEARCH_HOME"])


def load_avg() -> list[float]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def machine() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return {"cpu": model, "cores": cores, "python": platform.python_version(), "load_avg": load_avg()}


# -- memory ------------------------------------------------------------------------------------
def _status_kb(field: str) -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_bytes() -> int:
    """Current resident set size (Linux /proc; falls back to the peak elsewhere)."""
    kb = _status_kb("VmRSS")
    if kb:
        return kb * 1024
    return peak_rss_bytes()


def peak_rss_bytes() -> int:
    """Peak resident set size since the process started or since :func:`reset_peak_rss`."""
    kb = _status_kb("VmHWM")
    if kb:
        return kb * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def reset_peak_rss() -> bool:
    """Restart the peak-RSS mark at the current RSS (Linux); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def trim_heap() -> None:
    """Give freed heap back to the OS (glibc), so an RSS delta measures what is really kept."""
    import gc

    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


# -- CPU time per thread -----------------------------------------------------------------------
_CLK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def thread_cpu_seconds() -> dict[int, float]:
    """CPU seconds (user + system) of every live thread of this process, by native thread id."""
    out: dict[int, float] = {}
    base = Path("/proc/self/task")
    try:
        tids = os.listdir(base)
    except OSError:
        return out
    for tid in tids:
        try:
            fields = (base / tid / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(tid)] = (int(fields[11]) + int(fields[12])) / _CLK
    return out


def process_cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# -- statistics and output ---------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile, q in [0, 100]."""
    if not values:
        return float("nan")
    s = sorted(values)
    if len(s) == 1:
        return s[0]
    pos = (len(s) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    cells = [[str(c) for c in header]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "n/a"
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return "n/a" if value is None else str(value)


def emit(args: argparse.Namespace, result: dict[str, Any], text: str) -> None:
    """The table on stdout, or with --json the table on stderr and one JSON object on stdout."""
    if args.json:
        print(text, file=sys.stderr)
        print(json.dumps(result, sort_keys=False))
    else:
        print(text)
    sys.stdout.flush()


def note(args: argparse.Namespace, message: str) -> None:
    """Progress for the person running the benchmark (stderr, so --json stays clean)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def rounded(value: float | None, digits: int = 3) -> float | None:
    if value is None or value != value:
        return None
    return round(float(value), digits)
