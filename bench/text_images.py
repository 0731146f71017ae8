"""Generate a test set of images of text (deterministic): screenshots, documents, receipts, signs.

    python bench/text_images.py OUT_DIR [--count 240] [--seed 16]

Writes OUT_DIR/textNNN.jpg|png and OUT_DIR/manifest.json:
    {"seed": .., "fonts": [...], "images": [{"file", "kind", "font", "size", "background": "light"|"dark",
      "rotation", "photographed", "script": "latin"|"chinese", "lines": [...],
      "words": [{"word", "size"}]}]}
``words`` are the words written in the image (the query words of bench/text_search.py), with the font size
(px, the font's em size) they were written at.

Fonts: whatever TrueType/OpenType fonts the machine has (fc-list, else the usual folders; on Debian
`apt-get install fonts-dejavu fonts-liberation fonts-noto-cjk` adds more), Latin ones for Latin text and a CJK
one (Noto CJK, Droid Sans Fallback, WenQuanYi, ...) for Chinese (Chinese words only: some CJK fonts have
no Latin letters); Pillow's own font when there is none.
Kinds: screenshot (UI-like, PNG or JPEG), document (page of paragraphs), receipt (narrow, monospace when
there is one), sign (few large words, coloured). Sizes 10-40 px, light and dark backgrounds, slight
rotation (±3°), JPEG compression, and a third "photographed": perspective, blur, noise, uneven light.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

SIZES = [10, 12, 14, 16, 18, 20, 24, 28, 32, 40]

# Words written in the images (4-10 letters, common in screenshots, receipts, signs and documents)
WORDS = ["account", "address", "airport", "almond", "amount", "apple", "arrival", "attention", "avenue", "bakery", "balance", "banana", "basket", "battery", "beach", "bedroom", "bicycle", "birthday", "blanket", "booking", "border", "bottle", "boulevard", "bread", "breakfast", "bridge", "budget", "butter", "cabinet", "camera", "candle", "capital", "captain", "carpet", "castle", "cathedral", "ceiling", "center", "change", "charger", "cheese", "cherry", "chicken", "chocolate", "church", "cinema", "circle", "citizen", "clinic", "coffee", "collection", "concert", "contact", "cookie", "corner", "cotton", "counter", "country", "cream", "credit", "crystal", "culture", "customer", "dance", "danger", "daylight", "deadline", "delivery", "dental", "departure", "deposit", "desert", "dessert", "diamond", "dinner", "direction", "discount", "doctor", "dolphin", "donkey", "downtown", "dragon", "drawer", "dream", "driver", "eagle", "editor", "electric", "elevator", "emergency", "energy", "engine", "entrance", "envelope", "espresso", "evening", "exhibit", "exit", "express", "factory", "family", "farmer", "festival", "fiction", "finance", "flight", "flower", "forest", "fountain", "freedom", "friday", "garage", "garden", "gateway", "ginger", "glacier", "golden", "grocery", "guitar", "hammer", "harbor", "harvest", "health", "helmet", "highway", "history", "holiday", "honey", "horizon", "hospital", "hotel", "hunter", "invoice", "island", "jacket", "jasmine", "journey", "juice", "jungle", "kettle", "keyboard", "kitchen", "ladder", "lantern", "laundry", "lemon", "letter", "library", "license", "lighthouse", "lobby", "locker", "lunch", "machine", "magazine", "mango", "market", "meadow", "medicine", "meeting", "melody", "member", "message", "midnight", "minute", "mirror", "monday", "monster", "morning", "mountain", "museum", "napkin", "network", "notice", "number", "ocean", "office", "orange", "orchard", "package", "palace", "pancake", "parking", "passport", "pasta", "payment", "pepper", "pharmacy", "picnic", "pillow", "pilot", "platform", "pocket", "police", "potato", "printer", "private", "profile", "pumpkin", "puzzle", "quarter", "question", "rabbit", "railway", "receipt", "record", "rescue", "reserved", "river", "rocket", "saturday", "salad", "sandwich", "school", "season", "secret", "service", "shelter", "shopping", "signal", "silver", "station", "street", "student", "subway", "summer", "sunday", "sunset", "supper", "surface", "ticket", "tiger", "tomato", "tourist", "tower", "traffic", "train", "travel", "tuesday", "tunnel", "umbrella", "uniform", "valley", "vanilla", "velvet", "village", "violin", "visitor", "volcano", "voucher", "waiter", "wallet", "warning", "water", "weather", "wedding", "window", "winter", "wireless", "wizard", "wonder", "yellow", "yogurt", "zebra"]

NAME_SYLLABLES = ["mi", "ra", "mar", "vel", "do", "cas", "tra", "no", "sol", "ven", "ta", "lu", "ber", "gan",
                  "ko", "ri", "sa", "lin", "mo", "tor", "qui", "zen", "pa", "lor", "ne", "vi", "ca", "dor"]
FILLER = ["the", "and", "for", "with", "your", "our", "per", "to", "of", "at", "in", "on", "is", "all"]

CHINESE_WORDS = ["北京", "上海", "广州", "深圳", "欢迎", "光临", "出口", "入口", "停车场", "地铁站", "火车站", "机场", "酒店", "餐厅", "咖啡", "面包", "超市", "药店", "医院", "银行", "学校", "图书馆", "博物馆", "公园", "大学", "电话", "地址", "营业", "时间", "价格", "优惠", "发票", "收据", "合计", "现金", "找零", "谢谢", "会员", "积分", "外卖", "订单", "菜单", "牛肉面", "米饭", "饺子", "包子", "豆浆", "绿茶", "红茶", "啤酒", "水果", "苹果", "香蕉", "西瓜", "周末", "早餐", "午餐", "晚餐", "禁止", "吸烟", "安全", "注意", "小心", "台阶", "厕所", "电梯", "楼梯", "办公室", "会议室", "前台", "行李", "护照", "登机", "航班"]

LATIN_FONT_SKIP = re.compile(r"symbol|dingbat|math|d050000l|z003|emoji|extralight", re.I)
CJK_FONT = re.compile(r"cjk|droidsansfallback|wqy|wenquanyi|notosanssc|notoserifsc|sourcehan|uming|ukai", re.I)
MONO_FONT = re.compile(r"mono|courier", re.I)


def find_fonts() -> tuple[list[str], list[str]]:
    """(Latin fonts, CJK fonts) installed on this machine, sorted (TrueType/OpenType files)."""
    files: set[str] = set()
    try:
        out = subprocess.run(["fc-list", "--format", "%{file}\n"], capture_output=True, text=True, timeout=30)
        files.update(line.strip() for line in out.stdout.splitlines() if line.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    for folder in ["/usr/share/fonts", "/usr/local/share/fonts", "/Library/Fonts", "/System/Library/Fonts",
                   "C:/Windows/Fonts"]:
        p = Path(folder)
        if p.is_dir():
            files.update(str(f) for f in p.rglob("*") if f.suffix.lower() in {".ttf", ".otf", ".ttc"})
    usable = sorted(f for f in files if Path(f).suffix.lower() in {".ttf", ".otf", ".ttc"} and Path(f).exists())
    cjk = [f for f in usable if CJK_FONT.search(Path(f).name)]
    latin = [f for f in usable if f not in cjk and not LATIN_FONT_SKIP.search(Path(f).name)]
    return latin, cjk


def load_font(path: str | None, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if path:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            pass
    return ImageFont.load_default(size=size)


@dataclass
class Spec:
    kind: str
    font: str | None
    size: int
    dark: bool
    rotation: float
    photographed: bool
    chinese: bool
    jpeg_quality: int | None


class WordSource:
    """Words for the images: each vocabulary word at most twice, then made-up names (unique)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        pool = WORDS * 2
        rng.shuffle(pool)
        self.pool = pool
        self.made: set[str] = set()

    def word(self) -> str:
        if self.pool:
            return self.pool.pop()
        while True:
            w = "".join(self.rng.choice(NAME_SYLLABLES) for _ in range(self.rng.randint(2, 4)))
            if len(w) >= 5 and w not in self.made and w not in WORDS:
                self.made.add(w)
                return w


def _case(rng: random.Random, w: str, kind: str) -> str:
    r = rng.random()
    if kind in {"sign", "receipt"} and r < 0.6:
        return w.upper()
    if r < 0.35:
        return w.capitalize()
    if r < 0.45:
        return w.upper()
    return w


def _text_lines(rng: random.Random, words: WordSource, spec: Spec) -> tuple[list[str], list[str]]:
    """(lines, the query words written in them)."""
    lines: list[str] = []
    written: list[str] = []
    if spec.chinese:
        n = rng.randint(2, 5)
        for _ in range(n):
            k = rng.randint(1, 3)
            parts = rng.sample(CHINESE_WORDS, k)
            written += parts
            sep = rng.choice(["", " ", "  "])
            lines.append(sep.join(parts))
        return lines, written
    if spec.kind == "sign":
        for _ in range(rng.randint(1, 3)):
            w = words.word()
            written.append(w)
            extra = rng.choice(["", "", f" {rng.choice('ABCDEFG')}{rng.randint(1, 40)}", " →"])
            lines.append(_case(rng, w, spec.kind) + extra)
    elif spec.kind == "receipt":
        shop = words.word()
        written.append(shop)
        lines.append(rng.choice(["HOTEL ", "CAFE ", "", "MARKET ", ""]) + shop.upper())
        lines.append(f"{rng.randint(1, 300)} {_case(rng, words.word(), 'x')} Street".replace("  ", " "))
        written.append(lines[-1].split()[1].lower())
        for _ in range(rng.randint(3, 7)):
            w = words.word()
            written.append(w)
            price = f"{rng.randint(1, 60)}.{rng.randint(0, 99):02d}"
            lines.append(f"{_case(rng, w, spec.kind):<14}{price:>8}")
        lines.append(f"TOTAL {rng.randint(20, 300)}.{rng.randint(0, 99):02d}")
    else:  # screenshot, document
        n = rng.randint(3, 7) if spec.kind == "screenshot" else rng.randint(5, 10)
        for _ in range(n):
            k = rng.randint(1, 2) if spec.kind == "screenshot" else rng.randint(2, 3)
            parts = []
            for _j in range(k):
                w = words.word()
                written.append(w)
                parts.append(_case(rng, w, spec.kind))
                if rng.random() < 0.4:
                    parts.append(rng.choice(FILLER))
            if rng.random() < 0.2:
                parts.append(rng.choice(["12:45", "3.50", "#B12", "2026", "(4)", "RE16 TGK"]))
            lines.append(" ".join(parts))
    return lines, written


def _colors(rng: random.Random, spec: Spec) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    if spec.kind == "sign":
        bgs = [(20, 90, 40), (30, 60, 140), (160, 30, 30), (250, 200, 40), (245, 245, 240), (25, 25, 25)]
        bg = rng.choice(bgs)
        fg = (255, 255, 255) if sum(bg) < 400 else (20, 20, 20)
        return bg, fg
    if spec.dark:
        return (rng.randint(15, 45),) * 3, (rng.randint(200, 240),) * 3  # type: ignore[return-value]
    return (rng.randint(235, 255),) * 3, (rng.randint(0, 50),) * 3  # type: ignore[return-value]


def render(rng: random.Random, spec: Spec, lines: list[str]) -> Image.Image:
    font = load_font(spec.font, spec.size)
    bg, fg = _colors(rng, spec)
    probe = ImageDraw.Draw(Image.new("RGB", (8, 8)))
    widths = [probe.textlength(ln, font=font) for ln in lines]
    line_h = int(spec.size * rng.uniform(1.35, 1.8))
    margin = max(16, spec.size)
    if spec.kind == "screenshot":
        width = max(int(max(widths)) + 2 * margin, rng.choice([720, 800, 960]))
    elif spec.kind == "document":
        width = max(int(max(widths)) + 2 * margin, rng.choice([700, 820]))
    elif spec.kind == "receipt":
        width = int(max(widths)) + 2 * margin
    else:
        width = int(max(widths)) + 4 * margin
    top = margin + (40 if spec.kind == "screenshot" else 0)
    height = top + line_h * len(lines) + margin + (2 * margin if spec.kind == "sign" else 0)
    img = Image.new("RGB", (width, height), bg)
    d = ImageDraw.Draw(img)
    if spec.kind == "screenshot":  # a title bar and a few UI blocks
        bar = tuple(max(0, min(255, c + (25 if spec.dark else -25))) for c in bg)
        d.rectangle([0, 0, width, 36], fill=bar)
        for k in range(3):
            d.ellipse([10 + 18 * k, 12, 22 + 18 * k, 24], fill=[(230, 80, 70), (240, 190, 60), (90, 200, 90)][k])
    y = top + (margin if spec.kind == "sign" else 0)
    for ln, w in zip(lines, widths, strict=True):
        x = (width - w) / 2 if spec.kind == "sign" else margin
        d.text((x, y), ln, font=font, fill=fg)
        y += line_h
    return img


def _photograph(rng: random.Random, img: Image.Image) -> Image.Image:
    """Make a rendering look photographed: on a table, perspective, uneven light, blur, noise."""
    w, h = img.size
    pad = int(0.15 * max(w, h))
    table = tuple(rng.randint(60, 160) for _ in range(3))
    canvas = Image.new("RGB", (w + 2 * pad, h + 2 * pad), table)  # type: ignore[arg-type]
    canvas.paste(img, (pad, pad))
    W, H = canvas.size
    j = 0.06
    # QUAD: the source corners (ul, ll, lr, ur) that fill the output: a mild keystone
    quad = [
        rng.uniform(0, j) * W, rng.uniform(0, j) * H,
        rng.uniform(0, j) * W, H - rng.uniform(0, j) * H,
        W - rng.uniform(0, j) * W, H - rng.uniform(0, j) * H,
        W - rng.uniform(0, j) * W, rng.uniform(0, j) * H,
    ]
    out = canvas.transform((W, H), Image.Transform.QUAD, quad, Image.Resampling.BICUBIC)
    # uneven light: a gradient multiplied in
    grad = Image.linear_gradient("L").resize((W, H)).rotate(rng.uniform(0, 360), expand=False)
    light = Image.merge("RGB", [grad.point(lambda v: 170 + v * 85 // 255)] * 3)
    out = ImageChops.multiply(out, light)
    out = out.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.2)))
    noise = Image.effect_noise(out.size, rng.uniform(4, 12)).convert("RGB")
    out = Image.blend(out, ImageChops.add(out, noise, scale=2.0, offset=-64), 0.15)
    return out


def make_image(rng: random.Random, words: WordSource, spec: Spec) -> tuple[Image.Image, list[str], list[str]]:
    lines, written = _text_lines(rng, words, spec)
    img = render(rng, spec, lines)
    if spec.rotation:
        bg = img.getpixel((0, 0))
        img = img.rotate(spec.rotation, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=bg)
    if spec.photographed:
        img = _photograph(rng, img)
    return img, lines, written


# Photographed pages of small text in thin, light, condensed or slanted faces (`--pages`): the dev side of
# the weak spot the held-out check found (docs/TEXT.md section 5); this machine's own fonts and the words above.
PAGE_FONT = re.compile(r"light|book|narrow|condensed|oblique|italic", re.I)
PAGE_SIZES = [14, 16, 18, 20]


def make_page(rng: random.Random, words: WordSource, font_path: str | None, size: int) -> tuple[Image.Image, list[str], list[str]]:
    """A page of `size` px text in grey ink, photographed: keystone, a turn, blur, a shadow, noise."""
    f = load_font(font_path, size)
    paper = tuple(rng.randint(225, 250) for _ in range(3))
    ink = (rng.randint(40, 110),) * 3
    img = Image.new("RGB", (rng.randint(740, 940), rng.randint(880, 1120)), paper)  # type: ignore[arg-type]
    d = ImageDraw.Draw(img)
    lines: list[str] = []
    written: list[str] = []
    y = 48
    while y < img.height - 70:
        toks: list[str] = []
        new: list[str] = []
        for _ in range(rng.randint(3, 6)):
            if rng.random() < 0.4 and len(written) + len(new) < 16:
                w = words.word()
                new.append(w)
                toks.append(_case(rng, w, "document"))
            else:
                toks.append(rng.choice(FILLER))
        while len(toks) > 1 and d.textlength(" ".join(toks), font=f) > img.width - 96:
            dropped = toks.pop()
            new = [w for w in new if w != dropped.lower()]
        written += new
        lines.append(" ".join(toks))
        d.text((48, y), lines[-1], font=f, fill=ink)
        y += int(size * rng.uniform(1.5, 1.9))
    w, h = img.size
    bg = tuple(rng.randint(60, 150) for _ in range(3))
    j = lambda s: rng.uniform(0, 0.08) * s  # noqa: E731
    quad = (-j(w), -j(h), -j(w) * 0.4, h + j(h), w + j(w) * 0.4, h + j(h), w + j(w), -j(h))
    out = img.transform((w, h), Image.Transform.QUAD, quad, Image.Resampling.BICUBIC, fillcolor=bg)  # type: ignore[arg-type]
    out = out.rotate(rng.uniform(-3, 3), Image.Resampling.BICUBIC, expand=True, fillcolor=bg)  # type: ignore[arg-type]
    out = out.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.2)))
    grad = Image.linear_gradient("L").resize(out.size).rotate(rng.uniform(0, 360))
    out = Image.composite(Image.new("RGB", out.size, (0, 0, 0)), out, grad.point(lambda v: int(v * 0.35)))
    noise = Image.effect_noise(out.size, rng.uniform(5, 14)).convert("RGB")
    out = Image.blend(out, noise, 0.07)
    if max(out.size) > 1400:
        s = 1400 / max(out.size)
        out = out.resize((round(out.width * s), round(out.height * s)), Image.Resampling.LANCZOS)
    return out, lines, written


def generate_pages(out: Path, count: int = 48, seed: int = 1617) -> dict[str, Any]:
    """`count` photographed pages (JPEG q 70-90) in this machine's thin/light/condensed/slanted fonts."""
    rng = random.Random(seed)
    latin, _cjk = find_fonts()
    faces = [f for f in latin if PAGE_FONT.search(Path(f).name) and not MONO_FONT.search(Path(f).name)]
    # one file per face (the same face is installed as .otf, .pfb, .t1)
    by_name: dict[str, str] = {}
    for f in faces:
        by_name.setdefault(Path(f).stem, f)
    faces = sorted(by_name.values())
    words = WordSource(rng)
    out.mkdir(parents=True, exist_ok=True)
    images = []
    for i in range(count):
        font = rng.choice(faces) if faces else None
        size = PAGE_SIZES[i % len(PAGE_SIZES)]
        img, lines, written = make_page(rng, words, font, size)
        name = f"page{i:03d}.jpg"
        img.save(out / name, quality=rng.choice([70, 80, 90]))
        images.append({"file": name, "kind": "page", "font": Path(font).name if font else "pillow-default",
                       "size": size, "photographed": True, "script": "latin", "lines": lines,
                       "words": [{"word": w, "size": size} for w in written]})
    manifest = {"seed": seed, "count": count, "fonts": {"latin": [Path(f).name for f in faces]}, "images": images}
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    return manifest


def generate(out: Path, count: int = 240, seed: int = 16) -> dict[str, Any]:
    rng = random.Random(seed)
    latin, cjk = find_fonts()
    mono = [f for f in latin if MONO_FONT.search(Path(f).name)]
    words = WordSource(rng)
    out.mkdir(parents=True, exist_ok=True)
    kinds = ["screenshot", "document", "receipt", "sign"]
    images = []
    for i in range(count):
        chinese = bool(cjk) and i % 10 == 9  # a tenth Chinese when a CJK font is installed
        kind = kinds[i % 4]
        if chinese:
            font = rng.choice(cjk)
        elif kind == "receipt" and mono and rng.random() < 0.7:
            font = rng.choice(mono)
        else:
            font = rng.choice(latin) if latin else None
        size = SIZES[(i // 4) % len(SIZES)] if kind != "sign" else rng.choice([24, 28, 32, 40])
        if chinese:
            size = max(size, 14)
        spec = Spec(
            kind=kind, font=font, size=size, dark=(kind in {"screenshot", "document"} and rng.random() < 0.35),
            rotation=round(rng.uniform(-3, 3), 2) if rng.random() < 0.5 else 0.0,
            photographed=rng.random() < 0.33, chinese=chinese,
            jpeg_quality=None if (kind == "screenshot" and rng.random() < 0.5) else rng.choice([60, 75, 85, 92]),
        )
        img, lines, written = make_image(rng, words, spec)
        name = f"text{i:03d}." + ("png" if spec.jpeg_quality is None else "jpg")
        if spec.jpeg_quality is None:
            img.save(out / name)
        else:
            img.save(out / name, quality=spec.jpeg_quality)
        images.append({
            "file": name, "kind": kind, "font": Path(font).name if font else "pillow-default",
            "size": spec.size, "background": "dark" if (spec.dark or sum(img.getpixel((2, 2))[:3]) < 300) else "light",
            "rotation": spec.rotation, "photographed": spec.photographed,
            "script": "chinese" if chinese else "latin", "jpeg_quality": spec.jpeg_quality,
            "lines": lines, "words": [{"word": w, "size": spec.size} for w in written],
        })
    manifest = {"seed": seed, "count": count, "fonts": {"latin": [Path(f).name for f in latin],
                                                         "cjk": [Path(f).name for f in cjk]},
                "images": images}
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    return manifest


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out", type=Path)
    p.add_argument("--count", type=int, default=240)
    p.add_argument("--seed", type=int, default=16)
    p.add_argument("--pages", action="store_true", help="photographed pages of small text in light/thin/slanted "
                   "faces instead (count 48, seed 1617 unless given)")
    a = p.parse_args()
    if a.pages:
        count = 48 if a.count == 240 else a.count
        m = generate_pages(a.out, count, 1617 if a.seed == 16 else a.seed)
        n = sum(len(i["words"]) for i in m["images"])
        print(f"{len(m['images'])} pages, {n} words, {len(m['fonts']['latin'])} faces -> {a.out}")
        return
    m = generate(a.out, a.count, a.seed)
    n_words = sum(len(i["words"]) for i in m["images"])
    print(f"{len(m['images'])} images, {n_words} words, fonts: {len(m['fonts']['latin'])} Latin, "
          f"{len(m['fonts']['cjk'])} CJK -> {a.out}")


if __name__ == "__main__":
    main()
