"""Held-out check of text in photos (issue 16): images of text made independently of the dev set, mixed
into real photos, found through the real command line (`desktop-search index`, `search --json`).

    nice python bench/text_heldout.py --fonts DIR [--flickr DIR] [--photos 1000] [--count 150] [--keep DIR]

Independent of bench/text_images.py (the dev generator, whose figures were tuned on):
- **fonts** it does not use: the dev generator takes every TrueType/OpenType font fontconfig lists here
  (DejaVu, Nimbus, URW, C059, P052, Noto Mono; `fc-list`). This one takes the fonts under ``--fonts``
  (files the system does not list: on Debian ``apt-get download fonts-liberation2 fonts-roboto-unhinted
  fonts-open-sans fonts-freefont-ttf`` then ``dpkg -x PKG.deb DIR`` for each; Liberation, Roboto, Open
  Sans, GNU FreeFont), Pillow's own font (Aileron), and the two fonts fontconfig lists that the dev
  generator skips (DejaVuSans-ExtraLight, the script font Z003);
- **words** from other sources: place names, shop products and household things (none of the dev
  word list; checked) and made-up brand names from another syllable set; each word in one image only;
- **layouts** of its own: street signs and name plates, product labels and price tags, phone
  notifications, photographed pages (keystone perspective, blur, a shadow, noise, JPEG), and small signs
  pasted into real photos (Flickr8k originals) at an angle;
- rendered with code written for this check (no function of the dev generator is used).
Images of Chinese text are not made (the only other CJK font, Noto CJK, is a 100 MB package).

Then: a temporary library of ``--photos`` Flickr8k dev photos and these images; ``python -m desktop_search
index`` (the builtin model, text read after the embeddings), then ``search --json --queries-file`` with
one query per word (the word alone, lower case) and one per pair of words of one image; a hit is the
image in the top 5. Prints the rate for words of 4+ letters written at >= 14 px (the issue's target,
95 %), by size, layout, font, and below 14 px, and the misses. Not tuned on: run it, report it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFilter, ImageFont

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

from _common import DEFAULT_DATA  # noqa: E402

PLACES = """Lisbon Porto Valencia Granada Toulouse Lyon Marseille Bordeaux Nantes Geneva Zurich Lucerne Salzburg
Vienna Prague Krakow Gdansk Warsaw Budapest Ljubljana Zagreb Dubrovnik Sarajevo Belgrade Sofia Bucharest Athens
Thessaloniki Istanbul Ankara Izmir Tbilisi Yerevan Tehran Muscat Riyadh Amman Beirut Cairo Alexandria Tunis
Algiers Rabat Casablanca Marrakesh Dakar Accra Lagos Nairobi Kampala Kigali Lusaka Harare Durban Windhoek Luanda
Mumbai Chennai Kolkata Delhi Jaipur Lahore Karachi Dhaka Colombo Kathmandu Bangkok Hanoi Saigon Jakarta
Surabaya Manila Taipei Osaka Kyoto Nagoya Sapporo Busan Seoul Incheon Perth Adelaide Brisbane Hobart Auckland
Wellington Toronto Montreal Ottawa Calgary Halifax Boston Chicago Denver Phoenix Seattle Portland Atlanta
Houston Dallas Memphis Nashville Orlando Miami Havana Bogota Medellin Quito Cusco Santiago Mendoza Rosario
Montevideo Asuncion Recife Salvador Curitiba Manaus Glasgow Edinburgh Dublin Cardiff Bristol Leeds Oxford
Cambridge Brighton Antwerp Ghent Bruges Utrecht Leiden Hamburg Bremen Dresden Leipzig Munich Cologne Stuttgart
Freiburg Innsbruck Verona Bologna Florence Naples Palermo Turin Genoa Trieste Malmo Bergen Tampere Helsinki
Tallinn Vilnius Reykjavik Seville Malaga Bilbao Zaragoza Cordoba Avignon Grenoble Strasbourg Dijon Rouen""".split()  # noqa: SIM905

THINGS = """shampoo toothpaste detergent sunscreen marmalade oatmeal granola mustard ketchup vinegar paprika
cinnamon oregano lavender eucalyptus peppermint walnut hazelnut pistachio apricot raspberry blueberry
cranberry grapefruit coconut avocado broccoli cucumber spinach lettuce mushroom sardines anchovies salmon
thermostat projector scanner headphones speaker adapter router monitor tablet notebook stapler scissors
marker pencil eraser calendar schedule timetable terminal baggage customs lounge boarding sneakers sandals
trousers sweater scarf gloves mittens backpack suitcase toaster blender microwave freezer dishwasher vacuum
lamp sofa mattress curtain wardrobe bookshelf ceramic porcelain bamboo linen leather wool denim flannel
plumber carpenter mechanic bakeries florist butcher optician barber tailor jeweller cobbler locksmith
antiques gallery theatre opera ballet orchestra symphony stadium arena marina pier lagoon canyon plateau
prairie savanna tundra volcanoes geyser waterfall reservoir aqueduct viaduct tramway funicular gondola
ferry harbour lighthouses promenade esplanade boardwalk plaza piazza courtyard cloister chapel monastery
basilica mosque temple pagoda shrine synagogue cemetery mausoleum""".split()  # noqa: SIM905

BRAND_SYLLABLES = ["zen", "qua", "lix", "vor", "tek", "bri", "sta", "mon", "ex", "plo", "fy", "nu", "ora",
                   "kel", "dri", "vo", "sen", "tra", "ly", "gro"]
FILLER = ["the", "and", "for", "with", "from", "by", "to", "of", "at", "in", "on", "is", "new", "open", "no", "all",
          "per", "via"]


def heldout_fonts(fonts_dir: Path | None) -> list[tuple[str, str | None]]:
    """(name, file) of the fonts for this check; file None is Pillow's own font (Aileron)."""
    fonts: list[tuple[str, str | None]] = [("Pillow-Aileron", None)]
    if fonts_dir is not None:
        for f in sorted(fonts_dir.rglob("*")):
            if f.suffix.lower() in {".ttf", ".otf"}:
                fonts.append((f.stem, str(f)))
    try:
        out = subprocess.run(["fc-list", "--format", "%{file}\n"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    for line in sorted(set(out.split())):  # the two the dev generator skips (its LATIN_FONT_SKIP)
        if Path(line).suffix.lower() in {".ttf", ".otf"} and Path(line).stem in {"DejaVuSans-ExtraLight",
                                                                                  "Z003-MediumItalic"}:
            fonts.append((Path(line).stem, line))
    return fonts


def font(path: str | None, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.truetype(path, size) if path else ImageFont.load_default(size=size)


class Words:
    """Each query word once: places, things, then made-up brands; none from the dev word list."""

    def __init__(self, rng: random.Random) -> None:
        import text_images

        dev = set(text_images.WORDS)
        self.rng = rng
        self.places = [w for w in PLACES if w.lower() not in dev]
        self.things = [w for w in THINGS if w.lower() not in dev]
        rng.shuffle(self.places)
        rng.shuffle(self.things)
        self.used: set[str] = set()
        self.dev = dev

    def place(self) -> tuple[str, str]:
        return (self.places.pop(), "place") if self.places else self.brand()

    def thing(self) -> tuple[str, str]:
        return (self.things.pop(), "thing") if self.things else self.brand()

    def brand(self) -> tuple[str, str]:
        while True:
            w = "".join(self.rng.choice(BRAND_SYLLABLES) for _ in range(self.rng.randint(2, 3))).capitalize()
            if len(w) >= 5 and w.lower() not in self.used and w.lower() not in self.dev:
                self.used.add(w.lower())
                return w, "brand"

    def any(self) -> tuple[str, str]:
        r = self.rng.random()
        return self.place() if r < 0.35 else self.thing() if r < 0.8 else self.brand()


# -------------------------------------------------------------------------------------------- layouts

Item = dict[str, Any]


def _draw_lines(img: Image.Image, x: int, y: int, lines: list[str], f: Any, fill: Any, spacing: float = 1.5) -> int:
    d = ImageDraw.Draw(img)
    size = getattr(f, "size", 16)
    for line in lines:
        d.text((x, y), line, font=f, fill=fill)
        y += int(size * spacing)
    return y


def _keystone(rng: random.Random, img: Image.Image, strength: float, background: tuple[int, int, int]) -> Image.Image:
    """The image as if photographed at an angle: a perspective (QUAD) warp, a slight turn."""
    w, h = img.size
    j = lambda s: rng.uniform(0, strength) * s  # noqa: E731
    quad = (-j(w), -j(h), -j(w) * 0.3, h + j(h), w + j(w) * 0.3, h + j(h), w + j(w), -j(h))
    out = img.transform((w, h), Image.Transform.QUAD, quad, Image.Resampling.BICUBIC, fillcolor=background)
    return out.rotate(rng.uniform(-4, 4), Image.Resampling.BICUBIC, expand=True, fillcolor=background)


def _camera(rng: random.Random, img: Image.Image, blur: float) -> Image.Image:
    """Blur, a shadow across the picture, sensor noise."""
    img = img.filter(ImageFilter.GaussianBlur(blur))
    w, h = img.size
    shade = Image.linear_gradient("L").resize((w, h)).rotate(rng.choice([0, 90, 180, 270]))
    dark = Image.new("RGB", (w, h), (0, 0, 0))
    img = Image.composite(dark, img, shade.point(lambda v: int(v * rng.uniform(0.15, 0.45))))
    noise = Image.effect_noise((w, h), rng.uniform(6, 16)).convert("RGB")
    return Image.blend(img, noise, 0.08)


def street_sign(rng: random.Random, words: Words, fonts: list[tuple[str, str | None]]) -> tuple[Image.Image, Item]:
    name, path = rng.choice(fonts)
    size = rng.choice([24, 28, 32, 40, 48, 56])
    bg = rng.choice([(20, 70, 160), (10, 110, 60), (150, 20, 30), (30, 30, 30), (240, 240, 230)])
    fg = (20, 20, 20) if sum(bg) > 500 else (250, 250, 250)
    ws = [words.place() for _ in range(rng.randint(1, 2))]
    lines = [ws[0][0].upper() if rng.random() < 0.6 else ws[0][0]]
    if len(ws) > 1:
        lines.append(f"{rng.randint(1, 40)} km  {ws[1][0]}")
    f = font(path, size)
    width = max(int(ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(s, font=f)) for s in lines) + 2 * size
    img = Image.new("RGB", (width, int(len(lines) * size * 1.6 + size)), bg)
    ImageDraw.Draw(img).rectangle([4, 4, img.width - 5, img.height - 5], outline=fg, width=3)
    _draw_lines(img, size, size // 2, lines, f, fg, 1.6)
    if rng.random() < 0.5:
        img = _camera(rng, _keystone(rng, img, 0.08, bg), rng.uniform(0.3, 1.0))
    return img, {"layout": "street sign", "font": name, "words": [(w, k, size) for w, k in ws]}


def label(rng: random.Random, words: Words, fonts: list[tuple[str, str | None]]) -> tuple[Image.Image, Item]:
    name, path = rng.choice(fonts)
    title = rng.choice([18, 20, 24, 28, 32])
    small = rng.choice([12, 14, 16])
    brand, thing, place = words.brand(), words.thing(), words.place()
    lines = [(f"{brand[0]} {thing[0].capitalize()}", title),
             (f"made in {place[0]}", small), (f"{rng.randint(100, 900)} g  {rng.randint(1, 9)}.{rng.randint(10, 99)} EUR", small)]
    bg = rng.choice([(250, 245, 225), (255, 255, 255), (230, 240, 250), (250, 220, 200)])
    img = Image.new("RGB", (rng.randint(420, 640), rng.randint(240, 320)), bg)
    d = ImageDraw.Draw(img)
    y = 30
    for text, s in lines:
        d.text((30, y), text, font=font(path, s), fill=(25, 25, 35))
        y += int(s * 1.8)
    if rng.random() < 0.5:
        img = _camera(rng, _keystone(rng, img, 0.06, bg), rng.uniform(0.2, 0.8))
    return img, {"layout": "label", "font": name,
                 "words": [(brand[0], "brand", title), (thing[0], thing[1], title), (place[0], place[1], small)]}


def notification(rng: random.Random, words: Words, fonts: list[tuple[str, str | None]]) -> tuple[Image.Image, Item]:
    name, path = rng.choice(fonts)
    size = rng.choice([14, 16, 18, 20, 22])
    dark = rng.random() < 0.4
    bg, card, fg = ((18, 18, 22), (45, 45, 52), (235, 235, 235)) if dark else ((235, 235, 240), (255, 255, 255), (20, 20, 20))
    app, a, b = words.brand(), words.any(), words.any()
    img = Image.new("RGB", (rng.choice([720, 1080]), rng.randint(300, 420)), bg)
    d = ImageDraw.Draw(img)
    d.rounded_rectangle([30, 40, img.width - 30, img.height - 40], radius=24, fill=card)
    d.text((60, 70), app[0].upper(), font=font(path, size), fill=fg)
    d.text((60, 70 + size * 2), f"Your order to {a[0]} is on the way", font=font(path, size + 2), fill=fg)
    d.text((60, 70 + size * 4), f"{b[0]} at {rng.randint(1, 12)}:{rng.randint(10, 59)} pm", font=font(path, size), fill=fg)
    img = img.convert("RGB")
    return img, {"layout": "notification", "font": name,
                 "words": [(app[0], "brand", size), (a[0], a[1], size + 2), (b[0], b[1], size)]}


def page(rng: random.Random, words: Words, fonts: list[tuple[str, str | None]]) -> tuple[Image.Image, Item]:
    name, path = rng.choice([f for f in fonts if "Z003" not in f[0]])
    size = rng.choice([14, 16, 18, 20])
    f = font(path, size)
    img = Image.new("RGB", (rng.randint(760, 960), rng.randint(900, 1150)), (248, 246, 240))
    d = ImageDraw.Draw(img)
    chosen: list[tuple[str, str, int]] = []
    y = 50
    while y < img.height - 80:  # the page filled; at most 14 query words on it, the rest filler
        toks: list[str] = []
        for _ in range(rng.randint(4, 7)):
            if rng.random() < 0.35 and len(chosen) < 14:
                w, k = words.any()
                chosen.append((w, k, size))
                toks.append(w)
            else:
                toks.append(rng.choice(FILLER))
        line = " ".join(toks)
        if d.textlength(line, font=f) > img.width - 100:
            line = " ".join(toks[:4])
            chosen = [c for c in chosen if c[0] not in toks[4:]]
        d.text((50, y), line, font=f, fill=(30, 30, 30))
        y += int(size * 1.7)
    out = _keystone(rng, img, 0.1, (90, 80, 70))
    out = _camera(rng, out, rng.uniform(0.4, 1.1))
    scale = 1.0
    if max(out.size) > 1400:
        scale = 1400 / max(out.size)
        out = out.resize((round(out.width * scale), round(out.height * scale)), Image.Resampling.LANCZOS)
    chosen = [(w, k, max(1, round(s * scale))) for w, k, s in chosen]
    return out, {"layout": "photographed page", "font": name, "words": chosen}


def sign_in_photo(rng: random.Random, words: Words, fonts: list[tuple[str, str | None]],
                  backgrounds: list[Path]) -> tuple[Image.Image, Item]:
    """A small shop sign pasted into a real photo (a Flickr8k original) at an angle."""
    name, path = rng.choice(fonts)
    w1 = words.any()
    text = w1[0].upper() if rng.random() < 0.5 else w1[0]
    em = 64
    f = font(path, em)
    tw = int(ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(text, font=f))
    bg = rng.choice([(240, 230, 200), (20, 40, 90), (200, 30, 30), (250, 250, 250), (30, 30, 30)])
    fg = (20, 20, 20) if sum(bg) > 500 else (250, 250, 250)
    sign = Image.new("RGB", (tw + em, int(em * 1.8)), bg)
    ImageDraw.Draw(sign).text((em // 2, int(em * 0.3)), text, font=f, fill=fg)
    photo = Image.open(rng.choice(backgrounds)).convert("RGB")
    target = rng.choice([14, 16, 18, 20, 24, 28, 32])  # the letters' size in the photo
    scale = target / em
    sign = sign.resize((max(1, round(sign.width * scale)), max(1, round(sign.height * scale))), Image.Resampling.LANCZOS)
    if sign.width > photo.width - 20:
        k = (photo.width - 20) / sign.width
        sign = sign.resize((max(1, round(sign.width * k)), max(1, round(sign.height * k))), Image.Resampling.LANCZOS)
        target = max(1, round(target * k))
    sign = sign.rotate(rng.uniform(-6, 6), Image.Resampling.BICUBIC, expand=True)
    x = rng.randint(0, max(0, photo.width - sign.width))
    y = rng.randint(0, max(0, photo.height - sign.height))
    photo.paste(sign, (x, y))
    photo = photo.filter(ImageFilter.GaussianBlur(rng.uniform(0.0, 0.6)))
    return photo, {"layout": "sign in a photo", "font": name, "words": [(w1[0], w1[1], target)]}


def generate(out: Path, count: int, fonts_dir: Path | None, backgrounds: list[Path], seed: int = 2016) -> list[Item]:
    rng = random.Random(seed)
    words = Words(rng)
    fonts = heldout_fonts(fonts_dir)
    out.mkdir(parents=True, exist_ok=True)
    makers = [street_sign, label, notification, page]
    items: list[Item] = []
    for i in range(count):
        kind = i % 5
        if kind == 4 and backgrounds:
            img, item = sign_in_photo(rng, words, fonts, backgrounds)
        else:
            img, item = makers[kind % 4](rng, words, fonts)
        jpeg = rng.random() < 0.8
        name = f"held{i:03}.{'jpg' if jpeg else 'png'}"
        if jpeg:
            img.save(out / name, quality=rng.randint(65, 92))
        else:
            img.save(out / name)
        item["file"] = name
        items.append(item)
    (out / "manifest.json").write_text(json.dumps({"seed": seed, "fonts": [f[0] for f in fonts], "images": items},
                                                  indent=1), encoding="utf-8")
    return items


# ------------------------------------------------------------------------------------------ the check


def cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DESKTOP_SEARCH_HOME=str(home))
    return subprocess.run([sys.executable, "-m", "desktop_search", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, check=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--fonts", type=Path, help="a folder of font files the system does not list (see above)")
    p.add_argument("--flickr", type=Path, default=Path(os.environ.get("FLICKR8K_DIR", DEFAULT_DATA)))
    p.add_argument("--photos", type=int, default=1000)
    p.add_argument("--count", type=int, default=150)
    p.add_argument("--keep", type=Path, help="work here and keep it (default: a temporary folder, removed)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()

    work = a.keep or Path(tempfile.mkdtemp(prefix="text-heldout-"))
    try:
        run(a, work)
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


def run(a: argparse.Namespace, work: Path) -> None:
    photos_dir = work / "photos"
    held_dir = photos_dir / "heldout"
    dev = a.flickr / "splits" / "dev.txt"
    names = [n.strip() for n in dev.read_text().splitlines() if n.strip()][: a.photos]
    (photos_dir / "flickr").mkdir(parents=True, exist_ok=True)
    for n in names:
        dst = photos_dir / "flickr" / n
        if not dst.exists():
            shutil.copyfile(a.flickr / "images" / n, dst)
    backgrounds = sorted((a.flickr / "originals").glob("*.jpg"))
    items = generate(held_dir, a.count, a.fonts, backgrounds)
    fonts = json.loads((held_dir / "manifest.json").read_text())["fonts"]
    print(f"{len(items)} held-out images ({len(fonts)} fonts) + {len(names)} Flickr8k dev photos in {photos_dir}")

    library = work / "library"
    t0 = time.perf_counter()
    load0 = os.getloadavg()
    out = cli("--library", str(library), "index", str(photos_dir), "--json", "-q", home=work / "home")
    indexed = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"index: {time.perf_counter() - t0:.0f} s (searchable after {indexed.get('seconds')} s, text read in "
          f"{indexed.get('text_seconds')} s, {indexed.get('text_read')} photos); load average {load0[0]:.1f}")

    queries: list[tuple[str, str, dict[str, Any]]] = []  # (query, file, info)
    rng = random.Random(7)
    for item in items:
        ws = [w for w in item["words"] if len(w[0]) >= 4]
        for w, kind, size in ws:
            queries.append((w.lower(), item["file"], {"size": size, "kind": kind, "layout": item["layout"],
                                                      "font": item["font"], "n": 1}))
        if len(ws) >= 2:
            (w1, _, s1), (w2, _, s2) = rng.sample(ws, 2)
            queries.append((f"{w1.lower()} {w2.lower()}", item["file"], {"size": min(s1, s2), "layout": item["layout"],
                                                                          "font": item["font"], "n": 2}))
    qfile = work / "queries.txt"
    qfile.write_text("\n".join(q for q, _, _ in queries) + "\n", encoding="utf-8")
    t0 = time.perf_counter()
    out = cli("--library", str(library), "search", "--queries-file", str(qfile), "--limit", "5", "--json",
              home=work / "home")
    answers = [json.loads(line) for line in out.stdout.splitlines() if line.strip().startswith("{")]
    assert len(answers) == len(queries), (len(answers), len(queries))
    print(f"{len(queries)} queries through `search --json` in {time.perf_counter() - t0:.0f} s")

    by: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    below: list[int] = []
    pairs: list[int] = []
    misses: list[str] = []
    texts_seen: dict[str, str] = {}
    for (q, file, info), ans in zip(queries, answers, strict=True):
        paths = [Path(r["path"]).name for r in ans["results"]]
        hit = int(file in paths)
        for r in ans["results"]:
            if Path(r["path"]).name == file and r.get("text"):
                texts_seen[file] = r["text"]
        if info["n"] == 2:
            if info["size"] >= 14:
                pairs.append(hit)
            continue
        if info["size"] < 14:
            below.append(hit)
            continue
        by["all"]["words"].append(hit)
        size = info["size"]
        band = "14-15" if size < 16 else "16-19" if size < 20 else "20-27" if size < 28 else "28+"
        by["size px"][band].append(hit)
        by["layout"][info["layout"]].append(hit)
        by["font"][info["font"]].append(hit)
        by["word"][info["kind"]].append(hit)
        if not hit:
            misses.append(f"{q!r} in {file} ({info['layout']}, {info['font']}, {size} px); top 5: {paths}")

    def rate(xs: list[int]) -> str:
        return f"{sum(xs) / len(xs):6.1%} (n={len(xs)})" if xs else "   -"

    print(f"word in the top 5 of `search --json` (4+ letters, >= 14 px, each word in one image): {rate(by['all']['words'])}")
    for key in ("size px", "layout", "word", "font"):
        for v, xs in sorted(by[key].items()):
            print(f"  {key:<7} {v:<32} {rate(xs)}")
    print(f"two-word queries (>= 14 px): {rate(pairs)};  words under 14 px: {rate(below)}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    print(f"misses ({len(misses)}):")
    for m in misses:
        print("  " + m)
    if a.json:
        print(json.dumps({"word_top5": sum(by["all"]["words"]) / max(1, len(by["all"]["words"])),
                          "n": len(by["all"]["words"]), "pairs": sum(pairs) / max(1, len(pairs)),
                          "below_14": sum(below) / max(1, len(below)), "misses": misses}))


if __name__ == "__main__":
    main()
