"""CUDA against the CPU: the builtin model's vectors agree across devices (skipped without CUDA).

On CUDA the frozen encoders run in float16 and the heads in float32 (see models/device.py); the
vectors must still match the CPU's float32 ones closely enough that a library indexed on one device
can be searched on the other. Inputs are generated here (gradients, shapes, texture), no data set.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image, ImageDraw

from desktop_search.core.models import builtin
from desktop_search.core.models.base import EmbeddingModel
from desktop_search.core.models.device import pick_device
from desktop_search.core.models.registry import load_model


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency
        return False
    return bool(torch.cuda.is_available())


needs_cuda = pytest.mark.skipif(
    not _cuda_available(), reason="needs a CUDA device (torch.cuda.is_available() is false)"
)

MIN_COSINE = 0.995
MAX_GATE_DIFF = 0.05
TIE = 0.002

QUERIES = [
    "a red circle on a blue background",
    "a green square on a yellow background",
    "a clear blue sky over a field",
    "sunset over the sea",
    "a black and white checkerboard",
    "a dog running on the beach",
]
PHOTO_TEXTS = [
    "IMG_20230704_181522",
    "holiday at the lake with grandma",
    "Two dogs play in the grass .",
    "birthday party 2019",
    "scan0001",
    "a man in a red jacket climbs a snowy mountain",
]


def _gradient(w: int, h: int, top: tuple[int, int, int], bottom: tuple[int, int, int]) -> np.ndarray:
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    a = (1 - t) * np.array(top, np.float32) + t * np.array(bottom, np.float32)
    return np.repeat(a, w, axis=1)


def synthetic_images() -> list[Image.Image]:
    """Eight photo-like RGB images of different sizes: flat shapes, gradients, texture, pattern."""
    rng = np.random.default_rng(7)
    out: list[Image.Image] = []

    im = Image.new("RGB", (320, 240), (40, 60, 200))
    ImageDraw.Draw(im).ellipse((90, 50, 230, 190), fill=(220, 30, 30))
    out.append(im)

    im = Image.new("RGB", (240, 320), (235, 220, 40))
    ImageDraw.Draw(im).rectangle((50, 90, 190, 230), fill=(30, 170, 60))
    out.append(im)

    sky = _gradient(400, 300, (70, 130, 230), (200, 225, 250))
    sky[210:] = _gradient(400, 90, (70, 140, 50), (40, 90, 30))
    out.append(Image.fromarray(np.clip(sky, 0, 255).astype(np.uint8)))

    sunset = _gradient(400, 260, (250, 150, 40), (120, 30, 80))
    sunset[170:] = _gradient(400, 90, (30, 50, 110), (10, 20, 60))
    im = Image.fromarray(np.clip(sunset, 0, 255).astype(np.uint8))
    ImageDraw.Draw(im).ellipse((170, 130, 230, 190), fill=(255, 220, 120))
    out.append(im)

    cells = (np.indices((6, 8)).sum(axis=0) % 2).astype(np.uint8) * 255
    board = np.kron(cells, np.ones((40, 40), np.uint8))
    out.append(Image.fromarray(np.stack([board] * 3, axis=-1)))

    texture = rng.normal(128, 40, (60, 80, 3)).clip(0, 255).astype(np.uint8)
    out.append(Image.fromarray(texture).resize((320, 240), Image.Resampling.BICUBIC))

    im = Image.new("RGB", (300, 300), (250, 250, 250))
    ImageDraw.Draw(im).polygon([(150, 40), (260, 250), (40, 250)], fill=(40, 60, 220))
    out.append(im)

    stripes = np.zeros((240, 360, 3), np.uint8)
    stripes[:, :, 0] = (np.sin(np.arange(360) / 9.0) * 100 + 128).astype(np.uint8)[None]
    stripes[:, :, 1] = 90
    stripes[:, :, 2] = np.linspace(30, 220, 240, dtype=np.float32).astype(np.uint8)[:, None]
    out.append(Image.fromarray(stripes))
    return out


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def models() -> Iterator[tuple[EmbeddingModel, EmbeddingModel]]:
    cpu = load_model("builtin", device="cpu")
    cuda = builtin.load_builtin("builtin", device="cuda")
    yield cpu, cuda
    cuda.close()


@needs_cuda
def test_cuda_vectors_match_cpu(models: tuple[EmbeddingModel, EmbeddingModel]) -> None:
    cpu, cuda = models
    assert cpu.device == "cpu"
    assert cuda.device.startswith("cuda")
    assert cpu.key == cuda.key  # vectors are stored under the same key on either device

    arrays = [cpu.preprocess(im) for im in synthetic_images()]
    img_cpu, img_cuda = cpu.encode_images(arrays), cuda.encode_images(arrays)
    q_cpu, q_cuda = cpu.encode_queries(QUERIES), cuda.encode_queries(QUERIES)
    pt_cpu, pt_cuda = cpu.encode_photo_texts(PHOTO_TEXTS), cuda.encode_photo_texts(PHOTO_TEXTS)

    img_cos = _cosines(img_cpu, img_cuda)
    q_cos = _cosines(q_cpu, q_cuda)
    pt_cos = _cosines(pt_cpu.vectors, pt_cuda.vectors)
    gate_diff = np.abs(pt_cpu.gate.astype(np.float64) - pt_cuda.gate.astype(np.float64))
    print(
        f"\n[devices] {cuda.device}: min cosine CPU/CUDA images {img_cos.min():.6f}, queries {q_cos.min():.6f}, "
        f"photo texts {pt_cos.min():.6f}; max gate difference {gate_diff.max():.4f} "
        f"(gates CPU {[round(float(g), 3) for g in pt_cpu.gate]})"
    )
    assert img_cpu.shape == img_cuda.shape == (len(arrays), cpu.dim)
    assert np.isfinite(img_cuda).all() and np.isfinite(q_cuda).all() and np.isfinite(pt_cuda.vectors).all()
    assert img_cos.min() >= MIN_COSINE, img_cos
    assert q_cos.min() >= MIN_COSINE, q_cos
    assert pt_cos.min() >= MIN_COSINE, pt_cos
    assert gate_diff.max() <= MAX_GATE_DIFF, (pt_cpu.gate, pt_cuda.gate)

    # the same photo comes first for each query on both devices (a swap is tolerated only between
    # two photos that the CPU itself scores within TIE of each other)
    rank_cpu, rank_cuda = q_cpu @ img_cpu.T, q_cuda @ img_cuda.T
    top_cpu, top_cuda = rank_cpu.argmax(axis=1), rank_cuda.argmax(axis=1)
    ordered = np.sort(rank_cpu, axis=1)
    margins = ordered[:, -1] - ordered[:, -2]
    print(
        f"[devices] top-1 image per query: CPU {top_cpu.tolist()}, CUDA {top_cuda.tolist()}; "
        f"CPU margins to the second {[round(float(m), 4) for m in margins]}"
    )
    for i, query in enumerate(QUERIES):
        if top_cpu[i] != top_cuda[i]:
            gap = rank_cpu[i, top_cpu[i]] - rank_cpu[i, top_cuda[i]]
            assert gap <= TIE, (
                f"{query!r}: CPU ranks photo {top_cpu[i]} first, CUDA photo {top_cuda[i]} (gap {gap:.4f})"
            )
    assert (top_cpu == top_cuda).any()


@needs_cuda
def test_pick_device_prefers_cuda() -> None:
    assert pick_device() == "cuda"
    assert pick_device(None) == "cuda"
    assert pick_device("cuda") == "cuda"
    assert pick_device("cuda:0") == "cuda:0"
    assert pick_device("cpu") == "cpu"
    model = load_model("builtin")  # no device named: the app's automatic choice
    try:
        print(f"\n[devices] load_model('builtin') chose {model.device}")
        assert model.device == "cuda"
        vec = model.encode_queries(["a dog running on the beach"])
        assert vec.shape == (1, model.dim) and np.isfinite(vec).all()
    finally:
        model.close()
