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
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .base import EmbeddingModel, FusionScorer, PhotoTextVectors
from .builtin_language import QueryUnderstanding
from .colours import PREFIX as COLOUR_PREFIX
from .colours import ColourParts
from .concepts import PREFIX as CONCEPT_PREFIX
from .concepts import ConceptBridge
from .vector_layout import photo_vectors, query_vectors

log = logging.getLogger(__name__)

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "builtin.safetensors"
#: bump when preprocessing or the encoders' use changes (changes every stored vector's key)
PIPELINE_VERSION = "p1"
WEIGHTS_FORMAT = "desktop_search.builtin/1"

TEXT_BATCH = 256
#: ``HeadConfig.encoder``'s default (read without importing the heads, which need torch)
DEFAULT_ENCODER = "lite0"


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


def read_numpy_weights(data: bytes, path: Path | str = "weights") -> tuple[dict[str, np.ndarray], dict, dict[str, str]]:
    """(numpy state dict, config dict, metadata) from the bytes of a heads safetensors file (as
    :func:`read_weights`, without torch; the arrays as stored, float16)."""
    from safetensors.numpy import load

    try:
        n = int.from_bytes(data[:8], "little")
        meta = dict(json.loads(data[8 : 8 + n]).get("__metadata__") or {})
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not a safetensors file") from exc
    if meta.get("format_name") != WEIGHTS_FORMAT:
        raise ValueError(f"{path} is not a desktop-search builtin weights file")
    return load(data), json.loads(meta["config"]), meta


def write_weights_atomically(path: Path | str, write: Callable[[str], None]) -> Path:
    """Write a weights file through ``write(temporary path)``, then move it into place: a failed
    write leaves no half-written file behind (OSError with the reason)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        write(str(tmp))
        tmp.replace(path)
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        raise OSError(f"cannot write {path}: {exc}") from exc
    return path


class BuiltinModel(QueryUnderstanding, EmbeddingModel):
    """See module docstring. Construct with :func:`load_builtin`.

    Constructing it does not import torch: it reads the heads' weights with ``safetensors.numpy``
    (enough for the key, the dimension and the fusion), and text queries are answered by the numpy
    encoder (:mod:`.numpy_text`: MiniLM and the text head, no torch) on the CPU, and on any device
    until torch has been loaded for other work. Torch is imported, the device chosen and the torch
    modules built on first use of what needs them: images (:meth:`encode_images`), photo texts
    (:meth:`encode_photo_texts`), :attr:`device`, :attr:`config`, :attr:`image_size`. On CUDA / MPS
    text queries move to torch once its modules are built (they are faster there).
    """

    def __init__(self, name: str, weights: Path | None, device: str | None = None) -> None:
        from .fusion import LearnedFusion

        self.name = name
        self.weights_path = weights
        self.meta: dict[str, str] = {}
        self._wanted_device = device
        self._device: str | None = None
        self._torch_lock = threading.RLock()  # choosing the device, building the torch modules
        self._heads_module: Any = None
        self._minilm: Any = None
        # the image encoder is built on first use (see _image_encoder): a text query needs MiniLM only
        self._lite: Any = None
        self._lite_lock = threading.Lock()
        self._image_size: int | None = None
        self._numpy_queries: Any = None
        self._numpy_lock = threading.Lock()
        self._multilingual: Any = None  # other languages than English (.multilingual), on first use
        self._relevance_scale: Any = None  # the fitted relevance scale (search/relevance.py), on first use
        #: recent queries' familiarity (``query_familiarity``), most recent last
        self._familiarity: OrderedDict[str, float] = OrderedDict()
        self._familiarity_lock = threading.Lock()
        self._multilingual_lock = threading.Lock()
        self._closed = False
        if weights is not None and weights.is_file():
            data = weights.read_bytes()
            self._state, self._config_dict, self.meta = read_numpy_weights(data, weights)
            self.weights_sha256 = hashlib.sha256(data).hexdigest()
            digest = self.weights_sha256[:12]
            self.trained = True
        else:
            if weights is not None and weights != DEFAULT_WEIGHTS:
                raise FileNotFoundError(f"weights file not found: {weights}")
            log.warning(
                "builtin model weights %s are missing: using provisional untrained heads (poor search quality)",
                weights,
            )
            self._provisional_heads()
            self.weights_sha256 = ""
            digest = "provisional0"
            self.trained = False
        encoder = str(self._config_dict.get("encoder", DEFAULT_ENCODER))
        self.version = f"{encoder}-{PIPELINE_VERSION}-{digest}"
        #: the learned heads' joint-space dimension (the first ``head_dim`` of every vector)
        self.head_dim = int(self._state["fusion.u_img"].shape[0])
        #: the ImageNet concept bridge (:mod:`.concepts`), in weights made since it exists
        self.concepts = ConceptBridge.from_state(self._state)
        #: colours where the described thing is (:mod:`.colours`), in weights made since they exist;
        #: their part follows the concept half
        self.colours = ColourParts.from_state(self._state)
        self.dim = (self.head_dim + (self.concepts.dim if self.concepts is not None else 0)
                    + (self.colours.dim if self.colours is not None else 0))
        #: versions of this model whose stored vectors it can still search with, reading only their
        #: first ``head_dim`` numbers (same heads, vectors without the concept half): a library
        #: indexed by one of them answers with those vectors until it has re-embedded every photo
        self.legacy_versions: tuple[str, ...] = tuple(json.loads(self.meta.get("upgrades_from", "[]")))
        self._fusion = LearnedFusion(
            {k.split(".", 1)[1]: v for k, v in self._state.items() if k.startswith("fusion.")}
        )

    def _provisional_heads(self) -> None:
        """Seeded untrained heads (no weights file): built with torch, kept as numpy values."""
        import torch

        from .heads import BuiltinHeads, HeadConfig

        cfg = HeadConfig()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            heads = BuiltinHeads(cfg)
        self._state = {k: v.detach().cpu().numpy() for k, v in heads.state_dict().items()}
        self._config_dict = cfg.to_dict()

    # -- torch, on first use ------------------------------------------------------------------------
    @property
    def _torch(self) -> Any:
        import torch

        return torch

    @property
    def device(self) -> str:
        """Where the torch modules run: chosen (importing torch) on first use."""
        device = self._device
        if device is None:
            with self._torch_lock:
                if self._device is None:
                    from .device import configure_torch, pick_device

                    chosen = pick_device(self._wanted_device)
                    configure_torch(chosen)
                    self._device = chosen
                device = self._device
        return device

    @device.setter
    def device(self, value: str) -> None:
        self._device = value

    @property
    def _dtype(self) -> Any:
        from .device import encoder_dtype

        return encoder_dtype(self.device)

    @property
    def config(self) -> Any:
        """The heads' :class:`~.heads.HeadConfig` (imports torch)."""
        from .heads import HeadConfig

        return HeadConfig.from_dict(self._config_dict)

    @property
    def image_size(self) -> int:  # type: ignore[override]
        size = self._image_size
        if size is None:
            from .efficientnet import LITE_SPECS  # torch: only images need it

            size = self._image_size = LITE_SPECS[str(self._config_dict.get("encoder", DEFAULT_ENCODER))].image_size
        return size

    def _once(
        self, attr: str, lock: Any, make: Callable[[], Any], *, after: Callable[[Any], None] | None = None,
        while_open: bool = True,
    ) -> Any:
        """``getattr(self, attr)``, set to ``make()`` under ``lock`` by the first caller that finds it
        None (``after(value)`` then runs, still under the lock); with ``while_open``, never built
        once the model is closed (None then)."""
        value = getattr(self, attr)
        if value is None and not (while_open and self._closed):
            with lock:
                if getattr(self, attr) is None and not (while_open and self._closed):
                    setattr(self, attr, make())
                    if after is not None:
                        after(getattr(self, attr))
                value = getattr(self, attr)
        return value

    @property
    def _heads(self) -> Any:
        """The torch heads (:class:`~.heads.BuiltinHeads`) on the device, built on first use."""

        def make() -> Any:
            from .heads import BuiltinHeads, upgrade_state_dict

            torch = self._torch
            state = {
                k: torch.from_numpy(np.array(v)) for k, v in self._state.items() if not k.startswith((CONCEPT_PREFIX, COLOUR_PREFIX))
            }
            with _one_torch_thread(torch):  # every value is overwritten by the load
                built = BuiltinHeads(self.config)
                built.load_state_dict(upgrade_state_dict(state), strict=True)
            return built.eval().to(self.device)

        def warm_up(_: Any) -> None:
            if self.device != "cpu":  # text queries move to torch now: warm it up
                self._torch_queries(["warm up", "a longer query to warm up the next sequence length " * 2])

        return self._once("_heads_module", self._torch_lock, make, after=warm_up)

    def _shared_encoder(self, attr: str, lock: Any, key: tuple[str, ...], make: Callable[[str, Any], Any]) -> Any:
        """``getattr(self, attr)``: on first use (under ``lock``) ``make(device, dtype)`` built with one
        torch thread and shared between models through :func:`_shared` under ``key`` + device;
        None once the model is closed."""

        def build() -> Any:
            device, dtype = self.device, self._dtype
            with _one_torch_thread(self._torch):
                return _shared((*key, device), lambda: make(device, dtype))

        return self._once(attr, lock, build)

    @property
    def _text_encoder(self) -> Any:
        """The torch MiniLM (photo texts; queries on accelerators), built on first use."""

        def make(device: str, dtype: Any) -> Any:
            from .minilm import MiniLM

            return MiniLM().to(device, dtype)

        return self._shared_encoder("_minilm", self._torch_lock, ("minilm",), make)

    @_text_encoder.setter
    def _text_encoder(self, value: Any) -> None:
        self._minilm = value

    @property
    def _image_encoder(self) -> Any:
        """The frozen EfficientNet-Lite trunk, built on first use (thread-safe; shared between
        models on the same device through :func:`_shared`); None once the model is closed."""
        if self._lite is not None or self._closed:
            return self._lite
        variant = self.config.encoder  # part of the sharing key (imports torch: only when building)

        def make(device: str, dtype: Any) -> Any:
            from .efficientnet import LiteEncoder

            return LiteEncoder(variant).to(device, dtype)

        return self._shared_encoder("_lite", self._lite_lock, ("lite", variant), make)

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
            fmap = self.image_features(batch)
            vec = self._heads.image(fmap)
            pooled = fmap.mean(dim=(2, 3)).cpu().numpy() if self.concepts is not None else None
            cells = fmap.flatten(2).transpose(1, 2).cpu().numpy() if self.colours is not None else None
        # not re-normalised: the heads give unit directions times a per-photo weight (ImageHead.weigh)
        heads = np.asarray(vec.float().cpu().numpy(), dtype=np.float32)
        return photo_vectors(heads, self.concepts, pooled, self.colours, cells, batch)

    # -- texts ----------------------------------------------------------------------------------------
    def _text_states(self, texts: Sequence[str]):
        ids, mask = self._text_encoder.tokenize(texts)
        if self.device != "cpu":
            ids, mask = _pad_to_bucket(ids, mask)
        ids, mask = ids.to(self.device), mask.to(self.device)
        return self._text_encoder(ids, mask).float(), mask

    @property
    def torch_queries(self) -> bool:
        """Whether text queries run on torch now (on an accelerator, once torch is loaded); else
        the numpy encoder answers them."""
        return self._heads_module is not None and self._device != "cpu"

    def prepare_queries(self) -> None:
        """Build what the next text query needs (the numpy encoder) ahead of it."""
        if not self.torch_queries:
            self._numpy_encoder()

    def _numpy_encoder(self) -> Any:
        def make() -> Any:
            from .numpy_text import NumpyMiniLM, NumpyQueryEncoder, NumpyTextHead

            return NumpyQueryEncoder(_shared(("numpy_minilm",), NumpyMiniLM), NumpyTextHead(self._state, self._config_dict))

        return self._once("_numpy_queries", self._numpy_lock, make, while_open=False)

    #: torch threads a text query may use on the CPU, set per search by the library (more than one
    #: only while the machine has an idle core: on a busy one, threads stall each other). With more
    #: than one, and the torch text modules built (:meth:`prepare_parallel_queries`), queries run on
    #: torch; otherwise on the single-threaded numpy encoder.
    cpu_query_threads: int = 1

    def prepare_parallel_queries(self) -> None:
        """Build the torch text modules for multi-threaded CPU queries (slow: call it on a worker)."""
        if self.device == "cpu" and not self._closed:
            self._text_encoder  # noqa: B018 (builds it)
            self._heads  # noqa: B018

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        other, unsure, multilingual = self._route_languages(texts)
        if multilingual is None:
            return self._encode_english_queries(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        english = sorted(set(range(len(texts))) - set(other))
        if english:
            out[english] = self._encode_english_queries([texts[i] for i in english])
        if other:
            out[other] = self._multilingual_queries(multilingual, [texts[i] for i in other])
        if unsure:  # kept English where both encoders agree on the text's meaning
            unsure_texts = [texts[i] for i in unsure]
            head, sentences, embeddings = self._multilingual_parts(multilingual, unsure_texts)
            theirs = self._query_vectors(head, sentences, texts=unsure_texts, remember=False)
            agree = multilingual.agrees(out[unsure, : self.head_dim], theirs[:, : self.head_dim])
            out[unsure] = np.where(agree[:, None], out[unsure], theirs)
            # read as another language: judged by the multilingual encoder's embedding (MiniLM's,
            # remembered by the English encoding above, would make real German queries unfamiliar)
            other_language = ~np.asarray(agree, bool)
            self._remember_familiarity([t for t, o in zip(unsure_texts, other_language, strict=True) if o], None,
                                       np.matmul, multilingual=embeddings[other_language])
        return out

    def _encode_english_queries(self, texts: Sequence[str]) -> np.ndarray:
        if self.torch_queries:
            return self._torch_queries(texts)
        threads = self.cpu_query_threads
        if threads > 1 and self._minilm is not None and self._heads_module is not None:
            with _torch_threads(self._torch, threads):
                return self._torch_queries(texts)
        head, sentences = self._numpy_encoder().encode(list(texts))
        return self._query_vectors(head, sentences, texts=texts)

    def _query_vectors(
        self, head: np.ndarray, sentences: np.ndarray | None, on_torch: bool = False, texts: Sequence[str] = (),
        remember: bool = True,
    ) -> np.ndarray:
        """A query's vector: the query head's unit vector, then the concept bridge's half (not
        normalised with it: its length is how much the query leans on concepts), then the colours it
        names (:mod:`.colours`, from ``texts``). Remembers each of ``texts``' familiarity
        (``query_familiarity``) on the way, unless ``remember`` is False (``sentences`` are then the
        multilingual heads' estimate, too rough to judge it)."""
        matmul = _torch_matmul if on_torch else np.matmul
        out = _unit(head)
        if texts and sentences is not None and remember:
            self._remember_familiarity(texts, sentences, matmul)
        return query_vectors(out, self.concepts, sentences, self.colours, texts, matmul)

    def _torch_queries(self, texts: Sequence[str]) -> np.ndarray:
        from .heads import masked_mean

        heads = [np.zeros((0, self.head_dim), dtype=np.float32)]
        sentences = [np.zeros((0, 384), dtype=np.float32)]
        with self._torch.inference_mode():
            for i in range(0, len(texts), TEXT_BATCH):
                states, mask = self._text_states(texts[i : i + TEXT_BATCH])
                heads.append(self._heads.text(states, mask).cpu().numpy())
                sentences.append(_unit(masked_mean(states, mask).cpu().numpy()))
        return self._query_vectors(np.concatenate(heads), np.concatenate(sentences), on_torch=True, texts=texts)

    def encode_photo_texts(self, texts: Sequence[str]) -> PhotoTextVectors:
        texts = list(texts)
        other, unsure, multilingual = self._route_languages(texts)
        if unsure:  # Latin words that may be English: what the two query encoders make of them decides
            unsure_texts = [texts[i] for i in unsure]
            english_q = self._encode_english_queries(unsure_texts)[:, : self.head_dim]
            agree = multilingual.agrees(english_q, multilingual.queries(unsure_texts))
            other = sorted(other + [i for i, a in zip(unsure, agree, strict=True) if not a])
        if not other:
            return self._encode_english_photo_texts(texts)
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        gate = np.zeros(len(texts), dtype=np.float32)
        english = sorted(set(range(len(texts))) - set(other))
        if english:
            ptv = self._encode_english_photo_texts([texts[i] for i in english])
            vectors[english], gate[english] = ptv.vectors, ptv.gate
        # the concept half of a photo text stays zero, as for English ones
        vectors[other, : self.head_dim], gate[other] = multilingual.photo_texts([texts[i] for i in other])
        return PhotoTextVectors(vectors=vectors, gate=gate)

    def _encode_english_photo_texts(self, texts: Sequence[str]) -> PhotoTextVectors:
        vecs = [np.zeros((0, self.head_dim), dtype=np.float32)]
        gates = [np.zeros((0,), dtype=np.float32)]
        with self._torch.inference_mode():
            for i in range(0, len(texts), TEXT_BATCH):
                states, mask = self._text_states(texts[i : i + TEXT_BATCH])
                v, g = self._heads.photo_text(states, mask)
                vecs.append(v.cpu().numpy())
                gates.append(g.cpu().numpy())
        vectors = _unit(np.concatenate(vecs))
        if self.dim > self.head_dim:  # nothing in the concept half: a text's match is its head's
            vectors = np.pad(vectors, ((0, 0), (0, self.dim - self.head_dim)))
        return PhotoTextVectors(vectors=vectors, gate=np.concatenate(gates).astype(np.float32))

    @property
    def fusion(self) -> FusionScorer:
        return self._fusion

    def close(self) -> None:
        self._closed = True
        self._heads_module = None
        self._lite = None
        self._minilm = None
        self._numpy_queries = None
        self._multilingual = None
        if self._device not in (None, "cpu"):
            # accelerator memory is scarce: drop the shared encoders too (other live models keep theirs)
            release_shared_encoders()
            if self._device.startswith("cuda"):
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
def _torch_threads(torch: Any, threads: int) -> Iterator[None]:
    """Run with ``threads`` torch threads in this thread, then restore its count."""
    before = torch.get_num_threads()
    if before == threads:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _one_torch_thread(torch: Any) -> contextlib.AbstractContextManager[None]:
    """Build modules with one torch thread in this thread, then restore its count.

    Building runs small operations (weight initialisation, copies, a QR) that the load overwrites or
    that gain nothing from threads; on a busy machine torch's thread pool turns each into a wait at a
    barrier (the heads took 0.12-0.74 s with two threads under load, 0.04 s with one; MiniLM
    0.52-0.59 s against 0.19-0.26 s). The values built are the same whatever the thread count."""
    return _torch_threads(torch, 1)


def _torch_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` through torch (on its own threads, where numpy's would contend with them)."""
    import torch

    return (torch.from_numpy(np.ascontiguousarray(a)) @ torch.from_numpy(np.ascontiguousarray(b))).numpy()


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(n, 1e-12)).astype(np.float32)


def load_builtin(name: str = "builtin", device: str | None = None) -> BuiltinModel:
    """Load the builtin model (``builtin`` or ``builtin:/path/to/weights.safetensors``).

    Raises :class:`ModelUnavailable` with a one-line reason for bad names or files.
    """
    from ..errors import ModelUnavailable

    try:
        path = weights_file_for(name)
        return BuiltinModel(name, path, device=device)
    except ModelUnavailable:
        raise
    except Exception as exc:  # a damaged file raises safetensors' own error types
        raise ModelUnavailable(f"cannot load {name!r}: {exc}") from exc
