"""The builtin model: frozen encoders, interface contract, devices, weights files, fusion contract."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from desktop_search.core.models import builtin
from desktop_search.core.models.base import EmbeddingModel
from desktop_search.core.models.device import cpu_threads, pick_device
from desktop_search.core.models.fusion import FUSION_KEYS, LearnedFusion
from desktop_search.core.models.preprocess import preprocess_image
from desktop_search.core.models.registry import ModelUnavailable, load_model

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def model() -> EmbeddingModel:
    import torch

    torch.set_num_threads(2)
    return load_model("builtin", device="cpu")


def _photo(seed: int, size: tuple[int, int] = (200, 150)) -> Image.Image:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, size=(8, 8, 3), dtype=np.uint8)
    return Image.fromarray(base).resize(size, Image.Resampling.BILINEAR)


def test_minilm_matches_sentence_transformers() -> None:
    import torch

    from desktop_search.core.models.minilm import MiniLM, model_dir

    st_mod = pytest.importorskip("sentence_transformers")
    texts = [
        "A dog runs along the beach .",
        "two children playing football in a park",
        "Sunset",
        "IMG_2041",
        "a very long sentence about mountains, " * 10,
    ]
    ours = MiniLM().embed(texts).numpy()
    reference = st_mod.SentenceTransformer(str(model_dir()), device="cpu")
    reference.max_seq_length = 128
    with torch.inference_mode():
        theirs = reference.encode(texts, convert_to_numpy=True)
    assert np.abs(ours - theirs).max() < 1e-4


def test_vectors_normalised_and_deterministic(model: EmbeddingModel) -> None:
    photos = [model.preprocess(_photo(i)) for i in range(5)]
    a = model.encode_images(photos)
    b = model.encode_images(photos[2:3])
    assert a.shape == (5, model.dim) and a.dtype == np.float32
    # the heads' joint space, then the concept bridge's 64 numbers and the 11 colours
    assert model.head_dim <= 256 and model.dim == model.head_dim + 64 + 11
    # image vectors: unit directions times the hubness weight (about 1, see ImageHead.weigh)
    assert (np.linalg.norm(a, axis=1) > 0.05).all() and (np.linalg.norm(a, axis=1) < 4.0).all()
    np.testing.assert_allclose(a[2], b[0], atol=1e-5)  # independent of the batch it is in
    q = model.encode_queries(["a red car", "a red car", "mountains at dusk"])
    # the heads' part is a unit vector; the concept half's length is how much a query leans on concepts
    np.testing.assert_allclose(np.linalg.norm(q[:, : model.head_dim], axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(q[0], q[1], atol=1e-6)
    pt = model.encode_photo_texts(["beach holiday", "IMG_0042"])
    assert pt.vectors.shape == (2, model.dim) and pt.gate.shape == (2,)
    assert pt.gate.dtype == np.float32 and np.isfinite(pt.gate).all()
    np.testing.assert_allclose(np.linalg.norm(pt.vectors, axis=1), 1.0, atol=1e-5)
    assert model.encode_images([]).shape == (0, model.dim)
    assert model.encode_queries([]).shape == (0, model.dim)
    assert model.encode_photo_texts([]).vectors.shape == (0, model.dim)


def test_model_identity(model: EmbeddingModel) -> None:
    assert model.name == "builtin"
    assert model.version and model.key == f"builtin@{model.version}"
    assert model.device == "cpu"
    assert model.image_size == 224


@pytest.mark.parametrize(
    "size,mode", [((1, 1), "RGB"), ((3000, 7), "RGB"), ((7, 900), "L"), ((224, 224), "RGBA"), ((301, 199), "P")]
)
def test_preprocess_odd_sizes(model: EmbeddingModel, size: tuple[int, int], mode: str) -> None:
    image = _photo(1, size).convert(mode)
    arr = model.preprocess(image.convert("RGB"))
    assert arr.shape == (224, 224, 3) and arr.dtype == np.uint8
    # modes other than RGB are converted rather than rejected
    assert preprocess_image(image, 224).shape == (224, 224, 3)


def test_preprocess_keeps_centre_and_is_thread_safe(model: EmbeddingModel) -> None:
    wide = Image.new("RGB", (448, 224), (0, 0, 255))
    wide.paste((255, 0, 0), (112, 0, 336, 224))  # red centre square, blue sides cropped away
    arr = model.preprocess(wide)
    assert (arr[..., 0] > 200).mean() > 0.95
    images = [_photo(i, (300 + i, 200 + 2 * i)) for i in range(16)]
    serial = [model.preprocess(im) for im in images]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(model.preprocess, images))
    for s, p in zip(serial, parallel, strict=True):
        assert np.array_equal(s, p)


def test_pick_device() -> None:
    import torch

    assert pick_device("cpu") == "cpu"
    auto = pick_device(None)
    assert auto in ("cuda", "mps", "cpu")
    if not torch.cuda.is_available():
        assert pick_device("cuda") == auto  # unavailable preference falls back
    assert pick_device("nonsense") == auto
    assert 1 <= cpu_threads() <= 4


def test_custom_weights_and_missing_weights(tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch) -> None:
    import torch

    from desktop_search.core.models.heads import BuiltinHeads
    from desktop_search.core.models.training import TrainResult, TrainSettings, save_weights

    settings = TrainSettings(width=64, dim=32, heads=4)
    torch.manual_seed(3)
    heads = BuiltinHeads(settings.head_config())
    out = save_weights(tmp_path / "w.safetensors", TrainResult(heads, settings, {}, 0.0))
    custom = load_model(f"builtin:{out}", device="cpu")
    assert custom.dim == 32 and custom.name == f"builtin:{out}"
    v = custom.encode_images([custom.preprocess(_photo(0))])
    assert v.shape == (1, 32)
    # the same file gives the same version; a different file a different one
    again = builtin.load_builtin(f"builtin:{out}", device="cpu")
    assert again.version == custom.version
    torch.manual_seed(4)
    other = save_weights(tmp_path / "w2.safetensors", TrainResult(BuiltinHeads(settings.head_config()), settings, {}, 0.0))
    assert builtin.load_builtin(f"builtin:{other}", device="cpu").version != custom.version

    with pytest.raises(ModelUnavailable):
        load_model(f"builtin:{tmp_path / 'missing.safetensors'}")
    (tmp_path / "bad.safetensors").write_bytes(b"not a weights file")
    with pytest.raises(ModelUnavailable):
        load_model(f"builtin:{tmp_path / 'bad.safetensors'}")

    monkeypatch.setattr(builtin, "DEFAULT_WEIGHTS", tmp_path / "absent.safetensors")
    with caplog.at_level(logging.WARNING):
        provisional = builtin.load_builtin("builtin", device="cpu")
    assert "provisional" in caplog.text and "provisional" in provisional.version
    assert provisional.encode_queries(["x"]).shape == (1, provisional.dim)


def test_no_heavy_imports_at_runtime() -> None:
    code = (
        "import sys\n"
        "from desktop_search.core.models.registry import load_model\n"
        "m = load_model('builtin', device='cpu')\n"
        "from PIL import Image\n"
        "m.encode_images([m.preprocess(Image.new('RGB', (50, 40), (9, 9, 9)))])\n"
        "m.encode_queries(['hello'])\n"
        "bad = [n for n in ('transformers', 'sentence_transformers', 'torchvision') if n in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=120)


# -- fusion ----------------------------------------------------------------------------------------
def _fusion(dim: int = 8) -> LearnedFusion:
    rng = np.random.default_rng(0)
    return LearnedFusion(
        {
            "u_img": rng.normal(size=dim),
            "u_txt": rng.normal(size=dim),
            "b_img": np.array(0.1),
            "b_txt": np.array(-0.2),
            "log_s_img": np.array(3.0),
            "log_s_txt": np.array(2.5),
            "c_txt": np.array(-1.0),
            "log_m": np.array(0.7),
            "c_none": np.array(0.3),
        }
    )


def test_fusion_contract() -> None:
    f = _fusion()
    rng = np.random.default_rng(1)
    q = rng.normal(size=8).astype(np.float32)
    n = 1000
    img = rng.uniform(-0.2, 0.6, n).astype(np.float32)
    txt = rng.uniform(-0.2, 0.8, n).astype(np.float32)
    gate = rng.normal(size=n).astype(np.float32)
    has = rng.random(n) < 0.5
    s = f.score(q, img, txt, gate, has)
    assert s.shape == (n,) and s.dtype == np.float32
    # photos without text: a fixed increasing function of the image match, whatever text/gate say
    s2 = f.score(q, img, rng.normal(size=n).astype(np.float32), rng.normal(size=n).astype(np.float32), has)
    np.testing.assert_array_equal(s[~has], s2[~has])
    order = np.argsort(img[~has])
    assert np.all(np.diff(s[~has][order]) >= 0)
    np.testing.assert_allclose(s[~has], f.image_only_score(img[~has]), rtol=1e-6)
    # the text weight depends on the query and on the photo's gate
    a1 = f.text_weight(q, gate, n)
    a2 = f.text_weight(-q, gate, n)
    assert not np.allclose(a1, a2)
    assert np.all(np.diff(f.text_weight(q, np.sort(gate), n)) >= 0)
    # a better text match never lowers a captioned photo's score
    assert np.all(f.score(q, img, txt + 0.1, gate, has)[has] >= s[has])
    # image queries: image similarity alone
    np.testing.assert_array_equal(f.score(q, img, txt, gate, has, query_is_image=True), img)


def test_fusion_numpy_scorer_matches_torch_training_twin() -> None:
    """The search-time scorer computes the same scores as the module that learns its parameters
    (the convex text term included), and a weights file from before that term gives the old formula."""
    import torch

    from desktop_search.core.models.heads import FusionParams, upgrade_state_dict

    dim, n = 16, 500
    rng = np.random.default_rng(3)
    module = FusionParams(dim)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.from_numpy(rng.normal(scale=0.3, size=tuple(p.shape))).float() + p)
    q = rng.normal(size=(3, dim)).astype(np.float32)
    img = rng.uniform(-0.2, 0.7, (3, n)).astype(np.float32)
    txt = rng.uniform(-0.2, 0.9, (3, n)).astype(np.float32)
    gate = rng.normal(size=n).astype(np.float32)
    has = rng.random(n) < 0.6
    with torch.no_grad():
        want = module(*map(torch.from_numpy, (q, img, txt, gate, has))).numpy()
    scorer = LearnedFusion({k: v.detach().numpy() for k, v in module.state_dict().items()})
    got = np.stack([scorer.score(q[i], img[i], txt[i], gate, has) for i in range(3)])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)

    old = {k: v for k, v in module.state_dict().items() if k in FUSION_KEYS}
    upgraded = upgrade_state_dict({f"fusion.{k}": v for k, v in old.items()})
    fresh = FusionParams(dim)
    fresh.load_state_dict({k.split(".", 1)[1]: v for k, v in upgraded.items()})
    with torch.no_grad():
        d = q @ (old["u_txt"] - old["u_img"]).numpy() + float(old["b_txt"] - old["b_img"])
        a = 1 / (1 + np.exp(-(d[:, None] + gate[None, :])))
        z_img = np.exp(float(old["log_s_img"])) * img
        z_txt = np.exp(float(old["log_s_txt"])) * txt + float(old["c_txt"])
        mixed = np.exp(float(old["log_m"])) * ((1 - a) * z_img + a * z_txt)
        classic = np.where(has[None, :], mixed, z_img + float(old["c_none"]))
        np.testing.assert_allclose(fresh(*map(torch.from_numpy, (q, img, txt, gate, has))).numpy(), classic, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(LearnedFusion({k: v.numpy() for k, v in old.items()}).score(q[0], img[0], txt[0], gate, has), classic[0], rtol=1e-4, atol=1e-4)


def test_shipped_fusion_rewards_better_matches() -> None:
    """With the shipped parameters a captioned photo's score never drops when its text or its image
    matches the query better, over the whole range of similarities (this checks the learned ν ≥ 0
    and the float32 arithmetic)."""
    model = builtin.load_builtin("builtin", device="cpu")
    f = model.fusion
    rng = np.random.default_rng(4)
    grid = np.linspace(-0.6, 1.0, 161, dtype=np.float32)
    gates = np.full(grid.size, 0.0, np.float32)
    has = np.ones(grid.size, bool)
    for _ in range(20):
        q = rng.normal(size=model.dim).astype(np.float32)
        q /= np.linalg.norm(q)
        for g in (-4.0, 0.0, 4.0):
            gates[:] = g
            for other in (-0.4, -0.1, 0.2, 0.5, 0.8):
                fixed = np.full(grid.size, other, np.float32)
                assert np.all(np.diff(f.score(q, fixed, grid, gates, has)) >= -1e-4)
                assert np.all(np.diff(f.score(q, grid, fixed, gates, has)) >= -1e-4)


def test_fusion_speed() -> None:
    f = _fusion(256)
    rng = np.random.default_rng(2)
    n = 100_000
    q = rng.normal(size=256).astype(np.float32)
    img, txt, gate = (rng.normal(size=n).astype(np.float32) for _ in range(3))
    has = rng.random(n) < 0.3
    f.score(q, img, txt, gate, has)
    t = time.perf_counter()
    for _ in range(10):
        f.score(q, img, txt, gate, has)
    per_call_ms = (time.perf_counter() - t) * 100
    assert per_call_ms < 25, per_call_ms  # a few ms per 100k photos on a laptop; loose for shared CI


def test_shipped_weights_present() -> None:
    path = builtin.DEFAULT_WEIGHTS
    if not path.exists():
        pytest.skip("trained weights not shipped yet")
    assert path.stat().st_size < 16 * 1024 * 1024  # small beside the frozen encoders (18 + 91 MB)
    m = builtin.load_builtin("builtin", device="cpu")
    assert m.trained and m.head_dim <= 256 and m.dim == m.head_dim + 64 + 11  # the heads, the concept bridge, the colours
