"""The builtin model: frozen EfficientNet-Lite + all-MiniLM-L6-v2 with trained heads and fusion.

Names understood by :func:`load_builtin`:
    ``builtin``                         the weights shipped in ``core/models/weights/builtin.safetensors``
    ``builtin:/path/to/file.safetensors`` weights produced by ``desktop-search train``

Without the shipped weights file the model still loads, with seeded provisional (untrained) heads, and
logs a warning: vectors are then valid but search quality is poor.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .base import EmbeddingModel, FusionScorer, PhotoTextVectors

log = logging.getLogger(__name__)

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "builtin.safetensors"
#: bump when preprocessing or the encoders' use changes (changes every stored vector's key)
PIPELINE_VERSION = "p1"
WEIGHTS_FORMAT = "desktop_search.builtin/1"

TEXT_BATCH = 256


def weights_file_for(name: str) -> Path:
    """The weights file a ``builtin`` / ``builtin:PATH`` name refers to."""
    if name == "builtin":
        return DEFAULT_WEIGHTS
    prefix, _, rest = name.partition(":")
    if prefix != "builtin" or not rest:
        raise ValueError(f"not a builtin model name: {name!r}")
    return Path(rest).expanduser()


def read_weights(path: Path):
    """(state_dict, config dict, metadata) from a heads safetensors file."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata() or {})
    if meta.get("format_name") != WEIGHTS_FORMAT:
        raise ValueError(f"{path} is not a desktop-search builtin weights file")
    return load_file(str(path)), json.loads(meta["config"]), meta


class BuiltinModel(EmbeddingModel):
    """See module docstring. Construct with :func:`load_builtin`."""

    def __init__(self, name: str, weights: Path | None, device: str | None = None) -> None:
        import torch

        from .device import configure_torch, encoder_dtype, pick_device
        from .efficientnet import LITE_SPECS
        from .fusion import LearnedFusion
        from .heads import BuiltinHeads, HeadConfig, upgrade_state_dict
        from .minilm import MiniLM

        self.name = name
        self.device = pick_device(device)
        configure_torch(self.device)
        self.weights_path = weights
        self.meta: dict[str, str] = {}
        if weights is not None and weights.is_file():
            state, cfg_dict, self.meta = read_weights(weights)
            cfg = HeadConfig.from_dict(cfg_dict)
            with _one_torch_thread(torch):  # every value is overwritten by the load
                heads = BuiltinHeads(cfg)
                heads.load_state_dict(upgrade_state_dict(state), strict=True)
            digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:12]
            self.trained = True
        else:
            if weights is not None and weights != DEFAULT_WEIGHTS:
                raise FileNotFoundError(f"weights file not found: {weights}")
            log.warning(
                "builtin model weights %s are missing: using provisional untrained heads (poor search quality)",
                weights,
            )
            cfg = HeadConfig()
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                heads = BuiltinHeads(cfg)
            digest = "provisional0"
            self.trained = False
        self.config = cfg
        self.version = f"{cfg.encoder}-{PIPELINE_VERSION}-{digest}"
        self.dim = cfg.dim
        self.image_size = LITE_SPECS[cfg.encoder].image_size
        self._torch = torch
        self._heads = heads.eval().to(self.device)
        self._dtype = encoder_dtype(self.device)
        # the image encoder is built on first use (see _image_encoder): a text query needs MiniLM only
        self._lite: Any = None
        self._lite_lock = threading.Lock()
        self._closed = False
        dtype = self._dtype
        with _one_torch_thread(torch):
            self._text_encoder = _shared(("minilm", self.device), lambda: MiniLM().to(self.device, dtype))
        fusion_state = {
            k.split(".", 1)[1]: v.detach().cpu().numpy()
            for k, v in heads.state_dict().items()
            if k.startswith("fusion.")
        }
        self._fusion = LearnedFusion(fusion_state)
        if self.device != "cpu":
            self.encode_queries(["warm up", "a longer query to warm up the next sequence length " * 2])

    @property
    def _image_encoder(self) -> Any:
        """The frozen EfficientNet-Lite trunk, built on first use (thread-safe; shared between
        models on the same device through :func:`_shared`); None once the model is closed."""
        encoder = self._lite
        if encoder is None and not self._closed:
            with self._lite_lock:
                if self._lite is None and not self._closed:
                    from .efficientnet import LiteEncoder

                    variant, device, dtype = self.config.encoder, self.device, self._dtype
                    with _one_torch_thread(self._torch):
                        self._lite = _shared(("lite", variant, device), lambda: LiteEncoder(variant).to(device, dtype))
                encoder = self._lite
        return encoder

    @_image_encoder.setter
    def _image_encoder(self, value: Any) -> None:
        self._lite = value

    # -- images ---------------------------------------------------------------------------------------
    def preprocess(self, image: Image.Image) -> np.ndarray:
        """RGB PIL image → uint8 (image_size, image_size, 3); thread-safe, numpy/Pillow only."""
        from .preprocess import preprocess_image

        return preprocess_image(image, self.image_size)

    def image_features(self, batch: Sequence[np.ndarray]):
        """Frozen backbone feature maps (B, 1280, h, w) float32 tensor on the device."""
        from .efficientnet import to_tensor
        from .preprocess import stack_batch

        x = to_tensor(stack_batch(batch), self.device)
        return self._image_encoder(x).float()

    def encode_images(self, batch: Sequence[np.ndarray]) -> np.ndarray:
        if len(batch) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._torch.inference_mode():
            vec = self._heads.image(self.image_features(batch))
        # not re-normalised: the heads give unit directions times a per-photo weight (ImageHead.weigh)
        return np.asarray(vec.float().cpu().numpy(), dtype=np.float32)

    # -- texts ----------------------------------------------------------------------------------------
    def _text_states(self, texts: Sequence[str]):
        ids, mask = self._text_encoder.tokenize(texts)
        if self.device != "cpu":
            ids, mask = _pad_to_bucket(ids, mask)
        ids, mask = ids.to(self.device), mask.to(self.device)
        return self._text_encoder(ids, mask).float(), mask

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        out = [np.zeros((0, self.dim), dtype=np.float32)]
        with self._torch.inference_mode():
            for i in range(0, len(texts), TEXT_BATCH):
                states, mask = self._text_states(texts[i : i + TEXT_BATCH])
                out.append(self._heads.text(states, mask).cpu().numpy())
        return _unit(np.concatenate(out))

    def encode_photo_texts(self, texts: Sequence[str]) -> PhotoTextVectors:
        vecs = [np.zeros((0, self.dim), dtype=np.float32)]
        gates = [np.zeros((0,), dtype=np.float32)]
        with self._torch.inference_mode():
            for i in range(0, len(texts), TEXT_BATCH):
                states, mask = self._text_states(texts[i : i + TEXT_BATCH])
                v, g = self._heads.photo_text(states, mask)
                vecs.append(v.cpu().numpy())
                gates.append(g.cpu().numpy())
        return PhotoTextVectors(
            vectors=_unit(np.concatenate(vecs)), gate=np.concatenate(gates).astype(np.float32)
        )

    @property
    def fusion(self) -> FusionScorer:
        return self._fusion

    def close(self) -> None:
        self._closed = True
        self._heads = None  # type: ignore[assignment]
        self._lite = None
        self._text_encoder = None
        if self.device != "cpu":
            # accelerator memory is scarce: drop the shared encoders too (other live models keep theirs)
            release_shared_encoders()
            if self.device.startswith("cuda"):
                self._torch.cuda.empty_cache()


_ENCODERS: dict[tuple[str, ...], Any] = {}
_ENCODERS_LOCK = threading.Lock()


def _shared(key: tuple[str, ...], make: Callable[[], Any]) -> Any:
    """Frozen encoders are read-only: models loaded again (other heads, same device) share them."""
    with _ENCODERS_LOCK:
        enc = _ENCODERS.get(key)
        if enc is None:
            enc = _ENCODERS[key] = make()
        return enc


def release_shared_encoders() -> None:
    """Forget the cached frozen encoders (frees their memory once no model uses them)."""
    with _ENCODERS_LOCK:
        _ENCODERS.clear()


#: on accelerators, token sequences are padded up to a multiple of this: every new sequence length
#: makes CUDA pick (and sometimes build) kernels for that shape, which cost tens of milliseconds the
#: first time; a handful of lengths are met quickly and then stay fast (padding is masked: the
#: vectors are unchanged)
TOKEN_BUCKET = 16


def _pad_to_bucket(ids, mask):
    import torch

    t = ids.shape[1]
    want = -(-t // TOKEN_BUCKET) * TOKEN_BUCKET
    if want == t:
        return ids, mask
    pad = (0, want - t)
    return torch.nn.functional.pad(ids, pad), torch.nn.functional.pad(mask, pad)


@contextlib.contextmanager
def _one_torch_thread(torch: Any) -> Iterator[None]:
    """Build modules with one torch thread in this thread, then restore its count.

    Building runs small operations (weight initialisation, copies, a QR) that the load overwrites or
    that gain nothing from threads; on a busy machine torch's thread pool turns each into a wait at a
    barrier (the heads took 0.12-0.74 s with two threads under load, 0.04 s with one; MiniLM
    0.52-0.59 s against 0.19-0.26 s). The values built are the same whatever the thread count."""
    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(n, 1e-12)).astype(np.float32)


def load_builtin(name: str = "builtin", device: str | None = None) -> BuiltinModel:
    """Load the builtin model (``builtin`` or ``builtin:/path/to/weights.safetensors``).

    Raises :class:`~.registry.ModelUnavailable` with a one-line reason for bad names or files.
    """
    from .registry import ModelUnavailable

    try:
        path = weights_file_for(name)
        return BuiltinModel(name, path, device=device)
    except ModelUnavailable:
        raise
    except Exception as exc:  # a damaged file raises safetensors' own error types
        raise ModelUnavailable(f"cannot load {name!r}: {exc}") from exc
