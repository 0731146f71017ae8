"""Learned parts of the builtin model (torch): projection heads into the joint space and the fusion.

Everything here is small and trained on cached frozen-encoder features (see ``training.py``):

- :class:`ImageHead`: the EfficientNet-Lite feature map (B, 1280, h, w) → joint vector. A linear
  projection of the globally mean-pooled features plus multi-head *attention pooling* over the h·w
  spatial positions (queries conditioned on the global feature), a residual MLP, then a projection to
  ``dim`` and L2 normalisation.
- :class:`TextHead`: MiniLM token states (B, T, 384) + mask → joint vector, the same recipe over
  tokens (attention pooling over token states + mean pooling). Used for search queries.
- :class:`PhotoTextHead`: the same recipe, separately trained, for a photo's own text (caption or
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

from .fusion import LATER_DEFAULTS
from .numpy_text import branched_key


@dataclass
class HeadConfig:
    """Architecture hyper-parameters, stored in the weights file's metadata."""

    encoder: str = "lite0"
    image_feat: int = 1280
    text_feat: int = 384
    width: int = 256
    dim: int = 256
    heads: int = 8
    mlp_ratio: float = 2.0
    dropout: float = 0.1
    attn_pool: bool = True
    token_pca: int = 256
    #: independently trained branches per head, each ``dim // members`` wide, concatenated: an
    #: ensemble inside one vector (same size, same search cost)
    members: int = 1
    #: hubness correction: image vectors get a length below 1 that shrinks photos which match many
    #: unrelated queries (their mean top-``hub_k`` similarity to a bank of ``hub_bank`` training
    #: queries); 0 = off
    hub_bank: int = 0
    hub_k: int = 50
    hub_gamma: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> HeadConfig:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)  # type: ignore[arg-type]


class AttnPool(nn.Module):
    """Multi-head attention pooling: one learned query per head, shifted by the global feature.

    Standard attention (key/value projections of every token) computed in the cheap order: the
    query is folded into the key weights and the value projection is applied after pooling, so the
    per-token cost is a single dot product per head.
    """

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
        b, _, w = tokens.shape
        h = self.heads
        dh = w // h
        q = (self.query + self.q_from_global(glob)).view(b, h, dh)
        wk = self.k.weight.view(h, dh, w)
        qk = torch.einsum("bhd,hdw->bhw", q, wk)  # query folded into the key projection
        logits = torch.einsum("bhw,btw->bht", qk, tokens) + (q * self.k.bias.view(h, dh)).sum(
            -1, keepdim=True
        )
        logits = logits / math.sqrt(dh)
        if mask is not None:
            logits = logits.masked_fill(~mask.bool()[:, None, :], float("-inf"))
        att = logits.softmax(-1)
        pooled_tokens = torch.einsum("bht,btw->bhw", att, tokens)  # (b, h, w)
        wv = self.v.weight.view(h, dh, w)
        pooled = torch.einsum("bhw,hdw->bhd", pooled_tokens, wv) + self.v.bias.view(h, dh)
        return self.out(pooled.reshape(b, w))


class _Zero(nn.Module):
    """No residual MLP (``mlp_ratio`` = 0)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


class _Trunk(nn.Module):
    """(global feature (B, G), tokens (B, T, C) [+ mask]) → (B, width).

    A linear projection of the global feature, plus multi-head attention pooling over the projected
    tokens with queries conditioned on the global part, then a residual MLP.
    """

    def __init__(self, glob_dim: int, tok_dim: int, cfg: HeadConfig) -> None:
        super().__init__()
        w = cfg.width
        self.glob_norm = nn.LayerNorm(glob_dim)
        self.glob = nn.Linear(glob_dim, w)
        self.pool: AttnPool | None = None
        if cfg.attn_pool:
            self.tok_in_norm = nn.LayerNorm(tok_dim)
            self.tok = nn.Linear(tok_dim, w)
            self.tok_norm = nn.LayerNorm(w)
            self.pool = AttnPool(w, cfg.heads)
        hidden = int(w * cfg.mlp_ratio)
        self.mlp_norm = nn.LayerNorm(w)
        self.mlp: nn.Module = (
            nn.Sequential(nn.Linear(w, hidden), nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(hidden, w))
            if hidden > 0
            else _Zero()
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.out_norm = nn.LayerNorm(w)

    def forward(
        self, glob: torch.Tensor, tokens: torch.Tensor | None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        h = self.glob(self.glob_norm(glob))
        if self.pool is not None and tokens is not None:
            toks = self.tok_norm(self.tok(self.tok_in_norm(tokens)))
            h = h + self.pool(toks, h, mask)
        h = h + self.drop(self.mlp(self.mlp_norm(h)))
        return self.out_norm(h)


def masked_mean(tokens: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return tokens.mean(1)
    m = mask.to(tokens.dtype).unsqueeze(-1)
    return (tokens * m).sum(1) / m.sum(1).clamp(min=1.0)


def combine(members: list[torch.Tensor]) -> torch.Tensor:
    """Unit member vectors → one unit vector (their dot products average the members' similarities)."""
    if len(members) == 1:
        return members[0]
    return torch.cat(members, dim=-1) / math.sqrt(len(members))


class _Branches(nn.Module):
    """``members`` (trunk, projection) pairs; one member keeps the plain ``trunk`` / ``proj`` names
    (the weights files of single-member heads)."""

    def __init__(self, glob_dim: int, tok_dim: int, cfg: HeadConfig) -> None:
        super().__init__()
        k = max(1, cfg.members)
        if cfg.dim % k:
            raise ValueError(f"dim {cfg.dim} is not a multiple of members {k}")
        if k == 1:
            self.trunk = _Trunk(glob_dim, tok_dim, cfg)
            self.proj = nn.Linear(cfg.width, cfg.dim)
        else:
            self.trunks = nn.ModuleList(_Trunk(glob_dim, tok_dim, cfg) for _ in range(k))
            self.projs = nn.ModuleList(nn.Linear(cfg.width, cfg.dim // k) for _ in range(k))

    def pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        if hasattr(self, "trunk"):
            return [(self.trunk, self.proj)]
        return list(zip(self.trunks, self.projs, strict=True))

    def members(
        self, glob: torch.Tensor, tokens: torch.Tensor | None, mask: torch.Tensor | None = None
    ) -> list[torch.Tensor]:
        return [F.normalize(proj(trunk(glob, tokens, mask)), dim=-1) for trunk, proj in self.pairs()]


class ImageHead(nn.Module):
    """Feature map → joint vector.

    The global path sees the full 1280-d mean-pooled feature; the attention path sees each spatial
    position reduced by a fixed PCA (fitted on training features, stored with the weights), which
    keeps attention pooling cheap to train and run.
    """

    # buffers (registered in __init__; the hub ones only when cfg.hub_bank > 0)
    pca_mean: torch.Tensor
    pca_basis: torch.Tensor
    hub_bank: torch.Tensor
    hub_mean: torch.Tensor

    def __init__(self, cfg: HeadConfig) -> None:
        super().__init__()
        self.register_buffer("pca_mean", torch.zeros(cfg.image_feat))
        basis = torch.linalg.qr(torch.randn(cfg.image_feat, cfg.token_pca))[0]
        self.register_buffer("pca_basis", basis)
        self.branches = _Branches(cfg.image_feat, cfg.token_pca, cfg)
        self.hub_k, self.hub_gamma = cfg.hub_k, cfg.hub_gamma
        if cfg.hub_bank > 0:
            self.register_buffer("hub_bank", torch.zeros(cfg.hub_bank, cfg.dim))
            self.register_buffer("hub_mean", torch.zeros(()))

    def reduce_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        return (tokens - self.pca_mean) @ self.pca_basis

    def split(self, fmap: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, h, w) or (B, h·w, C) → (global mean (B, C), PCA-reduced tokens (B, h·w, r))."""
        tokens = fmap.flatten(2).transpose(1, 2) if fmap.dim() == 4 else fmap
        return tokens.mean(1), self.reduce_tokens(tokens)

    def member_vectors(
        self, glob: torch.Tensor, reduced: torch.Tensor, mask: torch.Tensor | None = None
    ) -> list[torch.Tensor]:
        return self.branches.members(glob, reduced, mask)

    def from_parts(
        self, glob: torch.Tensor, reduced: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        return combine(self.member_vectors(glob, reduced, mask))

    def hubness(self, unit: torch.Tensor) -> torch.Tensor:
        """Each unit vector's mean similarity to its ``hub_k`` nearest bank queries (B,)."""
        sims = unit @ self.hub_bank.T
        return sims.topk(min(self.hub_k, sims.shape[1]), dim=1).values.mean(1)

    def weigh(self, unit: torch.Tensor) -> torch.Tensor:
        """Unit vectors → the stored image vectors: the same directions, with a length that is
        smaller for "hub" photos (close to many training queries), about 1 on average.

        Text queries score photos by dot product, so a hub's score drops in proportion (a
        multiplicative form of CSLS / query-bank normalisation: hubs otherwise top the results of
        many queries they do not match); image-to-image search compares directions only.
        """
        if not hasattr(self, "hub_bank") or self.hub_gamma <= 0:
            return unit
        g = self.hub_gamma
        w = (1 - g * self.hubness(unit)) / (1 - g * self.hub_mean)
        return unit * w.clamp(min=0.05, max=4.0)[:, None]

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) or (B, h·w, C) features → (B, dim) image vectors (unit directions; see
        :meth:`weigh` for their length)."""
        return self.weigh(self.from_parts(*self.split(fmap)))


class TextHead(nn.Module):
    """Search queries: MiniLM token states → joint vector."""

    def __init__(self, cfg: HeadConfig) -> None:
        super().__init__()
        self.branches = _Branches(cfg.text_feat, cfg.text_feat, cfg)

    def member_vectors(self, states: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        return self.branches.members(masked_mean(states, mask), states, mask)

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return combine(self.member_vectors(states, mask))


def gate_input(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Gate features from frozen MiniLM states: the unit sentence embedding and log token count.

    Built from the frozen encoder only, so a gate fitted with one set of heads (held-out calibration)
    transfers unchanged to heads retrained on all the data.
    """
    m = mask.to(states.dtype).unsqueeze(-1)
    n = m.sum(1).clamp(min=1.0)
    emb = F.normalize((states * m).sum(1) / n, dim=-1)
    return torch.cat([emb, torch.log(n)], dim=-1)


class PhotoTextHead(nn.Module):
    """A photo's own text → joint vector (compared with query vectors) + informativeness gate logit."""

    def __init__(self, cfg: HeadConfig) -> None:
        super().__init__()
        self.branches = _Branches(cfg.text_feat, cfg.text_feat, cfg)
        self.gate = nn.Sequential(nn.Linear(cfg.text_feat + 1, 64), nn.GELU(), nn.Linear(64, 1))

    def vectors(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return combine(self.branches.members(masked_mean(states, mask), states, mask))

    def gate_logit(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.gate(gate_input(states, mask)).squeeze(-1)

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.vectors(states, mask), self.gate_logit(states, mask)


class FusionParams(nn.Module):
    """Learned attention over the image and text modalities (training twin of ``fusion.LearnedFusion``).

    For a query q and a photo with text (gate g), image and text similarities i and t:
        a_img = u_img·q + b_img,  a_txt = u_txt·q + b_txt + g          (attention logits)
        (α_img, α_txt) = softmax(a_img, a_txt)
        z_img = s_img·i,  z_txt = s_txt·t + c_txt + ν·softplus(s_2·(t − t_0))   (calibrated evidence;
                                                 a close text match counts more than linearly, ν ≥ 0)
        score = m·(α_img·z_img + α_txt·z_txt)
    and for a photo without text: score = z_img + c_none (fixed, increasing in i). The score rises
    with both matches. Weights files from before the ν term load with ν = 0.
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
        later = LATER_DEFAULTS  # parameters added after the first shipped weights (their old-formula values)
        self.nu = nn.Parameter(torch.tensor(later["nu"]))
        self.log_s2 = nn.Parameter(torch.tensor(later["log_s2"]))
        self.t0 = nn.Parameter(torch.tensor(later["t0"]))

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
        z_txt = z_txt + self.nu * F.softplus(self.log_s2.exp() * (text_sims - self.t0))
        fused = self.log_m.exp() * ((1 - a_txt) * z_img + a_txt * z_txt)
        return torch.where(has_text[None, :].bool(), fused, z_img + self.c_none)


class BuiltinHeads(nn.Module):
    """All learned parameters of the builtin model, saved together in one safetensors file."""

    def __init__(self, cfg: HeadConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.image = ImageHead(cfg)
        self.text = TextHead(cfg)
        self.photo_text = PhotoTextHead(cfg)
        self.fusion = FusionParams(cfg.dim)


def upgrade_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keys of weights files written before heads had branches (``image.trunk.…`` →
    ``image.branches.trunk.…``) and before the fusion's later terms (added with the values that keep
    the old formula); current keys pass unchanged."""
    out = {branched_key(key): value for key, value in state.items()}
    if "fusion.u_img" in out:
        for name, default in LATER_DEFAULTS.items():
            out.setdefault(f"fusion.{name}", torch.tensor(default, dtype=out["fusion.u_img"].dtype))
    return out

