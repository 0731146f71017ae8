"""``desktop-search models``: list the CLIP-family models on offer and download them.

``models list [--json]``: the curated catalog (plus any uncatalogued model already in the cache) with
size, CPU speed class, published zero-shot figures and whether it is downloaded.
``models download NAME``: fetch a model's weights (resumable, verified) into the models folder; a
progress bar on a terminal, plain lines otherwise. Offline: one clear line on stderr, exit status 1.

Import-light: neither torch nor open_clip is imported unless an uncatalogued name needs open_clip to
find its download.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, TextIO

from ..core import paths
from ..core.models import catalog
from ..core.models.catalog import CLIP_PREFIX, CatalogEntry
from ..core.models.registry import ModelUnavailable


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``models`` subcommand to an ``argparse`` subparsers object."""
    parser = subparsers.add_parser(
        "models",
        help="list and download CLIP-family models",
        description="List the CLIP-family models that can be downloaded, and download them.",
    )
    sub = parser.add_subparsers(dest="models_command", metavar="{list,download}")
    list_parser = sub.add_parser("list", help="show the models on offer and which are downloaded")
    list_parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    download_parser = sub.add_parser("download", help="download a model's weights")
    download_parser.add_argument("name", help="a model name as 'models list' shows it, e.g. MobileCLIP-S2")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    command = getattr(args, "models_command", None) or "list"
    if command == "download":
        return _download(args.name)
    return _list(as_json=bool(getattr(args, "json", False)))


# -- list --------------------------------------------------------------------------------------


def _uncatalogued_cached() -> list[tuple[str, str]]:
    """(arch, pretrained) of model folders in the cache with weights but no catalog entry."""
    root = paths.models_dir() / "openclip"
    found = []
    if root.is_dir():
        for folder in sorted(root.iterdir()):
            arch, sep, pretrained = folder.name.partition("--")
            if not sep or catalog.get(catalog.clip_name(arch, pretrained)) is not None:
                continue
            if catalog.cached_weights(arch, pretrained) is not None:
                found.append((arch, pretrained))
    return found


def short_name(entry: CatalogEntry) -> str:
    """The name 'models list' shows first and 'models download' accepts: the architecture where
    one catalog entry has it, else ARCH/PRETRAINED."""
    same_arch = [e for e in catalog.entries() if e.arch.lower() == entry.arch.lower()]
    return entry.arch if len(same_arch) == 1 else f"{entry.arch}/{entry.pretrained}"


def resolve_name(raw: str) -> str:
    """A model name as a user types it (``MobileCLIP-S2``, ``mobileclip-s2``, ``ViT-B-32/laion2b_s34b_b79k``,
    ``clip:...``) -> the full ``clip:ARCH/PRETRAINED`` name (or ``builtin``)."""
    name = raw.strip()
    if name.lower() == "builtin":
        return "builtin"
    wanted = name.removeprefix(CLIP_PREFIX).lower()
    for entry in catalog.entries():
        if wanted in (short_name(entry).lower(), f"{entry.arch}/{entry.pretrained}".lower()):
            return entry.name
    return _normalise_name(name)


def _builtin_row() -> dict[str, Any]:
    from ..core.models.builtin import weights_file_for

    try:
        weights: Any = weights_file_for("builtin")
    except Exception:  # the row is informative only
        weights = None
    return {
        "name": "builtin",
        "short_name": "builtin",
        "arch": "EfficientNet-Lite0 + MiniLM",
        "pretrained": None,
        "size_mb": None,  # part of the app (its networks come with the installed packages)
        "speed": "fast",
        "figures": None,
        "downloaded": True,
        "path": str(weights) if weights else None,
        "notes": "included with the app, no download; the default model",
    }


def _row(entry: CatalogEntry) -> dict[str, Any]:
    weights = catalog.cached_weights(entry.arch, entry.pretrained)
    f = entry.figures
    return {
        "name": entry.name,
        "short_name": short_name(entry),
        "arch": entry.arch,
        "pretrained": entry.pretrained,
        "hf_repo": entry.hf_repo,
        "size_mb": entry.size_mb,
        "speed": entry.speed,
        "image_size": entry.image_size,
        "dim": entry.dim,
        "figures": {
            "flickr30k_t2i_r1": f.flickr30k_t2i_r1,
            "mscoco_t2i_r1": f.mscoco_t2i_r1,
            "imagenet_top1": f.imagenet_top1,
            "avg_38_datasets": f.avg_38_datasets,
            "source": f.source,
        },
        "downloaded": catalog.is_downloaded(entry),
        "path": str(weights) if weights else None,
        "license": entry.license,
        "notes": entry.notes,
    }


def _list(as_json: bool) -> int:
    rows = [_builtin_row(), *(_row(e) for e in catalog.entries())]
    for arch, pretrained in _uncatalogued_cached():
        weights = catalog.cached_weights(arch, pretrained)
        rows.append(
            {
                "name": catalog.clip_name(arch, pretrained),
                "short_name": f"{arch}/{pretrained}",
                "arch": arch,
                "pretrained": pretrained,
                "size_mb": round(weights.stat().st_size / 1e6) if weights else None,
                "speed": None,
                "figures": None,
                "downloaded": True,
                "path": str(weights) if weights else None,
                "notes": "not in the catalog (found in the cache)",
            }
        )
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    table = [("NAME", "SHORT NAME", "SIZE", "SPEED", "PUBLISHED (zero-shot, %)", "DOWNLOADED")]
    for row in rows:
        entry = catalog.get(row["name"])
        figures = entry.figures.summary() if entry else "-"
        if entry and entry.figures.source:
            figures += f" [{entry.figures.source}]"
        size = f"{row['size_mb']} MB" if row.get("size_mb") else "-" if row["name"] == "builtin" else "?"
        downloaded = "included" if row["name"] == "builtin" else "yes" if row["downloaded"] else "no"
        table.append((row["name"], row["short_name"], size, row.get("speed") or "?", figures, downloaded))
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for r in table:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip())
    print(f"\nModels folder: {paths.models_dir()}")
    print("Download one with: desktop-search models download NAME (the short name will do)")
    return 0


# -- download ----------------------------------------------------------------------------------


class _Progress:
    """A bar redrawn in place on a terminal; a line per 10 % otherwise."""

    def __init__(self, label: str, stream: TextIO, tty: bool) -> None:
        self.label = label
        self.stream = stream
        self.tty = tty
        self._start = time.monotonic()
        self._first: int | None = None
        self._last_draw = 0.0
        self._next_pct = 0
        self._drawn = False

    def __call__(self, done: int, total: int | None) -> None:
        if self._first is None:
            self._first = done
            if done:
                self._line(f"{self.label}: resuming at {done / 1e6:.1f} MB")
        if self.tty:
            now = time.monotonic()
            if now - self._last_draw < 0.1 and (total is None or done < total):
                return
            self._last_draw = now
            elapsed = max(now - self._start, 1e-6)
            rate = (done - (self._first or 0)) / elapsed / 1e6
            if total:
                width = 30
                filled = int(width * done / total)
                text = (
                    f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {done * 100 / total:5.1f}% "
                    f"{done / 1e6:.1f}/{total / 1e6:.1f} MB {rate:.1f} MB/s"
                )
            else:
                text = f"\r{self.label} {done / 1e6:.1f} MB {rate:.1f} MB/s"
            self.stream.write(text)
            self.stream.flush()
            self._drawn = True
        elif total:
            pct = done * 100 // total
            if pct >= self._next_pct:
                self._line(f"{self.label}: {pct}% ({done / 1e6:.1f}/{total / 1e6:.1f} MB)")
                self._next_pct = (pct // 10 + 1) * 10

    def _line(self, text: str) -> None:
        if self._drawn:
            self.stream.write("\n")
            self._drawn = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


def _normalise_name(name: str) -> str:
    name = name.strip()
    if not name.startswith(CLIP_PREFIX) and "/" in name:
        name = CLIP_PREFIX + name
    return name


def _download(raw_name: str) -> int:
    from ..core.models.openclip_backend import ensure_weights  # numpy/Pillow only at import

    name = resolve_name(raw_name)
    if name == "builtin":
        print("builtin is included with the app: there is nothing to download")
        return 0
    try:
        arch, pretrained = catalog.parse_clip_name(name)
    except ModelUnavailable:
        known = ", ".join(short_name(e) for e in catalog.entries())
        print(f"desktop-search: unknown model {raw_name.strip()!r}: choose one of builtin, {known} "
              "(see 'desktop-search models list')", file=sys.stderr)
        return 1
    entry = catalog.get(name)
    had_weights = catalog.cached_weights(arch, pretrained) is not None
    if entry is not None and catalog.is_downloaded(entry):
        print(f"{name} is already downloaded: {catalog.cached_weights(arch, pretrained)}")
        return 0
    out = sys.stdout
    progress = _Progress(name, out, tty=out.isatty())
    try:
        weights = ensure_weights(name, progress)
    except ModelUnavailable as exc:
        progress.finish()
        print(f"desktop-search: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        progress.finish()
        print("desktop-search: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    progress.finish()
    print(f"{'ready' if had_weights else 'downloaded'}: {name} in {weights}")
    return 0
