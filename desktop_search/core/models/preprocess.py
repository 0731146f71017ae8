"""Image preprocessing for the builtin image encoder: Pillow and numpy (no torchvision; torch's resize
kernels where torch is already loaded, same pixels: ``core/resize.py``).

Thread-safe: it only touches the image it is given. The output is a uint8 array (size, size, 3) in RGB
order; normalisation to the encoder's input range happens on the device in ``encode_images`` (a
quarter of the memory of float32 in the decode queue).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from ..resize import resize_rgb, torch_resize, use_torch

#: EfficientNet-Lite (TensorFlow reference) input normalisation: (x - 127) / 128 on 0..255 values.
LITE_MEAN = 127.0
LITE_STD = 128.0


def _plan(width: int, height: int, size: int) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
    """The resized size (shorter side ``size``, aspect kept) and the centre ``size`` square in it."""
    if width <= 0 or height <= 0:
        raise ValueError("empty image")
    scale = size / min(width, height)
    nw, nh = max(size, round(width * scale)), max(size, round(height * scale))
    left, top = (nw - size) // 2, (nh - size) // 2
    return (nw, nh), (left, top, left + size, top + size)


def resize_center_crop(image: Image.Image, size: int) -> Image.Image:
    """Resize so the shorter side equals ``size`` (aspect kept), then crop the centre ``size`` square."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    (nw, nh), box = _plan(image.width, image.height, size)
    if (nw, nh) != image.size:
        # reducing_gap makes big downscales fast (JPEG draft-like box reduce first) at no visible cost
        image = resize_rgb(image, (nw, nh), "bicubic", reducing_gap=3.0)
    if (nw, nh) != (size, size):
        image = image.crop(box)
    return image


def preprocess_image(image: Image.Image, size: int) -> np.ndarray:
    """Decoded PIL image → uint8 (size, size, 3) RGB array, ready for :func:`to_input`."""
    resized, box = _plan(image.width, image.height, size)
    if image.mode == "RGB" and use_torch(image.size, resized):
        out = torch_resize(np.array(image), resized, "bicubic", crop=box)  # no Pillow round trip
    else:
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
