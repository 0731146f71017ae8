"""The colour parts' training command (core/models/colour_training.py) on generated photos."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from desktop_search.core.models import colour_training as ctr
from desktop_search.core.models import features
from desktop_search.core.models.colours import COLOUR_NAMES, ColourParts, cell_shares

RED, BLUE = COLOUR_NAMES.index("red"), COLOUR_NAMES.index("blue")
RGB = {"red": (210, 30, 30), "blue": (40, 60, 220)}


def test_caption_colours_are_the_colour_names_used_before_a_noun() -> None:
    assert ctr.caption_colours("A man in a red and white shirt .") == {"red", "white"}
    assert ctr.caption_colours("a grey dog runs") == {"gray"}
    assert ctr.caption_colours("the shirt is red .") == set()
    y = ctr.colour_targets([["a black dog", "a dog"], ["two people"]])
    assert y[0, COLOUR_NAMES.index("black")] == 1 and y.sum() == 1


def _make_photos(root: Path, n: int = 40) -> tuple[Path, Path, Path, dict[str, list[int]]]:
    """Photos of a small "person" (2 × 2 cells) in the captioned colour beside a much larger wall
    in the other one (red person, blue wall; blue person, red wall): by pixel counts alone the
    blue-captioned photos are the redder. Returns (images, captions, split, person cells per photo)."""
    rng = random.Random(0)
    images = root / "images"
    images.mkdir(parents=True)
    rows, names, person = [], [], {}
    for i in range(n):
        colour, other = ("red", "blue") if i % 2 == 0 else ("blue", "red")
        im = Image.new("RGB", (224, 224), (40, 160, 60))  # grass
        d = ImageDraw.Draw(im)
        d.rectangle((0, 0, 223, 95), fill=RGB[other])  # the wall: the top 3 rows of cells
        r, c = rng.randint(4, 5), rng.randint(0, 5)
        d.rectangle((c * 32, r * 32, c * 32 + 63, r * 32 + 63), fill=RGB[colour])
        name = f"p{i:02d}.png"
        im.save(images / name)
        names.append(name)
        person[name] = [rr * 7 + cc for rr in (r, r + 1) for cc in (c, c + 1)]
        rows += [(name, f"a man in a {colour} shirt on the grass"), (name, "someone outside")]
    captions = root / "captions.csv"
    with captions.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("image", "caption"), *rows])
    split = root / "all.txt"
    split.write_text("\n".join(names) + "\n")
    return images, captions, split, person


def _fake_cells(paths, person: dict[str, list[int]]) -> np.ndarray:
    """(N, 49, 1280) noise, with a "person" direction in the person's cells (the encoder's stand-in)."""
    rng = np.random.default_rng(1)
    out = rng.normal(size=(len(paths), 49, 1280)).astype(np.float16)
    for i, p in enumerate(paths):
        out[i, person[Path(p).name], :16] += 3.0
    return out


def test_trains_and_writes_colour_parts_that_find_the_described_thing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    images, captions, split, person = _make_photos(tmp_path)
    monkeypatch.setattr(features, "extract_image_features", lambda paths, *a, **k: _fake_cells(paths, person))
    out = tmp_path / "out" / "colours.safetensors"
    rc = ctr.main(["--train", str(images), str(captions), str(split), "--dev", str(images), str(captions), str(split),
                   "--out", str(out), "--seeds", "0", "1", "--epochs", "30", "--batch", "8", "--lr", "1e-2"])
    assert rc == 0

    from desktop_search.core.models.builtin import load_builtin, read_numpy_weights

    state, _, meta = read_numpy_weights(out.read_bytes(), out)
    parts = ColourParts.from_state(state)
    assert parts is not None and parts.att_w.shape == (2, 11, 1280) and parts.photo_scale == pytest.approx(0.05)
    base = load_builtin("builtin", device="cpu")
    assert base.version in json.loads(meta["upgrades_from"])
    assert json.loads(meta["colours"])["settings"]["seeds"] == [0, 1]
    assert load_builtin(f"builtin:{out}", device="cpu").head_dim == base.head_dim  # the rest is the input's

    names = sorted(person)
    paths = [images / n for n in names]
    shares = np.stack([cell_shares(np.asarray(Image.open(p).convert("RGB"))) for p in paths])
    ev = parts.evidence(_fake_cells(paths, person), shares)
    red_captioned = np.array([int(n[1:3]) % 2 == 0 for n in names])
    # the blue-captioned photos have more red pixels (the wall), yet the red-shirted ones are the red ones
    assert shares[~red_captioned, :, RED].mean() > 2 * shares[red_captioned, :, RED].mean()
    assert ev[red_captioned, RED].min() > ev[~red_captioned, RED].max()
    assert ev[~red_captioned, BLUE].min() > ev[red_captioned, BLUE].max()


def test_too_few_photos_for_a_batch_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    images, captions, split, person = _make_photos(tmp_path, n=4)
    monkeypatch.setattr(features, "extract_image_features", lambda paths, *a, **k: _fake_cells(paths, person))
    rc = ctr.main(["--train", str(images), str(captions), str(split), "--out", str(tmp_path / "o.safetensors")])
    assert rc == 1 and "fewer than one batch" in capsys.readouterr().err
    assert not (tmp_path / "o.safetensors").exists()
