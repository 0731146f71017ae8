"""Helpers for the builtin-model tests: a tiny generated captioned photo set and a CLI runner."""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

from PIL import Image, ImageDraw

COLOURS = {"red": (220, 30, 30), "green": (30, 180, 60), "blue": (40, 60, 220), "yellow": (235, 220, 40)}
SHAPES = ("circle", "square", "triangle")


def make_tiny_dataset(root: Path, n: int = 24, seed: int = 0) -> tuple[Path, Path, Path, Path]:
    """n generated photos (coloured shapes on plain backgrounds) with 3 captions each.

    Returns (images dir, captions csv, train split, dev split); the last quarter is the dev split.
    """
    rng = random.Random(seed)
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    rows, names = [], []
    colours = list(COLOURS)
    for i in range(n):
        shape, fg = SHAPES[i % 3], colours[i % 4]
        bg = colours[(i // 4 + 1 + i % 4) % 4] if colours[(i // 4 + 1 + i % 4) % 4] != fg else "yellow"
        size = rng.choice([(160, 120), (120, 160), (140, 140)])
        im = Image.new("RGB", size, COLOURS[bg] if bg != fg else (250, 250, 250))
        d = ImageDraw.Draw(im)
        w, h = size
        box = (w * 0.2, h * 0.2, w * 0.8, h * 0.8)
        if shape == "circle":
            d.ellipse(box, fill=COLOURS[fg])
        elif shape == "square":
            d.rectangle(box, fill=COLOURS[fg])
        else:
            d.polygon([(w * 0.5, h * 0.15), (w * 0.85, h * 0.85), (w * 0.15, h * 0.85)], fill=COLOURS[fg])
        name = f"shape_{i:03d}.jpg"
        im.save(images / name, quality=90)
        names.append(name)
        rows += [
            (name, f"a {fg} {shape} on a {bg} background"),
            (name, f"{fg} {shape}"),
            (name, f"a picture of a {shape} coloured {fg}"),
        ]
    captions = root / "captions.csv"
    with captions.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["image", "caption"])
        w.writerows(rows)
    cut = n - n // 4
    train, dev = root / "train.txt", root / "dev.txt"
    train.write_text("\n".join(names[:cut]) + "\n")
    dev.write_text("\n".join(names[cut:]) + "\n")
    return images, captions, train, dev


def run_command(module, argv: list[str]) -> int:  # type: ignore[no-untyped-def]
    """Parse ``argv`` with the module's own subparser (as the CLI would) and run it."""
    parser = argparse.ArgumentParser(prog="desktop-search")
    sub = parser.add_subparsers(dest="command")
    module.add_parser(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))
