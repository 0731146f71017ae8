"""``desktop-search train-concepts``: train the builtin model's concept bridge on captioned photos.

    desktop-search train-concepts --train DIR CSV SPLIT [--train DIR CSV SPLIT ...]
                                  [--dev DIR CSV SPLIT [--dev-keywords FILE]] ... --out PATH

The learned heads of ``--base`` (default: the shipped weights) stay as they are; the bridge between
the image encoder's ImageNet classifier and the query (:mod:`desktop_search.core.models.concepts`)
is trained on every ``--train`` set together (Flickr8k and COCO, say) and reported after each epoch
on every ``--dev`` set: text→image recall of the captions and, with ``--dev-keywords`` (one per
``--dev``, in order), the everyday keyword queries' mean precision. The output is a complete builtin
weights file (``--model builtin:PATH``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train-concepts",
        help="train the builtin model's ImageNet concept bridge on captioned photos",
        description="Train the bridge between the image encoder's ImageNet classifier and the query, "
        "over the fixed heads of --base, on one or more captioned photo sets.",
    )
    p.add_argument("--train", nargs=3, action="append", required=True, metavar=("DIR", "CSV", "SPLIT"),
                   help="photos, their image,caption CSV and the photo names to train on (repeatable)")
    p.add_argument("--dev", nargs=3, action="append", default=[], metavar=("DIR", "CSV", "SPLIT"),
                   help="a dev set reported after each epoch (repeatable)")
    p.add_argument("--dev-keywords", action="append", default=[], type=Path, metavar="FILE",
                   help="keyword queries for the --dev set of the same position (see eval --keyword-queries)")
    p.add_argument("--base", default="builtin", help="the builtin weights whose heads are kept (default builtin)")
    p.add_argument("--out", required=True, type=Path, metavar="PATH", help="output weights file")
    p.add_argument("--dim", type=int, default=None, help="dimensions of the bridge (default 64)")
    p.add_argument("--epochs", type=int, default=None, help="epochs (default 4)")
    p.add_argument("--tau", type=float, default=None, help="name-similarity threshold of the zero-shot profile (default 0.5)")
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--learn", choices=("profile", "all"), default=None,
                   help="profile: re-weight the zero-shot concept profile (default); all: also the projections")
    p.add_argument("--word-fraction", type=float, default=None, help="word queries per caption query in a batch (default 0.5)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from ..core.models.builtin import load_builtin
    from ..core.models.concept_training import ConceptSettings
    from ..core.models.dataset import load_captioned
    from ..core.models.evaluation import load_keyword_queries
    from ..core.models.registry import ModelUnavailable

    settings = ConceptSettings()
    for name in ("dim", "epochs", "tau", "lr", "word_fraction", "learn"):
        if getattr(args, name) is not None:
            setattr(settings, name, getattr(args, name))
    try:
        if len(args.dev_keywords) > len(args.dev):
            raise ValueError("each --dev-keywords needs a --dev before it")
        if settings.dim < 1 or settings.epochs < 1:
            raise ValueError("--dim and --epochs must be at least 1")
        train_sets = [load_captioned(Path(d), Path(c), Path(s)) for d, c, s in args.train]
        dev_sets = [load_captioned(Path(d), Path(c), Path(s)) for d, c, s in args.dev]
        keywords = [load_keyword_queries(f) for f in args.dev_keywords]
        model = load_builtin(args.base, device="cpu")
        if not model.trained:
            raise ValueError(f"{args.base} has no trained heads")
    except (ValueError, OSError, ModelUnavailable) as exc:
        print(f"desktop-search train-concepts: {exc}", file=sys.stderr)
        return 1
    try:
        report = train_and_save(model, train_sets, dev_sets, keywords, settings, args)
    except OSError as exc:
        print(f"desktop-search train-concepts: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report))
    return 0


def train_and_save(model, train_sets, dev_sets, keywords, settings, args) -> dict:
    import torch

    from ..core.models import concept_training as ct
    from ..core.models.efficientnet import weights_path
    from ..core.models.evaluation import keyword_relevance, keyword_report, ranks_from_scores, recall_summary

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    train = ct.merge([ct.prepare(model, d, log) for d in train_sets])
    words, uses = ct.content_words(train.captions, settings.min_word_photos)
    w_q, w_s = ct.embed_texts(model, words)
    log(f"{len(words)} content words as one-word queries")
    aliases = ct.alias_table(lambda texts: ct.embed_texts(model, texts)[1])
    lite = torch.load(weights_path(model.config.encoder), map_location="cpu", weights_only=True)
    classifier = (lite["_fc.weight"].numpy(), lite["_fc.bias"].numpy())
    dev: dict[str, Any] = {}
    for i, d in enumerate(dev_sets):
        data = ct.prepare(model, d, log)
        kq = keywords[i] if i < len(keywords) else None
        kq_vecs = ct.embed_texts(model, [k.q for k in kq]) if kq else None
        relevant = keyword_relevance(data.captions, kq) if kq else None

        def rep(score, data=data, kq=kq, kq_vecs=kq_vecs, relevant=relevant) -> dict:
            out: dict[str, Any] = recall_summary(ranks_from_scores(score(data.queries, data.sentences), data.owner))
            if kq:
                out["keyword_p_at_k"] = keyword_report(kq, score(*kq_vecs), relevant)["mean_p_at_k"]
            return out

        dev[Path(args.dev[i][0]).parent.name or f"dev{i}"] = (data, rep)
    params = ct.train_concepts(train, (w_q, w_s, uses), classifier, aliases, settings, dev, log)
    final = {name: rep(ct.bridge_scores(ct.ConceptBridge(params), data)) for name, (data, rep) in dev.items()}
    ct.save_with_concepts(model, params, args.out, settings, final)
    return {"out": str(args.out), "dev": final, "photos": len(train.pooled), "words": len(words),
            "settings": {k: getattr(settings, k) for k in ("dim", "epochs", "tau", "lr", "word_fraction", "learn")}}

