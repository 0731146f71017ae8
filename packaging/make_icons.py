"""Render the app icon for packaging: PNGs (Linux hicolor sizes), .ico (Windows), .icns (macOS).

    python packaging/make_icons.py OUT_DIR [SVG]

Source: resources/icons/desktop-search.svg, rendered with Qt's SVG renderer (PySide6 is in the
build environment); where QtSvg is missing the icon is drawn with Pillow instead. Writes
OUT_DIR/desktop-search-{16..1024}.png, desktop-search.ico and desktop-search.icns. Runs in a
child process of the spec so that Qt never loads inside PyInstaller itself.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
SVG = ROOT / "resources" / "icons" / "desktop-search.svg"
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512, 1024)
ICO_SIZES = [(s, s) for s in (16, 24, 32, 48, 64, 128, 256)]


def render_svg(svg: Path, size: int) -> Image.Image | None:
    try:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from PySide6.QtCore import Qt
        from PySide6.QtGui import QGuiApplication, QImage, QPainter
        from PySide6.QtSvg import QSvgRenderer
    except ImportError:
        return None
    _app = QGuiApplication.instance() or QGuiApplication([])
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        return None
    image = QImage(size, size, QImage.Format.Format_RGBA8888)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    data = bytes(image.constBits())
    return Image.frombuffer("RGBA", (size, size), data, "raw", "RGBA", image.bytesPerLine(), 1).copy()


def draw_fallback(size: int) -> Image.Image:
    """A photo under a magnifying glass, drawn at 4x and scaled down (no SVG renderer needed)."""
    big = size * 4
    s = big / 256
    im = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    d = ImageDraw.Draw(im)
    d.rounded_rectangle([20 * s, 32 * s, 196 * s, 180 * s], radius=22 * s, fill="#ffffff")
    d.rounded_rectangle([24 * s, 36 * s, 192 * s, 176 * s], radius=18 * s, fill="#3f94e4")
    d.ellipse([132 * s, 60 * s, 168 * s, 96 * s], fill="#ffd45c")
    d.polygon([(p[0] * s, p[1] * s) for p in ((24, 150), (78, 100), (120, 140), (150, 116), (192, 152), (192, 176), (24, 176))], fill="#3db27a")
    d.line([186 * s, 186 * s, 226 * s, 226 * s], fill="#37474f", width=round(22 * s))
    d.ellipse([116 * s, 116 * s, 204 * s, 204 * s], outline="#37474f", width=round(14 * s))
    return im.resize((size, size), Image.Resampling.LANCZOS)


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else ROOT / "packaging" / "build" / "icons"
    svg = Path(argv[2]) if len(argv) > 2 else SVG
    out.mkdir(parents=True, exist_ok=True)
    images: dict[int, Image.Image] = {}
    how = "Qt SVG renderer"
    for size in PNG_SIZES:
        image = render_svg(svg, size) if svg.exists() else None
        if image is None:
            image, how = draw_fallback(size), "Pillow fallback drawing"
        images[size] = image
        image.save(out / f"desktop-search-{size}.png", optimize=True)
    images[256].save(out / "desktop-search.ico", sizes=ICO_SIZES)
    try:
        images[1024].save(out / "desktop-search.icns")
    except (OSError, ValueError, KeyError) as exc:  # Pillow's ICNS writer is optional on some builds
        print(f"make_icons: no .icns ({exc})", file=sys.stderr)
    print(f"make_icons: {len(PNG_SIZES)} PNGs, .ico and .icns in {out} ({how})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
