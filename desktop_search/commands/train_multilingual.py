"""``desktop-search train-multilingual``: the builtin model's heads for queries in other languages.

    desktop-search train-multilingual --captions CSV [--train-split FILE] [--dev-split FILE]
                                      [--weights builtin.safetensors] [--out PATH] [--epochs N]

Distils the builtin model's English query head, photo-text head and MiniLM sentence embedding onto
the multilingual sentence encoder, from English captions alone (no photos needed; see
``core/models/multilingual_training.py``). Run it again whenever the builtin weights change: the
output records their SHA-256 and is ignored (English only) against any other weights. The default
output is ``multilingual.safetensors`` next to the weights file, where the app looks for it.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train-multilingual",
        help="train the builtin model's heads for queries in other languages (from English captions)",
        description="Distil the builtin model's English text heads onto the multilingual sentence "
        "encoder, so queries and photo texts in other languages land in the same space.",
    )
    p.add_argument("--captions", required=True, type=Path, metavar="CSV", help="image,caption CSV (English)")
    p.add_argument("--train-split", type=Path, metavar="FILE", help="only the captions of these photos")
    p.add_argument("--dev-split", type=Path, metavar="FILE",
                   help="held-out photos whose captions calibrate the English/other-language check")
    p.add_argument("--weights", type=Path, default=None, metavar="PATH",
                   help="builtin weights to distil from (default: the shipped ones)")
    p.add_argument("--out", type=Path, default=None, metavar="PATH",
                   help="output (default: multilingual.safetensors next to --weights)")
    p.add_argument("--captions-per-photo", type=int, default=3, metavar="N",
                   help="the first N captions of each training photo (default 3; 0: all)")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--noise", type=float, default=0.5, help="input noise norm during training (default 0.5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache-dir", type=Path, default=None, metavar="DIR",
                   help="cache of encoder inputs and teacher targets (default: the features cache)")
    p.set_defaults(func=run)
    return p


def _captions(path: Path, split: Path | None, per_photo: int | None) -> list[str]:
    """The captions of the split's photos (in the split's order), the first ``per_photo`` of each."""
    from ..core.models.dataset import DatasetError, read_split

    if not path.is_file():
        raise DatasetError(f"captions file not found: {path}")
    by_image: dict[str, list[str]] = {}
    with path.open(newline="", encoding="utf-8-sig") as f:
        rows = csv.DictReader(f)
        if not rows.fieldnames or "image" not in rows.fieldnames or "caption" not in rows.fieldnames:
            raise DatasetError(f"{path} needs the columns image,caption")
        for r in rows:
            name, cap = (r.get("image") or "").strip(), (r.get("caption") or "").strip()
            if name and cap:
                by_image.setdefault(name, []).append(cap)
    names = read_split(split) if split is not None else sorted(by_image)
    out = [c for n in names for c in by_image.get(n, [])[:per_photo]]
    if not out:
        raise DatasetError(f"no captions in {path} for the split")
    return out


def run(args: argparse.Namespace) -> int:
    from ..core import paths
    from ..core.models.builtin import DEFAULT_WEIGHTS
    from ..core.models.dataset import DatasetError
    from ..core.models.features import stderr_progress
    from ..core.models.multilingual_training import train_multilingual

    weights = args.weights or DEFAULT_WEIGHTS
    out = args.out or weights.parent / "multilingual.safetensors"
    try:
        if not weights.is_file():
            raise DatasetError(f"weights file not found: {weights}")
        train = _captions(args.captions, args.train_split, args.captions_per_photo or None)
        dev = _captions(args.captions, args.dev_split, None) if args.dev_split else []
    except (DatasetError, OSError) as exc:
        print(f"desktop-search train-multilingual: {exc}", file=sys.stderr)
        return 1
    bars: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int) -> None:
        bars.setdefault(stage, stderr_progress(stage))(done, total)

    report = train_multilingual(
        weights, train, out, dev_captions=dev, cache_dir=args.cache_dir or paths.features_cache_dir() / "multilingual",
        epochs=args.epochs, hidden=args.hidden, noise=args.noise, seed=args.seed, progress=progress,
    )
    report["out"] = str(out)
    print(json.dumps(report))
    return 0
