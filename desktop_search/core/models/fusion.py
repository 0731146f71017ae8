"""Search-time fusion of image and text matches (numpy only, vectorised, O(N) element-wise).

Same formula as :class:`.heads.FusionParams` (which learns the parameters). For a text query q and a
photo with text and gate g:

    α_txt = sigmoid((u_txt − u_img)·q + (b_txt − b_img) + g)      two-way softmax attention
    score = m · ((1 − α_txt) · s_img · image_sim + α_txt · (s_txt · text_sim + c_txt))

A photo without text scores ``s_img · image_sim + c_none`` — a fixed increasing function of its image
match, with no penalty for lacking a caption. Image queries rank by image similarity alone.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .base import FusionScorer

FUSION_KEYS = ("u_img", "u_txt", "b_img", "b_txt", "log_s_img", "log_s_txt", "c_txt", "log_m", "c_none")


class LearnedFusion(FusionScorer):
    """Query- and photo-dependent attention over the two modalities."""

    def __init__(self, params: Mapping[str, np.ndarray]) -> None:
        p = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
        self.u = (p["u_txt"] - p["u_img"]).astype(np.float32)
        self.b = float(p["b_txt"] - p["b_img"])
        self.s_img = float(np.exp(p["log_s_img"]))
        self.s_txt = float(np.exp(p["log_s_txt"]))
        self.c_txt = float(p["c_txt"])
        self.m = float(np.exp(p["log_m"]))
        self.c_none = float(p["c_none"])

    def query_logit(self, query: np.ndarray) -> float:
        """The query's part of the text-vs-image attention logit."""
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        return float(q @ self.u) + self.b

    def image_only_score(self, image_sims: np.ndarray) -> np.ndarray:
        """The fixed increasing function used for photos without text."""
        out = np.multiply(image_sims, np.float32(self.s_img), dtype=np.float32)
        out += np.float32(self.c_none)
        return out

    def text_weight(self, query: np.ndarray, photo_gate: np.ndarray | None, n: int) -> np.ndarray:
        """α_txt for every photo: the attention weight of the text modality (N,) float32."""
        logit = np.float32(self.query_logit(query))
        if photo_gate is None:
            return np.full(n, 1.0 / (1.0 + np.exp(-logit)), dtype=np.float32)
        z = np.add(np.asarray(photo_gate, dtype=np.float32), logit, dtype=np.float32)
        np.negative(z, out=z)
        np.exp(z, out=z)
        z += 1.0
        np.reciprocal(z, out=z)
        return z

    def score(self, query, image_sims, text_sims, photo_gate, has_text, query_is_image=False):
        image_sims = np.asarray(image_sims, dtype=np.float32)
        if query_is_image or text_sims is None or has_text is None:
            return (
                image_sims.astype(np.float32, copy=True)
                if query_is_image
                else self.image_only_score(image_sims)
            )
        text_sims = np.asarray(text_sims, dtype=np.float32)
        n = image_sims.shape[0]
        a = self.text_weight(query, photo_gate, n)
        # fused = m * (s_img*img + a*(s_txt*txt + c_txt - s_img*img))
        zi = np.multiply(image_sims, np.float32(self.s_img), dtype=np.float32)
        fused = np.multiply(text_sims, np.float32(self.s_txt), dtype=np.float32)
        fused += np.float32(self.c_txt)
        fused -= zi
        fused *= a
        fused += zi
        fused *= np.float32(self.m)
        zi += np.float32(self.c_none)
        return np.where(np.asarray(has_text, dtype=bool), fused, zi)
