"""Antialiased downscaling of RGB photos: torch's vectorised uint8 kernels where torch is loaded,
Pillow otherwise; both give the same pixels (within a level or two of 255).

Pillow's resampling (the PyPI build has no SIMD) costs 2-3 ms of CPU to bring a 500 × 375 photo to
299 × 224; ``torch.nn.functional.interpolate(..., antialias=True)`` on uint8 does the same
(Pillow's filter support and kernels) in about a quarter of that. Indexing has torch loaded anyway
(it runs the network), so preparing each photo uses torch's kernels there; anything that has not
imported torch (tests, tools, the query path) keeps to Pillow and never imports torch for this.

Torch's kernel runs in the calling thread's torch thread setting: the CPU indexing workers run
torch on one thread each, so a resize never spreads over cores the network is using.
"""

from __future__ import annotations

import sys
from typing import Any, Literal

import numpy as np
from PIL import Image

Filter = Literal["bicubic", "bilinear"]
_PIL_FILTERS = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}
#: beyond this reduction factor Pillow's ``reducing_gap`` (a box pre-reduction) is cheaper than a
#: full antialiased kernel, so Pillow keeps those (large non-JPEG images, which ``decode`` cannot
#: draft down)
MAX_TORCH_FACTOR = 3.0


def _torch_module() -> Any:  # torch is optional here: never imported by this module
    return sys.modules.get("torch")


def use_torch(src: tuple[int, int], dst: tuple[int, int]) -> bool:
    """Whether a resize from ``src`` to ``dst`` (width, height) goes through torch."""
    (w, h), (nw, nh) = src, dst
    return (
        _torch_module() is not None
        and nw <= w
        and nh <= h
        and (nw, nh) != (w, h)
        and max(w / nw, h / nh) <= MAX_TORCH_FACTOR
    )


def resize_rgb(image: Image.Image, size: tuple[int, int], kind: Filter, *, reducing_gap: float) -> Image.Image:
    """``image`` (RGB) resized to ``size`` (width, height) with an antialiased ``kind`` filter."""
    if image.mode == "RGB" and use_torch(image.size, size):
        return Image.fromarray(torch_resize(np.array(image), size, kind))
    return image.resize(size, _PIL_FILTERS[kind], reducing_gap=reducing_gap)


def torch_resize(
    pixels: np.ndarray, size: tuple[int, int], kind: Filter, crop: tuple[int, int, int, int] | None = None
) -> np.ndarray:
    """(H, W, 3) uint8 → (h, w, 3) uint8 resized to ``size`` (width, height), then cut to ``crop``
    (left, top, right, bottom) if given; torch must be loaded (see :func:`use_torch`)."""
    torch = _torch_module()
    assert torch is not None
    nw, nh = size
    with torch.no_grad():
        src = torch.from_numpy(pixels).permute(2, 0, 1).unsqueeze(0)  # (1, 3, H, W) view, no copy
        out = torch.nn.functional.interpolate(src, size=(nh, nw), mode=kind, antialias=True)[0]
        if crop is not None:
            left, top, right, bottom = crop
            out = out[:, top:bottom, left:right]
        return np.ascontiguousarray(out.permute(1, 2, 0).numpy())  # one copy, of the kept pixels only
