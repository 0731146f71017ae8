"""Learned parts of the builtin model (torch): projection heads into the joint space and the fusion.

Everything here is small and trained on cached frozen-encoder features (see ``training.py``):

- :class:`ImageHead`: the EfficientNet-Lite feature map (B, 1280, h, w) → joint vector. A linear
  projection of the globally mean-pooled features plus multi-head *attention pooling* over the h·w
  spatial positions (queries conditioned on the global feature), a residual MLP, then a projection to
  ``dim`` and L2 normalisation.
- :class:`TextHead`: MiniLM token states (B, T, 384) + mask → joint vector, the same recipe over
  tokens (attention pooling over token states + mean pooling). Used for search queries.
- :class:`PhotoTextHead`: a second output of the text trunk for a photo's own text (caption or
  filename), plus a scalar *gate* logit saying how informative that text is.
- :class:`FusionParams`: the query-dependent attention over the image and text modalities, in torch
  for training; :mod:`.fusion` evaluates the same formula in numpy at search time.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class HeadConfig:
    """Architecture hyper-parameters, stored in the weights file's metadata."""

    encoder: str = "lite0"
    image_feat: int = 1280
    text_feat: int = 384
    width: int = 512
    dim: int = 256
    heads: int = 8
    mlp_ratio: float = 2.0
    dropout: float = 0.1
    attn_pool: bool = True

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> HeadConfig:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)  # type: ignore[arg-type]


class AttnPool(nn.Module):
    """Multi-head attention pooling: learned queries, shifted by the global feature, over tokens."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.query = nn.Parameter(torch.randn(width) * 0.02)
        self.q_from_global = nn.Linear(width, width)
        self.k = nn.Linear(width, width)
        self.v = nn.Linear(width, width)
        self.out = nn.Linear(width, width)

    def forward(
        self, tokens: torch.Tensor, glob: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        b, t, d = tokens.shape
        h = self.heads
        q = (self.query + self.q_from_global(glob)).view(b, h, 1, d // h)
        k = self.k(tokens).view(b, t, h, d // h).transpose(1, 2)
        v = self.v(tokens).view(b, t, h, d // h).transpose(1, 2)
        logits = (q @ k.transpose(-1, -2)) / math.sqrt(d // h)  # (b, h, 1, t)
        if mask is not None:
            logits = logits.masked_fill(~mask.bool()[:, None, None, :], float("-inf"))
        att = logits.softmax(-1)
        pooled = (att @ v).reshape(b, d)
        return self.out(pooled)


class _Trunk(nn.Module):
    """tokens (B, T, C) [+ mask] → (B, width): global mean + attention pooling + residual MLP."""

    def __init__(self, in_dim: int, cfg: HeadConfig) -> None:
        super().__init__()
        w = cfg.width
        self.in_norm = nn.LayerNorm(in_dim)
        self.glob = nn.Linear(in_dim, w)
        self.tok = nn.Linear(in_dim, w)
        self.tok_norm = nn.LayerNorm(w)
        self.pool = AttnPool(w, cfg.heads) if cfg.attn_pool else None
        hidden = int(w * cfg.mlp_ratio)
        self.mlp_norm = nn.LayerNorm(w)
        self.mlp = nn.Sequential(
            nn.Linear(w, hidden), nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(hidden, w)
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.out_norm = nn.LayerNorm(w)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None:
            mean = tokens.mean(1)
        else:
            m = mask.to(tokens.dtype).unsqueeze(-1)
            mean = (tokens * m).sum(1) / m.sum(1).clamp(min=1.0)
        h = self.glob(self.in_norm(mean))
        if self.pool is not None:
            toks = self.tok_norm(self.tok(self.in_norm(tokens)))
            h = h + self.pool(toks, h, mask)
        h = h + self.drop(self.mlp(self.mlp_norm(h)))
        return self.out_norm(h)


class ImageHead(nn.Module):
    def __init__(self, cfg: HeadConfig) -> None:
        super().__init__()
        self.trunk = _Trunk(cfg.image_feat, cfg)
        self.proj = nn.Linear(cfg.width, cfg.dim)

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) or (B, h·w, C) features → (B, dim) unit vectors."""
        tokens = fmap.flatten(2).transpose(1, 2) if fmap.dim() == 4 else fmap
        return F.normalize(self.proj(self.trunk(tokens)), dim=-1)


class TextHead(nn.Module):
    """Text trunk with two outputs: query vectors and photo-text vectors + gate."""

    def __init__(self, cfg: HeadConfig) -> None:
        super().__init__()
        self.trunk = _Trunk(cfg.text_feat, cfg)
        self.proj = nn.Linear(cfg.width, cfg.dim)
        self.photo_proj = nn.Linear(cfg.width, cfg.dim)
        self.gate = nn.Sequential(nn.Linear(cfg.width, 64), nn.GELU(), nn.Linear(64, 1))

    def queries(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.proj(self.trunk(states, mask)), dim=-1)

    def photo_texts(self, states: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(states, mask)
        return F.normalize(self.photo_proj(h), dim=-1), self.gate(h).squeeze(-1)


class FusionParams(nn.Module):
    """Learned attention over the image and text modalities (training twin of ``fusion.LearnedFusion``).

    For a query q and a photo with text (gate g):
        a_img = u_img·q + b_img,  a_txt = u_txt·q + b_txt + g          (attention logits)
        (α_img, α_txt) = softmax(a_img, a_txt)
        z_img = s_img·image_sim,  z_txt = s_txt·text_sim + c_txt         (calibrated evidence)
        score = m·(α_img·z_img + α_txt·z_txt)
    and for a photo without text: score = z_img + c_none (fixed, increasing in image_sim).
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.u_img = nn.Parameter(torch.zeros(dim))
        self.u_txt = nn.Parameter(torch.zeros(dim))
        self.b_img = nn.Parameter(torch.zeros(()))
        self.b_txt = nn.Parameter(torch.zeros(()))
        self.log_s_img = nn.Parameter(torch.tensor(math.log(20.0)))
        self.log_s_txt = nn.Parameter(torch.tensor(math.log(20.0)))
        self.c_txt = nn.Parameter(torch.zeros(()))
        self.log_m = nn.Parameter(torch.tensor(math.log(2.0)))
        self.c_none = nn.Parameter(torch.zeros(()))

    def forward(
        self,
        q: torch.Tensor,
        image_sims: torch.Tensor,
        text_sims: torch.Tensor,
        gate: torch.Tensor,
        has_text: torch.Tensor,
    ) -> torch.Tensor:
        """q (Q, D); sims (Q, N); gate, has_text (N,) → scores (Q, N)."""
        d = (q @ (self.u_txt - self.u_img) + (self.b_txt - self.b_img))[:, None] + gate[None, :]
        a_txt = torch.sigmoid(d)
        z_img = self.log_s_img.exp() * image_sims
        z_txt = self.log_s_txt.exp() * text_sims + self.c_txt
        fused = self.log_m.exp() * ((1 - a_txt) * z_img + a_txt * z_txt)
        return torch.where(has_text[None, :].bool(), fused, z_img + self.c_none)

    def export(self) -> dict[str, torch.Tensor]:
        """Plain values for the numpy scorer."""
        with torch.no_grad():
            return {
                "u": (self.u_txt - self.u_img).detach().float().clone(),
                "b": (self.b_txt - self.b_img).detach().float().reshape(1).clone(),
                "s_img": self.log_s_img.exp().detach().float().reshape(1).clone(),
                "s_txt": self.log_s_txt.exp().detach().float().reshape(1).clone(),
                "c_txt": self.c_txt.detach().float().reshape(1).clone(),
                "m": self.log_m.exp().detach().float().reshape(1).clone(),
                "c_none": self.c_none.detach().float().reshape(1).clone(),
            }


class BuiltinHeads(nn.Module):
    """All learned parameters of the builtin model, saved together in one safetensors file."""

    def __init__(self, cfg: HeadConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.image = ImageHead(cfg)
        self.text = TextHead(cfg)
        self.fusion = FusionParams(cfg.dim)
