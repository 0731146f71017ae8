"""Captions, dates and cameras read from real files; words in file names."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from desktop_search.core.library.imageio import decode
from desktop_search.core.library.metadata import filename_words, is_name_text, photo_text, read_meta


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("beach_sunset_2019.jpg", "beach sunset"),
        ("IMG_1234.JPG", None),
        ("DSC00042.jpg", None),
        ("PXL_20230514_101112345.jpg", None),
        ("1000268201_693b08cb0e.jpg", None),
        ("d41d8cd98f00b204e9800998ecf8427e.jpg", None),
        ("deadbeefcafe.png", None),
        ("Kids building a sandcastle.jpeg", "kids building sandcastle"),
        ("grandmaBirthdayParty.png", "grandma birthday party"),
        ("IMG_1234 copy.jpg", None),
    ],
)
def test_filename_words(name: str, words: str | None) -> None:
    assert filename_words(name) == words


def _meta(path: Path):
    d = decode(path)
    return read_meta(path, d.exif, d.info)


def test_exif_caption_date_camera(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x010E] = "Two dogs playing in the snow"
    exif[0x010F] = "Canon"
    exif[0x0110] = "EOS 5D"
    exif.get_ifd(0x8769)[0x9003] = "2019:07:14 16:20:00"
    path = tmp_path / "IMG_0001.jpg"
    Image.new("RGB", (32, 32), "white").save(path, exif=exif)
    meta = _meta(path)
    assert meta.caption == "Two dogs playing in the snow"
    assert meta.camera == "Canon EOS 5D"
    assert meta.date_taken is not None and meta.date_taken.isoformat() == "2019-07-14T16:20:00"


def test_xp_comment(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x9C9C] = "A red kite over the hill".encode("utf-16-le") + b"\x00\x00"
    path = tmp_path / "IMG_0002.jpg"
    Image.new("RGB", (32, 32), "white").save(path, exif=exif)
    assert _meta(path).caption == "A red kite over the hill"


def test_xmp_description(tmp_path: Path) -> None:
    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:description><rdf:Alt>'
        '<rdf:li xml:lang="x-default">Fishing boats in the harbour &amp; gulls</rdf:li>'
        "</rdf:Alt></dc:description></rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    path = tmp_path / "IMG_0003.jpg"
    Image.new("RGB", (32, 32), "white").save(path, xmp=xmp.encode())
    assert _meta(path).caption == "Fishing boats in the harbour & gulls"


def test_sidecar_caption_wins(tmp_path: Path) -> None:
    path = tmp_path / "IMG_0004.png"
    Image.new("RGB", (32, 32), "white").save(path)
    (tmp_path / "IMG_0004.txt").write_text("  A cat asleep on a windowsill \n")
    assert _meta(path).caption == "A cat asleep on a windowsill"


def test_large_jpeg_is_decoded_reduced_and_oriented(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    exif = Image.Exif()
    exif[0x0112] = 8
    Image.new("RGB", (4000, 3000), (10, 120, 200)).save(path, quality=90, exif=exif)
    d = decode(path, min_side=256)
    assert (d.width, d.height) == (3000, 4000)  # full size, after orientation
    assert min(d.image.size) < 1000 and d.image.size[1] > d.image.size[0]


def test_a_photos_text_is_its_file_names_words_only_without_a_caption() -> None:
    """Search floors a file name's text at the image-only score, never a caption's (search/matrix.py)."""
    name = "dog_running_in_the_heather.jpg"
    assert photo_text(None, name) == "dog running the heather"
    assert is_name_text(photo_text(None, name), None)
    assert not is_name_text(photo_text("A plate of pasta", name), "A plate of pasta")
    assert not is_name_text(photo_text(None, "IMG_0001.jpg"), None)  # no words: no text at all
