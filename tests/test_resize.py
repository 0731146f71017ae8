"""The fast resize path (torch's uint8 kernels) gives the pixels Pillow gives, so a photo indexed with
torch loaded gets the vector it would get without; thumbnails keep Pillow's sizes."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from desktop_search.core import resize
from desktop_search.core.library.imageio import make_thumbnail, thumbnail_size
from desktop_search.core.models.preprocess import preprocess_image

pytest.importorskip("torch")


def photo_like(w: int, h: int, seed: int = 0) -> Image.Image:
    """Gradients, edges and sensor-like noise, saved and reloaded as a JPEG (as photos arrive)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([x / w * 200, y / h * 180, (x + y) / (w + h) * 255], axis=-1)
    base[(x // 37 + y // 23) % 2 == 0] *= 0.6  # hard edges
    base += rng.normal(0, 12, base.shape)
    buf = io.BytesIO()
    Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=90)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def without_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resize, "_torch_module", lambda: None)


@pytest.mark.parametrize("size", [(500, 375), (375, 500), (640, 480), (333, 500), (1000, 300)])
def test_preprocessing_is_the_same_with_and_without_torch(size: tuple[int, int], monkeypatch: pytest.MonkeyPatch) -> None:
    image = photo_like(*size)
    fast = preprocess_image(image, 224)
    without_torch(monkeypatch)
    reference = preprocess_image(image, 224)
    diff = np.abs(fast.astype(int) - reference.astype(int))
    assert fast.shape == reference.shape == (224, 224, 3)
    assert diff.mean() < 0.05 and diff.max() <= 3


def test_torch_only_for_moderate_downscales() -> None:
    assert resize.use_torch((500, 375), (299, 224))
    assert not resize.use_torch((200, 150), (299, 224))  # enlarging: Pillow
    assert not resize.use_torch((4000, 3000), (299, 224))  # big reductions: Pillow's reducing gap
    assert not resize.use_torch((224, 224), (224, 224))


def test_small_and_huge_images_still_preprocess() -> None:
    for size in [(120, 90), (4000, 3000), (224, 224), (225, 5000)]:
        assert preprocess_image(photo_like(*size), 224).shape == (224, 224, 3)


@pytest.mark.parametrize("w,h", [(500, 375), (375, 500), (256, 256), (300, 299), (1001, 333), (257, 3), (3, 900), (100, 80)])
def test_thumbnail_size_matches_pillow(w: int, h: int) -> None:
    image = Image.new("RGB", (w, h))
    image.thumbnail((256, 256))
    assert thumbnail_size(w, h, 256) == image.size


def test_thumbnail_looks_like_pillows(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    image = photo_like(500, 375)
    make_thumbnail(image, tmp_path / "fast.jpg", 256)
    without_torch(monkeypatch)
    make_thumbnail(image, tmp_path / "pillow.jpg", 256)
    fast, slow = (np.asarray(Image.open(tmp_path / n)).astype(int) for n in ("fast.jpg", "pillow.jpg"))
    assert fast.shape == slow.shape == (192, 256, 3)
    assert np.abs(fast - slow).mean() < 1.0
