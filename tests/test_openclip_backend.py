"""The open_clip backend end to end on a tiny random-weight CLIP served from a loopback hub.

A few-layer ViT (width 64) with a tiny text tower is registered with open_clip from a config file, its
random weights saved with safetensors (a few MB) and served like the hub serves open_clip weights.
No test touches the internet; caches live under tmp_path (DESKTOP_SEARCH_HOME).
"""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from desktop_search.core.models import catalog, download
from desktop_search.core.models.base import EmbeddingModel, FusionScorer
from desktop_search.core.models.catalog import CatalogEntry, WeightsFile
from desktop_search.core.models.download import Offline
from desktop_search.core.models.registry import ModelUnavailable, load_model
from tests.loopback_hub import LoopbackHub, closed_port_url

open_clip = pytest.importorskip("open_clip")
torch = pytest.importorskip("torch")

TINY = "TinyTest-ViT"
TINY_HF = "TinyTest-HFTok"
REPO = "test-org/TinyTest-OpenCLIP"
TOK_REPO = "test-org/TinyTest-Tokenizer"
TINY_CFG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}
WORDS = ["[PAD]", "[UNK]", "</s>", "a", "dog", "cat", "on", "the", "beach", "photo", "of", "red", "car"]
TINY_HF_CFG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "head_width": 32, "patch_size": 16},
    "text_cfg": {
        "context_length": 8,
        "vocab_size": len(WORDS),
        "width": 32,
        "heads": 2,
        "layers": 1,
        "hf_tokenizer_name": TOK_REPO,
        "tokenizer_kwargs": {"clean": "canonicalize"},
    },
}


@pytest.fixture(autouse=True)
def _never_the_real_hub(monkeypatch):
    """Whatever a test forgets, downloads go to a dead loopback port, never to the internet."""
    monkeypatch.setenv(download.HUB_ENV, closed_port_url())


def _state_bytes(arch: str, seed: int) -> bytes:
    from safetensors.torch import save

    torch.manual_seed(seed)
    net = open_clip.create_model(arch, pretrained=None)
    return save({k: v.contiguous() for k, v in net.state_dict().items()})


@pytest.fixture(scope="session")
def tiny_files(tmp_path_factory):
    """Register the tiny architectures with open_clip; build their weights and tokenizer files once."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    cfg_dir = tmp_path_factory.mktemp("openclip_cfg")
    (cfg_dir / f"{TINY}.json").write_text(json.dumps(TINY_CFG))
    (cfg_dir / f"{TINY_HF}.json").write_text(json.dumps(TINY_HF_CFG))
    open_clip.add_model_config(cfg_dir)

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok_dir = tmp_path_factory.mktemp("tok")
    tok.save(str(tok_dir / "tokenizer.json"))
    tok_config = {"tokenizer_class": "PreTrainedTokenizerFast", "pad_token": "[PAD]", "unk_token": "[UNK]"}
    return {
        "weights": _state_bytes(TINY, 0),
        "weights_hf": _state_bytes(TINY_HF, 1),
        "tokenizer.json": (tok_dir / "tokenizer.json").read_bytes(),
        "tokenizer_config.json": json.dumps(tok_config).encode(),
    }


@pytest.fixture
def hub(tiny_files, monkeypatch):
    with LoopbackHub() as server:
        monkeypatch.setenv(download.HUB_ENV, server.url)
        yield server


@pytest.fixture
def entry(tiny_files):
    entry = CatalogEntry(
        arch=TINY,
        pretrained="random",
        hf_repo=REPO,
        weights=(WeightsFile("open_clip_model.safetensors"), WeightsFile("open_clip_pytorch_model.bin")),
        size_mb=7,
        speed="fast",
        image_size=32,
        dim=32,
    )
    catalog.register(entry)
    yield entry
    catalog.unregister(entry.name)


def _photo(seed: int, size=(50, 37)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def _reference_vectors(weights_path, images, texts):
    """What open_clip's own loader, torchvision transform and tokenizer give for the same inputs."""
    ref = open_clip.create_model(TINY, pretrained=str(weights_path)).eval()
    transform = open_clip.transform.image_transform_v2(
        open_clip.transform.PreprocessCfg(**ref.visual.preprocess_cfg), is_train=False
    )
    with torch.no_grad():
        img = ref.encode_image(torch.stack([transform(i) for i in images]), normalize=True)
        txt = ref.encode_text(open_clip.get_tokenizer(TINY)(texts), normalize=True)
    return img.numpy(), txt.numpy()


def test_load_clip_downloads_and_encodes_like_open_clip(hub, entry, tiny_files, monkeypatch):
    from desktop_search.core.models.openclip_backend import OpenClipModel, load_clip

    hub.state.add(REPO, "open_clip_model.safetensors", tiny_files["weights"])
    progress: list[tuple[int, int | None]] = []
    model = load_clip(entry.name, device="cpu", progress=lambda d, t: progress.append((d, t)))

    assert isinstance(model, EmbeddingModel) and isinstance(model, OpenClipModel)
    assert progress[-1] == (len(tiny_files["weights"]),) * 2
    assert (model.name, model.dim, model.image_size, model.device) == (entry.name, 32, 32, "cpu")
    assert model.key.startswith(f"{entry.name}@random.") and model.key.endswith(".pp1")
    assert isinstance(model.fusion, FusionScorer)

    images = [_photo(1), _photo(2, (20, 90)), _photo(3).convert("L")]
    arrays = [model.preprocess(im) for im in images]
    assert all(a.shape == (3, 32, 32) and a.dtype == np.float32 for a in arrays)
    vectors = model.encode_images(arrays)
    assert vectors.shape == (3, 32) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)

    texts = ["a dog on the beach", "a red car", ""]
    queries = model.encode_queries(texts)
    assert queries.shape == (3, 32)
    np.testing.assert_allclose(np.linalg.norm(queries, axis=1), 1.0, atol=1e-5)
    photo_texts = model.encode_photo_texts(texts[:2])
    assert photo_texts.vectors.shape == (2, 32) and photo_texts.gate.shape == (2,)
    np.testing.assert_allclose(photo_texts.vectors, queries[:2], atol=1e-6)
    assert model.encode_images([]).shape == (0, 32) and model.encode_queries([]).shape == (0, 32)

    weights = catalog.cached_weights(entry.arch, entry.pretrained)
    ref_img, ref_txt = _reference_vectors(weights, [im.convert("RGB") for im in images], texts)
    np.testing.assert_allclose(vectors, ref_img, atol=1e-5)
    np.testing.assert_allclose(queries, ref_txt, atol=1e-5)

    # cached now: the registry loads it with the network gone
    monkeypatch.setenv(download.HUB_ENV, closed_port_url())
    again = load_model(entry.name, device="cpu")
    assert again.key == model.key
    np.testing.assert_allclose(again.encode_images(arrays[:1]), vectors[:1], atol=1e-6)


def test_catalogued_but_not_downloaded_offline_is_clean(entry, monkeypatch):
    monkeypatch.setenv(download.HUB_ENV, closed_port_url())
    with pytest.raises(Offline) as info:
        load_model(entry.name, device="cpu")
    assert "\n" not in str(info.value) and "cannot reach" in str(info.value)


def test_uncatalogued_model_loads_from_cache_folder(tiny_files, monkeypatch):
    from desktop_search.core.models.openclip_backend import load_clip

    monkeypatch.setenv(download.HUB_ENV, closed_port_url())
    folder = catalog.model_dir(TINY, "hand-copied")
    folder.mkdir(parents=True)
    (folder / "open_clip_model.safetensors").write_bytes(tiny_files["weights"])
    model = load_clip(f"clip:{TINY}/hand-copied", device="cpu")
    assert model.encode_images([model.preprocess(_photo(4))]).shape == (1, 32)
    assert (folder / "open_clip_model.safetensors.sha256").is_file()  # digest computed once, kept


def test_unknown_model_is_unavailable(monkeypatch):
    monkeypatch.setenv(download.HUB_ENV, closed_port_url())
    with pytest.raises(ModelUnavailable, match="unknown CLIP model"):
        load_model(f"clip:{TINY}/no-such-tag", device="cpu")
    with pytest.raises(ModelUnavailable, match="malformed"):
        load_model("clip:no-slash", device="cpu")


def test_pickled_weights_load_weights_only_and_code_is_refused(tiny_files, tmp_path):
    from safetensors.torch import load

    from desktop_search.core.models.openclip_backend import load_clip

    folder = catalog.model_dir(TINY, "pickled")
    folder.mkdir(parents=True)
    buffer = io.BytesIO()
    torch.save({"state_dict": load(tiny_files["weights"])}, buffer)
    (folder / "open_clip_pytorch_model.bin").write_bytes(buffer.getvalue())
    assert load_clip(f"clip:{TINY}/pickled", device="cpu").dim == 32

    evil = catalog.model_dir(TINY, "evil")
    evil.mkdir(parents=True)
    marker = tmp_path / "pwned"
    torch.save({"x": _Evil(str(marker))}, evil / "open_clip_pytorch_model.bin")
    with pytest.raises(ModelUnavailable, match="cannot read weights"):
        load_clip(f"clip:{TINY}/evil", device="cpu")
    assert not marker.exists()


class _Evil:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (shutil.copy, (__file__, self.path))


def test_weights_for_another_architecture_are_refused(tiny_files):
    from desktop_search.core.models.openclip_backend import load_clip

    folder = catalog.model_dir(TINY, "wrong")
    folder.mkdir(parents=True)
    (folder / "open_clip_model.safetensors").write_bytes(tiny_files["weights_hf"])
    with pytest.raises(ModelUnavailable, match=r"does not fit|cannot read|size mismatch"):
        load_clip(f"clip:{TINY}/wrong", device="cpu")


def test_hf_tokenizer_model_uses_downloaded_tokenizer_files(hub, tiny_files, monkeypatch):
    """The SigLIP path: the text tower's HF tokenizer comes from files fetched beside the weights."""
    from desktop_search.core.models.openclip_backend import load_clip

    pytest.importorskip("transformers")
    hub.state.add(REPO, "open_clip_model.safetensors", tiny_files["weights_hf"])
    hub.state.add(TOK_REPO, "tokenizer.json", tiny_files["tokenizer.json"], lfs=False)
    hub.state.add(TOK_REPO, "tokenizer_config.json", tiny_files["tokenizer_config.json"], lfs=False)
    entry = CatalogEntry(
        arch=TINY_HF,
        pretrained="random",
        hf_repo=REPO,
        weights=(WeightsFile("open_clip_model.safetensors"),),
        size_mb=1,
        speed="fast",
        image_size=32,
        dim=32,
        tokenizer_files=("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"),
        tokenizer_repo=TOK_REPO,
    )
    catalog.register(entry)
    try:
        model = load_clip(entry.name, device="cpu")
        queries = model.encode_queries(["a dog on the beach", "A photo of a CAT"])
        assert queries.shape == (2, 32)
        np.testing.assert_allclose(np.linalg.norm(queries, axis=1), 1.0, atol=1e-5)

        # not catalogued, weights copied by hand: the tokenizer repo comes from the architecture's config
        folder = catalog.model_dir(TINY_HF, "hand-copied")
        folder.mkdir(parents=True)
        (folder / "open_clip_model.safetensors").write_bytes(tiny_files["weights_hf"])
        other = load_clip(f"clip:{TINY_HF}/hand-copied", device="cpu")
        assert (folder / "tokenizer.json").is_file()
        np.testing.assert_allclose(other.encode_queries(["a dog on the beach"]), queries[:1], atol=1e-6)

        # weights present, required tokenizer file gone, offline: one clean line
        (catalog.model_dir(TINY_HF, "random") / "tokenizer.json").unlink()
        monkeypatch.setenv(download.HUB_ENV, closed_port_url())
        with pytest.raises(Offline):
            load_clip(entry.name, device="cpu")
    finally:
        catalog.unregister(entry.name)


@pytest.mark.parametrize(
    ("size", "mode", "interpolation"),
    [
        (32, "shortest", "bicubic"),
        (24, "shortest", "bilinear"),
        (32, "squash", "bicubic"),
        (28, "longest", "bicubic"),
    ],
)
def test_preprocess_matches_open_clip_transform(size, mode, interpolation):
    pytest.importorskip("torchvision")
    from desktop_search.core.models.openclip_backend import clip_preprocess

    mean, std = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
    transform = open_clip.transform.image_transform(
        size, is_train=False, mean=mean, std=std, resize_mode=mode, interpolation=interpolation
    )
    for i, shape in enumerate([(50, 37), (37, 50), (33, 33), (101, 19), (20, 20)]):
        image = _photo(10 + i, shape)
        ours = clip_preprocess(image, size, mean, std, interpolation=interpolation, resize_mode=mode)
        theirs = transform(image).numpy()
        assert ours.shape == theirs.shape == (3, size, size)
        np.testing.assert_allclose(ours, theirs, atol=1e-5, err_msg=f"{shape} {mode}")


def test_calibrated_max_scorer():
    from desktop_search.core.models.openclip_backend import CalibratedMaxScorer

    rng = np.random.default_rng(0)
    n = 200
    image = rng.normal(0.2, 0.03, n).astype(np.float32)
    text = rng.normal(0.6, 0.1, n).astype(np.float32)
    has_text = np.zeros(n, bool)
    has_text[:50] = True
    text[7], image[7] = 0.99, 0.15  # a photo whose caption matches the query very well
    scorer = CalibratedMaxScorer()
    q = np.zeros(4, np.float32)

    fused = scorer.score(q, image, text, np.zeros(n, np.float32), has_text)
    assert fused.dtype == np.float32 and fused.shape == (n,)
    np.testing.assert_array_equal(fused[~has_text], image[~has_text])  # no text: image similarity as is
    assert np.all(fused >= image)
    assert int(np.argmax(fused)) == 7  # the caption match wins, on the image-similarity scale
    assert fused.max() < 0.5
    np.testing.assert_array_equal(scorer.score(q, image, text, None, has_text, query_is_image=True), image)
    few = np.zeros(n, bool)
    few[:3] = True
    np.testing.assert_array_equal(scorer.score(q, image, text, None, few), image)


def test_catalog_agrees_with_open_clip():
    """Each curated entry names weights open_clip itself lists for that tag, with matching shapes."""
    for entry in catalog.CATALOG:
        cfg = open_clip.get_model_config(entry.arch)
        pretrained = open_clip.get_pretrained_cfg(entry.arch, entry.pretrained)
        assert cfg and pretrained, entry.name
        assert pretrained["hf_hub"].rstrip("/") == entry.hf_repo
        assert (cfg["embed_dim"], cfg["vision_cfg"]["image_size"]) == (entry.dim, entry.image_size)
        hf_tokenizer = cfg["text_cfg"].get("hf_tokenizer_name")
        assert bool(hf_tokenizer) == bool(entry.tokenizer_files)
        if hf_tokenizer:
            assert hf_tokenizer == (entry.tokenizer_repo or entry.hf_repo)
