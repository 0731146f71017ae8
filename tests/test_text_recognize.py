"""Text recognition on real rendered images: PP-OCR models on onnxruntime, no OpenCV."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from desktop_search.core.text import recognize
from desktop_search.core.text.normalize import loose

REPO = Path(__file__).resolve().parent.parent


def _font(size: int, cjk: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    names = (["DroidSansFallbackFull.ttf", "NotoSansCJK-Regular.ttc", "wqy-microhei.ttc"] if cjk
             else ["DejaVuSans.ttf", "LiberationSans-Regular.ttf", "Arial.ttf"])
    for name in names:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    if cjk:
        pytest.skip("no CJK font installed (apt-get install fonts-noto-cjk)")
    return ImageFont.load_default(size=size)


def _page(lines: list[str], size: int = 28, dark: bool = False, cjk: bool = False) -> Image.Image:
    img = Image.new("RGB", (900, 80 + len(lines) * size * 2), (25, 25, 25) if dark else (250, 250, 250))
    d = ImageDraw.Draw(img)
    for i, text in enumerate(lines):
        d.text((40, 40 + i * size * 2), text, font=_font(size, cjk), fill=(235, 235, 235) if dark else (10, 10, 10))
    return img


def _read_loose(result: recognize.RecognizedText) -> str:
    return loose(" ".join(line.text for line in result.lines))


def test_reads_the_words_of_a_document_with_boxes_and_confidences() -> None:
    img = _page(["HOTEL MIRAMAR", "Receipt 0012 total 48.50", "wifi password sunflower"])
    result = recognize.read_text(img)
    assert not result.probed_only
    assert (result.width, result.height) == img.size
    text = _read_loose(result)
    for word in ["hotel", "miramar", "receipt", "password", "sunflower"]:
        assert loose(word) in text, (word, result.text)
    for line in result.lines:
        assert 0.5 <= line.confidence <= 1.0
        xs, ys = [p[0] for p in line.box], [p[1] for p in line.box]
        assert 0.0 <= min(xs) < max(xs) <= 1.0 and 0.0 <= min(ys) < max(ys) <= 1.0
    # reading order: top to bottom
    tops = [min(p[1] for p in line.box) for line in result.lines]
    assert tops == sorted(tops)


def test_light_text_on_dark_background() -> None:
    result = recognize.read_text(_page(["Departure gate B12"], size=24, dark=True))
    assert loose("departure") in _read_loose(result)


def test_a_photo_without_text_stops_after_the_small_detector_pass() -> None:
    rng = np.random.default_rng(0)
    # a smooth photo-like gradient with mild noise: nothing text-like in it
    y, x = np.mgrid[0:480, 0:640]
    base = np.stack([x / 640 * 200, y / 480 * 180, (x + y) / 1120 * 150], axis=2)
    img = Image.fromarray((base + rng.normal(0, 3, base.shape)).clip(0, 255).astype(np.uint8))
    result = recognize.read_text(img)
    assert result.probed_only and result.lines == []


def test_exif_rotation_is_applied_before_reading(tmp_path: Path) -> None:
    page = _page(["LIGHTHOUSE KEEPER"], size=32)
    # stored on its side with an EXIF orientation tag that says "turn 90° clockwise to view"
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    page.transpose(Image.Transpose.ROTATE_90).save(path, quality=92, exif=exif)
    result = recognize.read_text(path)
    assert (result.width, result.height) == page.size
    assert loose("lighthouse") in _read_loose(result)


def test_a_photo_turned_on_its_side_without_exif_still_reads() -> None:
    page = _page(["LIGHTHOUSE KEEPER"], size=32)
    for turned in (page.transpose(Image.Transpose.ROTATE_90), page.transpose(Image.Transpose.ROTATE_270)):
        assert loose("lighthouse") in _read_loose(recognize.read_text(turned))


def test_chinese_text() -> None:
    result = recognize.read_text(_page(["北京大学图书馆", "欢迎光临"], size=32, cjk=True))
    assert "北京大学" in _read_loose(result)


def test_components_and_rectangles_of_the_numpy_post_processing() -> None:
    mask = np.zeros((40, 60), dtype=bool)
    mask[5:10, 5:30] = True  # a bar
    mask[20:30, 40:45] = True  # another
    mask[10, 30] = True  # touches the first diagonally (8-connected)
    _rows, starts, ends, labels = recognize.label_components(mask)
    assert labels.max() + 1 == 2
    assert int((ends - starts).sum()) == int(mask.sum())
    # a rotated rectangle's minimal box has its sides
    angle = np.deg2rad(20)
    u, v = np.array([np.cos(angle), np.sin(angle)]), np.array([-np.sin(angle), np.cos(angle)])
    pts = np.array([a * u * 50 + b * v * 10 for a in np.linspace(0, 1, 20) for b in np.linspace(0, 1, 5)])
    _, w, h = recognize.min_area_rect(pts)
    assert sorted([w, h]) == pytest.approx([10, 50], abs=0.01)


def test_components_match_scipy_when_it_is_there() -> None:
    ndimage = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(1)
    mask = rng.random((120, 160)) > 0.6
    labels = recognize.label_components(mask)[3]
    _, n = ndimage.label(mask, structure=np.ones((3, 3)))
    assert labels.max() + 1 == n


def test_the_window_toolkit_and_the_text_engine_load_in_one_process(tmp_path: Path) -> None:
    """PySide6 and the OCR engine together: no OpenCV (whose opencv-python wheel carries Qt libraries)."""
    img = tmp_path / "sign.png"
    _page(["EMERGENCY EXIT"], size=40).save(img)
    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication, QLabel\n"
        "app = QApplication(['t'])\n"
        "label = QLabel('x'); label.show(); app.processEvents()\n"
        "from desktop_search.core.text import recognize\n"
        f"r = recognize.read_text({str(img)!r})\n"
        "assert 'cv2' not in sys.modules, 'OpenCV was imported'\n"
        "print('|'.join(line.text for line in r.lines))\n"
        "label.setText(r.text); app.processEvents()\n"
    )
    env = {**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "emergency" in loose(out.stdout)


def test_model_files_come_from_an_installed_package() -> None:
    files = recognize.model_files()
    assert files.det.exists() and files.rec.exists()
    assert recognize.available()
    eng = recognize.engine()
    assert eng is recognize.engine()  # one per process, loaded once
    assert len(eng.characters) > 6000  # Chinese and Latin
