"""``desktop-search eval``: retrieval figures of a model on captioned photos, through the app's interface.

    desktop-search eval --images DIR --captions CSV [--split FILE] [--model NAME]
                        [--caption-fraction F] [--seed S] [--json]

Text→image: every caption is a query against all photos (of ``--split`` if given): R@1/5/10 and
median rank. With ``--caption-fraction F`` a seeded fraction F of the photos gets its first caption
as photo text and the other captions are the queries: image-only, text-only and fused figures.
Image→image: each photo found from a half-size, a 90 % centre-cropped and a JPEG-q60 copy (R@1).
``--keyword-queries FILE``: everyday queries, a photo relevant when a caption has one of the query's
words; mean precision in the top min(10, relevant) and each query's.
``--json`` prints one object: model, images, queries, text_to_image | image_only, text_only, fused,
keyword_queries ({"mean_p_at_k", "queries": [{"q", "p_at_k", "relevant"}]}), image_to_image, seconds
(figures in percent; keyword precision as a fraction).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from . import add_captioned_photos_args


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "eval",
        help="measure a model's retrieval figures on captioned photos",
        description="Text-to-image and image-to-image retrieval figures on a folder of photos with an "
        "image,caption CSV, measured through the same model interface the app uses.",
    )
    add_captioned_photos_args(p)
    p.add_argument("--split", type=Path, metavar="FILE", help="only these photo names")
    p.add_argument(
        "--model", default="builtin", help="model name (default builtin; builtin:PATH for trained weights)"
    )
    p.add_argument(
        "--caption-fraction",
        type=float,
        default=None,
        metavar="F",
        help="attach the first caption to a fraction F of the photos and report image-only, text-only and fused figures",
    )
    p.add_argument("--seed", type=int, default=0, help="seed for --caption-fraction (default 0)")
    p.add_argument(
        "--keyword-queries", type=Path, metavar="FILE",
        help='everyday queries: a JSON list of {"q": "pizza", "any": ["pizza", "pizzas"]}; a photo is '
        "relevant when one of its captions has one of the words; reports precision in the top min(10, relevant)",
    )
    p.add_argument("--no-image-to-image", action="store_true", help="skip the near-duplicate test")
    p.add_argument("--limit", type=int, default=None, help="evaluate on the first N photos only")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default=None, help="cuda, mps or cpu (default: automatic)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from ..core.models.dataset import DatasetError, load_captioned
    from ..core.models.evaluation import load_keyword_queries
    from ..core.models.registry import ModelUnavailable, load_model

    try:
        if args.caption_fraction is not None and not 0.0 <= args.caption_fraction <= 1.0:
            raise DatasetError("--caption-fraction must be between 0 and 1")
        if args.limit is not None and args.limit < 2:
            raise DatasetError("--limit must be at least 2 (ranking one photo measures nothing)")
        if args.batch_size < 1:
            raise DatasetError("--batch-size must be at least 1")
        keyword_queries = load_keyword_queries(args.keyword_queries) if args.keyword_queries else None
        data = load_captioned(args.images, args.captions, args.split)
        if args.limit is not None:
            data = data.subset(data.names[: args.limit])
        model = load_model(args.model, device=args.device)
    except (ValueError, ModelUnavailable, OSError) as exc:
        print(f"desktop-search eval: {exc}", file=sys.stderr)
        return 1

    from ..core.models.evaluation import evaluate_model
    from ..core.models.features import stderr_progress

    bars: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int) -> None:
        bars.setdefault(stage, stderr_progress(stage))(done, total)

    try:
        result = evaluate_model(
            model,
            data.paths,
            data.captions,
            caption_fraction=args.caption_fraction,
            seed=args.seed,
            image_to_image=not args.no_image_to_image,
            keyword_queries=keyword_queries,
            batch_size=args.batch_size,
            progress=progress,
        )
    except OSError as exc:
        print(f"desktop-search eval: {exc}", file=sys.stderr)
        return 1
    finally:
        model.close()
    report = result.as_json()
    report["model"] = args.model
    if args.json:
        print(json.dumps(report))
        return 0
    print(
        f"model {args.model} ({model.key}) on {result.images} photos, {result.queries} queries, {result.seconds:.0f}s"
    )
    for section, fig in result.sections.items():
        if section == "keyword_queries":
            print(f"keyword queries: mean P@k {fig['mean_p_at_k']}")
            for row in fig["queries"]:
                print(f"  {row['q']:30s} P@k {row['p_at_k'] if row['p_at_k'] is not None else '-':>5}  ({row['relevant']} relevant)")
        elif "r5" in fig:
            print(
                f"{section:14s} R@1 {fig['r1']:5.1f}  R@5 {fig['r5']:5.1f}  R@10 {fig['r10']:5.1f}  median rank {fig['median_rank']:g}"
            )
        else:
            print(f"{section:14s} R@1 {fig['r1']:5.1f}")
    return 0
