"""``desktop-search train``: train the builtin model's heads and fusion on captioned photos.

    desktop-search train --images DIR --captions CSV [--train-split FILE] [--dev-split FILE]
                         [--out PATH] [--epochs N] [--holdout F] ...

The CSV has the columns ``image,caption`` (several rows per photo). Frozen-encoder features are
cached under the features cache folder, so a second run on the same photos starts training at once.
Progress goes to stderr; a dev report (text→image, and image-only / text-only / fused at the chosen
caption fraction) ends the run when ``--dev-split`` is given. The output safetensors file is a
complete builtin model: use it as ``--model builtin:PATH``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from ..core import paths
from . import add_captioned_photos_args


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train",
        help="train the builtin model's heads and fusion on your own captioned photos",
        description="Train the builtin model's projection heads and attention fusion on a folder of "
        "photos with an image,caption CSV. Use the result as --model builtin:PATH.",
    )
    add_captioned_photos_args(p)
    p.add_argument(
        "--train-split",
        type=Path,
        metavar="FILE",
        help="photo names to train on (default: all not in --dev-split)",
    )
    p.add_argument("--dev-split", type=Path, metavar="FILE", help="photo names for the dev report")
    p.add_argument(
        "--out",
        type=Path,
        metavar="PATH",
        help="output weights (default: <data>/models/builtin-trained.safetensors)",
    )
    p.add_argument("--epochs", type=int, default=None, help="retrieval-head epochs (default 30)")
    p.add_argument("--text-epochs", type=int, default=None, help="photo-text head epochs (default 10)")
    p.add_argument("--fusion-steps", type=int, default=None, help="fusion optimisation steps (default 1500)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--width", type=int, default=None, help="head width (default 256)")
    p.add_argument("--dim", type=int, default=None, help="joint-space dimension, at most 256 (default 256)")
    p.add_argument("--dropout", type=float, default=None)
    p.add_argument(
        "--hub-gamma", type=float, default=None,
        help="strength of the hubness correction of image vectors (default 0.9; 0 turns it off)",
    )
    p.add_argument(
        "--members", type=int, default=None,
        help="independently trained branches per head, concatenated (an ensemble in one vector; default 1)",
    )
    p.add_argument(
        "--encoder",
        choices=("lite0", "lite1", "lite2"),
        default=None,
        help="EfficientNet-Lite variant (default lite0)",
    )
    p.add_argument(
        "--views", default=None, help="comma-separated cached image views (default orig,flip,rc0,rc1)"
    )
    p.add_argument(
        "--holdout",
        type=float,
        default=None,
        help="fraction of training photos held out to calibrate the fusion (default 0)",
    )
    p.add_argument(
        "--cal-folds",
        type=int,
        default=None,
        help="with --holdout: disjoint held-out sets, each scored by its own calibration heads (default 1)",
    )
    p.add_argument("--feat-dropout", type=float, default=None, help="dropout on the frozen features (default 0)")
    p.add_argument("--token-drop", type=float, default=None, help="image positions hidden from attention pooling (default 0)")
    p.add_argument(
        "--captions-per-step", type=int, default=None, help="captions of each photo per step (multi-positive; default 1)"
    )
    p.add_argument(
        "--no-refit",
        dest="refit",
        action="store_false",
        default=None,
        help="with --holdout: keep the heads fitted without the held-out photos (no final run on all of them)",
    )
    p.add_argument(
        "--caption-fraction",
        type=float,
        default=None,
        help="fraction of photos simulated as captioned for the fusion (default 0.5)",
    )
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--device", default=None, help="cuda, mps or cpu (default: automatic)")
    p.add_argument("--json", action="store_true", help="print the dev report as JSON on stdout")
    p.set_defaults(func=run)
    return p


def settings_from_args(args: argparse.Namespace):
    from ..core.models.training import TrainSettings

    s = TrainSettings()
    mapping = {
        "epochs": "epochs",
        "text_epochs": "text_epochs",
        "fusion_steps": "fusion_steps",
        "batch_size": "batch_size",
        "lr": "lr",
        "width": "width",
        "dim": "dim",
        "dropout": "dropout",
        "encoder": "encoder",
        "holdout": "holdout",
        "cal_folds": "cal_folds",
        "caption_fraction": "caption_fraction",
        "seed": "seed",
        "feat_dropout": "feat_dropout",
        "token_drop": "token_drop",
        "captions_per_step": "captions_per_step",
        "refit": "refit",
        "members": "members",
        "hub_gamma": "hub_gamma",
    }
    for arg, field in mapping.items():
        value = getattr(args, arg, None)
        if value is not None:
            setattr(s, field, value)
    if getattr(args, "views", None):
        s.views = tuple(v.strip() for v in args.views.split(",") if v.strip())
    return s


def run(args: argparse.Namespace) -> int:
    from ..core.models.dataset import DatasetError, load_captioned, read_split

    try:
        s = settings_from_args(args)
        if not 1 <= s.dim <= 256:
            raise DatasetError("--dim must be between 1 and 256")
        if s.epochs < 1:
            raise DatasetError("--epochs must be at least 1")
        if s.members < 1 or s.dim % s.members:
            raise DatasetError("--members must be at least 1 and divide --dim")
        if s.batch_size < 2:
            raise DatasetError("--batch-size must be at least 2 (the loss contrasts photos in a batch)")
        if not s.lr > 0:
            raise DatasetError("--lr must be above 0")
        for name, value in (("--dropout", s.dropout), ("--feat-dropout", s.feat_dropout), ("--holdout", s.holdout)):
            if not 0 <= value < 1:
                raise DatasetError(f"{name} must be at least 0 and below 1")
        if s.text_epochs < 0 or s.fusion_steps < 0:
            raise DatasetError("--text-epochs and --fusion-steps cannot be negative")
        out = Path(args.out or (paths.models_dir() / "builtin-trained.safetensors")).expanduser()
        _check_output(out)  # before minutes of training, not after
        dev = load_captioned(args.images, args.captions, args.dev_split) if args.dev_split else None
        if args.train_split:
            train = load_captioned(args.images, args.captions, args.train_split)
        else:
            everything = load_captioned(args.images, args.captions)
            held = set(read_split(args.dev_split)) if args.dev_split else set()
            train = everything.subset([n for n in everything.names if n not in held])
        if dev is not None and set(dev.names) & set(train.names):
            shared = len(set(dev.names) & set(train.names))
            raise DatasetError(f"{shared} dev photos are also in --train-split: the dev report would flatter the "
                               "model; give disjoint splits")
        if len(train) < 2:
            raise DatasetError("need at least two captioned photos to train on")
    except (DatasetError, OSError) as exc:
        print(f"desktop-search train: {exc}", file=sys.stderr)
        return 1

    import torch

    from ..core.models.device import cpu_threads, pick_device
    from ..core.models.training import save_weights
    from ..core.models.training import train as train_heads
    from ..core.models.training_features import load_features

    device = pick_device(args.device)
    torch.set_num_threads(cpu_threads())
    log = _log
    log(
        f"training on {len(train)} photos"
        + (f", dev report on {len(dev)}" if dev else "")
        + f" (encoder {s.encoder}, {device})"
    )
    try:
        train_fs = load_features(train, s.encoder, s.views, device=device, label="train ")
        dev_fs = load_features(dev, s.encoder, ("orig",), device=device, label="dev ") if dev else None
        result = train_heads(train_fs, dev_fs, s, log)
        save_weights(out, result, {"images": str(len(train))})
    except (OSError, ValueError) as exc:
        print(f"desktop-search train: {exc}", file=sys.stderr)
        return 1
    log(f"done in {result.seconds:.0f}s; weights: {out}")
    log(f"use them with: --model builtin:{Path(out).resolve()}")
    if result.dev:
        for section, fig in result.dev.items():
            log(
                f"dev {section:14s} R@1 {fig['r1']:5.1f}  R@5 {fig['r5']:5.1f}  R@10 {fig['r10']:5.1f}  median rank {fig['median_rank']:g}"
            )
    if args.json:
        print(json.dumps({"out": str(out), "dev": result.dev, "seconds": round(result.seconds, 1)}))
    return 0


def _check_output(out: Path) -> None:
    """The weights can be written there: not a folder, its folder creatable and writable."""
    from ..core.models.dataset import DatasetError

    if out.is_dir():
        raise DatasetError(f"--out {out} is a folder: give a file name, e.g. {out / 'my-model.safetensors'}")
    parent = out.parent
    existing = next((p for p in (parent, *parent.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise DatasetError(f"--out {out}: {existing} is a file, not a folder")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise DatasetError(f"--out {out}: cannot write in {existing}")


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
