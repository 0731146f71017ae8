"""A short, curated list of CLIP-family models that users with a network can download.

Import-light (stdlib only): ``desktop-search models list`` reads it without torch or open_clip.

Every entry names open_clip's architecture and pretrained tag (the registry name is
``clip:ARCH/PRETRAINED``), the Hugging Face repository holding open_clip's own weights files
(``open_clip_model.safetensors`` preferred, ``open_clip_pytorch_model.bin`` as a fallback), their
size, a CPU speed class and published zero-shot figures with their source.

Checksums: where a file's sha256 is pinned below it is checked after download. Where it is not
(``sha256=None``), the downloader checks the file against the sha256 the hub itself publishes for it
(the ``X-Linked-Etag`` header of Git-LFS files) and its published size; see :mod:`.download`.

Sources for the figures (looked up, not measured here):

* ``open_clip``: mlfoundations/open_clip ``docs/openclip_retrieval_results.csv`` ("Flickr image retr.
  R@1", "MSCOCO image retr. R@1": text → image recall@1) and
  ``docs/openclip_classification_results.csv`` ("ImageNet 1k" zero-shot top-1).
* ``apple model card``: the Hugging Face model card of apple/MobileCLIP-S2-OpenCLIP (ImageNet-1k
  zero-shot top-1 and the average over 38 datasets); MobileCLIP is not in open_clip's retrieval table.

Speed classes are image-encoder throughput on a CPU, PyTorch eager, relative to ViT-B-32: "fast" is
about as fast, "medium" about half as fast, "slow" a third or less. Measured here on a shared 2-core
x86 machine, 2 threads, batch 8, random weights (noisy; best of 3): ViT-B-32 ≈ 0.23 s/image,
ViT-B-16-SigLIP ≈ 0.44, MobileCLIP-S2 ≈ 0.49 (after re-parameterisation; its published latencies are
for phones' neural engines, not x86 CPUs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .. import paths
from ..errors import ModelUnavailable

CLIP_PREFIX = "clip:"
SAFETENSORS_NAME = "open_clip_model.safetensors"
PICKLE_NAME = "open_clip_pytorch_model.bin"
#: file names (in preference order) the backend looks for in a model's cache folder
WEIGHT_FILE_NAMES = (SAFETENSORS_NAME, "open_clip_pytorch_model.safetensors", PICKLE_NAME)

Speed = Literal["fast", "medium", "slow"]

_SAFE_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


@dataclass(frozen=True)
class WeightsFile:
    """One candidate weights file in a hub repository."""

    filename: str
    #: lowercase hex sha256 of the file when known; else the hub's published checksum is used
    sha256: str | None = None


@dataclass(frozen=True)
class Figures:
    """Published zero-shot results, as fractions in [0, 1]; None where not published."""

    imagenet_top1: float | None = None
    flickr30k_t2i_r1: float | None = None
    mscoco_t2i_r1: float | None = None
    avg_38_datasets: float | None = None
    source: str = ""

    def summary(self) -> str:
        parts = []
        if self.flickr30k_t2i_r1 is not None:
            parts.append(f"Flickr30k T→I R@1 {self.flickr30k_t2i_r1 * 100:.1f}")
        if self.mscoco_t2i_r1 is not None:
            parts.append(f"COCO T→I R@1 {self.mscoco_t2i_r1 * 100:.1f}")
        if self.imagenet_top1 is not None:
            parts.append(f"IN-1k {self.imagenet_top1 * 100:.1f}")
        if self.avg_38_datasets is not None:
            parts.append(f"38-avg {self.avg_38_datasets * 100:.1f}")
        return ", ".join(parts) if parts else "-"


@dataclass(frozen=True)
class CatalogEntry:
    arch: str
    pretrained: str
    #: Hugging Face repository id holding open_clip's weights files
    hf_repo: str
    #: candidate weights files, preferred first (safetensors before the pickle-based .bin)
    weights: tuple[WeightsFile, ...]
    size_mb: int
    speed: Speed
    image_size: int
    dim: int
    figures: Figures = field(default_factory=Figures)
    #: Hugging Face tokenizer files the text tower needs (SigLIP); empty when open_clip's bundled
    #: CLIP tokenizer is used. The first one is required, the rest are fetched when present.
    tokenizer_files: tuple[str, ...] = ()
    #: repository of the tokenizer files when not :attr:`hf_repo`
    tokenizer_repo: str | None = None
    #: a git revision of the hub repository (branch, tag or commit)
    revision: str = "main"
    license: str = ""
    notes: str = ""

    @property
    def name(self) -> str:
        return clip_name(self.arch, self.pretrained)


def clip_name(arch: str, pretrained: str) -> str:
    return f"{CLIP_PREFIX}{arch}/{pretrained}"


def parse_clip_name(name: str) -> tuple[str, str]:
    """``clip:ARCH/PRETRAINED`` → (ARCH, PRETRAINED); raises :class:`ModelUnavailable` if malformed."""
    if not name.startswith(CLIP_PREFIX):
        raise ModelUnavailable(f"not a CLIP model name: {name!r} (expected clip:ARCH/PRETRAINED)")
    arch, sep, pretrained = name[len(CLIP_PREFIX) :].partition("/")
    if not sep or not _SAFE_PART.match(arch) or not _SAFE_PART.match(pretrained):
        raise ModelUnavailable(f"malformed CLIP model name {name!r}: expected clip:ARCH/PRETRAINED")
    return arch, pretrained


CATALOG: tuple[CatalogEntry, ...] = (
    CatalogEntry(
        arch="MobileCLIP-S2",
        pretrained="datacompdr",
        hf_repo="apple/MobileCLIP-S2-OpenCLIP",
        weights=(
            WeightsFile(SAFETENSORS_NAME),
            WeightsFile(PICKLE_NAME, "64553a972ead2f84f6f59ee0c854751db0fdd2203efbd6e7e0c258ecbf24d8d8"),
        ),
        size_mb=398,
        speed="medium",
        image_size=256,
        dim=512,
        figures=Figures(imagenet_top1=0.744, avg_38_datasets=0.637, source="apple model card"),
        license="apple-amlr (research use; see the model card)",
        notes="Smallest download; accurate for its size. Needs timm (an open_clip dependency).",
    ),
    CatalogEntry(
        arch="ViT-B-32",
        pretrained="laion2b_s34b_b79k",
        hf_repo="laion/CLIP-ViT-B-32-laion2B-s34B-b79K",
        weights=(WeightsFile(SAFETENSORS_NAME), WeightsFile(PICKLE_NAME)),
        size_mb=605,
        speed="fast",
        image_size=224,
        dim=512,
        figures=Figures(
            imagenet_top1=0.6656, flickr30k_t2i_r1=0.6678, mscoco_t2i_r1=0.3934, source="open_clip"
        ),
        license="MIT",
        notes="The classic LAION CLIP; bundled tokenizer, no extra files.",
    ),
    CatalogEntry(
        arch="ViT-B-16-SigLIP",
        pretrained="webli",
        hf_repo="timm/ViT-B-16-SigLIP",
        weights=(
            WeightsFile(SAFETENSORS_NAME, "81942ea8c09b9e41963357cca5d2682118bf7eb7491c2ae51a28bc4f4f95b194"),
            WeightsFile(PICKLE_NAME),
        ),
        size_mb=813,
        speed="medium",
        image_size=224,
        dim=768,
        figures=Figures(
            imagenet_top1=0.7604, flickr30k_t2i_r1=0.7468, mscoco_t2i_r1=0.4778, source="open_clip"
        ),
        tokenizer_files=("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"),
        license="Apache-2.0",
        notes="Most accurate here; its text tower needs the 'transformers' package and the "
        "tokenizer files from the hub (downloaded with the weights).",
    ),
)

#: entries added at run time (tests, plugins); looked up after :data:`CATALOG`
_EXTRA: dict[str, CatalogEntry] = {}


def entries() -> list[CatalogEntry]:
    """Every known entry: the curated ones, then any registered at run time."""
    return [*CATALOG, *_EXTRA.values()]


def get(name: str) -> CatalogEntry | None:
    for entry in entries():
        if entry.name == name:
            return entry
    return None


def register(entry: CatalogEntry) -> None:
    """Add (or replace) a run-time entry, e.g. a test's tiny model served from a loopback hub."""
    _EXTRA[entry.name] = entry


def unregister(name: str) -> None:
    _EXTRA.pop(name, None)


def model_dir(arch: str, pretrained: str) -> Path:
    """The cache folder of one model: ``<models_dir>/openclip/ARCH--PRETRAINED``."""
    return paths.models_dir() / "openclip" / f"{arch}--{pretrained}"


def cached_weights(arch: str, pretrained: str) -> Path | None:
    """The weights file already in the cache, if any (safetensors preferred)."""
    folder = model_dir(arch, pretrained)
    for filename in WEIGHT_FILE_NAMES:
        candidate = folder / filename
        if candidate.is_file():
            return candidate
    return None


def is_downloaded(entry: CatalogEntry) -> bool:
    """Weights present and, for models with a Hugging Face tokenizer, its required file too."""
    if cached_weights(entry.arch, entry.pretrained) is None:
        return False
    if entry.tokenizer_files:
        return (model_dir(entry.arch, entry.pretrained) / entry.tokenizer_files[0]).is_file()
    return True
