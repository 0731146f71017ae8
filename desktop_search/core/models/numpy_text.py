"""Search queries of the builtin model in numpy: MiniLM and the trained text head, without torch.

Importing torch costs ~2.8 s of start-up on the development machine, more than everything else on the
way to the first result; a text query needs only MiniLM and the small text head, so this module
answers it with numpy float32 (weights read with ``safetensors.numpy``, tokens from ``tokenizers``).

It mirrors, read-only, two torch modules and must stay in step with them:

* :class:`NumpyMiniLM` = ``minilm.MiniLM.forward``: a 6-layer BERT (hidden 384, 12 heads, GELU with
  erf, LayerNorm eps 1e-12), the same tokenizer settings (truncated to 128 tokens, padded to the
  longest text of a batch, masked);
* :class:`NumpyTextHead` = ``heads.TextHead``: per branch (``members``) a ``_Trunk`` (LayerNorm +
  linear of the masked mean, attention pooling over the projected tokens with queries shifted by the
  global part, a residual GELU MLP, a LayerNorm), a projection and L2 normalisation; the branches
  concatenated and divided by sqrt(members) (``heads.combine``).

tests/test_numpy_text.py checks both against torch on real weights (cosine >= 0.99999).

On the CPU this is also faster than torch per query (see docs/BENCHMARKS.md); the builtin model uses
it for every text query there, and torch on CUDA / MPS once torch is loaded for other work.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .minilm_files import MiniLMTokenizer, model_dir

#: ``nn.LayerNorm``'s default, used by the heads
HEAD_LN_EPS = 1e-5
#: ``HeadConfig.heads``' default (attention-pooling heads), for weights files whose config lacks it
DEFAULT_POOL_HEADS = 8

_SQRT_HALF = np.float32(1.0 / math.sqrt(2.0))


# -- building blocks (float32 in, float32 out) ---------------------------------------------------
def _f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    xc = x - mean
    var = np.mean(np.square(xc), -1, keepdims=True)
    xc *= 1.0 / np.sqrt(var + np.float32(eps))
    xc *= weight
    xc += bias
    return xc


def erf(x: np.ndarray) -> np.ndarray:
    """erf in float32 (Abramowitz & Stegun 7.1.26, |error| <= 1.5e-7; numpy has no erf)."""
    a = np.abs(x)
    t = 1.0 / (1.0 + np.float32(0.3275911) * a)
    poly = np.float32(1.061405429) * t
    poly += np.float32(-1.453152027)
    poly *= t
    poly += np.float32(1.421413741)
    poly *= t
    poly += np.float32(-0.284496736)
    poly *= t
    poly += np.float32(0.254829592)
    poly *= t
    y = np.exp(-(a * a))
    y *= poly
    np.subtract(1.0, y, out=y)
    return np.copysign(y, x, out=y)


def gelu(x: np.ndarray) -> np.ndarray:
    """GELU with erf (torch's default), in place."""
    g = erf(x * _SQRT_HALF)
    g += 1.0
    g *= 0.5
    x *= g
    return x


#: most multiply-adds in one BLAS call. OpenBLAS (numpy's) runs larger products on several threads,
#: and on a busy machine each such call waits for a descheduled thread at its end (a query then took
#: 50-500 ms instead of 20-30 at load 3 on 2 cores); up to ~786,000 it stays on the calling thread.
MAX_CALL_MACS = 1 << 19


def linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """``nn.Linear``: x (..., in) with weight (out, in) as stored.

    A query has a few tokens: computed as weight @ x.T by blocks of rows (each a C-contiguous view),
    which OpenBLAS runs ~1.5-2x faster than x @ weight.T on one thread here, and small enough to stay
    on this thread (:data:`MAX_CALL_MACS`). A single row goes in as two equal columns: a
    matrix-vector product (gemv) would be threaded from far smaller sizes.
    """
    shape = x.shape
    xt = x.reshape(-1, shape[-1]).T
    n = xt.shape[1]
    xt = np.repeat(xt, 2, axis=1) if n == 1 else np.ascontiguousarray(xt)
    rows, k = weight.shape
    step = max(8, MAX_CALL_MACS // (k * xt.shape[1]))
    out = np.empty((rows, xt.shape[1]), dtype=np.float32)
    for start in range(0, rows, step):
        np.matmul(weight[start : start + step], xt, out=out[start : start + step])
    y = out[:, :n].T
    y = y + bias if bias is not None else np.ascontiguousarray(y)
    return y.reshape(*shape[:-1], rows)


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in place; -inf entries get 0."""
    x -= x.max(-1, keepdims=True)
    np.exp(x, out=x)
    x /= x.sum(-1, keepdims=True)
    return x


def normalize(x: np.ndarray) -> np.ndarray:
    """``F.normalize(x, dim=-1)``."""
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), np.float32(1e-12))


def masked_mean(states: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``heads.masked_mean``: mean over the real tokens (B, T, C) → (B, C)."""
    m = mask.astype(np.float32)[..., None]
    return (states * m).sum(1) / np.maximum(m.sum(1), np.float32(1.0))


# -- MiniLM ---------------------------------------------------------------------------------------
class _Layer:
    def __init__(self, sd: Mapping[str, np.ndarray], i: int, heads: int, eps: float) -> None:
        p = f"encoder.layer.{i}."

        def w(name: str) -> np.ndarray:
            return _f32(sd[p + name])

        self.heads, self.eps = heads, eps
        att = "attention.self."
        self.wqkv = np.concatenate([w(att + n + ".weight") for n in ("query", "key", "value")])
        self.bqkv = np.concatenate([w(att + n + ".bias") for n in ("query", "key", "value")])
        self.wo, self.bo = w("attention.output.dense.weight"), w("attention.output.dense.bias")
        self.ln1 = w("attention.output.LayerNorm.weight"), w("attention.output.LayerNorm.bias")
        self.w1, self.b1 = w("intermediate.dense.weight"), w("intermediate.dense.bias")
        self.w2, self.b2 = w("output.dense.weight"), w("output.dense.bias")
        self.ln2 = w("output.LayerNorm.weight"), w("output.LayerNorm.bias")

    def __call__(self, x: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
        b, t, d = x.shape
        h = self.heads
        qkv = linear(x, self.wqkv, self.bqkv).reshape(b, t, 3, h, d // h).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # (b, h, t, dh)
        scores = q @ k.transpose(0, 1, 3, 2)
        scores *= np.float32(1.0 / math.sqrt(d // h))
        if bias is not None:
            scores += bias
        att = (softmax(scores) @ v).transpose(0, 2, 1, 3).reshape(b, t, d)
        y = linear(att, self.wo, self.bo)
        y += x
        x = layer_norm(y, *self.ln1, self.eps)
        y = linear(gelu(linear(x, self.w1, self.b1)), self.w2, self.b2)
        y += x
        return layer_norm(y, *self.ln2, self.eps)


class NumpyMiniLM:
    """Frozen all-MiniLM-L6-v2 token states in numpy float32 (``minilm.MiniLM`` without torch)."""

    def __init__(self, folder: Path | None = None) -> None:
        from safetensors.numpy import load_file

        folder = folder or model_dir()
        cfg = json.loads((folder / "config.json").read_text())
        heads = int(cfg["num_attention_heads"])
        self.eps = eps = float(cfg.get("layer_norm_eps", 1e-12))
        self.hidden = int(cfg["hidden_size"])
        sd = load_file(str(folder / "model.safetensors"))
        self.word = _f32(sd["embeddings.word_embeddings.weight"])
        self.pos = _f32(sd["embeddings.position_embeddings.weight"])
        self.tok_type0 = _f32(sd["embeddings.token_type_embeddings.weight"][0])
        self.ln = _f32(sd["embeddings.LayerNorm.weight"]), _f32(sd["embeddings.LayerNorm.bias"])
        self.layers = [_Layer(sd, i, heads, eps) for i in range(int(cfg["num_hidden_layers"]))]
        self.tokenize = MiniLMTokenizer(folder)  # (ids int64, mask bool), as ``MiniLM.tokenize``

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Token states (B, T, hidden) float32."""
        t = ids.shape[1]
        x = self.word[ids]
        x += self.pos[:t]
        x += self.tok_type0
        x = layer_norm(x, *self.ln, self.eps)
        bias = None
        if not mask.all():  # padding: masked out of every token's attention
            bias = np.where(mask, np.float32(0.0), np.float32(-np.inf))[:, None, None, :]
        for layer in self.layers:
            x = layer(x, bias)
        return x


# -- the text head --------------------------------------------------------------------------------
class _Trunk:
    """``heads._Trunk`` (eval mode: dropout is the identity)."""

    def __init__(self, sd: Mapping[str, np.ndarray], p: str, pool_heads: int) -> None:
        def w(name: str) -> np.ndarray:
            return _f32(sd[p + name])

        self.glob_norm = w("glob_norm.weight"), w("glob_norm.bias")
        self.glob = w("glob.weight"), w("glob.bias")
        self.pool = p + "pool.query" in sd
        if self.pool:
            self.heads = pool_heads
            self.tok_in_norm = w("tok_in_norm.weight"), w("tok_in_norm.bias")
            self.tok = w("tok.weight"), w("tok.bias")
            self.tok_norm = w("tok_norm.weight"), w("tok_norm.bias")
            self.query = w("pool.query")
            self.q_from_global = w("pool.q_from_global.weight"), w("pool.q_from_global.bias")
            self.k = w("pool.k.weight"), w("pool.k.bias")
            self.v = w("pool.v.weight"), w("pool.v.bias")
            self.out = w("pool.out.weight"), w("pool.out.bias")
        self.mlp = p + "mlp.0.weight" in sd  # absent: mlp_ratio 0 (heads._Zero)
        if self.mlp:
            self.mlp_norm = w("mlp_norm.weight"), w("mlp_norm.bias")
            self.fc1 = w("mlp.0.weight"), w("mlp.0.bias")
            self.fc2 = w("mlp.3.weight"), w("mlp.3.bias")
        self.out_norm = w("out_norm.weight"), w("out_norm.bias")

    def _attn_pool(self, toks: np.ndarray, glob: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """``heads.AttnPool.forward`` (the query folded into the key weights, values after pooling)."""
        b, _, w = toks.shape
        h = self.heads
        dh = w // h
        q = (self.query + linear(glob, *self.q_from_global)).reshape(b, h, dh)
        wk, bk = self.k
        qk = np.einsum("bhd,hdw->bhw", q, wk.reshape(h, dh, w))
        logits = qk @ toks.transpose(0, 2, 1)  # (b, h, t)
        logits += (q * bk.reshape(h, dh)).sum(-1, keepdims=True)
        logits *= np.float32(1.0 / math.sqrt(dh))
        logits = np.where(mask[:, None, :], logits, np.float32(-np.inf))
        pooled_tokens = softmax(logits) @ toks  # (b, h, w)
        wv, bv = self.v
        pooled = np.einsum("bhw,hdw->bhd", pooled_tokens, wv.reshape(h, dh, w)) + bv.reshape(h, dh)
        return linear(pooled.reshape(b, w), *self.out)

    def __call__(self, glob: np.ndarray, tokens: np.ndarray, mask: np.ndarray) -> np.ndarray:
        h = linear(layer_norm(glob, *self.glob_norm, HEAD_LN_EPS), *self.glob)
        if self.pool:
            toks = layer_norm(linear(layer_norm(tokens, *self.tok_in_norm, HEAD_LN_EPS), *self.tok),
                              *self.tok_norm, HEAD_LN_EPS)
            h = h + self._attn_pool(toks, h, mask)
        if self.mlp:
            h = h + linear(gelu(linear(layer_norm(h, *self.mlp_norm, HEAD_LN_EPS), *self.fc1)), *self.fc2)
        return layer_norm(h, *self.out_norm, HEAD_LN_EPS)


def branched_key(key: str) -> str:
    """A heads weights key as written since heads have branches: ``text.trunk.…`` / ``text.proj.…``
    of older files (any head) → ``text.branches.trunk.…``; other keys unchanged. Torch-free, so
    ``heads.upgrade_state_dict`` and this module rename alike."""
    for head in ("image.", "text.", "photo_text."):
        for part in ("trunk.", "proj."):
            if key.startswith(head + part):
                return head + "branches." + key[len(head) :]
    return key


def _head_keys(state: Mapping[str, np.ndarray], head: str) -> dict[str, np.ndarray]:
    """The ``head.`` entries, keys as :func:`branched_key` gives them."""
    return {branched_key(key): value for key, value in state.items() if key.startswith(head)}


class NumpyTextHead:
    """``heads.TextHead`` (or any head of the same recipe, by its key prefix) in numpy float32."""

    def __init__(self, state: Mapping[str, np.ndarray], config: Mapping[str, object], head: str = "text.") -> None:
        sd = _head_keys(state, head)
        pool_heads = int(config.get("heads", DEFAULT_POOL_HEADS))  # type: ignore[call-overload]
        p = head + "branches."
        if p + "trunk.glob.weight" in sd:
            names = [(p + "trunk.", p + "proj.")]
        else:
            names = []
            while p + f"trunks.{len(names)}.glob.weight" in sd:
                i = len(names)
                names.append((p + f"trunks.{i}.", p + f"projs.{i}."))
        if not names:
            raise ValueError(f"no {head!r} head in the weights")
        self.branches = [
            (_Trunk(sd, trunk, pool_heads), (_f32(sd[proj + "weight"]), _f32(sd[proj + "bias"])))
            for trunk, proj in names
        ]
        self.dim = sum(proj[0].shape[0] for _, proj in self.branches)

    def __call__(self, states: np.ndarray, mask: np.ndarray) -> np.ndarray:
        glob = masked_mean(states, mask)
        members = [normalize(linear(trunk(glob, states, mask), *proj)) for trunk, proj in self.branches]
        if len(members) == 1:
            return members[0]
        return np.concatenate(members, axis=-1) / np.float32(math.sqrt(len(members)))


class NumpyQueryEncoder:
    """Texts → the builtin model's query vectors (before the final ``_unit`` of ``encode_queries``)."""

    def __init__(self, minilm: NumpyMiniLM, head: NumpyTextHead) -> None:
        self.minilm = minilm
        self.head = head
        self.dim = head.dim

    def __call__(self, texts: Sequence[str], batch: int = 64) -> np.ndarray:
        return self.encode(texts, batch)[0]

    def encode(self, texts: Sequence[str], batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """(the query vectors as :meth:`__call__` gives them, MiniLM's sentence embeddings (B, 384):
        the unit masked mean of the same token states, for the concept bridge)."""
        out = [np.zeros((0, self.dim), dtype=np.float32)]
        sentences = [np.zeros((0, self.minilm.hidden), dtype=np.float32)]
        for i in range(0, len(texts), batch):
            ids, mask = self.minilm.tokenize(texts[i : i + batch])
            states = self.minilm.forward(ids, mask)
            out.append(self.head(states, mask))
            sentences.append(normalize(masked_mean(states, mask)))
        return np.concatenate(out).astype(np.float32, copy=False), np.concatenate(sentences).astype(np.float32, copy=False)
