"""Search filters (core/search/filters.py): each one, combined, with a text or an example photo,
query equality, the facade's choices and the command line built from the declarations. A real
library (SQLite) of real image files whose EXIF says camera, date and rotation."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from desktop_search.cli import build_parser, main
from desktop_search.core.app import PhotoLibrary
from desktop_search.core.search import filters as F
from desktop_search.core.types import SearchQuery
from tests.fakes import last_counts

TAG_MAKE, TAG_MODEL, TAG_ORIENTATION, TAG_DESCRIPTION = 0x010F, 0x0110, 0x0112, 0x010E
EXIF_IFD, TAG_DATETIME_ORIGINAL = 0x8769, 0x9003
OLD = datetime(2001, 6, 1, 12, 0)  # a file date for photos with no EXIF date


def photo(path: Path, rgb: tuple[int, int, int], size: tuple[int, int], *, camera: tuple[str, str] | None = None,
          taken: datetime | None = None, orientation: int | None = None, caption: str | None = None,
          file_date: datetime | None = None, fmt: str | None = None) -> Path:
    """A real image file; its EXIF carries the camera's make and model, the date it was taken, the
    rotation to show it upright and a caption, as given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(abs(hash(str(path))) % 2**32)
    arr = np.clip(np.array(rgb, np.float32) + rng.normal(0, 4, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
    exif = Image.Exif()
    if camera:
        exif[TAG_MAKE], exif[TAG_MODEL] = camera
    if orientation:
        exif[TAG_ORIENTATION] = orientation
    if caption:
        exif[TAG_DESCRIPTION] = caption
    if taken:
        exif.get_ifd(EXIF_IFD)[TAG_DATETIME_ORIGINAL] = taken.strftime("%Y:%m:%d %H:%M:%S")
    image = Image.fromarray(arr)
    if fmt == "PNG":
        image.save(path, format="PNG")
    else:
        image.save(path, format="JPEG", exif=exif.tobytes())
    if file_date:
        os.utime(path, (file_date.timestamp(), file_date.timestamp()))
    return path


RED, GREEN, BLUE = (230, 20, 20), (20, 230, 20), (20, 20, 230)


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    canon, nikon = ("Canon", "Canon EOS 5D"), ("NIKON CORPORATION", "D750")
    photo(root / "trip" / "red_canon_2019.jpg", RED, (80, 40), camera=canon, taken=datetime(2019, 5, 1, 10))
    photo(root / "trip" / "red_nikon_2021.jpg", RED, (40, 80), camera=nikon, taken=datetime(2021, 3, 2, 9))
    # stored 80 x 40, shown 40 x 80: EXIF orientation 6 turns it upright, a portrait
    photo(root / "trip" / "red_canon_turned.JPEG", RED, (80, 40), camera=canon, taken=datetime(2021, 7, 1),
          orientation=6, caption="a red kite on the beach")
    photo(root / "home" / "green_square.png", GREEN, (50, 50), fmt="PNG")  # no EXIF date; written today
    photo(root / "home" / "blue_canon_2021.jpg", BLUE, (80, 40), camera=canon, taken=datetime(2021, 12, 31, 23),
          caption="blue door")
    photo(root / "home" / "red_old_file.jpg", RED, (60, 40), file_date=OLD)  # no EXIF date: its file's counts
    return root


@pytest.fixture
def indexed(lib: PhotoLibrary, photos: Path) -> PhotoLibrary:
    lib.add_folder(photos)
    counts = last_counts(lib.index())
    assert counts.embedded == 6 and counts.failed == 0
    return lib


def names(lib: PhotoLibrary, query: SearchQuery) -> set[str]:
    return {Path(r.path).name for r in lib.search(query)}


def q(text: str | None = "red", **filters: object) -> SearchQuery:
    return SearchQuery(text=text, filters=filters, limit=100)


ALL = {"red_canon_2019.jpg", "red_nikon_2021.jpg", "red_canon_turned.JPEG", "green_square.png",
       "blue_canon_2021.jpg", "red_old_file.jpg"}


def test_each_filter_narrows_the_photos(indexed: PhotoLibrary, photos: Path) -> None:
    lib = indexed
    assert names(lib, q()) == ALL  # no filter: every photo is ranked
    assert names(lib, q(folder=photos / "home")) == {"green_square.png", "blue_canon_2021.jpg", "red_old_file.jpg"}
    assert names(lib, q(camera="Canon EOS 5D")) == {"red_canon_2019.jpg", "red_canon_turned.JPEG", "blue_canon_2021.jpg"}
    assert names(lib, q(camera="canon eos 5d")) == names(lib, q(camera="Canon EOS 5D"))  # any case
    assert names(lib, q(camera="NIKON CORPORATION D750")) == {"red_nikon_2021.jpg"}
    assert names(lib, q(camera="Leica")) == set()
    assert names(lib, q(type="jpg")) == ALL - {"green_square.png"}  # .jpg and .JPEG alike
    assert names(lib, q(type="jpeg")) == names(lib, q(type="jpg"))
    assert names(lib, q(type="png")) == {"green_square.png"}
    assert names(lib, q(orientation="portrait")) == {"red_nikon_2021.jpg", "red_canon_turned.JPEG"}
    assert names(lib, q(orientation="landscape")) == {"red_canon_2019.jpg", "blue_canon_2021.jpg", "red_old_file.jpg"}
    assert names(lib, q(orientation="square")) == {"green_square.png"}
    assert names(lib, q(has_caption=True)) == {"red_canon_turned.JPEG", "blue_canon_2021.jpg"}
    assert names(lib, q(has_caption=False)) == ALL  # off: no filter
    # the date: taken (EXIF), else the file's date, as SearchResult.date shows it
    in_2021 = F.DateRange(datetime(2021, 1, 1), datetime(2022, 1, 1))
    assert names(lib, q(date=in_2021)) == {"red_nikon_2021.jpg", "red_canon_turned.JPEG", "blue_canon_2021.jpg"}
    assert names(lib, q(date=F.DateRange(None, datetime(2002, 1, 1)))) == {"red_old_file.jpg"}
    results = lib.search(q(date=F.DateRange(None, datetime(2002, 1, 1))))
    assert [r.date for r in results] == [OLD] and results[0].date_is_file_date


def test_filters_combine_as_an_intersection(indexed: PhotoLibrary, photos: Path) -> None:
    lib = indexed
    in_2021 = F.DateRange(datetime(2021, 1, 1), datetime(2022, 1, 1))
    assert names(lib, q(camera="Canon EOS 5D", date=in_2021)) == {"red_canon_turned.JPEG", "blue_canon_2021.jpg"}
    assert names(lib, q(camera="Canon EOS 5D", date=in_2021, orientation="portrait")) == {"red_canon_turned.JPEG"}
    assert names(lib, q(camera="Canon EOS 5D", folder=photos / "home", has_caption=True)) == {"blue_canon_2021.jpg"}
    assert names(lib, q(folder=photos / "trip", type="png")) == set()
    assert names(lib, q(folder=photos / "home", orientation="portrait")) == set()


def test_filters_with_a_text_or_an_example_photo(indexed: PhotoLibrary, photos: Path, tmp_path: Path) -> None:
    lib = indexed
    # the text still ranks inside what the filters keep: red photos first
    ranked = [Path(r.path).name for r in lib.search(q("red", camera="Canon EOS 5D"))]
    assert ranked[-1] == "blue_canon_2021.jpg" and set(ranked[:2]) == {"red_canon_2019.jpg", "red_canon_turned.JPEG"}
    # an example photo from outside the library, with filters
    example = photo(tmp_path / "elsewhere" / "blue.jpg", BLUE, (30, 30))
    by_example = SearchQuery(image_paths=(str(example),), filters={"orientation": "landscape"}, limit=100)
    ranked = [Path(r.path).name for r in lib.search(by_example)]
    assert ranked[0] == "blue_canon_2021.jpg" and set(ranked) == {"red_canon_2019.jpg", "blue_canon_2021.jpg",
                                                                  "red_old_file.jpg"}
    # "more like this" for a library photo, with filters: never the photo itself
    blue = next(r for r in lib.search(q("blue")) if r.path.endswith("blue_canon_2021.jpg"))
    like = lib.search(SearchQuery(photo_ids=(blue.photo_id,), filters={"camera": "Canon EOS 5D"}, limit=100))
    assert {Path(r.path).name for r in like} == {"red_canon_2019.jpg", "red_canon_turned.JPEG"}


def test_the_same_search_compares_equal() -> None:
    when = datetime(2020, 1, 1)
    a = SearchQuery(text="dog", folder="/photos/trip/", after=when, filters={"camera": " Canon EOS 5D "})
    b = SearchQuery(text="dog", filters={"folder": "/photos/trip", "date": F.DateRange(when, None), "camera": "Canon EOS 5D"})
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a.folder == "/photos/trip" and a.after == when and a.before is None
    assert SearchQuery(text="dog", filters={"has_caption": False, "type": ""}) == SearchQuery(text="dog")
    assert SearchQuery(text="dog", filters={"type": "JPEG"}) == SearchQuery(text="dog", filters={"type": "jpg"})
    assert SearchQuery(text="dog", filters={"type": "jpg"}) != SearchQuery(text="dog", filters={"type": "png"})
    assert SearchQuery(text="dog", filters={"orientation": "portrait"}) != SearchQuery(text="dog")
    assert a.filters.replace(camera=None) == SearchQuery(text="dog", folder="/photos/trip", after=when).filters
    with pytest.raises(ValueError, match="no such search filter"):
        SearchQuery(text="dog", filters={"colour": "red"})
    with pytest.raises(ValueError, match="not an orientation"):
        SearchQuery(text="dog", filters={"orientation": "sideways"})


def test_quick_date_choices() -> None:
    date = F.get("date")
    now = datetime(2026, 3, 15, 14, 30)
    assert date.quick_range("this-year", now) == F.DateRange(datetime(2026, 1, 1), None)
    assert date.quick_range("last-year", now) == F.DateRange(datetime(2025, 1, 1), datetime(2026, 1, 1))
    assert date.quick_range("last-30-days", now) == F.DateRange(datetime(2026, 3, 15) - timedelta(days=30), None)


def test_the_library_offers_each_filters_choices(indexed: PhotoLibrary, photos: Path) -> None:
    lib = indexed
    assert [(c.value, c.count) for c in lib.filter_choices("camera")] == [("Canon EOS 5D", 3), ("NIKON CORPORATION D750", 1)]
    assert [(c.value, c.count) for c in lib.filter_choices("type")] == [("jpg", 5), ("png", 1)]
    assert [c.value for c in lib.filter_choices("folder")] == [photos.as_posix()]
    assert [c.value for c in lib.filter_choices("orientation")] == ["landscape", "portrait", "square"]
    assert [c.value for c in lib.filter_choices("date")] == ["last-30-days", "this-year", "last-year"]
    # every declaration names a kind of control the window knows, and a CHOICE lists its values
    for f in F.FILTERS:
        assert isinstance(f.widget, F.Widget)
        assert (f.choices is not None) == (f.widget is F.Widget.CHOICE)
        assert (f.widget is F.Widget.DATE_RANGE) == bool(f.quick)


def test_command_line_options_come_from_the_declarations() -> None:
    help_text = build_parser()._subparsers._group_actions[0].choices["search"].format_help()  # type: ignore[union-attr]
    for f in F.FILTERS:
        for flag in f.flags:
            assert flag in help_text


def test_command_line_filters(indexed: PhotoLibrary, photos: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lib = str(indexed.root)
    indexed.close()
    argv = ["search", "red", "--library", lib, "--camera", "Canon EOS 5D", "--orientation", "portrait",
            "--after", "2020-01-01", "--type", "jpg", "--has-caption", "--folder", str(photos), "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert [Path(r["path"]).name for r in out["results"]] == ["red_canon_turned.JPEG"]
    assert out["filters"] == {"folder": photos.as_posix(), "date": {"after": "2020-01-01T00:00:00", "before": None},
                              "camera": "Canon EOS 5D", "type": "jpg", "orientation": "portrait", "has_caption": True}
    # an example image with a filter (a file type by any of its names)
    example = photos / "home" / "blue_canon_2021.jpg"
    assert main(["search", "--library", lib, "--image", str(example), "--type", "PNG", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [Path(r["path"]).name for r in out["results"]] == ["green_square.png"] and out["filters"] == {"type": "png"}
    # no filter: an empty object
    assert main(["search", "red", "--library", lib, "--limit", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["filters"] == {}
    # a quick date choice: the photo with no date of its own was written today
    assert main(["search", "red", "--library", lib, "--date", "last-30-days", "--json"]) == 0
    assert [Path(r["path"]).name for r in json.loads(capsys.readouterr().out)["results"]] == ["green_square.png"]
    # what found nothing is told in words
    assert main(["search", "red", "--library", lib, "--camera", "Leica M6", "--orientation", "square"]) == 0
    assert "no photos found: none taken with Leica M6; none square" in capsys.readouterr().out
    # values that cannot be: argparse refuses a fixed choice (exit 2), a bad date or a mix is one line (exit 1)
    for bad in (["--orientation", "sideways"], ["--type", "txt"]):
        with pytest.raises(SystemExit) as exit_info:
            main(["search", "red", "--library", lib, *bad])
        assert exit_info.value.code == 2
    assert "not a photo file type" in capsys.readouterr().err
    assert main(["search", "red", "--library", lib, "--after", "last tuesday"]) == 1
    assert "not a date" in capsys.readouterr().err
    assert main(["search", "red", "--library", lib, "--date", "this-year", "--after", "2020-01-01"]) == 1
    assert "not both" in capsys.readouterr().err


def test_the_documentation_lists_the_declared_filters() -> None:
    docs = (Path(__file__).resolve().parent.parent / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    assert F.reference() in docs, "docs/ARCHITECTURE.md: paste desktop_search.core.search.filters.reference()"
