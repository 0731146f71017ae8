"""Search-time fusion of image and text matches (numpy only, vectorised, O(N) element-wise).

Same formula as :class:`.heads.FusionParams` (which learns the parameters). For a text query q and a
photo with text, gate g, image similarity i and text similarity t:

    α_txt = sigmoid((u_txt − u_img)·q + (b_txt − b_img) + g)      two-way softmax attention
    z_img = s_img·i,  z_txt = s_txt·t + c_txt + ν·softplus(s_2·(t − t_0))        calibrated evidence
    score = m · ((1 − α_txt) · z_img + α_txt · z_txt)

A photo without text scores ``s_img · image_sim + c_none`` — a fixed increasing function of its image
match, with no penalty for lacking a caption. Image queries rank by image similarity alone. Weights
files from before the ν term load with ν = 0.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .base import FusionScorer

FUSION_KEYS = ("u_img", "u_txt", "b_img", "b_txt", "log_s_img", "log_s_txt", "c_txt", "log_m", "c_none")
#: terms added later, with the values that reproduce the formula of weights files without them
LATER_DEFAULTS = {"nu": 0.0, "log_s2": float(np.log(20.0)), "t0": 0.5}


class LearnedFusion(FusionScorer):
    """Query- and photo-dependent attention over the two modalities."""

    rowwise = True

    def __init__(self, params: Mapping[str, np.ndarray]) -> None:
        p = {k: np.asarray(v, dtype=np.float64) for k, v in {**LATER_DEFAULTS, **params}.items()}
        self.u = (p["u_txt"] - p["u_img"]).astype(np.float32)
        self.b = float(p["b_txt"] - p["b_img"])
        self.s_img = float(np.exp(p["log_s_img"]))
        self.s_txt = float(np.exp(p["log_s_txt"]))
        self.c_txt = float(p["c_txt"])
        self.m = float(np.exp(p["log_m"]))
        self.c_none = float(p["c_none"])
        self.nu = float(p["nu"])
        self.s2 = float(np.exp(p["log_s2"]))
        self.t0 = float(p["t0"])
        # text-query scores are in units of s_img per unit of image match: an example photo's cosine
        # counts the same (a text query and an example then weigh alike in a combined search)
        self.example_weight = self.s_img

    def query_logit(self, query: np.ndarray) -> float:
        """The query's part of the text-vs-image attention logit."""
        q = np.asarray(query, dtype=np.float32).reshape(-1)[: len(self.u)]  # the heads' part of it
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
        f32 = np.float32
        a = self.text_weight(query, photo_gate, image_sims.shape[0])
        zi = np.multiply(image_sims, f32(self.s_img), dtype=np.float32)
        fused = np.multiply(text_sims, f32(self.s_txt), dtype=np.float32)
        fused += f32(self.c_txt)
        if self.nu:
            fused += f32(self.nu) * _softplus(np.multiply(text_sims - f32(self.t0), f32(self.s2), dtype=np.float32))
        # fused = m·(z_img + α·(z_txt − z_img))
        fused -= zi
        fused *= a
        fused += zi
        fused *= f32(self.m)
        zi += f32(self.c_none)
        return np.where(np.asarray(has_text, dtype=bool), fused, zi)


def _softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + exp(x)) without overflow, float32, in a new array."""
    out = np.abs(x)
    np.negative(out, out=out)
    np.exp(out, out=out)
    np.log1p(out, out=out)
    out += np.maximum(x, 0)
    return out
