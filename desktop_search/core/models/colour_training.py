"""Training the colour parts (:mod:`.colours`) on captioned photos: the reproducible form of the
research that made the shipped ``colours.*`` tensors (docs/MODELS.md, "Colours and clothing").

    python -m desktop_search.core.models.colour_training --train IMAGES CAPTIONS SPLIT [--train ...]
        [--dev IMAGES CAPTIONS SPLIT ...] --out FILE [--weights FILE] [--seeds 0 1 2] [--epochs 8]
        [--batch 128] [--lr 2e-3]

For each of the 11 colour names, an attention over the 7 × 7 cells of the image encoder's feature
map (``Linear(1280, 11)`` of each cell's standardised features, softmax over the cells) picks where
a caption's colour word would point; the photo's logit for the colour is the attended share of its
pixels, ``beta + exp(log_alpha) * log(share + 0.01)``. It is trained with multiple-instance
learning: a photo is positive for a colour when any of its captions uses the colour name before a
noun ("a red shirt", "a black and white dog"; :func:`caption_colours`), binary cross-entropy, AdamW
with a one-cycle schedule. One member per seed; each member's logits are standardised over every
7th training photo, and the app averages the members (:class:`.colours.ColourParts`).

The photos' cell features are the cached frozen features (:func:`.features.extract_image_features`,
``lite0``, ``orig``); their colour shares per cell are :func:`.colours.cell_shares` of the app's own
224 × 224 input (so training and app agree), cached per photo set beside the features cache.

The result is written into a copy of a builtin weights file (``--weights``, default the shipped
one) as ``colours.*`` tensors (any older ones replaced), with the settings and dev figures in its
metadata; the heads are unchanged, so the file ``upgrades_from`` the input's version.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .colours import COLOUR_NAMES, PREFIX, ColourParts, cell_shares

Log = Callable[[str], None]

#: bump when the colour naming or the share grid changes (changes the shares cache's key)
SHARES_VERSION = "s1"
#: words after a colour name that are not the noun it describes ("the shirt is red", "red and ...")
_NOT_NOUN = frozenset({"is", "are", "was", "in", "on", "with", "at", "to", "of", "by", "while", "as", "the", "a", "an", "."})
_TOKEN = re.compile(r"[a-z]+|[.,]")


@dataclass
class ColourSettings:
    """The research's "percol" settings (docs/MODELS.md, "Colours and clothing")."""

    epochs: int = 8
    batch: int = 128
    lr: float = 2e-3
    #: learning rate of the calibration (``log_alpha``, ``beta``)
    calibration_lr: float = 3e-2
    weight_decay: float = 1e-4
    #: the feature standardisation is fitted on the cells of the first this many training photos
    standardise_photos: int = 500
    #: each member's output standardisation is fitted on every this-many-th training photo
    stats_every: int = 7
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    #: the photo part's scale and the query weight in the search's vectors
    photo_scale: float = 0.05
    query_weight: float = 0.05


# -- targets ---------------------------------------------------------------------------------------------
def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower().replace("grey", "gray"))


def caption_colours(caption: str) -> set[str]:
    """The colour names a caption uses before a noun: ``colour ((and|or|,) colour | colour)* word``
    ("a red and white shirt" → red, white; "the shirt is red" → none)."""
    t = _tokens(caption)
    out: set[str] = set()
    i = 0
    while i < len(t):
        if t[i] not in COLOUR_NAMES:
            i += 1
            continue
        chain = [t[i]]
        j = i + 1
        while j + 1 < len(t) and t[j] in ("and", ",", "or") and t[j + 1] in COLOUR_NAMES:
            chain.append(t[j + 1])
            j += 2
        while j < len(t) and t[j] in COLOUR_NAMES:
            chain.append(t[j])
            j += 1
        if j < len(t) and t[j].isalpha() and t[j] not in _NOT_NOUN and t[j] not in ("and", "or"):
            out.update(chain)
        i = j
    return out


def colour_targets(captions: Sequence[Sequence[str]]) -> np.ndarray:
    """(N, 11) float32, 1 where any of a photo's captions uses the colour name before a noun."""
    y = np.zeros((len(captions), len(COLOUR_NAMES)), np.float32)
    for i, cs in enumerate(captions):
        for c in cs:
            for name in caption_colours(c):
                y[i, COLOUR_NAMES.index(name)] = 1.0
    return y


# -- the photos' cell features and colour shares ------------------------------------------------------------
def photo_shares(image_paths: Sequence[Path], cache_dir: Path | None = None, log: Log | None = None) -> np.ndarray:
    """(N, 49, 11) float32: each photo's cells' colour shares (:func:`.colours.cell_shares` of the
    app's 224 × 224 input), cached as one .npy per list of photos (keyed by their contents)."""
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image

    from .features import cache_root, image_cache_key
    from .preprocess import preprocess_image

    h = hashlib.sha1(SHARES_VERSION.encode())
    for p in image_paths:
        h.update(image_cache_key(Path(p), "colour-shares", "orig").encode())
    path = cache_root(cache_dir) / "colour_shares" / f"{h.hexdigest()}.npy"
    if path.is_file():
        return np.load(path).astype(np.float32)

    def one(p: Path) -> np.ndarray:
        with Image.open(p) as im:
            return cell_shares(preprocess_image(im.convert("RGB"), 224)).astype(np.float16)

    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:
        out = np.stack(list(pool.map(one, [Path(p) for p in image_paths])))
    if log:
        log(f"colour shares of {len(out)} photos in {time.monotonic() - t0:.0f}s")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npy")
    np.save(tmp, out)
    tmp.replace(path)
    return out.astype(np.float32)


@dataclass
class ColourData:
    """What the colour parts train on, for one set of photos."""

    cells: np.ndarray  # (N, 49, 1280) float16 feature maps
    shares: np.ndarray  # (N, 49, 11) float32 colour shares per cell
    targets: np.ndarray  # (N, 11) float32 0/1


def prepare(data, log: Log | None = None, cache_dir: Path | None = None) -> ColourData:
    """A :class:`ColourData` of captioned photos (``dataset.CaptionedImages``)."""
    from .features import extract_image_features, stderr_progress

    cells = extract_image_features(data.paths, "lite0", "orig", cache_dir=cache_dir, progress=stderr_progress("features"))
    return ColourData(cells=cells, shares=photo_shares(data.paths, cache_dir, log), targets=colour_targets(data.captions))


def merge(parts: Sequence[ColourData]) -> ColourData:
    """Several photo sets as one, in order."""
    return ColourData(
        cells=np.concatenate([p.cells for p in parts]),
        shares=np.concatenate([p.shares for p in parts]),
        targets=np.concatenate([p.targets for p in parts]),
    )


# -- training --------------------------------------------------------------------------------------------
def feature_standardisation(cells: np.ndarray, photos: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) per feature over the cells of the first ``photos`` photos."""
    x = np.asarray(cells[:photos], np.float32).reshape(-1, cells.shape[-1])
    return x.mean(0), x.std(0) + 1e-3


def member_logits(parts: ColourParts, cells: np.ndarray, shares: np.ndarray, batch: int = 250) -> np.ndarray:
    """(N, members, 11): the members' raw logits (:meth:`.colours.ColourParts.logits`), ``batch``
    photos at a time."""
    out = [parts.logits(cells[i : i + batch], shares[i : i + batch]) for i in range(0, len(cells), batch)]
    return np.concatenate(out) if out else np.zeros((0, len(parts.att_w), len(COLOUR_NAMES)), np.float32)


def _parts(params: Mapping[str, np.ndarray]) -> ColourParts:
    """:class:`.colours.ColourParts` of trained attention parameters whose output standardisation
    and search scales may not be fitted yet (neutral ones stand in: the raw logits are the same)."""
    members, k = np.asarray(params["att_b"]).shape
    neutral = {"out_mean": np.zeros((members, k), np.float32), "out_std": np.ones((members, k), np.float32),
               "photo_scale": np.ones(1, np.float32), "query_weight": np.ones(1, np.float32)}
    return ColourParts({**neutral, **params})


def train_member(train: ColourData, feat_mean: np.ndarray, feat_std: np.ndarray, s: ColourSettings, seed: int,
                 log: Log | None = None) -> dict[str, np.ndarray]:
    """One member (one seed): its ``att_w``, ``att_b``, ``log_alpha``, ``beta``, ``out_mean``, ``out_std``."""
    import torch
    import torch.nn.functional as F

    k = len(COLOUR_NAMES)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    att = torch.nn.Linear(train.cells.shape[-1], k)
    log_alpha = torch.nn.Parameter(torch.zeros(k))
    beta = torch.nn.Parameter(torch.zeros(k))
    mu, sd = torch.from_numpy(np.asarray(feat_mean, np.float32)), torch.from_numpy(np.asarray(feat_std, np.float32))
    opt = torch.optim.AdamW([
        {"params": list(att.parameters()), "lr": s.lr, "weight_decay": s.weight_decay},
        {"params": [log_alpha, beta], "lr": s.calibration_lr, "weight_decay": 0.0},
    ])
    n = len(train.cells)
    per_epoch = n // s.batch
    if per_epoch < 1:
        raise ValueError(f"{n} training photos: fewer than one batch of {s.batch}")
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, [s.lr, s.calibration_lr], total_steps=s.epochs * per_epoch)
    y = torch.from_numpy((train.targets > 0).astype(np.float32))
    t0 = time.monotonic()
    for epoch in range(s.epochs):
        perm = rng.permutation(n)
        total = 0.0
        for i in range(per_epoch):
            idx = np.sort(perm[i * s.batch : (i + 1) * s.batch])
            x = (torch.from_numpy(train.cells[idx].astype(np.float32)) - mu) / sd
            a = att(x).softmax(1)  # (B, cells, 11)
            share = (a * torch.from_numpy(np.asarray(train.shares[idx], np.float32))).sum(1)
            logit = beta + log_alpha.exp() * torch.log(share + 0.01)
            loss = F.binary_cross_entropy_with_logits(logit, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
        if log:
            log(f"colours seed {seed} epoch {epoch + 1}/{s.epochs}: loss {total / per_epoch:.4f} ({time.monotonic() - t0:.0f}s)")
    with torch.no_grad():
        member = {"att_w": att.weight.numpy().copy(), "att_b": att.bias.numpy().copy(),
                  "log_alpha": log_alpha.numpy().copy(), "beta": beta.numpy().copy()}
    every = max(1, s.stats_every)
    one = _parts({"feat_mean": feat_mean, "feat_std": feat_std, **{k: v[None] for k, v in member.items()}})
    logits = member_logits(one, train.cells[::every], train.shares[::every])[:, 0]
    member["out_mean"] = logits.mean(0).astype(np.float32)
    member["out_std"] = (logits.std(0) + 1e-6).astype(np.float32)
    return member


def train_colours(train: ColourData, s: ColourSettings, log: Log | None = None) -> dict[str, np.ndarray]:
    """Every seed's member; returns the ``colours.*`` parameters (without the prefix), members stacked."""
    feat_mean, feat_std = feature_standardisation(train.cells, s.standardise_photos)
    members = [train_member(train, feat_mean, feat_std, s, seed, log) for seed in s.seeds]
    params = {"feat_mean": feat_mean, "feat_std": feat_std}
    for name in ("att_w", "att_b", "log_alpha", "beta", "out_mean", "out_std"):
        params[name] = np.stack([m[name] for m in members]).astype(np.float32)
    params["photo_scale"] = np.array([s.photo_scale], np.float32)
    params["query_weight"] = np.array([s.query_weight], np.float32)
    return params


def dev_report(params: Mapping[str, np.ndarray], data: ColourData) -> dict[str, Any]:
    """Dev figures: each member's binary cross-entropy against the caption targets (as the research
    logged them), and the ensemble evidence's mean AUC over the colours with positives."""
    parts = _parts(params)
    logits = member_logits(parts, data.cells, data.shares).astype(np.float64)  # (N, members, 11)
    y = data.targets > 0
    bce = []
    for m in range(logits.shape[1]):
        z = logits[:, m]
        bce.append(float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))))
    ev = ((logits - parts.out_mean) / parts.out_std).mean(axis=1)  # parts.evidence, from the same logits
    aucs = [_auc(ev[:, c], data.targets[:, c] > 0) for c in range(len(COLOUR_NAMES))]
    valid = [a for a in aucs if a == a]
    return {"photos": len(data.cells), "bce": [round(b, 4) for b in bce],
            "mean_auc": round(float(np.mean(valid)), 4) if valid else float("nan")}


def _auc(score: np.ndarray, positive: np.ndarray) -> float:
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if not n_pos or not n_neg:
        return float("nan")
    ranks = np.empty(len(score))
    ranks[np.argsort(score, kind="stable")] = np.arange(1, len(score) + 1)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


# -- writing the weights file -------------------------------------------------------------------------------
def save_with_colours(model, params: Mapping[str, np.ndarray], out, settings: ColourSettings,
                      dev: dict | None = None) -> None:
    """Write ``model``'s weights file (a :class:`~.builtin.BuiltinModel`) with the ``colours.*``
    tensors (any older ones replaced), its settings and dev figures in the metadata; atomically."""
    from safetensors.numpy import save_file

    from .builtin import read_numpy_weights, write_weights_atomically

    state, _, meta = read_numpy_weights(Path(model.weights_path).read_bytes(), model.weights_path)
    state = {k: v for k, v in state.items() if not k.startswith(PREFIX)}
    for k, v in params.items():
        dtype = np.float32 if k in ("photo_scale", "query_weight") else np.float16
        arr = np.ascontiguousarray(v, dtype)
        state[PREFIX + k] = arr.reshape(1) if k in ("photo_scale", "query_weight") else arr
    meta = {**meta, "colours": json.dumps({"settings": asdict(settings), "dev": dev or {}}),
            # the heads are the input's: libraries indexed by it keep answering while they re-embed
            "upgrades_from": json.dumps(sorted({model.version, *model.legacy_versions}))}
    write_weights_atomically(out, lambda tmp: save_file(state, tmp, metadata=meta))


# -- command line ------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m desktop_search.core.models.colour_training",
        description="Train the builtin model's colour parts on captioned photos and write them into a copy "
        "of a builtin weights file.",
    )
    p.add_argument("--train", nargs=3, action="append", required=True, metavar=("IMAGES", "CAPTIONS", "SPLIT"),
                   help="photos, their image,caption CSV and the photo names to train on (repeatable; in order)")
    p.add_argument("--dev", nargs=3, action="append", default=[], metavar=("IMAGES", "CAPTIONS", "SPLIT"),
                   help="a dev set whose figures go into the report and the metadata (repeatable)")
    p.add_argument("--weights", default=None, type=Path, help="the builtin weights file to copy (default the shipped one)")
    p.add_argument("--out", required=True, type=Path, help="output weights file")
    p.add_argument("--seeds", nargs="+", type=int, default=None, help="one member per seed (default 0 1 2)")
    p.add_argument("--epochs", type=int, default=None, help="epochs (default 8)")
    p.add_argument("--batch", type=int, default=None, help="photos per batch (default 128)")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate of the attention (default 2e-3)")
    args = p.parse_args(argv)

    from .builtin import load_builtin
    from .dataset import load_captioned
    from .registry import ModelUnavailable

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    s = ColourSettings()
    if args.seeds is not None:
        s.seeds = list(args.seeds)
    for name in ("epochs", "batch", "lr"):
        if getattr(args, name) is not None:
            setattr(s, name, getattr(args, name))
    try:
        if s.epochs < 1 or s.batch < 1 or not s.seeds:
            raise ValueError("--epochs and --batch must be at least 1 and --seeds name at least one seed")
        train_sets = [load_captioned(Path(d), Path(c), Path(sp)) for d, c, sp in args.train]
        dev_sets = [load_captioned(Path(d), Path(c), Path(sp)) for d, c, sp in args.dev]
        model = load_builtin(f"builtin:{args.weights}" if args.weights else "builtin", device="cpu")
        if not model.trained:
            raise ValueError("the builtin weights file is missing")
    except (ValueError, OSError, ModelUnavailable) as exc:
        print(f"colour_training: {exc}", file=sys.stderr)
        return 1
    t0 = time.monotonic()
    train = merge([prepare(d, log) for d in train_sets])
    log(f"colour data: {len(train.cells)} photos, positives per colour {train.targets.sum(0).astype(int).tolist()}")
    try:
        params = train_colours(train, s, log)
    except ValueError as exc:
        print(f"colour_training: {exc}", file=sys.stderr)
        return 1
    dev = {}
    for (d, _, _), data in zip(args.dev, dev_sets, strict=True):
        name = Path(d).parent.name or d
        dev[name] = dev_report(params, prepare(data, log))
        log(f"colours dev {name}: {dev[name]}")
    try:
        save_with_colours(model, params, args.out, s, dev)
    except OSError as exc:
        print(f"colour_training: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"out": str(args.out), "photos": len(train.cells), "dev": dev, "settings": asdict(s),
                      "seconds": round(time.monotonic() - t0, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
