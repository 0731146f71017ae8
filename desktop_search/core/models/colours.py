"""Colours where the described thing is: "red shirt", "girl in a pink dress" (issue 14, item 11).

The heads pool the whole feature map, so a red shirt (a few per cent of the pixels) loses to a red
tent. This part of the built-in model finds *where* a caption's colour word would point: for each of
11 colour names an attention over the 7 × 7 cells of the image encoder's feature map (a linear map of
each cell's standardised 1,280 features, softmax over the cells), trained with multiple-instance
learning on captioned photos (Flickr8k train + COCO-people train; a photo's target: the colour names
its captions use before a noun). The photo's evidence for a colour is the attended share of that
colour's pixels, ``beta + alpha * log(share + 0.01)``, standardised over the training photos and
averaged over the members trained with different seeds (docs/MODELS.md, "Colours and clothing").

In the search it is one more part of the vectors, so the single dot product adds it: a photo stores
its 11 numbers times ``photo_scale``; a query puts ``query_weight * min(1, 3 / content words)`` on each
colour it names (zero for a query without one, photo texts zeros: a long caption leans less on its
colour word than "red shirt" does). Numpy only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np

#: tensor name prefix in the built-in weights file
PREFIX = "colours."
#: the colour names, in the order of the vector's entries ("grey" is read as "gray")
COLOUR_NAMES = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white", "gray")
#: words that do not count as content when a query's length sets its colour weight
_STOP = frozenset(
    "a an the in on of with and is are at to his her their its while for by up from into through down who has two "
    "one three some other another near next over out as that it them front being wearing off around behind under "
    "there this".split()
)
_WORD = re.compile(r"[a-z]+")
#: a cell grid of the 224 × 224 input
GRID = 7


def colour_labels(image: np.ndarray) -> np.ndarray:
    """(H, W) int8: each pixel's colour name (index into :data:`COLOUR_NAMES`, -1 for none) from
    an RGB uint8 image, by hue, saturation and value."""
    from PIL import Image

    hsv = np.asarray(Image.fromarray(np.ascontiguousarray(image, np.uint8)).convert("HSV"), np.float32) / 255.0
    h, s, v = hsv[..., 0] * 360.0, hsv[..., 1], hsv[..., 2]
    lab = np.full(h.shape, -1, np.int8)
    chrom = (s >= 0.25) & (v >= 0.25)
    red_hue = (h < 15) | (h >= 340)
    lab[chrom & red_hue] = 0
    lab[chrom & (h >= 15) & (h < 40)] = 1
    lab[chrom & (h >= 40) & (h < 70)] = 2
    lab[chrom & (h >= 70) & (h < 170)] = 3
    lab[chrom & (h >= 170) & (h < 260)] = 4
    lab[chrom & (h >= 260) & (h < 300)] = 5
    lab[chrom & (h >= 300) & (h < 340)] = 6
    lab[chrom & (h >= 15) & (h < 40) & (v < 0.6)] = 7  # dark orange: brown
    lab[chrom & red_hue & (v < 0.45)] = 7  # dark red: brown
    lab[v < 0.2] = 8
    lab[(~chrom) & (v >= 0.8) & (s < 0.2)] = 9
    lab[(lab == -1) & (s < 0.25) & (v >= 0.2) & (v < 0.8)] = 10
    return lab


def cell_shares(image: np.ndarray, grid: int = GRID) -> np.ndarray:
    """(grid², 11) float32: each cell's share of pixels of each colour name (row-major cells, as the
    feature map's)."""
    lab = colour_labels(image)
    h, w = lab.shape
    ch, cw = h // grid, w // grid
    cells = lab[: ch * grid, : cw * grid].reshape(grid, ch, grid, cw).transpose(0, 2, 1, 3).reshape(grid * grid, ch * cw)
    return np.stack([(cells == c).mean(axis=1) for c in range(len(COLOUR_NAMES))], axis=1).astype(np.float32)


def named_colours(text: str) -> list[int]:
    """Indices of the colour names a text uses."""
    words = set(_WORD.findall(text.lower().replace("grey", "gray")))
    return [i for i, c in enumerate(COLOUR_NAMES) if c in words]


def content_words(text: str) -> int:
    """How many of a text's words carry content (at least 1)."""
    return max(1, sum(1 for w in _WORD.findall(text.lower()) if w not in _STOP))


class ColourParts:
    """The photo and query parts (see module docstring) from a weights file's ``colours.*`` tensors."""

    dim = len(COLOUR_NAMES)

    def __init__(self, params: Mapping[str, np.ndarray]) -> None:
        f32 = np.float32
        self.feat_mean = np.asarray(params["feat_mean"], f32)  # (1280,)
        self.feat_std = np.asarray(params["feat_std"], f32)  # (1280,)
        self.att_w = np.asarray(params["att_w"], f32)  # (members, 11, 1280)
        self.att_b = np.asarray(params["att_b"], f32)  # (members, 11)
        self.alpha = np.exp(np.asarray(params["log_alpha"], f32))  # (members, 11)
        self.beta = np.asarray(params["beta"], f32)  # (members, 11)
        self.out_mean = np.asarray(params["out_mean"], f32)  # (members, 11)
        self.out_std = np.asarray(params["out_std"], f32)  # (members, 11)
        self.photo_scale = float(np.asarray(params["photo_scale"]).reshape(-1)[0])
        self.query_weight = float(np.asarray(params["query_weight"]).reshape(-1)[0])

    @staticmethod
    def from_state(state: Mapping[str, np.ndarray]) -> ColourParts | None:
        """The colour parts of a weights file's state, or None for weights made before them."""
        params = {k[len(PREFIX):]: v for k, v in state.items() if k.startswith(PREFIX)}
        return ColourParts(params) if params else None

    def evidence(self, cells: np.ndarray, shares: np.ndarray) -> np.ndarray:
        """(B, 11): each photo's standardised evidence for each colour name, from its feature map's
        cells (B, cells, 1280) and their colour shares (B, cells, 11)."""
        x = (np.asarray(cells, np.float32) - self.feat_mean) / self.feat_std
        out = np.zeros((x.shape[0], self.dim), np.float32)
        for w, b, alpha, beta, mean, std in zip(self.att_w, self.att_b, self.alpha, self.beta, self.out_mean,
                                                self.out_std, strict=True):
            a = x @ w.T + b  # (B, cells, 11)
            a = np.exp(a - a.max(axis=1, keepdims=True))
            a /= a.sum(axis=1, keepdims=True)
            share = (a * shares).sum(axis=1)
            out += ((beta + alpha * np.log(share + 0.01)) - mean) / std
        return out / len(self.att_w)

    def photos(self, cells: np.ndarray, shares: np.ndarray) -> np.ndarray:
        """The photos' part of their vectors (B, 11)."""
        return (self.evidence(cells, shares) * np.float32(self.photo_scale)).astype(np.float32)

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        """The queries' part of their vectors (N, 11): the weight on each colour a query names."""
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            named = named_colours(text)
            if named:
                out[i, named] = self.query_weight * min(1.0, 3.0 / content_words(text)) / self.photo_scale
        return out
