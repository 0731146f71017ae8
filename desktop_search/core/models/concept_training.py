"""Training the concept bridge (:mod:`.concepts`) on captioned photos, over fixed builtin heads.

The learned heads stay as they are; the bridge learns how much, and which, of the ImageNet
classifier's evidence to add to their image match:

- the photo side ``z = V·(logits − μ)/σ`` (V starts as the top principal directions of the
  training photos' standardised logits) and the query side ``y = B·g(q) + A·s + a₀`` (B starts as V,
  so at the start ``y·z`` is the zero-shot ConSE match g(q)·logits in V's subspace; A at zero);
- the weight w of ``y·z`` against the heads' match;
- trained with a contrastive loss over every training photo, on two kinds of queries: the
  captions (one right photo each), and the content words of the captions ("pizza", "umbrella":
  every photo whose captions use the word is right), so that one-word queries are learnt too.

Settings are chosen on dev splits (``--dev``); the result is added to a copy of the heads' weights
file as ``concept.*`` tensors, which changes the model's key (libraries re-embed in the background).
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .concept_vocab import default_vocabulary
from .concepts import ConceptBridge
from .numpy_text import masked_mean, normalize

Log = Callable[[str], None]

#: words too common or too vague to teach a concept with
STOPWORDS = frozenset(
    ["the", "and", "with", "are", "wearing", "two", "his", "while", "one", "her", "for", "its", "their", "from", "into", "over", "near", "through", "down", "front", "next", "other", "another", "some", "three", "four", "there", "that", "this", "has", "have", "who", "being", "something", "each", "they", "them", "him", "out", "off", "onto", "about", "very", "group", "small", "large", "young", "little", "big", "long", "side", "top", "stands", "standing", "sitting", "sits", "holding", "looking", "person", "people", "man", "men", "woman", "women", "picture", "photo", "image"]
)


@dataclass
class ConceptData:
    """What the bridge trains on, for one set of photos (training or dev)."""

    pooled: np.ndarray  # (N, 1280) mean-pooled feature maps
    image: np.ndarray  # (N, dim) the heads' image vectors
    queries: np.ndarray  # (Q, dim) the heads' query vectors of the captions, unit
    sentences: np.ndarray  # (Q, 384) the captions' MiniLM sentence embeddings
    owner: np.ndarray  # (Q,) the photo each caption belongs to
    captions: list[list[str]]  # per photo


@dataclass
class ConceptSettings:
    dim: int = 64
    tau: float = 0.5
    epochs: int = 4
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch: int = 256
    word_fraction: float = 0.5
    min_word_photos: int = 3
    #: the heads' score scale in the loss (the fusion's image scale is of this order)
    base_scale: float = 20.0
    #: starting weight of the concept match, in units of the standardised logits
    init_weight: float = 0.03
    #: what is trained: "all" (V, B, A, a₀ and w) or "profile" (B and w: the photo side stays the
    #: classifier's principal directions and the query side its zero-shot profile, re-weighted)
    learn: str = "profile"
    seed: int = 0


def content_words(captions: Sequence[Sequence[str]], min_photos: int) -> tuple[list[str], np.ndarray]:
    """The content words used by at least ``min_photos`` photos' captions, and which photos use
    each (words × photos, bool)."""
    per_photo = [set(re.findall(r"[a-z]+", " ".join(cs).lower())) for cs in captions]
    counts = Counter(w for ws in per_photo for w in ws)
    words = sorted(w for w, n in counts.items() if n >= min_photos and len(w) >= 3 and w not in STOPWORDS)
    index = {w: i for i, w in enumerate(words)}
    uses = np.zeros((len(words), len(captions)), bool)
    for j, ws in enumerate(per_photo):
        for w in ws:
            i = index.get(w)
            if i is not None:
                uses[i, j] = True
    return words, uses


def alias_table(embed: Callable[[list[str]], np.ndarray], vocab: list[list[str]] | None = None) -> dict[str, np.ndarray]:
    """The class names' sentence embeddings, class by class (``alias_emb``, ``alias_start``)."""
    vocab = vocab if vocab is not None else default_vocabulary()
    flat = [a for aliases in vocab for a in aliases]
    starts = np.cumsum([0] + [len(a) for a in vocab[:-1]]).astype(np.int64)
    return {"alias_emb": embed(flat).astype(np.float16), "alias_start": starts}


def train_concepts(
    train: ConceptData,
    words: tuple[np.ndarray, np.ndarray, np.ndarray],
    classifier: tuple[np.ndarray, np.ndarray],
    aliases: dict[str, np.ndarray],
    s: ConceptSettings,
    dev: dict[str, tuple[ConceptData, Callable[[Callable[..., np.ndarray]], dict]]] | None = None,
    log: Log = lambda m: print(m, file=sys.stderr, flush=True),
) -> dict[str, np.ndarray]:
    """Fit the bridge; returns its ``concept.*`` parameters (without the prefix).

    ``words``: (query vectors, sentence embeddings, photos-that-use-it) of the content words;
    ``classifier``: the image encoder's ImageNet classifier (weight (1000, 1280), bias (1000,));
    ``dev``: name → (data, report) where report(score_fn) returns figures to log after each epoch.
    """
    torch.manual_seed(s.seed)
    fc_w, fc_b = (np.asarray(a, np.float32) for a in classifier)
    logits = train.pooled @ fc_w.T + fc_b
    mu = logits.mean(0)
    sigma = float(logits.std())
    std = (logits - mu) / sigma
    _, _, vt = np.linalg.svd(std - std.mean(0), full_matrices=False)
    bridge0 = ConceptBridge({
        **aliases, "img_w": np.zeros((s.dim, fc_w.shape[1])), "img_b": np.zeros(s.dim),
        "q_b": np.zeros((s.dim, len(fc_b))), "q_a": np.zeros((s.dim, 384)), "q_a0": np.zeros(s.dim),
        "tau": np.array([s.tau]), "scale": np.array([1.0]),
    })
    profile = bridge0.profile

    V = torch.nn.Parameter(torch.tensor(vt[: s.dim], dtype=torch.float32))
    B = torch.nn.Parameter(torch.tensor(vt[: s.dim], dtype=torch.float32).clone())
    A = torch.nn.Parameter(torch.zeros(s.dim, train.sentences.shape[1]))
    a0 = torch.nn.Parameter(torch.zeros(s.dim))
    log_w = torch.nn.Parameter(torch.tensor(float(np.log(s.init_weight * sigma)), dtype=torch.float32))
    if s.learn not in ("all", "profile"):
        raise ValueError(f"unknown concept training mode {s.learn!r}")
    trained = [V, B, A, a0, log_w] if s.learn == "all" else [B, log_w]
    for p in (V, B, A, a0, log_w):
        p.requires_grad_(any(p is t for t in trained))
    opt = torch.optim.AdamW(trained, lr=s.lr, weight_decay=s.weight_decay)

    photos_std = torch.tensor(std, dtype=torch.float32)
    image = torch.tensor(train.image, dtype=torch.float32)
    cap_q = torch.tensor(train.queries)
    cap_s = torch.tensor(train.sentences)
    cap_g = torch.tensor(profile(train.sentences))
    owner = torch.tensor(train.owner, dtype=torch.long)
    w_q, w_s, w_uses = (torch.tensor(a) for a in words)
    w_g = torch.tensor(profile(words[1]))
    base = float(s.base_scale)

    def query_half(g: torch.Tensor, sent: torch.Tensor) -> torch.Tensor:
        return g @ B.T + sent @ A.T + a0

    def scores(q: torch.Tensor, g: torch.Tensor, sent: torch.Tensor) -> torch.Tensor:
        return base * (q @ image.T) + torch.exp(log_w) * (query_half(g, sent) @ (photos_std @ V.T).T)

    def params() -> dict[str, np.ndarray]:
        with torch.no_grad():
            v = V.numpy().astype(np.float64)
            img_w = (v @ fc_w.astype(np.float64)) / sigma
            img_b = v @ (fc_b - mu).astype(np.float64) / sigma
            return {
                **aliases,
                "img_w": img_w.astype(np.float32), "img_b": img_b.astype(np.float32),
                "q_b": B.numpy().copy(), "q_a": A.numpy().copy(), "q_a0": a0.numpy().copy(),
                "tau": np.array([s.tau], np.float32),
                # y·z is added to the heads' cosine, whose own scale in the loss is base_scale
                "scale": np.array([float(torch.exp(log_w)) / float(base)], np.float32),
            }

    def report(tag: str) -> None:
        if not dev:
            return
        bridge = ConceptBridge(params())
        for name, (data, rep) in dev.items():
            log(f"concepts {tag} {name}: {rep(bridge_scores(bridge, data))}")

    report("start")
    n_caps, n_words = len(owner), len(w_uses)
    per_words = int(s.batch * s.word_fraction)
    for epoch in range(s.epochs):
        order = torch.randperm(n_caps)
        total = 0.0
        for start in range(0, n_caps, s.batch):
            idx = order[start : start + s.batch]
            loss = torch.nn.functional.cross_entropy(scores(cap_q[idx], cap_g[idx], cap_s[idx]), owner[idx])
            if per_words and n_words:
                j = torch.randint(0, n_words, (per_words,))
                sw = scores(w_q[j], w_g[j], w_s[j])
                right = torch.logsumexp(sw.masked_fill(~w_uses[j], -1e9), 1)
                loss = loss + (torch.logsumexp(sw, 1) - right).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach())
        log(f"concepts epoch {epoch + 1}/{s.epochs}: loss {total / max(1, -(-n_caps // s.batch)):.3f}")
        report(f"epoch {epoch + 1}")
    return params()


def bridge_scores(bridge: ConceptBridge, data: ConceptData) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """score(query vectors (Q, dim), sentence embeddings (Q, 384)) → (Q, N): the heads' image match
    plus the bridge's, as the search computes them (for reports on dev sets)."""
    photo_half = bridge.photos(data.pooled)

    def score(queries: np.ndarray, sentences: np.ndarray) -> np.ndarray:
        return queries @ data.image.T + bridge.queries(sentences) @ photo_half.T

    return score


def sentences_of(states: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """MiniLM sentence embeddings (masked mean of token states, unit length)."""
    return normalize(masked_mean(np.asarray(states, np.float32), np.asarray(mask))).astype(np.float32)


# -- preparing the data through the builtin model ----------------------------------------------------
def prepare(model, data, log: Log, batch: int = 500) -> ConceptData:
    """A :class:`ConceptData` of captioned photos (``dataset.CaptionedImages``) through ``model`` (a
    :class:`~.builtin.BuiltinModel`): cached frozen features, the heads' vectors, the captions'
    sentence embeddings."""
    from .features import extract_image_features, extract_text_features, stderr_progress

    feats = extract_image_features(data.paths, model.config.encoder, "orig", progress=stderr_progress("features"))
    heads = model._heads
    pooled, image = [], []
    with torch.inference_mode():
        for i in range(0, len(feats), batch):
            f = torch.from_numpy(feats[i : i + batch].astype(np.float32))  # (B, P, C)
            side = round(f.shape[1] ** 0.5)
            fmap = f.transpose(1, 2).reshape(f.shape[0], f.shape[2], side, side)
            pooled.append(f.mean(1).numpy())
            image.append(heads.image(fmap).float().numpy())
    flat = [c for cs in data.captions for c in cs]
    owner = np.array([i for i, cs in enumerate(data.captions) for _ in cs], dtype=np.int64)
    text = extract_text_features(flat, progress=stderr_progress("caption features"))
    queries, sentences = [], []
    with torch.inference_mode():
        for i in range(0, len(flat), batch):
            states, mask = text.padded(np.arange(i, min(i + batch, len(flat))))
            queries.append(normalize(heads.text(states, mask).float().numpy()))
            sentences.append(sentences_of(states.numpy(), mask.numpy()))
    log(f"concept data: {len(data)} photos, {len(flat)} captions")
    return ConceptData(
        pooled=np.concatenate(pooled), image=np.concatenate(image), queries=np.concatenate(queries),
        sentences=np.concatenate(sentences), owner=owner, captions=[list(c) for c in data.captions],
    )


def embed_texts(model, texts: Sequence[str], batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(the heads' query vectors, MiniLM sentence embeddings) of short texts, through ``model``."""
    enc = model._text_encoder
    heads = model._heads
    qs, ss = [np.zeros((0, model.head_dim), np.float32)], [np.zeros((0, 384), np.float32)]
    with torch.inference_mode():
        for i in range(0, len(texts), batch):
            ids, mask = enc.tokenize(list(texts[i : i + batch]))
            states = enc(ids, mask).float()
            qs.append(normalize(heads.text(states, mask).float().numpy()))
            ss.append(sentences_of(states.numpy(), mask.numpy()))
    return np.concatenate(qs), np.concatenate(ss)


def merge(parts: Sequence[ConceptData]) -> ConceptData:
    """Several photo sets as one (captions' owners shifted)."""
    offsets = np.cumsum([0] + [len(p.pooled) for p in parts[:-1]])
    return ConceptData(
        pooled=np.concatenate([p.pooled for p in parts]),
        image=np.concatenate([p.image for p in parts]),
        queries=np.concatenate([p.queries for p in parts]),
        sentences=np.concatenate([p.sentences for p in parts]),
        owner=np.concatenate([p.owner + o for p, o in zip(parts, offsets, strict=True)]),
        captions=[c for p in parts for c in p.captions],
    )


def save_with_concepts(model, params: dict[str, np.ndarray], out, s: ConceptSettings, dev: dict) -> None:
    """Write ``model``'s weights file with the bridge's ``concept.*`` tensors (any older ones
    replaced), its settings, dev figures and vocabulary in the metadata; atomically."""
    import json
    from dataclasses import asdict
    from pathlib import Path

    from safetensors.numpy import save_file

    from .builtin import read_numpy_weights, write_weights_atomically
    from .concept_vocab import default_vocabulary
    from .concepts import PREFIX

    state, _, meta = read_numpy_weights(Path(model.weights_path).read_bytes(), model.weights_path)
    state = {k: v for k, v in state.items() if not k.startswith(PREFIX)}
    for k, v in params.items():
        if k == "alias_start":
            state[PREFIX + k] = np.ascontiguousarray(v, np.int64)
        elif k in ("tau", "scale"):
            state[PREFIX + k] = np.ascontiguousarray(v, np.float32).reshape(1)
        else:
            state[PREFIX + k] = np.ascontiguousarray(v, np.float16)
    meta = {**meta, "concepts": json.dumps({"settings": asdict(s), "dev": dev}),
            # the heads are the base's: libraries indexed by it keep answering while they re-embed
            "upgrades_from": json.dumps(sorted({model.version, *model.legacy_versions})),
            "concept_vocabulary": json.dumps(default_vocabulary())}
    write_weights_atomically(out, lambda tmp: save_file(state, tmp, metadata=meta))
