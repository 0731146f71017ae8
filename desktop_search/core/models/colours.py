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
_STOP_WORDS = (
    "a an the in on of with and is are at to his her their its while for by up from into through down who has "
    "two one three some other another near next over out as that it them front being wearing off around behind "
    "under there this"
)
_STOP = frozenset(_STOP_WORDS.split(" "))
_WORD = re.compile(r"[a-z]+")
#: a cell grid of the 224 × 224 input
GRID = 7


def _hue_classes() -> np.ndarray:
    """(256,) int8: the colour name of each 8-bit hue for a saturated, bright pixel (0-6)."""
    deg = np.arange(256, dtype=np.float32) / np.float32(255.0) * np.float32(360.0)
    out = np.full(256, 0, np.int8)  # red: below 15 and from 340 degrees
    for index, (low, high) in enumerate(((15, 40), (40, 70), (70, 170), (170, 260), (260, 300), (300, 340)), start=1):
        out[(deg >= low) & (deg < high)] = index
    return out


_HUE_CLASS = _hue_classes()
_ORANGE, _BROWN, _BLACK, _WHITE, _GRAY = 1, 7, 8, 9, 10


def colour_labels(image: np.ndarray) -> np.ndarray:
    """(H, W) int8: each pixel's colour name (index into :data:`COLOUR_NAMES`, -1 for none) from an
    RGB uint8 image, by hue, saturation and value (thresholds on the 8-bit HSV values: saturated and
    bright from 25 %, dark orange or red brown, under 20 % value black, pale and bright white, the
    remaining unsaturated pixels gray)."""
    from PIL import Image

    hsv = np.asarray(Image.fromarray(np.ascontiguousarray(image, np.uint8)).convert("HSV"))
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    hue = _HUE_CLASS[h]
    chrom = (s >= 64) & (v >= 64)  # saturation and value at least 0.25
    lab = np.where(chrom, hue, np.int8(-1))
    lab[chrom & (hue == _ORANGE) & (v < 153)] = _BROWN  # value under 0.6
    lab[chrom & (hue == 0) & (v < 115)] = _BROWN  # value under 0.45
    lab[v < 51] = _BLACK  # value under 0.2
    lab[~chrom & (v >= 204) & (s < 51)] = _WHITE  # value from 0.8, saturation under 0.2
    lab[(lab == -1) & (s < 64) & (v >= 51) & (v < 204)] = _GRAY
    return lab


def cell_shares(image: np.ndarray, grid: int = GRID) -> np.ndarray:
    """(grid², 11) float32: each cell's share of pixels of each colour name (row-major cells, as the
    feature map's)."""
    lab = colour_labels(image)
    h, w = lab.shape
    ch, cw = h // grid, w // grid
    cell = (np.arange(grid * ch) // ch)[:, None] * grid + (np.arange(grid * cw) // cw)[None, :]
    counts = np.bincount((cell * 12 + lab[: grid * ch, : grid * cw] + 1).ravel(), minlength=grid * grid * 12)
    return (counts.reshape(grid * grid, 12)[:, 1:] / np.float32(ch * cw)).astype(np.float32)


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
        self._att_t = np.ascontiguousarray(self.att_w.reshape(-1, self.att_w.shape[-1]).T)  # (1280, members·11)

    @staticmethod
    def from_state(state: Mapping[str, np.ndarray]) -> ColourParts | None:
        """The colour parts of a weights file's state, or None for weights made before them."""
        params = {k[len(PREFIX):]: v for k, v in state.items() if k.startswith(PREFIX)}
        return ColourParts(params) if params else None

    def evidence(self, cells: np.ndarray, shares: np.ndarray) -> np.ndarray:
        """(B, 11): each photo's standardised evidence for each colour name, from its feature map's
        cells (B, cells, 1280) and their colour shares (B, cells, 11): the members' mean."""
        z = (self.logits(cells, shares) - self.out_mean) / self.out_std
        return z.mean(axis=1).astype(np.float32)

    def logits(self, cells: np.ndarray, shares: np.ndarray) -> np.ndarray:
        """(B, members, 11): each member's raw logit ``beta + alpha * log(attended share + 0.01)``,
        before its output standardisation (training fits that on these)."""
        cells = np.asarray(cells, np.float32)
        b, n, d = cells.shape
        # every member's attention logits in one product: (B·cells, 1280) @ (1280, members·11)
        a = ((cells.reshape(b * n, d) - self.feat_mean) / self.feat_std) @ self._att_t + self.att_b.reshape(-1)
        a = a.reshape(b, n, len(self.att_w), self.dim)
        a = np.exp(a - a.max(axis=1, keepdims=True))
        a /= a.sum(axis=1, keepdims=True)
        share = np.einsum("bnmk,bnk->bmk", a, np.asarray(shares, np.float32))  # (B, members, 11)
        return self.beta + self.alpha * np.log(share + 0.01)

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
