"""The matrix's arithmetic kernels: exact float16 x float32 products in blocks, int8 quantisation
with a per-row scale, and torch's int8 kernel (``Int8Kernel``) that scans large libraries, split
across helper threads (see ``matrix.py``)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import numpy as np

from ..models.device import cpu_threads, limit_torch_threads

#: rows per block when converting float16 rows to float32 for an exact product
_BLOCK = 4096
#: rows per block when quantising (1 MB of float32: stays in a core's L2 cache)
_QBLOCK = 1024


def exact_matvec(matrix: np.ndarray, query: np.ndarray) -> np.ndarray:
    """(n, d) float16 @ (d,) → (n,) float32, accumulated in float32, a block at a time
    (on the scan helpers when torch is loaded; see :class:`Int8Kernel`)."""
    n = matrix.shape[0]
    out = np.empty(n, np.float32)
    if n == 0:
        return out
    q = np.ascontiguousarray(query, dtype=np.float32).reshape(-1)
    torch = sys.modules.get("torch")
    if torch is None:
        for s in range(0, n, _BLOCK):
            np.matmul(matrix[s : s + _BLOCK].astype(np.float32), q, out=out[s : s + _BLOCK])
        return out
    tm, tq, to = torch.from_numpy(matrix), torch.from_numpy(q), torch.from_numpy(out)

    def scan(lo: int, hi: int) -> None:
        for s in range(lo, hi, _BLOCK):
            e = min(s + _BLOCK, hi)
            torch.mv(tm[s:e].float(), tq, out=to[s:e])

    Int8Kernel.split(n, scan)
    return out


def quantise(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-row int8: rows ≈ q * scale[:, None]."""
    v = np.array(vectors, dtype=np.float32, ndmin=2)  # a copy: scaled in place below
    q = np.empty(v.shape, np.int8)
    scale = quantise_into(v, q)
    return q, scale


def quantise_into(block: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Quantise a float32 block (overwritten) into ``out`` (int8); returns the row scales."""
    amax = np.maximum(block.max(axis=1), -block.min(axis=1))
    scale = np.where(amax > 0, amax / np.float32(127.0), np.float32(1.0)).astype(np.float32)
    block *= (np.float32(1.0) / scale)[:, None]
    np.rint(block, out=block)
    out[...] = block  # |values| <= 127 by construction
    return scale


def write_vectors(full: np.ndarray, q8: np.ndarray, scale: np.ndarray, rows: np.ndarray, vectors: np.ndarray,
                   inv_norm: np.ndarray | None = None) -> None:
    """Store ``vectors`` at ``rows``: float16 and int8 copies, a cache-sized block at a time.

    float16 input (vectors read from the database) is copied as is: numpy's float32 → float16
    conversion is slow, the other way round is fast.
    """
    contiguous = len(rows) > 0 and int(rows[-1]) - int(rows[0]) + 1 == len(rows) and bool((np.diff(rows) == 1).all())
    for s in range(0, len(rows), _QBLOCK):
        src = vectors[s : s + _QBLOCK]
        block = np.array(src, dtype=np.float32)
        r = rows[s : s + _QBLOCK]
        where: slice | np.ndarray = slice(int(r[0]), int(r[-1]) + 1) if contiguous else r
        full[where] = src
        if inv_norm is not None:
            norms = np.sqrt(np.einsum("ij,ij->i", block, block))
            inv_norm[where] = np.float32(1.0) / np.maximum(norms, np.float32(1e-6))
        q = np.empty(block.shape, np.int8)
        scale[where] = quantise_into(block, q)
        q8[where] = q


class Int8Kernel:
    """torch's CPU int8-weight matrix-vector kernel, checked once against a reference.

    Scans run on a few helper threads of their own, each with one torch thread: torch's intra-op
    threads meet at a barrier in every operation, and on a busy machine a barrier waits for a
    descheduled thread (milliseconds, every time). Independent halves joined once do not.
    """

    _checked: ClassVar[dict[int, bool]] = {}
    _lock = threading.Lock()
    _pool: ClassVar[ThreadPoolExecutor | None] = None
    #: rows per helper below which one helper scans everything
    SPLIT_ROWS = 65_536

    @classmethod
    def available(cls, dim: int) -> bool:
        torch = sys.modules.get("torch")
        if torch is None or dim % 32 or dim < 32:
            return False
        with cls._lock:
            ok = cls._checked.get(dim)
            if ok is None:
                ok = cls._self_test(dim)
                cls._checked[dim] = ok
            return ok

    @classmethod
    def _helpers(cls) -> ThreadPoolExecutor:
        if cls._pool is None:
            cls._pool = ThreadPoolExecutor(helper_count(), thread_name_prefix="scan", initializer=limit_torch_threads)  # one torch thread each
        return cls._pool

    @classmethod
    def _self_test(cls, dim: int) -> bool:
        torch = sys.modules["torch"]
        if getattr(torch.ops.aten, "_weight_int8pack_mm", None) is None:
            return False
        try:
            rng = np.random.default_rng(0)
            rows = rng.standard_normal((67, dim)).astype(np.float32)
            rows /= np.linalg.norm(rows, axis=1, keepdims=True)
            q8, scale = quantise(rows)
            query = rows[3]
            got = cls.matvec(q8, torch.from_numpy(scale).to(torch.bfloat16), query)
            return bool(np.abs(got - rows @ query).max() < 0.02)
        except Exception:  # a torch without the kernel for this CPU or these shapes
            return False

    @staticmethod
    def scales(cache: dict[str, tuple[int, int, Any]], name: str, version: int, scale: np.ndarray) -> Any:
        """``scale`` as the bfloat16 tensor the kernel takes, kept in ``cache`` under ``name`` until
        the matrix's ``version`` or the row count changes."""
        cached = cache.get(name)
        if cached is not None and cached[0] == version and cached[1] == len(scale):
            return cached[2]
        torch = sys.modules["torch"]
        tensor = torch.from_numpy(scale).to(torch.bfloat16)
        cache[name] = (version, len(scale), tensor)
        return tensor

    @classmethod
    def matvec(cls, q8: np.ndarray, scale_bf16: Any, query: np.ndarray) -> np.ndarray:
        """(n, d) int8 rows x per-row scales @ query → (n,) float32 (bfloat16 precision)."""
        torch = sys.modules["torch"]
        q = torch.from_numpy(np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)).to(torch.bfloat16)
        result = np.empty(q8.shape[0], np.float32)
        into = torch.from_numpy(result)

        def scan(lo: int, hi: int) -> None:
            out = torch.ops.aten._weight_int8pack_mm(q, torch.from_numpy(q8[lo:hi]), scale_bf16[lo:hi])
            into[lo:hi].copy_(out.reshape(-1))  # bfloat16 → float32 in one pass, no temporary

        cls.split(q8.shape[0], scan)
        return result

    @classmethod
    def split(cls, n: int, scan: Callable[[int, int], None]) -> None:
        """Run ``scan(lo, hi)`` over [0, n) in contiguous parts, and wait.

        When the calling thread already runs torch with one thread (the app's searching thread does),
        it scans the first part itself and offers the others to the helpers; a part that no helper
        has started by the time the caller is done with its own, the caller takes back and scans
        too. So the caller never waits for a helper to be woken: on a busy machine a wake-up waits
        for a time slice (~3 ms at load 3 on 2 cores, measured), while a helper that starts at once
        halves the scan.
        """
        parts = max(1, min(helper_count(), n // cls.SPLIT_ROWS))
        bounds = [n * i // parts for i in range(parts + 1)]
        caller = single_torch_thread()
        first = 1 if caller else 0
        futures = [(i, cls._helpers().submit(scan, bounds[i], bounds[i + 1])) for i in range(first, parts)]
        done = False
        try:
            if caller:
                scan(bounds[0], bounds[1])
                for i, f in futures:
                    if f.cancel():  # not started yet: the caller's after all
                        scan(bounds[i], bounds[i + 1])
            done = True
        finally:
            for _, f in futures:
                if not done:
                    f.cancel()
                if not f.cancelled():
                    f.result()


def helper_count() -> int:
    """Scan helpers: one a core, at most 4 (the CPU inference thread count)."""
    return cpu_threads()


def single_torch_thread() -> bool:
    """Whether the calling thread runs torch's operations on one thread (the setting is per thread)."""
    torch = sys.modules.get("torch")
    return torch is not None and torch.get_num_threads() == 1
