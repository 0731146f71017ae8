"""Choosing where the encoders run.

CUDA when available (encoders in float16), then Apple MPS, else the CPU with a modest thread count so
that indexing leaves the machine usable. Vectors agree across devices within a small tolerance: heads
and fusion always run in float32, only the frozen encoders use half precision on CUDA.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

VALID_DEVICES = ("cuda", "mps", "cpu")


def cpu_threads() -> int:
    """A sensible intra-op thread count for CPU inference: min(4, cores available to us)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


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


def configure_torch(device: str) -> None:
    """Per-process torch settings for inference on ``device``."""
    import torch

    if device == "cpu":
        want = cpu_threads()
        if torch.get_num_threads() > want:
            torch.set_num_threads(want)


def encoder_dtype(device: str):
    """float16 for the frozen encoders on CUDA, float32 elsewhere."""
    import torch

    return torch.float16 if device.startswith("cuda") else torch.float32
