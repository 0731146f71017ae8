"""Training the builtin model's heads and fusion on cached frozen-encoder features.

Three stages, all on features extracted once (``features.py``):

1. *Retrieval heads*: :class:`~.heads.ImageHead` and the query :class:`~.heads.TextHead`, with a
   symmetric InfoNCE loss over (photo view, random caption) pairs; photo views include flips and
   random resized crops (cached as separate views).
2. *Photo-text head*: :class:`~.heads.PhotoTextHead` maps a photo's own caption so that its dot
   product with the (frozen) query vector of *another* caption of the same photo is high (InfoNCE).
3. *Fusion*: the gate MLP and :class:`~.heads.FusionParams`, with a listwise loss over galleries of
   photos where a fraction (``caption_fraction``) carries a caption (some replaced by meaningless
   camera file names, so the gate learns to ignore them) and the query is another caption.

Similarities on photos the heads were trained on are over-confident, so with ``holdout`` > 0 the
fusion is calibrated on held-out photos scored by heads trained without them; the shipped heads are
then retrained on all photos and the fitted fusion and gate carried over (the gate reads frozen
MiniLM features only, so it transfers). With ``cal_folds`` = K > 1 there are K disjoint held-out
sets of that size, each scored by heads trained on the other photos (cross-fitting): K times the
calibration data for one fusion, each simulated library drawn from one set so its similarities
come from one set of heads.
"""

from __future__ import annotations

import copy
import json
import math
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .evaluation import fused_ranks, ranks_from_scores, recall_summary
from .features import extract_text_features
from .fusion import LearnedFusion
from .heads import BuiltinHeads, HeadConfig
from .training_features import (
    FeatureSet,
    chunks,
    embed_gate_inputs,
    embed_images,
    embed_texts,
    fit_token_pca,
    image_batch,
    image_parts,
)

Log = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class TrainSettings(HeadConfig):
    """Everything that shapes a training run (saved in the weights file's metadata): the heads'
    architecture (:class:`HeadConfig`'s fields, with the hubness correction on by default here)
    and the schedule."""

    hub_bank: int = 4096  # training queries kept for the hubness correction (0 = off)
    hub_gamma: float = 0.9
    views: tuple[str, ...] = ("orig", "flip", "rc0", "rc1")
    epochs: int = 30
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.05
    feat_dropout: float = 0.0  # dropout on the frozen features fed to the heads (training only)
    token_drop: float = 0.0  # fraction of image positions hidden from attention pooling per step
    temperature: float = 0.05  # initial softmax temperature of the contrastive loss
    learn_temperature: bool = True
    captions_per_step: int = 1  # captions of each photo used per step (multi-positive InfoNCE when > 1)
    text_epochs: int = 10
    text_lr: float = 5e-4
    fusion_steps: int = 1500
    gallery: int = 500
    caption_fraction: float = 0.5
    junk_fraction: float = 0.1
    holdout: float = 0.0
    cal_folds: int = 1  # with a holdout: disjoint held-out sets (each its own calibration heads)
    refit: bool = True  # with a holdout: refit the heads on all photos after calibrating the fusion
    seed: int = 0

    def head_config(self) -> HeadConfig:
        """The architecture alone (no hubness bank where the correction is off)."""
        arch = HeadConfig(**{f.name: getattr(self, f.name) for f in fields(HeadConfig)})
        return replace(arch, hub_bank=self.hub_bank if self.hub_gamma > 0 else 0)


# -- stage 1 -------------------------------------------------------------------------------------------
def _contrastive(logits: torch.Tensor, owner: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE for (captions × photos) logits; ``owner[i]`` is caption i's photo.

    Caption→photo is a plain softmax; photo→caption treats all of a photo's captions in the batch
    as positives (mean log-likelihood over them).
    """
    t2i = F.cross_entropy(logits, owner)
    log_p = logits.T.log_softmax(-1)  # (photos, captions)
    pos = F.one_hot(owner, logits.shape[1]).T.to(log_p.dtype)
    i2t = -((log_p * pos).sum(1) / pos.sum(1).clamp(min=1)).mean()
    return (t2i + i2t) / 2


def _cosine_lr(opt: torch.optim.Optimizer, base: float, step: int, total: int, warmup: int) -> None:
    if step < warmup:
        lr = base * (step + 1) / warmup
    else:
        lr = base * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))
    for g in opt.param_groups:
        g["lr"] = lr


def _scheduled_step(
    opt: torch.optim.Optimizer, loss: torch.Tensor, base: float, step: int, total: int, warmup: int
) -> float:
    """One optimiser step at the cosine schedule's learning rate; returns the loss as a number."""
    _cosine_lr(opt, base, step, total, warmup)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.item()


def text_to_image(heads: BuiltinHeads, fs: FeatureSet) -> dict[str, float]:
    """Text→image figures of the current heads on a feature set (every caption a query)."""
    iv = embed_images(heads, fs)
    ids = np.concatenate(fs.caption_ids)
    targets = np.concatenate([np.full(len(c), i) for i, c in enumerate(fs.caption_ids)])
    heads.eval()
    qv = embed_texts(heads.text, fs.text, ids)
    return recall_summary(ranks_from_scores(qv @ iv.T, targets))


def train_retrieval(
    heads: BuiltinHeads, train: FeatureSet, dev: FeatureSet | None, s: TrainSettings, log: Log = _stderr
) -> None:
    """Stage 1: image head + query head with symmetric InfoNCE."""
    rng = np.random.default_rng(s.seed)
    explained = fit_token_pca(heads, train, s.seed)
    t0 = time.monotonic()
    parts = {v: image_parts(heads, train.images[v]) for v in s.views}
    log(
        f"token PCA to {heads.image.pca_basis.shape[1]} dims keeps {100 * explained:.1f}% of the variance "
        f"({time.monotonic() - t0:.0f}s to reduce {len(s.views)} views)"
    )
    params = list(heads.image.parameters()) + list(heads.text.parameters())
    members = max(1, heads.cfg.members)
    logit_scale = torch.nn.Parameter(torch.full((members,), math.log(1 / s.temperature)))
    logit_scale.requires_grad_(s.learn_temperature)
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": s.weight_decay},
            {"params": [*no_decay, logit_scale], "weight_decay": 0.0},
        ],
        lr=s.lr,
    )
    n = len(train)
    bs = min(s.batch_size, n)
    steps_per_epoch = max(1, n // bs)
    total = s.epochs * steps_per_epoch
    step = 0
    for epoch in range(s.epochs):
        heads.train()
        perm = rng.permutation(n)
        t0, losses = time.monotonic(), []
        for b in range(steps_per_epoch):
            rows = perm[b * bs : (b + 1) * bs]
            k = max(1, s.captions_per_step)
            caps: list[int]
            owner: list[int]
            caps, owner = [], []
            for j, r in enumerate(rows):
                ids = train.caption_ids[r]
                pick = rng.choice(ids, size=min(k, len(ids)), replace=False)
                caps.extend(int(c) for c in pick)
                owner.extend([j] * len(pick))
            glob, red = image_batch(parts, rows, rng)
            tok_mask = None
            if s.token_drop > 0:
                tok_mask = torch.rand(red.shape[:2]) >= s.token_drop
                tok_mask[:, 0] |= ~tok_mask.any(1)  # keep at least one position
            if s.feat_dropout > 0:
                glob, red = F.dropout(glob, s.feat_dropout), F.dropout(red, s.feat_dropout)
            imgs = heads.image.member_vectors(glob, red, tok_mask)
            st, m = train.text.padded(np.array(caps))
            if s.feat_dropout > 0:
                st = F.dropout(st, s.feat_dropout)
            txts = heads.text.member_vectors(st, m)
            owners = torch.tensor(owner)
            scales = logit_scale.exp().clamp(max=100)
            # each member learns on its own (an ensemble), not through the concatenation
            loss = sum(
                (_contrastive(scales[k] * t @ i.T, owners) for k, (t, i) in enumerate(zip(txts, imgs, strict=True))),
                torch.zeros(()),
            ) / members
            losses.append(_scheduled_step(opt, loss, s.lr, step, total, warmup=steps_per_epoch))
            step += 1
        msg = f"retrieval epoch {epoch + 1}/{s.epochs}: loss {np.mean(losses):.3f} ({time.monotonic() - t0:.1f}s)"
        if dev is not None and ((epoch + 1) % 5 == 0 or epoch + 1 == s.epochs):
            r = text_to_image(heads, dev)
            msg += f"  dev R@1 {r['r1']:.1f} R@5 {r['r5']:.1f} R@10 {r['r10']:.1f}"
        log(msg)
    heads.eval()


# -- stage 2 -------------------------------------------------------------------------------------------
def _other_caption(rng: np.random.Generator, ids: np.ndarray, not_this: int) -> int:
    if len(ids) < 2:
        return int(ids[0])
    while True:
        c = int(rng.choice(ids))
        if c != not_this:
            return c


def train_photo_text(
    heads: BuiltinHeads, train: FeatureSet, dev: FeatureSet | None, s: TrainSettings, log: Log = _stderr
) -> None:
    """Stage 2: the photo-text head against frozen query vectors (initialised from the query head)."""
    heads.photo_text.branches.load_state_dict(heads.text.branches.state_dict())
    all_ids = np.arange(len(train.text))
    qv_all = torch.from_numpy(embed_texts(heads.text, train.text, all_ids))
    rng = np.random.default_rng(s.seed + 1)
    params = list(heads.photo_text.branches.parameters())
    opt = torch.optim.AdamW(params, lr=s.text_lr, weight_decay=s.weight_decay)
    scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.05)))
    opt.add_param_group({"params": [scale], "weight_decay": 0.0})
    usable = np.array([i for i, c in enumerate(train.caption_ids) if len(c) >= 2])
    if len(usable) < 2 or s.text_epochs <= 0:
        log("photo-text head: kept the query head's mapping (not enough photos with two captions)")
        return
    bs = min(s.batch_size, len(usable))
    steps_per_epoch = max(1, len(usable) // bs)
    total, step = s.text_epochs * steps_per_epoch, 0
    for epoch in range(s.text_epochs):
        heads.photo_text.train()
        perm = rng.permutation(usable)
        losses = []
        for b in range(steps_per_epoch):
            rows = perm[b * bs : (b + 1) * bs]
            photo = np.array([rng.choice(train.caption_ids[r]) for r in rows])
            query = np.array(
                [_other_caption(rng, train.caption_ids[r], p) for r, p in zip(rows, photo, strict=True)]
            )
            st, m = train.text.padded(photo)
            t = heads.photo_text.vectors(st, m)
            logits = scale.exp().clamp(max=100) * qv_all[query] @ t.T
            labels = torch.arange(len(rows))
            loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
            losses.append(_scheduled_step(opt, loss, s.text_lr, step, total, warmup=steps_per_epoch))
            step += 1
        log(f"photo-text epoch {epoch + 1}/{s.text_epochs}: loss {np.mean(losses):.3f}")
    heads.photo_text.eval()


# -- stage 3 -------------------------------------------------------------------------------------------
def junk_names(n: int, seed: int = 0) -> list[str]:
    """Meaningless camera / phone / screenshot file names (as the app would show them as photo text)."""
    rng = random.Random(seed)

    def d(k: int) -> str:
        return "".join(rng.choice("0123456789") for _ in range(k))

    makers = [
        lambda: f"IMG_{d(4)}",
        lambda: f"IMG {d(4)}",
        lambda: f"DSC_{d(4)}",
        lambda: f"DSC{d(5)}",
        lambda: f"DSCN{d(4)}",
        lambda: f"P{d(7)}",
        lambda: f"PXL_2{d(3)}{d(4)}_{d(9)}",
        lambda: f"20{d(2)}{d(4)}_{d(6)}",
        lambda: f"IMG-20{d(6)}-WA{d(4)}",
        lambda: f"Screenshot 20{d(2)}-{d(2)}-{d(2)} at {d(2)}.{d(2)}.{d(2)}",
        lambda: f"image ({rng.randint(1, 40)})",
        lambda: f"photo {rng.randint(1, 400)}",
        lambda: f"DCIM {d(3)}",
        lambda: f"GOPR{d(4)}",
        lambda: f"MVIMG_{d(8)}_{d(6)}",
        lambda: "untitled",
        lambda: f"scan{d(3)}",
    ]
    return [rng.choice(makers)() for _ in range(n)]


@dataclass
class FusionData:
    """Fixed inputs for fitting the fusion on a photo set."""

    image_vecs: torch.Tensor  # (N, D)
    query_vecs: torch.Tensor  # (C, D) every caption as a query
    photo_vecs: torch.Tensor  # (C, D) every caption as a photo's text
    gate_in: torch.Tensor  # (C, 385)
    junk_vecs: torch.Tensor  # (J, D)
    junk_gate_in: torch.Tensor  # (J, 385)
    caption_ids: list[np.ndarray]


def fusion_data(heads: BuiltinHeads, fs: FeatureSet, s: TrainSettings) -> FusionData:
    ids = np.arange(len(fs.text))
    junk = junk_names(400, s.seed)
    jt = extract_text_features(junk)
    jids = np.arange(len(junk))
    return FusionData(
        image_vecs=torch.from_numpy(embed_images(heads, fs)),
        query_vecs=torch.from_numpy(embed_texts(heads.text, fs.text, ids)),
        photo_vecs=torch.from_numpy(embed_texts(heads.photo_text.vectors, fs.text, ids)),
        gate_in=embed_gate_inputs(fs.text, ids),
        junk_vecs=torch.from_numpy(embed_texts(heads.photo_text.vectors, jt, jids)),
        junk_gate_in=embed_gate_inputs(jt, jids),
        caption_ids=fs.caption_ids,
    )


def train_fusion(
    heads: BuiltinHeads, data: FusionData | Sequence[FusionData], s: TrainSettings, log: Log = _stderr
) -> None:
    """Stage 3: gate MLP + fusion parameters with a listwise loss over simulated libraries, each drawn
    from one of ``data``'s photo sets (chosen in proportion to its size)."""
    sets = [data] if isinstance(data, FusionData) else list(data)
    rng = np.random.default_rng(s.seed + 2)
    fusion, gate = heads.fusion, heads.photo_text.gate
    opt = torch.optim.Adam(
        [
            {"params": [fusion.u_img, fusion.u_txt], "lr": 3e-3},
            {"params": [p for n, p in fusion.named_parameters() if not n.startswith("u_")], "lr": 3e-2},
            {"params": list(gate.parameters()), "lr": 3e-3},
        ]
    )
    sizes = np.array([len(d.caption_ids) for d in sets], dtype=float)
    losses = []
    for step in range(s.fusion_steps):
        d = sets[int(rng.choice(len(sets), p=sizes / sizes.sum()))] if len(sets) > 1 else sets[0]
        n = len(d.caption_ids)
        g = min(s.gallery, n)
        rows = rng.choice(n, size=g, replace=False)
        has_text = rng.random(g) < s.caption_fraction
        junk = has_text & (rng.random(g) < s.junk_fraction)
        photo_cap = np.array([rng.choice(d.caption_ids[r]) for r in rows])
        query_cap = np.array(
            [
                _other_caption(rng, d.caption_ids[r], p) if h else rng.choice(d.caption_ids[r])
                for r, p, h in zip(rows, photo_cap, has_text, strict=True)
            ]
        )
        q = d.query_vecs[query_cap]
        pv = d.photo_vecs[photo_cap].clone()
        gi = d.gate_in[photo_cap].clone()
        if junk.any():
            j = rng.integers(0, len(d.junk_vecs), size=int(junk.sum()))
            pv[torch.from_numpy(junk)] = d.junk_vecs[j]
            gi[torch.from_numpy(junk)] = d.junk_gate_in[j]
        image_sims = q @ d.image_vecs[rows].T
        text_sims = q @ pv.T
        gate_logit = gate(gi).squeeze(-1)
        scores = fusion(q, image_sims, text_sims, gate_logit, torch.from_numpy(has_text))
        loss = F.cross_entropy(scores, torch.arange(g))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if (step + 1) % 250 == 0 or step + 1 == s.fusion_steps:
            log(f"fusion step {step + 1}/{s.fusion_steps}: loss {np.mean(losses[-250:]):.3f}")


# -- reports -------------------------------------------------------------------------------------------
def fusion_report(
    heads: BuiltinHeads, fs: FeatureSet, fraction: float = 0.5, seed: int = 0
) -> dict[str, dict[str, float]]:
    """Image-only / text-only / fused figures on a feature set, with the eval command's protocol."""
    from .evaluation import caption_split

    n = len(fs)
    has_text, _, pairs_unused = caption_split(n, fs.captions, fraction, seed)
    del pairs_unused
    iv = embed_images(heads, fs)
    q_ids, targets = [], []
    for i, ids in enumerate(fs.caption_ids):
        for j, c in enumerate(ids):
            if not (has_text[i] and j == 0):
                q_ids.append(c)
                targets.append(i)
    qv = embed_texts(heads.text, fs.text, np.array(q_ids))
    first = np.array([ids[0] for ids in fs.caption_ids])
    tv = embed_texts(heads.photo_text.vectors, fs.text, first) * has_text[:, None]
    with torch.no_grad():
        gate = heads.photo_text.gate(embed_gate_inputs(fs.text, first)).squeeze(-1).numpy()
    scorer = LearnedFusion({k: v.detach().numpy() for k, v in heads.fusion.state_dict().items()})
    ranks = fused_ranks(scorer.score, qv, iv, tv.astype(np.float32), gate, has_text, np.array(targets))
    return {k: recall_summary(r) for k, r in ranks.items()}


# -- the whole run -------------------------------------------------------------------------------------
@dataclass
class TrainResult:
    heads: BuiltinHeads
    settings: TrainSettings
    dev: dict[str, dict[str, float]]
    seconds: float


@torch.no_grad()
def fit_hub_bank(heads: BuiltinHeads, train: FeatureSet, s: TrainSettings, log: Log = _stderr) -> None:
    """Fill the hubness bank with query vectors of a seeded sample of training captions and record
    the training photos' mean hubness (see :meth:`~.heads.ImageHead.weigh`)."""
    if not hasattr(heads.image, "hub_bank"):
        return
    heads.eval()
    bank = heads.image.hub_bank
    ids = np.concatenate(train.caption_ids)
    rng = np.random.default_rng(s.seed + 4)
    pick = np.sort(rng.choice(ids, size=bank.shape[0], replace=len(ids) < bank.shape[0]))
    bank.copy_(torch.from_numpy(embed_texts(heads.text, train.text, pick)))
    view = "orig" if "orig" in train.images else next(iter(train.images))
    unit = torch.cat(
        [heads.image.from_parts(*heads.image.split(torch.from_numpy(train.images[view][r].astype(np.float32))))
         for r in chunks(len(train), 500)]
    )
    hub = heads.image.hubness(unit)
    heads.image.hub_mean.copy_(hub.mean())
    w = (1 - s.hub_gamma * hub) / (1 - s.hub_gamma * hub.mean())
    log(
        f"hubness bank: {bank.shape[0]} training queries; photo weights {float(w.min()):.2f}-{float(w.max()):.2f} "
        f"(mean hubness {float(hub.mean()):.3f})"
    )


def heldout_folds(n: int, s: TrainSettings) -> list[np.ndarray]:
    """The held-out photo rows of each calibration run: ``cal_folds`` disjoint seeded sets of
    ``holdout`` · n photos (fewer sets where the photos run out; the first set does not depend on
    ``cal_folds``)."""
    perm = np.random.default_rng(s.seed + 3).permutation(n)
    k = max(10, round(s.holdout * n))
    count = max(1, min(s.cal_folds, (n - 10) // k))
    return [np.sort(perm[i * k : (i + 1) * k]) for i in range(count)]


def _fit_heads(train: FeatureSet, dev: FeatureSet | None, s: TrainSettings, log: Log) -> BuiltinHeads:
    torch.manual_seed(s.seed)
    heads = BuiltinHeads(s.head_config())
    train_retrieval(heads, train, dev, s, log)
    fit_hub_bank(heads, train, s, log)  # the run's dev report (train()) includes its effect
    train_photo_text(heads, train, dev, s, log)
    return heads


def train(train: FeatureSet, dev: FeatureSet | None, s: TrainSettings, log: Log = _stderr) -> TrainResult:
    """Run all stages (with held-out fusion calibration when ``s.holdout`` > 0)."""
    t0 = time.monotonic()
    if s.holdout > 0 and len(train) >= 20:
        folds = heldout_folds(len(train), s)
        cal_sets, cal_heads = [], None
        for i, cal_rows in enumerate(folds):
            fit_rows = np.setdiff1d(np.arange(len(train)), cal_rows)
            log(
                f"calibration run {i + 1}/{len(folds)}: heads on {len(fit_rows)} photos, "
                f"fusion data from {len(cal_rows)} held-out photos"
            )
            cal_heads = _fit_heads(train.subset(fit_rows), None, s, log)
            cal_sets.append(fusion_data(cal_heads, train.subset(cal_rows), s))
        assert cal_heads is not None
        train_fusion(cal_heads, cal_sets, s, log)
        if s.refit:
            log("final run: heads on all photos")
            heads = _fit_heads(train, dev, s, log)
            heads.fusion.load_state_dict(cal_heads.fusion.state_dict())
            heads.photo_text.gate.load_state_dict(cal_heads.photo_text.gate.state_dict())
        else:
            heads = cal_heads
    else:
        heads = _fit_heads(train, dev, s, log)
        train_fusion(heads, fusion_data(heads, train, s), s, log)
    heads.eval()
    report: dict[str, dict[str, float]] = {}
    if dev is not None:
        report["text_to_image"] = text_to_image(heads, dev)
        report.update(fusion_report(heads, dev, s.caption_fraction))
    return TrainResult(heads, s, report, time.monotonic() - t0)


def save_weights(path: Path, result: TrainResult, extra: dict[str, str] | None = None) -> Path:
    """Write heads + fusion as float16 safetensors with the config in the metadata."""
    from safetensors.torch import save_file

    from .builtin import WEIGHTS_FORMAT, write_weights_atomically

    heads = copy.deepcopy(result.heads).eval()
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in heads.state_dict().items()}
    meta = {
        "format_name": WEIGHTS_FORMAT,
        "config": json.dumps(heads.cfg.to_dict()),
        "training": json.dumps(
            {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(result.settings).items()}
        ),
        "dev": json.dumps(result.dev),
    }
    meta.update(extra or {})
    return write_weights_atomically(path, lambda tmp: save_file(state, tmp, metadata=meta))
