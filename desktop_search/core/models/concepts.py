"""The concept bridge: what the image encoder's own ImageNet classifier sees, matched with the query.

The learned heads were trained on Flickr8k's captions (people, dogs, sports) and know little else.
EfficientNet-Lite's classifier knows 1,000 concepts learned from 1.28 million photos (pizza, zebra,
wall clock, school bus, refrigerator, …), computed from the same feature map the heads read. The
bridge brings them into the search in the spirit of ConSE (Norouzi et al., 2014):

- **photo side**: the classifier's logits, standardised and projected to ``d`` dimensions
  (``z = W·h + b``, h the mean-pooled feature map; W starts as a projection of the classifier and is
  trained on image–caption pairs);
- **query side**: ``y = B·g(q) + A·s + a₀``, where s is the query's MiniLM sentence embedding and
  g(q) its zero-shot concept profile: for every class, how far the query's similarity to the
  class's best-matching name (:mod:`.concept_vocab`: "pizza", "cellphone" / "mobile phone", "dog"
  for every breed, …) exceeds τ, normalised to sum to one. A query that names no concept has
  g = 0 and leans on the learned heads; "pizza" leans on the concept match.
- **the match** ``y·z`` is added to the image match of the learned heads. Both halves are stored
  beside the head's vector (the photo's image vector is ``[v ; z]``, the query's ``[v_q ; y]``, each
  scaled by √w), so the one dot product the search already makes computes it: no extra storage
  layout, no extra pass over the library.

Numpy only; the parameters live in the builtin weights file under ``concept.*``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

PREFIX = "concept."
#: (a, b) → a @ b for float32 numpy arrays
MatMul = Callable[[np.ndarray, np.ndarray], np.ndarray]
KEYS = ("img_w", "img_b", "alias_emb", "alias_start", "q_b", "q_a", "q_a0", "tau", "scale")


class ConceptBridge:
    """See module docstring. ``params``: the ``concept.*`` arrays of a weights file, prefix removed."""

    def __init__(self, params: Mapping[str, np.ndarray]) -> None:
        missing = [k for k in KEYS if k not in params]
        if missing:
            raise ValueError(f"concept bridge parameters missing: {', '.join(missing)}")
        f32 = np.float32
        self.img_w = np.asarray(params["img_w"], f32)  # (d, 1280)
        self.img_b = np.asarray(params["img_b"], f32)  # (d,)
        self.alias_emb = np.asarray(params["alias_emb"], f32)  # (aliases, 384), unit rows, class-sorted
        self.alias_start = np.asarray(params["alias_start"], np.int64)  # (classes,) first alias of each
        self.q_b = np.asarray(params["q_b"], f32)  # (d, classes)
        self.q_a = np.asarray(params["q_a"], f32)  # (d, 384)
        self.q_a0 = np.asarray(params["q_a0"], f32)  # (d,)
        self.tau = float(np.asarray(params["tau"]).reshape(-1)[0])
        self.root_w = float(np.sqrt(max(float(np.asarray(params["scale"]).reshape(-1)[0]), 0.0)))
        self.dim = int(self.img_w.shape[0])
        # the query side's products, laid out once as they are multiplied (a query costs no copy)
        self._alias_t = np.ascontiguousarray(self.alias_emb.T)
        self._q_b_t = np.ascontiguousarray(self.q_b.T)
        self._q_a_t = np.ascontiguousarray(self.q_a.T)

    @staticmethod
    def from_state(state: Mapping[str, np.ndarray]) -> ConceptBridge | None:
        """The bridge of a weights file's state, or None for weights made before it."""
        params = {k[len(PREFIX):]: v for k, v in state.items() if k.startswith(PREFIX)}
        return ConceptBridge(params) if params else None

    def class_similarity(self, sentences: np.ndarray, matmul: MatMul = np.matmul) -> np.ndarray:
        """(N, classes): each query's cosine similarity to each class's best-matching name."""
        sims = matmul(np.asarray(sentences, np.float32), self._alias_t)
        return np.maximum.reduceat(sims, self.alias_start, axis=1)

    def profile(self, sentences: np.ndarray, matmul: MatMul = np.matmul) -> np.ndarray:
        """g(q): (N, classes), how far each class's name match exceeds τ, summing to one (or all
        zero for a query that names no concept)."""
        g = np.maximum(self.class_similarity(sentences, matmul) - np.float32(self.tau), 0.0)
        total = g.sum(axis=1, keepdims=True)
        return (g / np.maximum(total, 1e-6)).astype(np.float32)

    def queries(self, sentences: np.ndarray, matmul: MatMul = np.matmul) -> np.ndarray:
        """The queries' halves, (N, d), already scaled by √w. ``matmul``: where the products run
        (torch's, on the torch query path: numpy's BLAS threads there would wait on torch's spinning
        ones, 8-77 ms a query measured against 0.2 ms alone)."""
        s = np.asarray(sentences, np.float32)
        y = matmul(self.profile(s, matmul), self._q_b_t) + matmul(s, self._q_a_t) + self.q_a0
        return (y * np.float32(self.root_w)).astype(np.float32)

    def photos(self, pooled: np.ndarray) -> np.ndarray:
        """The photos' halves from their mean-pooled feature maps (N, 1280): (N, d), scaled by √w."""
        z = np.asarray(pooled, np.float32) @ self.img_w.T + self.img_b
        return (z * np.float32(self.root_w)).astype(np.float32)

