"""Training of the multilingual heads (``desktop-search train-multilingual``), by distillation.

The teacher is the builtin model itself on English texts: for every training text, its query head
vector (``encode_queries``), its photo-text head vector and gate logit (``encode_photo_texts``) and
MiniLM's mean-pooled unit sentence embedding. The student sees only the multilingual encoder's
sentence embedding of the same English text (:mod:`.multilingual`) and learns to reproduce each
of the three. The multilingual encoder places translations near each other, so the heads carry
over to the other languages without a single translated training text (figures in docs/MODELS.md).

Training texts: the English captions of the training photos, plus short phrases cut from them (single
content words and pairs of neighbouring words: "dog", "red shirt"), since search queries are
mostly keywords while captions are sentences. Also reused as photo texts (file names carry a few
words). Deterministic for a given seed.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .multilingual import (
    ENCODER_NAME,
    MULTILINGUAL_FORMAT,
    SentenceEncoder,
    file_sha256,
)

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]

#: English function words left out of the keyword phrases cut from captions
_STOP = frozenset(
    ["a", "an", "the", "and", "or", "of", "on", "in", "at", "to", "with", "by", "for", "from", "into", "onto", "over", "under", "near", "while", "is", "are", "was", "were", "be", "being", "been", "his", "her", "their", "its", "it", "they", "he", "she", "them", "him", "who", "that", "this", "there", "some", "one", "two", "three", "four", "five", "several", "other", "another", "each", "up", "down", "out", "off", "as", "very", "just", "has", "have", "having", "next", "behind", "front", "through", "across", "around", "toward", "towards"]
)


def training_texts(captions: Sequence[str], *, min_word: int = 2, min_pair: int = 3) -> list[str]:
    """The captions plus keyword phrases cut from them (content words seen ``min_word`` times, pairs
    of neighbouring content words seen ``min_pair`` times), deduplicated, in a stable order."""
    words: collections.Counter[str] = collections.Counter()
    pairs: collections.Counter[str] = collections.Counter()
    for cap in captions:
        toks = re.findall(r"[a-z]+", cap.lower())
        for w in toks:
            if w not in _STOP and len(w) > 2:
                words[w] += 1
        for a, b in itertools.pairwise(toks):
            if a not in _STOP and b not in _STOP and len(a) > 2 and len(b) > 2:
                pairs[f"{a} {b}"] += 1
    out = list(dict.fromkeys(c.strip() for c in captions if c.strip()))
    out += sorted(w for w, n in words.items() if n >= min_word)
    out += sorted(p for p, n in pairs.items() if n >= min_pair)
    return list(dict.fromkeys(out))


def teacher_targets(weights: Path, texts: Sequence[str], batch: int = 256, progress: Progress | None = None
                    ) -> dict[str, np.ndarray]:
    """The builtin model's English outputs for ``texts``: ``query`` (N, D) unit, ``photo_text``
    (N, D) unit, ``gate`` (N,) logit, ``minilm`` (N, 384) unit mean-pooled sentence embedding."""
    import torch

    from .builtin import BuiltinModel
    from .heads import masked_mean

    model = BuiltinModel(f"builtin:{weights}", weights, device="cpu")
    out: dict[str, list[np.ndarray]] = {"query": [], "photo_text": [], "gate": [], "minilm": []}
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths: little padding
    with torch.inference_mode():
        for i in range(0, len(texts), batch):
            states, mask = model._text_states([texts[j] for j in order[i : i + batch]])
            heads = model._heads
            out["query"].append(torch.nn.functional.normalize(heads.text(states, mask), dim=-1).numpy())
            vec, gate = heads.photo_text(states, mask)
            out["photo_text"].append(torch.nn.functional.normalize(vec, dim=-1).numpy())
            out["gate"].append(gate.numpy())
            sent = masked_mean(states, mask)
            out["minilm"].append(torch.nn.functional.normalize(sent, dim=-1).numpy())
            if progress:
                progress("teacher", min(i + batch, len(texts)), len(texts))
    model.close()
    back = np.argsort(order)
    return {k: np.concatenate(v).astype(np.float32)[back] for k, v in out.items()}


def _cached(path: Path | None, make: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if path is not None and path.is_file():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    value = make()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **value)  # type: ignore[arg-type]
    return value


def prepare(weights: Path, captions: Sequence[str], cache_dir: Path | None = None,
            progress: Progress | None = None) -> tuple[list[str], np.ndarray, dict[str, np.ndarray]]:
    """(texts, student inputs (N, E), teacher targets), cached under ``cache_dir`` when given."""
    texts = training_texts(captions)
    h = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    wsha = file_sha256(weights)[:16]
    enc = SentenceEncoder()
    inputs = _cached(
        cache_dir / f"ml-inputs-{enc.name}-{h}.npz" if cache_dir else None,
        lambda: {"x": enc.embed_batched(texts, progress=progress)},
    )["x"]
    targets = _cached(
        cache_dir / f"ml-teacher-{wsha}-{h}.npz" if cache_dir else None,
        lambda: teacher_targets(weights, texts, progress=progress),
    )
    return texts, inputs, targets


def _mlp(d_in: int, hidden: int, d_out: int, dropout: float):
    import torch
    from torch import nn

    class MLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = nn.Linear(d_in, hidden)
            self.fc2 = nn.Linear(hidden, d_out)
            self.skip = nn.Linear(d_in, d_out, bias=False)
            self.drop = nn.Dropout(dropout)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc2(self.drop(nn.functional.gelu(self.fc1(x)))) + self.skip(x)

    return MLP()


def fit_head(x: np.ndarray, y: np.ndarray, *, gate: np.ndarray | None = None, hidden: int = 1024,
             epochs: int = 20, batch: int = 512, lr: float = 2e-3, dropout: float = 0.2,
             noise: float = 0.5, temperature: float = 0.05, seed: int = 0,
             progress: Progress | None = None) -> dict[str, np.ndarray]:
    """An MLP from unit inputs ``x`` to unit targets ``y`` (cosine + in-batch InfoNCE against the
    targets); with ``gate``, a linear gate logit from the hidden layer too (squared error).

    ``noise``: Gaussian noise on the inputs of this norm (relative to the unit input), a stand-in
    for the gap between a text's embedding and its translations' (cosine ~0.85-0.93)."""
    import torch
    from torch import nn

    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    d_in, d_out = x.shape[1], y.shape[1]
    net = _mlp(d_in, hidden, d_out, dropout)
    gate_lin = nn.Linear(hidden, 1) if gate is not None else None
    params = list(net.parameters()) + (list(gate_lin.parameters()) if gate_lin is not None else [])
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    steps = epochs * -(-len(x) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    X, Y = torch.from_numpy(x), torch.from_numpy(y)
    G = torch.from_numpy(gate) if gate is not None else None
    for epoch in range(epochs):
        net.train()
        perm = torch.randperm(len(X), generator=g)
        for s in range(0, len(X), batch):
            idx = perm[s : s + batch]
            xb = X[idx]
            if noise > 0:
                eps = torch.randn(xb.shape, generator=g)
                xb = nn.functional.normalize(xb + noise * nn.functional.normalize(eps, dim=-1), dim=-1)
            hid = net.drop(nn.functional.gelu(net.fc1(xb)))
            out = nn.functional.normalize(net.fc2(hid) + net.skip(xb), dim=-1)
            yb = Y[idx]
            cos = (out * yb).sum(-1)
            logits = out @ yb.T / temperature
            labels = torch.arange(len(idx))
            loss = (1 - cos).mean() + 0.1 * nn.functional.cross_entropy(logits, labels)
            if gate_lin is not None and G is not None:
                loss = loss + 0.1 * ((gate_lin(hid).squeeze(-1) - G[idx]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        if progress:
            progress("train", epoch + 1, epochs)
    net.eval()
    sd = {k: v.detach().numpy().astype(np.float32) for k, v in net.state_dict().items()}
    if gate_lin is not None:
        sd.update({f"gate.{k}": v.detach().numpy().astype(np.float32) for k, v in gate_lin.state_dict().items()})
    return sd


def fit_linear(x: np.ndarray, y: np.ndarray, ridge: float = 1e-2) -> dict[str, np.ndarray]:
    """Least squares (ridge) ``y ≈ x W.T + b``: the map onto MiniLM's sentence embedding."""
    xm, ym = x.mean(0), y.mean(0)
    xc, yc = x - xm, y - ym
    a = xc.T @ xc + ridge * len(x) * np.eye(x.shape[1], dtype=np.float64) / x.shape[1]
    w = np.linalg.solve(a, xc.T @ yc).T.astype(np.float32)  # (out, in)
    return {"weight": w, "bias": (ym - w @ xm).astype(np.float32)}


#: fraction of held-out English keyword phrases kept on the English path by the agreement check
KEEP_ENGLISH = 0.9


def calibrate(english: np.ndarray, multilingual: np.ndarray, keep: float = KEEP_ENGLISH) -> float:
    """The agreement threshold (cosine of the two query vectors of a text) that keeps a fraction
    ``keep`` of these English texts on the English path."""
    return float(np.quantile((english * multilingual).sum(-1), 1.0 - keep))


def keyword_phrases(captions: Sequence[str]) -> list[str]:
    """Keyword phrases only (as :func:`training_texts` cuts them), for calibration."""
    caps = set(captions)
    return [t for t in training_texts(captions, min_word=1, min_pair=2) if t not in caps]


def train_multilingual(weights: Path, captions: Sequence[str], out: Path, *, dev_captions: Sequence[str] = (),
                       cache_dir: Path | None = None, epochs: int = 20, hidden: int = 1024, noise: float = 0.5,
                       seed: int = 0, progress: Progress | None = None) -> dict[str, object]:
    """Train the three maps and write them to ``out`` (see :mod:`.multilingual`); returns a report.

    The agreement threshold of :meth:`.multilingual.MultilingualEncoder.pick` is calibrated on
    keyword phrases of ``dev_captions`` (held-out English texts; the training phrases without them)."""
    from safetensors.numpy import save_file

    texts, x, t = prepare(weights, captions, cache_dir, progress)
    state: dict[str, np.ndarray] = {}
    for k, v in fit_head(x, t["query"], hidden=hidden, epochs=epochs, noise=noise, seed=seed,
                         progress=progress).items():
        state[f"query.{k}"] = v
    for k, v in fit_head(x, t["photo_text"], gate=t["gate"], hidden=hidden, epochs=epochs, noise=noise,
                         seed=seed + 1, progress=progress).items():
        state[f"photo_text.{k}"] = v
    for k, v in fit_linear(x, t["minilm"]).items():
        state[f"minilm.{k}"] = v
    from .multilingual import MultilingualHeads

    half = {k: v.astype(np.float16) for k, v in state.items()}
    heads = MultilingualHeads.from_state(half, {})
    if dev_captions:
        phrases = keyword_phrases(dev_captions)
        known = set(texts)
        phrases = [p for p in phrases if p not in known] or phrases
        cal_x = SentenceEncoder().embed_batched(phrases)
        cal_en = teacher_targets(weights, phrases)["query"]
    else:
        sel = [i for i, tx in enumerate(texts) if len(tx.split()) <= 2]
        cal_x, cal_en = x[sel], t["query"][sel]
    agreement = calibrate(cal_en, heads.query(cal_x))
    log.info("agreement threshold %.3f (%d calibration texts)", agreement, len(cal_x))
    meta = {
        "format_name": MULTILINGUAL_FORMAT,
        "agreement": f"{agreement:.4f}",
        "encoder": ENCODER_NAME,
        "builtin_sha256": file_sha256(weights),
        "texts": str(len(texts)),
        "settings": f"epochs={epochs} hidden={hidden} noise={noise} seed={seed}",
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(half, str(out), metadata=meta)
    # training fit (English): cosine of the student with the teacher
    sample = slice(0, min(len(x), 5000))
    q = heads.query(x[sample])
    pv, _ = heads.photo_text(x[sample])
    m = heads.minilm_like(x[sample])
    report: dict[str, object] = {
        "texts": len(texts),
        "agreement": agreement,
        "cos_query": float((q * t["query"][sample]).sum(1).mean()),
        "cos_photo_text": float((pv * t["photo_text"][sample]).sum(1).mean()),
        "cos_minilm": float((m * t["minilm"][sample]).sum(1).mean()),
    }
    log.info("multilingual heads written to %s: %s", out, report)
    return report


def recalibrate(path: Path, weights: Path, dev_captions: Sequence[str], keep: float = KEEP_ENGLISH) -> float:
    """Set the agreement threshold of a heads file again (keeping its heads), from the keyword
    phrases of ``dev_captions``; returns it."""
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    from .multilingual import MultilingualHeads

    with safe_open(str(path), framework="np") as f:
        meta = dict(f.metadata() or {})
    state = load_file(str(path))
    phrases = keyword_phrases(dev_captions)
    heads = MultilingualHeads(state, meta)
    agreement = calibrate(teacher_targets(weights, phrases)["query"], heads.query(SentenceEncoder().embed_batched(phrases)), keep)
    meta["agreement"] = f"{agreement:.4f}"
    save_file(state, str(path), metadata=meta)
    return agreement
