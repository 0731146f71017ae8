"""Image preprocessing for the builtin image encoder: Pillow and numpy only (no torch, no torchvision).

Thread-safe: it only touches the image it is given. The output is a uint8 array (size, size, 3) in RGB
order; normalisation to the encoder's input range happens on the device in ``encode_images`` (a
quarter of the memory of float32 in the decode queue).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

#: EfficientNet-Lite (TensorFlow reference) input normalisation: (x - 127) / 128 on 0..255 values.
LITE_MEAN = 127.0
LITE_STD = 128.0

_RESAMPLE = Image.Resampling.BICUBIC


def resize_center_crop(image: Image.Image, size: int) -> Image.Image:
    """Resize so the shorter side equals ``size`` (aspect kept), then crop the centre ``size`` square."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    w, h = image.size
    if w <= 0 or h <= 0:
        raise ValueError("empty image")
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    if (nw, nh) != (w, h):
        # reducing_gap makes big downscales fast (JPEG draft-like box reduce first) at no visible cost
        image = image.resize((nw, nh), _RESAMPLE, reducing_gap=3.0)
    left = (nw - size) // 2
    top = (nh - size) // 2
    if (nw, nh) != (size, size):
        image = image.crop((left, top, left + size, top + size))
    return image


def preprocess_image(image: Image.Image, size: int) -> np.ndarray:
    """Decoded PIL image → uint8 (size, size, 3) RGB array, ready for :func:`to_input`."""
    out = np.asarray(resize_center_crop(image, size), dtype=np.uint8)
    if out.shape != (size, size, 3):  # pragma: no cover - defensive
        raise ValueError(f"unexpected preprocessed shape {out.shape}")
    return np.ascontiguousarray(out)


def stack_batch(batch: Sequence[np.ndarray]) -> np.ndarray:
    """Stack preprocessed uint8 (H, W, 3) arrays into one contiguous (B, H, W, 3) uint8 array."""
    arr = np.stack([np.asarray(b, dtype=np.uint8) for b in batch])
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f"expected (B, H, W, 3) arrays, got {arr.shape}")
    return arr
