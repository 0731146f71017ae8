"""Captioned photo folders for training and evaluation: ``image,caption`` CSV + optional split lists."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path


class DatasetError(ValueError):
    """A dataset cannot be read (missing folder/CSV, bad columns, empty split); one-line message."""


@dataclass
class CaptionedImages:
    """Photos (absolute paths, in a stable order) and their captions (several per photo)."""

    names: list[str]
    paths: list[Path]
    captions: list[list[str]]

    def __len__(self) -> int:
        return len(self.names)

    def subset(self, keep: list[str]) -> CaptionedImages:
        index = {n: i for i, n in enumerate(self.names)}
        rows = [index[n] for n in keep if n in index]
        return CaptionedImages(
            [self.names[i] for i in rows], [self.paths[i] for i in rows], [self.captions[i] for i in rows]
        )


def read_split(path: Path) -> list[str]:
    if not Path(path).is_file():
        raise DatasetError(f"split file not found: {path}")
    try:
        names = [ln.strip() for ln in Path(path).read_text(encoding="utf-8-sig").splitlines()]
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path} is not UTF-8 text (byte {exc.start})") from exc
    return [n for n in names if n and not n.startswith("#")]


def load_captioned(images: Path, captions_csv: Path, split: Path | None = None) -> CaptionedImages:
    """Read the CSV (columns ``image``, ``caption``); keep photos that exist (and are in ``split``)."""
    images, captions_csv = Path(images), Path(captions_csv)
    if not images.is_dir():
        raise DatasetError(f"images folder not found: {images}")
    if not captions_csv.is_file():
        raise DatasetError(f"captions file not found: {captions_csv}")
    by_image: dict[str, list[str]] = {}
    try:  # utf-8-sig: spreadsheet programs start their UTF-8 CSVs with a byte-order mark
        with captions_csv.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or "image" not in reader.fieldnames or "caption" not in reader.fieldnames:
                raise DatasetError(f"{captions_csv} needs the columns image,caption")
            for row in reader:
                name, cap = (row.get("image") or "").strip(), (row.get("caption") or "").strip()
                if name and cap:
                    by_image.setdefault(name, []).append(cap)
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{captions_csv} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from exc
    names = read_split(split) if split is not None else sorted(by_image)
    kept = [n for n in names if n in by_image and (images / n).is_file()]
    if not kept:
        raise DatasetError(f"no captioned photos found in {images} (check the CSV names and the split)")
    return CaptionedImages(kept, [(images / n).resolve() for n in kept], [by_image[n] for n in kept])
