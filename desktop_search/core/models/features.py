"""Cached frozen-encoder features for training and evaluation.

Image features (the EfficientNet-Lite feature map, stored as (h·w, 1280) float16) are cached one file
per (photo, encoder, view) under ``paths.features_cache_dir()/images``; the key hashes the photo's
contents, the encoder variant, the preprocessing version and the view, so a changed photo is
re-extracted and a second run on the same photos (wherever they were copied) only reads the cache.

Views are the app's own preprocessing (``orig``), its mirror image (``flip``) and seeded random
resized crops with random flips (``rc0``, ``rc1``, …) used as training augmentation.

Text features (MiniLM token states, float16, ragged) are cached per list of texts under
``.../texts`` keyed by a hash of the texts and the encoder.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .. import paths
from ..library.scanner import content_hash
from .preprocess import preprocess_image, resize_center_crop

log = logging.getLogger(__name__)

FEATURES_VERSION = "f1"
TEXT_ENCODER_ID = "minilm-l6-v2-t128"

Progress = Callable[[int, int], None]


def cache_root(cache_dir: Path | None = None) -> Path:
    return Path(cache_dir) if cache_dir is not None else paths.features_cache_dir()


# -- views ---------------------------------------------------------------------------------------------
def make_view(image: Image.Image, size: int, view: str, seed_name: str = "") -> np.ndarray:
    """uint8 (size, size, 3) input for ``view`` of ``image`` (see module docstring)."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    if view == "orig":
        return preprocess_image(image, size)
    if view == "flip":
        return np.ascontiguousarray(preprocess_image(image, size)[:, ::-1])
    if view.startswith("rc"):
        rng = random.Random(f"{seed_name}|{view}")
        w, h = image.size
        area = w * h
        for _ in range(10):
            target = area * rng.uniform(0.35, 1.0)
            ratio = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
            cw, ch = round((target * ratio) ** 0.5), round((target / ratio) ** 0.5)
            if 0 < cw <= w and 0 < ch <= h:
                break
        else:
            cw, ch = w, h
        x0, y0 = rng.randint(0, w - cw), rng.randint(0, h - ch)
        crop = image.crop((x0, y0, x0 + cw, y0 + ch)).resize((size, size), Image.Resampling.BICUBIC)
        arr = np.asarray(crop, dtype=np.uint8)
        if rng.random() < 0.5:
            arr = arr[:, ::-1]
        return np.ascontiguousarray(arr)
    if view == "center90":
        w, h = image.size
        cw, ch = round(w * 0.9), round(h * 0.9)
        x0, y0 = (w - cw) // 2, (h - ch) // 2
        return np.asarray(resize_center_crop(image.crop((x0, y0, x0 + cw, y0 + ch)), size), dtype=np.uint8)
    raise ValueError(f"unknown view {view!r}")


# -- image features ------------------------------------------------------------------------------------
def image_cache_key(path: Path, encoder: str, view: str) -> str:
    """Keyed by the photo's contents (the library's own fingerprint), not its path or time stamps:
    a copied, moved or touched data set still finds its features."""
    raw = f"{content_hash(str(path))}|{encoder}|{FEATURES_VERSION}|{view}"
    return hashlib.sha1(raw.encode()).hexdigest()


def _image_cache_file(root: Path, key: str, encoder: str, view: str) -> Path:
    return root / "images" / encoder / view / key[:2] / f"{key}.npy"


def _atomic_save(path: Path, arr: np.ndarray) -> None:
    paths.ensure(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, arr)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def extract_image_features(
    image_paths: Sequence[Path],
    encoder: str = "lite0",
    view: str = "orig",
    *,
    batch_size: int = 32,
    device: str | None = None,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """(N, h·w, 1280) float16 feature maps for ``image_paths`` (cached; extracted where missing)."""
    root = cache_root(cache_dir)
    files = [_image_cache_file(root, image_cache_key(p, encoder, view), encoder, view) for p in image_paths]
    missing = [i for i, f in enumerate(files) if not f.is_file()]
    if missing:
        _extract_missing(image_paths, files, missing, encoder, view, batch_size, device, progress)
    if not files:
        return np.zeros((0, 0, 1280), dtype=np.float16)
    first = np.load(files[0])
    out = np.empty((len(files), *first.shape), dtype=np.float16)
    for i, f in enumerate(files):
        out[i] = np.load(f)
    return out


def _extract_missing(
    image_paths: Sequence[Path],
    files: list[Path],
    missing: list[int],
    encoder: str,
    view: str,
    batch_size: int,
    device: str | None,
    progress: Progress | None,
) -> None:
    import torch

    from .device import configure_torch, encoder_dtype, pick_device
    from .efficientnet import LITE_SPECS, LiteEncoder, to_tensor

    dev = pick_device(device)
    configure_torch(dev)
    size = LITE_SPECS[encoder].image_size
    net = LiteEncoder(encoder).to(dev, encoder_dtype(dev))

    def load(i: int) -> np.ndarray:
        p = Path(image_paths[i])
        with Image.open(p) as im:
            im.draft("RGB", (size * 2, size * 2))
            return make_view(im.convert("RGB"), size, view, seed_name=p.name)

    batches = [missing[i : i + batch_size] for i in range(0, len(missing), batch_size)]
    done = 0
    with ThreadPoolExecutor(max_workers=2) as pool:
        # decode at most two batches ahead of the encoder
        futures = [pool.submit(lambda b=b: [load(i) for i in b]) for b in batches[:2]]  # type: ignore[misc]  # mypy#15459: lambda default arg
        for k, idx in enumerate(batches):
            arrays = futures[k].result()
            futures[k] = None  # type: ignore[call-overload]
            if k + 2 < len(batches):
                futures.append(pool.submit(lambda b=batches[k + 2]: [load(i) for i in b]))  # type: ignore[misc]  # mypy#15459
            with torch.inference_mode():
                fmap = net(to_tensor(np.stack(arrays), dev))
            feats = fmap.float().flatten(2).transpose(1, 2).cpu().numpy().astype(np.float16)
            for i, f in zip(idx, feats, strict=True):
                _atomic_save(files[i], f)
            done += len(idx)
            if progress:
                progress(done, len(missing))


# -- text features -------------------------------------------------------------------------------------
@dataclass
class TextFeatures:
    """Ragged MiniLM token states: text i is ``states[offsets[i]:offsets[i+1]]``."""

    states: np.ndarray  # (total_tokens, 384) float16
    offsets: np.ndarray  # (N + 1,) int64

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def padded(self, indices: Sequence[int] | np.ndarray):
        """(states (B, T, 384) float32 tensor, mask (B, T) bool tensor) for ``indices``."""
        import torch

        idx = np.asarray(indices, dtype=np.int64)
        lens = self.offsets[idx + 1] - self.offsets[idx]
        t = int(lens.max()) if len(idx) else 1
        out = np.zeros((len(idx), t, self.states.shape[1]), dtype=np.float32)
        mask = np.zeros((len(idx), t), dtype=bool)
        for j, (i, n) in enumerate(zip(idx, lens, strict=True)):
            out[j, :n] = self.states[self.offsets[i] : self.offsets[i] + n]
            mask[j, :n] = True
        return torch.from_numpy(out), torch.from_numpy(mask)


def extract_text_features(
    texts: Sequence[str],
    *,
    batch_size: int = 256,
    device: str | None = None,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
) -> TextFeatures:
    """MiniLM token states for ``texts`` (cached as one file per list of texts)."""
    h = hashlib.sha1(TEXT_ENCODER_ID.encode())
    for t in texts:
        h.update(t.encode("utf-8", "replace"))
        h.update(b"\0")
    path = cache_root(cache_dir) / "texts" / f"{h.hexdigest()}.npz"
    if path.is_file():
        with np.load(path) as z:
            return TextFeatures(states=z["states"], offsets=z["offsets"])
    import torch

    from .device import configure_torch, encoder_dtype, pick_device
    from .minilm import MiniLM

    dev = pick_device(device)
    configure_torch(dev)
    enc = MiniLM().to(dev, encoder_dtype(dev))
    # sort by length so batches pad little
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    chunks: list[np.ndarray | None] = [None] * len(texts)
    for s in range(0, len(order), batch_size):
        idx = order[s : s + batch_size]
        ids, mask = enc.tokenize([texts[i] for i in idx])
        with torch.inference_mode():
            st = enc(ids.to(dev), mask.to(dev)).float().cpu().numpy().astype(np.float16)
        n = mask.sum(1).numpy()
        for j, i in enumerate(idx):
            chunks[i] = st[j, : n[j]]
        if progress:
            progress(min(s + batch_size, len(order)), len(order))
    lens = np.array([c.shape[0] for c in chunks if c is not None], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    states = (
        np.concatenate([c for c in chunks if c is not None])
        if len(texts)
        else np.zeros((0, enc.hidden), dtype=np.float16)
    )
    paths.ensure(path.parent)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, states=states, offsets=offsets)
    os.replace(tmp, path)
    return TextFeatures(states=states, offsets=offsets)


def stderr_progress(label: str) -> Progress:
    """A progress callback printing ``label: done/total`` to stderr at most every 2 s."""
    last = [0.0]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - last[0] >= 2.0:
            last[0] = now
            print(f"{label}: {done}/{total}", file=sys.stderr, flush=True)

    return report
