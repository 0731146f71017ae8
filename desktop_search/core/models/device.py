"""Choosing where the encoders run.

CUDA when available (encoders in float16), then Apple MPS, else the CPU with a modest thread count so
that indexing leaves the machine usable. Vectors agree across devices within a small tolerance: heads
and fusion always run in float32, only the frozen encoders use half precision on CUDA.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import sys
import threading

log = logging.getLogger(__name__)

VALID_DEVICES = ("cuda", "mps", "cpu")

#: glibc mallopt() parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
#: what the CPU tuning asks of glibc: allocations up to 32 MiB (the most glibc allows) come from
#: the heap, up to 128 MiB of freed memory stays at its top, and heaps grow (and are kept) 64 MiB
#: at a time. The padding is what keeps worker threads' secondary heaps from being unmapped each
#: time a call's activations are freed; measured (page faults per image, calls of 4, two callers):
#: defaults 3,000-5,900; trim 1 GiB alone ~500; trim 32 + pad 32 MiB ~3,200; trim 64 + pad 32
#: ~1,250; trim 64-256 + pad 64 MiB 0-40
CPU_MALLOC_SETTINGS = ((_M_MMAP_THRESHOLD, 32 << 20), (_M_TRIM_THRESHOLD, 128 << 20), (_M_TOP_PAD, 64 << 20))
#: set to "0" to leave glibc's malloc settings alone (for comparisons)
MALLOC_TUNING_ENV = "DESKTOP_SEARCH_MALLOC_TUNING"
_malloc_lock = threading.Lock()
_malloc_tuned: bool | None = None


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, where the platform tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cpu_threads() -> int:
    """A sensible intra-op thread count for CPU inference: min(4, cores available to us)."""
    return max(1, min(4, available_cores()))


def limit_torch_threads(n: int = 1) -> None:
    """Set the calling thread's torch thread count (OpenMP's and MKL's are per calling thread, so
    other threads keep theirs); nothing while torch is not loaded (never imports it). Used as the
    initializer of worker threads."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(n)


def pick_device(preferred: str | None = None) -> str:
    """Return "cuda", "mps" or "cpu".

    ``preferred`` (e.g. from settings or ``--device``) is honoured when that device is usable; an
    unusable preference falls back to automatic choice with a warning. "cuda:1"-style names are
    accepted and returned unchanged when CUDA is available.
    """
    import torch

    if preferred:
        want = preferred.strip().lower()
        base = want.split(":", 1)[0]
        if base == "cpu":
            return "cpu"
        if base == "cuda" and torch.cuda.is_available():
            return want
        if base == "mps" and _mps_available(torch):
            return "mps"
        if base not in VALID_DEVICES:
            log.warning("unknown device %r; choosing automatically", preferred)
        else:
            log.warning("device %r is not available here; choosing automatically", preferred)
    if torch.cuda.is_available():
        return "cuda"
    if _mps_available(torch):
        return "mps"
    return "cpu"


def _mps_available(torch_module) -> bool:
    backend = getattr(torch_module.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def _libc():
    """glibc, or None (macOS, Windows, musl)."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def tune_cpu_allocator() -> bool:
    """Let the CPU encoders reuse their activation memory instead of faulting it in afresh.

    With glibc's default settings every network call on the CPU gets most of its activations
    (4-20 MB tensors) as fresh pages: memory freed at the end of a call goes back to the kernel
    (heap trimming, and worker threads' secondary heaps unmapped once empty), and the next call
    page-faults it in again, zero-filled. Measured on EfficientNet-Lite0, calls of 4 images, two
    single-threaded callers: 3,000-5,900 page faults and 6-15 ms of kernel time per image (the
    network's own arithmetic is ~40 ms); with these settings, none after the first calls.

    Process-wide and idempotent; Linux with glibc only (elsewhere a no-op returning False). Freed
    memory kept this way is given back by :func:`release_cpu_memory` (the indexer calls it at the
    end of a run). ``DESKTOP_SEARCH_MALLOC_TUNING=0`` turns it off.
    """
    global _malloc_tuned
    with _malloc_lock:
        if _malloc_tuned is None:
            _malloc_tuned = False
            libc = _libc() if os.environ.get(MALLOC_TUNING_ENV, "1") != "0" else None
            if libc is not None:
                _malloc_tuned = all([libc.mallopt(param, value) == 1 for param, value in CPU_MALLOC_SETTINGS])
                if not _malloc_tuned:
                    log.debug("mallopt refused a setting; allocator left partly at its defaults")
        return _malloc_tuned


def release_cpu_memory() -> None:
    """Give freed heap memory back to the system (glibc ``malloc_trim``); a no-op elsewhere."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def configure_torch(device: str) -> None:
    """Per-process torch settings for inference on ``device``."""
    import torch

    if device == "cpu":
        want = cpu_threads()
        if torch.get_num_threads() > want:
            torch.set_num_threads(want)
        tune_cpu_allocator()


def encoder_dtype(device: str):
    """float16 for the frozen encoders on CUDA, float32 elsewhere."""
    import torch

    return torch.float16 if device.startswith("cuda") else torch.float32
