"""CLIP-family models through open_clip: ``load_clip("clip:ARCH/PRETRAINED")`` → :class:`EmbeddingModel`.

Weights come from the curated :mod:`.catalog` (downloaded on first use, verified), or, for names not
in the catalog, from a weights file already in the model's cache folder
(``<models_dir>/openclip/ARCH--PRETRAINED/open_clip_model.safetensors`` or ``…pytorch_model.bin``), or
from the Hugging Face repository open_clip itself lists for that tag (verified against the hub's
published checksum only).

The network is built with ``open_clip.create_model(arch, pretrained=None)`` and the state dict loaded
from the cached file: safetensors, or ``torch.load(weights_only=True)`` for ``.bin`` files, so nothing
is ever unpickled. open_clip (≈6 s to import) and torch are imported lazily inside functions.

Preprocessing (:func:`clip_preprocess`) is Pillow + numpy only and reproduces open_clip's evaluation
transform for the model's ``preprocess_cfg`` (resize mode, interpolation, mean/std) exactly.

Text towers: most models use open_clip's bundled CLIP tokenizer. Models whose config names a Hugging
Face tokenizer (SigLIP) need the ``transformers`` package and the tokenizer files, which are
downloaded with the weights into the same folder and loaded from there with ``local_files_only``;
without them loading fails with a clean :class:`ModelUnavailable`. Models whose *text tower* is a
Hugging Face transformer (``hf_model_name`` in the config, e.g. the XLM-RoBERTa CLIPs) would need that
model's config from the hub at build time and are not supported offline.

Fusion: :class:`CalibratedMaxScorer`, see its docstring.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..errors import ModelUnavailable
from . import catalog
from .base import EmbeddingModel, FusionScorer, PhotoTextVectors
from .catalog import CatalogEntry, WeightsFile, cached_weights, model_dir, parse_clip_name
from .download import ProgressCallback, checksum_sidecar, download_model, read_checksum, sha256_file

log = logging.getLogger(__name__)

#: bump whenever :func:`clip_preprocess` changes what it produces (part of the model's version)
PREPROCESS_VERSION = "1"

_RESAMPLE = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}
_OPEN_CLIP_LOCK = threading.Lock()


# -- preprocessing (numpy + Pillow only) -------------------------------------------------------


def _as_hw(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    values = [int(v) for v in size]
    return (values[0], values[0]) if len(values) == 1 else (values[0], values[1])


def _resize_shortest_square(image: Image.Image, side: int, resample: Image.Resampling) -> Image.Image:
    """torchvision ``Resize(side)``: shorter edge to ``side``, longer edge truncated, aspect kept."""
    w, h = image.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = side, int(side * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    return image if (new_w, new_h) == (w, h) else image.resize((new_w, new_h), resample)


def _resize_keep_ratio(
    image: Image.Image, target: tuple[int, int], longest: float, resample: Image.Resampling
) -> Image.Image:
    """open_clip's ``ResizeKeepRatio`` (deterministic part): 0 = fit the shorter edge, 1 = the longer."""
    w, h = image.size
    ratio_h, ratio_w = h / target[0], w / target[1]
    ratio = max(ratio_h, ratio_w) * longest + min(ratio_h, ratio_w) * (1.0 - longest)
    new_h, new_w = round(h / ratio), round(w / ratio)
    return image if (new_w, new_h) == (w, h) else image.resize((new_w, new_h), resample)


def _center_crop_or_pad(image: Image.Image, target: tuple[int, int], fill: int) -> Image.Image:
    """torchvision ``CenterCrop`` / open_clip ``CenterCropOrPad`` (pads with ``fill`` when too small)."""
    th, tw = target
    w, h = image.size
    if tw > w or th > h:
        left, top = ((tw - w) // 2 if tw > w else 0), ((th - h) // 2 if th > h else 0)
        right, bottom = ((tw - w + 1) // 2 if tw > w else 0), ((th - h + 1) // 2 if th > h else 0)
        canvas = Image.new("RGB", (w + left + right, h + top + bottom), (fill, fill, fill))
        canvas.paste(image, (left, top))
        image = canvas
        w, h = image.size
        if (w, h) == (tw, th):
            return image
    top = round((h - th) / 2.0)
    left = round((w - tw) / 2.0)
    return image.crop((left, top, left + tw, top + th))


def clip_preprocess(
    image: Image.Image,
    size: int | Sequence[int],
    mean: Sequence[float],
    std: Sequence[float],
    interpolation: str = "bicubic",
    resize_mode: str = "shortest",
    fill_color: int = 0,
) -> np.ndarray:
    """A decoded image → (3, H, W) float32, normalised, as open_clip's evaluation transform makes it.

    resize_mode "shortest": shorter edge to the size then centre crop; "squash": stretch to the size;
    "longest": longer edge to the size then pad. The image is converted to RGB first (open_clip converts
    after resizing; for RGB inputs the result is identical, for palette images this is more correct).
    """
    target = _as_hw(size)
    resample = _RESAMPLE.get(interpolation, Image.Resampling.BICUBIC)
    if image.mode != "RGB":
        image = image.convert("RGB")
    if image.width <= 0 or image.height <= 0:
        raise ValueError("empty image")
    if resize_mode == "squash":
        if image.size != (target[1], target[0]):
            image = image.resize((target[1], target[0]), resample)
    elif resize_mode == "longest":
        image = _center_crop_or_pad(_resize_keep_ratio(image, target, 1.0, resample), target, fill_color)
    else:
        if target[0] == target[1]:
            image = _resize_shortest_square(image, target[0], resample)
        else:  # open_clip uses ResizeKeepRatio with its default (bicubic) filter here
            image = _resize_keep_ratio(image, target, 0.0, Image.Resampling.BICUBIC)
        image = _center_crop_or_pad(image, target, fill_color)
    pixels: np.ndarray = np.asarray(image, dtype=np.float32) * np.float32(1.0 / 255.0)
    normalised: np.ndarray = (pixels - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(normalised.transpose(2, 0, 1), dtype=np.float32)


# -- fusion ------------------------------------------------------------------------------------


class CalibratedMaxScorer(FusionScorer):
    """The better of a photo's image match and its (calibrated) caption match.

    CLIP's text-to-text cosines run far higher than its text-to-image ones, so a raw max would let any
    caption beat every image. Per query, the caption similarities are mapped affinely onto the image
    similarities' scale by matching mean and standard deviation (captioned photos' text sims vs all
    photos' image sims), then a captioned photo scores ``max(image_sim, mapped_text_sim)``.

    Photos without text score exactly their image similarity (the identity: a fixed increasing
    function), so they are never pushed down among themselves. With fewer than
    :attr:`min_texts` captioned photos the statistics mean nothing and image similarity alone is used;
    image queries always use image similarity alone. ``photo_gate`` is unused (CLIP has no learned gate).
    """

    min_texts = 5

    def score(self, query, image_sims, text_sims, photo_gate, has_text, query_is_image=False):
        img = np.asarray(image_sims, dtype=np.float32)
        if query_is_image or text_sims is None or has_text is None:
            return img
        mask = np.asarray(has_text, dtype=bool)
        if int(mask.sum()) < self.min_texts:
            return img
        txt = np.asarray(text_sims, dtype=np.float32)
        sd_i, sd_t = float(img.std()), float(txt[mask].std())
        if sd_i < 1e-6 or sd_t < 1e-6:
            return img
        mapped = float(img.mean()) + (txt - float(txt[mask].mean())) * np.float32(sd_i / sd_t)
        return np.where(mask, np.maximum(img, mapped), img).astype(np.float32)


# -- weights -----------------------------------------------------------------------------------


def _import_open_clip() -> Any:
    try:
        import open_clip
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ModelUnavailable(
            "CLIP models need the 'open_clip_torch' package (pip install 'desktop-search[clip]')"
        ) from exc
    return open_clip


HF_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def _entry_from_open_clip(arch: str, pretrained: str) -> CatalogEntry | None:
    """An ad-hoc entry for a name outside the catalog, from what open_clip knows about it.

    Weights: the Hugging Face repository open_clip lists for the tag (checked against the hub's own
    published checksum only). Tokenizer files: the repository the architecture's config names, if
    any. None when open_clip knows neither.
    """
    open_clip = _import_open_clip()
    model_cfg = open_clip.get_model_config(arch) or {}
    hf_hub = str((open_clip.get_pretrained_cfg(arch, pretrained) or {}).get("hf_hub") or "")
    repo_owner, _, rest = hf_hub.partition("/")
    repo_name, _, filename = rest.partition("/")
    files: tuple[WeightsFile, ...] = ()
    if repo_owner and repo_name and filename:
        files = (WeightsFile(filename.rsplit(".", 1)[0] + ".safetensors"), WeightsFile(filename))
    elif repo_owner and repo_name:
        files = (WeightsFile(catalog.SAFETENSORS_NAME), WeightsFile(catalog.PICKLE_NAME))
    tok_repo = model_cfg.get("text_cfg", {}).get("hf_tokenizer_name") or None
    if not files and not tok_repo:
        return None
    return CatalogEntry(
        arch=arch,
        pretrained=pretrained,
        hf_repo=f"{repo_owner}/{repo_name}" if files else str(tok_repo),
        weights=files,
        size_mb=0,
        speed="medium",
        image_size=0,
        dim=int(model_cfg.get("embed_dim", 0)),
        tokenizer_files=HF_TOKENIZER_FILES if tok_repo else (),
        tokenizer_repo=tok_repo,
        notes="not curated: from open_clip's own lists",
    )


def ensure_weights(name: str, progress: ProgressCallback | None = None) -> Path:
    """The local weights file of ``name``, downloading it (and tokenizer files) when needed.

    Catalogued names download from the catalog. Other names use a weights file already in the
    model's cache folder, else the download open_clip lists for the tag; either way missing Hugging
    Face tokenizer files are fetched. Raises :class:`ModelUnavailable` with a one-line reason.
    """
    arch, pretrained = parse_clip_name(name)
    entry = catalog.get(name)
    if entry is not None:
        return download_model(entry, progress)
    cached = cached_weights(arch, pretrained)
    entry = _entry_from_open_clip(arch, pretrained)
    if entry is not None and (cached is not None or entry.weights):
        if cached is None or not catalog.is_downloaded(entry):
            return download_model(entry, progress)
    if cached is not None:
        return cached
    raise ModelUnavailable(
        f"unknown CLIP model {name!r}: not in the catalog, not in {model_dir(arch, pretrained)}, "
        "and open_clip lists no download for it; see 'desktop-search models list'"
    )


def _weights_digest(path: Path) -> str:
    """The file's sha256 (from the sidecar the downloader wrote, else computed once and saved)."""
    digest = read_checksum(path)
    if digest is None:
        digest = sha256_file(path)
        with contextlib.suppress(OSError):
            checksum_sidecar(path).write_text(digest + "\n", encoding="ascii")
    return digest


def _load_state_dict(path: Path) -> dict[str, Any]:
    """Tensors only: safetensors, or torch's weights-only loader for ``.bin`` (no arbitrary unpickling)."""
    import torch

    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: Any = load_file(str(path), device="cpu")
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelUnavailable(
            f"cannot read weights {path.name}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state:
        raise ModelUnavailable(f"{path.name} holds no state dict")
    if next(iter(state)).startswith("module."):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


def _adapt_state_dict(model: Any, state: dict[str, Any]) -> dict[str, Any]:
    """The conversions open_clip's ``load_checkpoint`` applies, minus its file loading."""
    from open_clip import model as oc_model

    with contextlib.suppress(ImportError):
        from open_clip.convert import convert_state_dict

        state = convert_state_dict(model, state)
    if "positional_embedding" in state and not hasattr(model, "positional_embedding"):
        state = oc_model.convert_to_custom_text_state_dict(state)
    for key in ("logit_scale", "logit_bias"):
        param = getattr(model, key, None)
        if key in state and param is not None and param.ndim != state[key].ndim:
            state[key] = state[key].reshape(param.shape)
    if "logit_bias" not in state and getattr(model, "logit_bias", None) is not None:
        import torch

        state["logit_bias"] = torch.zeros_like(model.logit_bias)
    state.pop("text.transformer.embeddings.position_ids", None)
    oc_model.resize_pos_embed(state, model)
    if hasattr(oc_model, "resize_text_pos_embed"):
        oc_model.resize_text_pos_embed(state, model)
    return state


def _preprocess_overrides(open_clip: Any, arch: str, pretrained: str) -> dict[str, Any]:
    """Mean/std/interpolation/resize mode open_clip records for this pretrained tag (if it knows it)."""
    cfg = open_clip.get_pretrained_cfg(arch, pretrained) or {}
    keys = ("mean", "std", "interpolation", "resize_mode", "fill_color")
    return {k: cfg[k] for k in keys if cfg.get(k) is not None}


def _make_tokenizer(open_clip: Any, name: str, arch: str, folder: Path) -> Any:
    text_cfg = (open_clip.get_model_config(arch) or {}).get("text_cfg", {})
    if not text_cfg.get("hf_tokenizer_name"):
        return open_clip.get_tokenizer(arch)
    if not (folder / "tokenizer.json").is_file():
        raise ModelUnavailable(
            f"{arch} needs its Hugging Face tokenizer files in {folder}; "
            f"run 'desktop-search models download {name}' while online"
        )
    try:
        import transformers  # noqa: F401
        from open_clip.tokenizer import HFTokenizer
    except ImportError as exc:
        raise ModelUnavailable(f"{arch} needs the 'transformers' package for its tokenizer") from exc
    kwargs: dict[str, Any] = dict(text_cfg.get("tokenizer_kwargs") or {})
    if text_cfg.get("tokenizer_mode"):
        kwargs["tokenizer_mode"] = text_cfg["tokenizer_mode"]
    try:
        return HFTokenizer(
            str(folder), context_length=text_cfg.get("context_length", 77), local_files_only=True, **kwargs
        )
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelUnavailable(f"cannot load the tokenizer of {arch} from {folder}: {first}") from exc


# -- the model ---------------------------------------------------------------------------------


class OpenClipModel(EmbeddingModel):
    """An open_clip network behind the :class:`EmbeddingModel` interface (see the module docstring)."""

    def __init__(
        self,
        *,
        name: str,
        version: str,
        network: Any,
        tokenizer: Any,
        device: str,
        dim: int,
        preprocess_cfg: dict[str, Any],
    ) -> None:
        import torch

        self.name = name
        self.version = version
        self.dim = dim
        self.device = device
        self._net = network
        self._tokenizer = tokenizer
        self._dtype = next(network.parameters()).dtype
        self._torch = torch
        size = _as_hw(preprocess_cfg["size"])
        self.image_size = size[0]
        self._pp: dict[str, Any] = {
            "size": size,
            "mean": tuple(float(v) for v in preprocess_cfg["mean"]),
            "std": tuple(float(v) for v in preprocess_cfg["std"]),
            "interpolation": str(preprocess_cfg.get("interpolation") or "bicubic"),
            "resize_mode": str(preprocess_cfg.get("resize_mode") or "shortest"),
            "fill_color": int(preprocess_cfg.get("fill_color") or 0),
        }
        self._fusion = CalibratedMaxScorer()

    @property
    def preprocess_config(self) -> dict[str, Any]:
        return dict(self._pp)

    def preprocess(self, image: Image.Image) -> np.ndarray:
        return clip_preprocess(image, **self._pp)

    def _normalised(self, features: Any) -> np.ndarray:
        out = features.float().cpu().numpy()
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.maximum(norms, 1e-12)).astype(np.float32)

    def encode_images(self, batch: Sequence[np.ndarray]) -> np.ndarray:
        if len(batch) == 0:
            return np.zeros((0, self.dim), np.float32)
        torch = self._torch
        x = torch.from_numpy(np.stack([np.asarray(b, np.float32) for b in batch]))
        x = x.to(self.device, dtype=self._dtype)
        with torch.inference_mode():
            return self._normalised(self._net.encode_image(x))

    def _encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dim), np.float32)
        torch = self._torch
        tokens = self._tokenizer([str(t) for t in texts]).to(self.device)
        with torch.inference_mode():
            return self._normalised(self._net.encode_text(tokens))

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode_texts(texts)

    def encode_photo_texts(self, texts: Sequence[str]) -> PhotoTextVectors:
        vectors = self._encode_texts(texts)
        return PhotoTextVectors(vectors=vectors, gate=np.zeros(len(vectors), np.float32))

    @property
    def fusion(self) -> FusionScorer:
        return self._fusion

    def close(self) -> None:
        self._net = None
        if self.device.startswith("cuda"):
            with contextlib.suppress(Exception):
                self._torch.cuda.empty_cache()


def load_clip(
    name: str, device: str | None = None, progress: ProgressCallback | None = None
) -> OpenClipModel:
    """Load ``clip:ARCH/PRETRAINED`` (downloading it on first use); raises :class:`ModelUnavailable`.

    ``device``: "cuda", "mps", "cpu" or None for automatic; float16 on CUDA, float32 elsewhere.
    ``progress(bytes_done, bytes_total)`` is called during a download; downloads are also logged.
    """
    arch, pretrained = parse_clip_name(name)
    open_clip = _import_open_clip()
    model_cfg = open_clip.get_model_config(arch)
    if model_cfg is None:
        raise ModelUnavailable(
            f"open_clip {getattr(open_clip, '__version__', '')} has no architecture {arch!r}"
        )
    if model_cfg.get("text_cfg", {}).get("hf_model_name"):
        raise ModelUnavailable(f"{arch} has a Hugging Face text tower, which cannot be built offline")
    weights = ensure_weights(name, progress if progress is not None else _LogProgress(name))
    from .device import configure_torch, encoder_dtype, pick_device

    dev = pick_device(device)
    configure_torch(dev)
    tokenizer = _make_tokenizer(open_clip, name, arch, weights.parent)
    with _OPEN_CLIP_LOCK, _no_random_init_warning():  # create_model touches module-level state
        try:
            network = open_clip.create_model(
                arch,
                pretrained=None,
                device="cpu",
                pretrained_hf=False,
                force_preprocess_cfg=_preprocess_overrides(open_clip, arch, pretrained),
            )
        except Exception as exc:
            raise ModelUnavailable(
                f"cannot build {arch}: {str(exc).splitlines()[0] if str(exc) else exc!r}"
            ) from exc
    try:
        state = _adapt_state_dict(network, _load_state_dict(weights))
        result = network.load_state_dict(state, strict=False)
    except (RuntimeError, ValueError, KeyError) as exc:  # shape mismatches and the like
        first = next((ln.strip() for ln in str(exc).splitlines()[1:] if ln.strip()), str(exc))
        raise ModelUnavailable(f"{weights.name} does not fit {arch}: {first}") from exc
    if result.missing_keys or result.unexpected_keys:
        raise ModelUnavailable(
            f"{weights.name} does not fit {arch}: {len(result.missing_keys)} missing and "
            f"{len(result.unexpected_keys)} unexpected tensors (wrong file for this architecture?)"
        )
    network.eval()
    _reparameterize(network)
    preprocess_cfg = dict(network.visual.preprocess_cfg)
    dtype = encoder_dtype(dev)
    network = network.to(device=dev, dtype=dtype)
    version = f"{pretrained}.{_weights_digest(weights)[:12]}.pp{PREPROCESS_VERSION}"
    return OpenClipModel(
        name=name,
        version=version,
        network=network,
        tokenizer=tokenizer,
        device=dev,
        dim=int(model_cfg["embed_dim"]),
        preprocess_cfg=preprocess_cfg,
    )


class _DropRandomInitWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "initialized randomly" not in record.getMessage()


@contextlib.contextmanager
def _no_random_init_warning() -> Iterator[None]:
    """open_clip warns (on the root logger) that a model built with pretrained=None is random; ours
    gets its weights right after, so that warning would only mislead."""
    root = logging.getLogger()
    flt = _DropRandomInitWarning()
    root.addFilter(flt)
    try:
        yield
    finally:
        root.removeFilter(flt)


def _reparameterize(network: Any) -> None:
    """Fuse re-parameterisable branches (MobileCLIP's FastViT/MobileOne blocks) for faster inference.

    Mathematically equivalent; skipped when timm lacks the helper or the model has nothing to fuse.
    """
    visual = getattr(network, "visual", None)
    if visual is None or not any(hasattr(m, "reparameterize") for m in visual.modules()):
        return
    try:
        from timm.utils.model import reparameterize_model
    except ImportError:  # pragma: no cover - old timm
        return
    try:
        reparameterize_model(visual, inplace=True)
    except Exception as exc:  # pragma: no cover - defensive: the unfused model is still correct
        log.warning("could not re-parameterise %s: %s", type(visual).__name__, exc)


class _LogProgress:
    """Default download progress: a log line every 10 %."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._next = 0.0

    def __call__(self, done: int, total: int | None) -> None:
        if not total:
            return
        fraction = done / total
        if fraction >= self._next:
            log.info("downloading %s: %d%% of %.0f MB", self.name, fraction * 100, total / 1e6)
            self._next = fraction + 0.1
