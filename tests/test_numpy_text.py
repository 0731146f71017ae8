"""The builtin model's numpy text encoder (core/models/numpy_text.py) against the torch modules it
mirrors: MiniLM's token states and the text head's query vectors, on the real weights; the other head
shapes (one branch, no attention pooling, no MLP, old key names) on seeded heads."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytestmark = pytest.mark.timeout(300)

QUERIES = [
    "a dog running on the beach",
    "red",
    "",  # [CLS] [SEP] only
    "   ",
    "?!",
    "🐕🌊",
    "Zwei Hunde spielen im Schnee, café crème, naïve façade",
    "夕焼けの海辺を走る犬",
    "кошка на диване",
    "كلب على الشاطئ",
    "A MAN RIDING A BIKE DOWN A MOUNTAIN TRAIL AT SUNSET",
    "two children playing football in a park at sunset while their parents watch from a bench",
    " ".join(f"word{i} tree house" for i in range(80)),  # far over 128 tokens: truncated
    "photo 2019-07-04 IMG_0042.JPG",
]


@pytest.fixture(scope="module")
def model():  # type: ignore[no-untyped-def]
    from desktop_search.core.models import builtin

    m = builtin.load_builtin("builtin", device="cpu")
    yield m
    m.close()


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(1)


def test_the_numpy_query_vectors_are_torch_s(model, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DESKTOP_SEARCH_MULTILINGUAL", "0")  # the MiniLM path for every query, as torch's
    encoder = model._numpy_encoder()
    ids, _ = encoder.minilm.tokenize([QUERIES[-2]])
    assert ids.shape[1] == 128  # the long query is truncated as in minilm
    want = model._torch_queries(QUERIES)  # one padded batch, as torch runs them
    one_by_one = np.concatenate([model.encode_queries([q]) for q in QUERIES])
    batched = model.encode_queries(QUERIES)  # padded and masked
    for got in (one_by_one, batched):
        cos = cosines(got, want)
        assert cos.min() >= 0.99999, dict(zip(QUERIES, cos.round(7).tolist(), strict=True))
        assert np.abs(got - want).max() < 1e-4
        # the heads' part is a unit vector (the concept half after it is weighed by its length)
        assert np.allclose(np.linalg.norm(got[:, : model.head_dim], axis=1), 1.0, atol=1e-5)
    assert model.encode_queries([]).shape == (0, model.dim)
    # the search path on the CPU stays on numpy, also once torch's heads are built (one code path)
    assert model._heads is not None and not model.torch_queries
    assert model.fusion.query_logit(batched[0]) == pytest.approx(model.fusion.query_logit(want[0]), abs=1e-3)


def test_queries_on_two_cpu_threads_give_the_same_vectors(model, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """While the machine has an idle core and the library is not indexing, a text query may run on
    torch with two threads (once its text modules are built); the vectors are the numpy ones."""
    import torch

    from desktop_search.core.search import searcher

    single = model.encode_queries(QUERIES[:4])
    model.prepare_parallel_queries()
    model.cpu_query_threads = 2
    try:
        torch.set_num_threads(1)
        double = np.concatenate([model.encode_queries([q]) for q in QUERIES[:4]])
        assert torch.get_num_threads() == 1  # restored for the search's int8 scan
    finally:
        model.cpu_query_threads = 1
    assert cosines(single, double).min() >= 0.99999

    monkeypatch.setattr(searcher, "available_cores", lambda: 2)
    monkeypatch.setattr(searcher.os, "getloadavg", lambda: (0.7, 1.0, 1.2))
    assert searcher._query_threads(indexing=False) == 2
    assert searcher._query_threads(indexing=True) == 1  # the indexing workers have the cores
    monkeypatch.setattr(searcher.os, "getloadavg", lambda: (2.4, 1.0, 1.2))
    assert searcher._query_threads(indexing=False) == 1  # other programs are busy: threads would stall
    monkeypatch.setattr(searcher, "available_cores", lambda: 1)
    monkeypatch.setattr(searcher.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert searcher._query_threads(indexing=False) == 1


def test_the_numpy_minilm_states_are_torch_s(model) -> None:  # type: ignore[no-untyped-def]
    import torch

    np_minilm = model._numpy_encoder().minilm
    texts = QUERIES[:6] + QUERIES[-3:]
    ids, mask = np_minilm.tokenize(texts)
    t_ids, t_mask = model._text_encoder.tokenize(texts)
    assert np.array_equal(ids, t_ids.numpy()) and np.array_equal(mask, t_mask.numpy().astype(bool))
    got = np_minilm.forward(ids, mask)
    with torch.inference_mode():
        want = model._text_encoder(t_ids, t_mask).float().numpy()
    real = mask
    assert np.abs(got[real] - want[real]).max() < 2e-4
    assert cosines(got[real], want[real]).min() >= 0.99999


def test_erf_and_gelu() -> None:
    from desktop_search.core.models.numpy_text import erf, gelu

    x = np.linspace(-6, 6, 20001, dtype=np.float32)
    want = np.array([math.erf(v) for v in x.astype(np.float64)])
    assert np.abs(erf(x) - want).max() < 6e-7  # A&S 7.1.26 (1.5e-7) plus float32 rounding
    g = gelu(x.copy())
    assert np.abs(g - 0.5 * x * (1 + np.array([math.erf(v / math.sqrt(2)) for v in x.astype(np.float64)]))).max() < 2e-6


@pytest.mark.parametrize(
    "overrides",
    [{"members": 1}, {"members": 2, "attn_pool": False}, {"members": 4, "mlp_ratio": 0.0}, {"members": 1, "heads": 4}],
    ids=["one-branch", "no-attention-pooling", "no-mlp", "four-pool-heads"],
)
def test_other_head_shapes(overrides: dict) -> None:  # type: ignore[type-arg]
    import torch

    from desktop_search.core.models.heads import BuiltinHeads, HeadConfig
    from desktop_search.core.models.numpy_text import NumpyTextHead

    cfg = HeadConfig(dim=64, width=64, **overrides)
    torch.manual_seed(1)
    heads = BuiltinHeads(cfg).eval()
    with torch.no_grad():  # trained-looking norms and biases (fresh ones are exactly 1 and 0)
        for name, p in heads.text.named_parameters():
            if "norm" in name or name.endswith("bias"):
                p.add_(torch.randn_like(p) * 0.2)
    state = {k: v.numpy() for k, v in heads.state_dict().items()}
    rng = np.random.default_rng(0)
    states = rng.standard_normal((3, 7, 384)).astype(np.float32)
    mask = np.ones((3, 7), dtype=bool)
    mask[1, 4:] = False
    mask[2, 2:] = False
    with torch.inference_mode():
        want = heads.text(torch.from_numpy(states), torch.from_numpy(mask.astype(np.int64))).numpy()
    got = NumpyTextHead(state, cfg.to_dict())(states, mask)
    assert got.shape == want.shape == (3, 64)
    assert np.abs(got - want).max() < 1e-5
    if cfg.members == 1:  # weights files written before heads had branches: text.trunk.…, text.proj.…
        old = {k.replace("text.branches.", "text."): v for k, v in state.items()}
        assert np.abs(NumpyTextHead(old, cfg.to_dict())(states, mask) - want).max() < 1e-5
