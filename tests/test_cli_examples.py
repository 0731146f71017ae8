"""Example-photo search from the command line: ``"ms"`` is the search, ``"load_ms"`` loading what it
needs; an example that is already in the library (by path, or a copy of it) uses its stored vector,
with no image network at all."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from desktop_search.cli import main
from desktop_search.core.app import PhotoLibrary
from desktop_search.core.models.registry import register_model
from desktop_search.core.types import SearchQuery
from tests.fakes import TinyModel, solid_image
from tests.ui_support import index_library, make_photos


class SlowNetwork(TinyModel):
    """The tiny model with a slow start and an image network that is slow to load on first use."""

    name = "slownet"
    load_s = 0.8
    network_s = 0.8

    def __init__(self) -> None:
        super().__init__()
        self.network_loaded = False

    def encode_images(self, batch):
        if not self.network_loaded:
            time.sleep(self.network_s)
            self.network_loaded = True
        return super().encode_images(batch)


_instances: list[SlowNetwork] = []


def _load(name: str, device: str | None) -> SlowNetwork:
    time.sleep(SlowNetwork.load_s)
    model = SlowNetwork()
    _instances.append(model)
    return model


register_model("slownet", _load)


@pytest.fixture
def library(tmp_path: Path) -> Path:
    photos = tmp_path / "photos"
    make_photos(photos, n_each=3)
    root = tmp_path / "lib"
    index_library(root, photos, model="slownet")
    return root


def run_json(capsys, *args: str) -> dict:
    assert main(list(args)) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_search_time_is_reported_apart_from_loading(library: Path, tmp_path: Path, capsys) -> None:
    outside = tmp_path / "new.jpg"
    solid_image(outside, (200, 30, 40))  # not in the library: the image network is needed
    line = run_json(capsys, "search", "--library", str(library), "--image", str(outside), "--json", "--limit", "3")
    assert line["load_ms"] >= 1000 * (SlowNetwork.load_s + SlowNetwork.network_s) * 0.9
    assert line["ms"] < 500, line  # the search itself, not the loading
    assert Path(line["results"][0]["path"]).name.startswith("red")


@pytest.mark.parametrize("how", ["path", "copy"])
def test_an_example_in_the_library_needs_no_image_network(library: Path, tmp_path: Path, capsys, how: str) -> None:
    photo = tmp_path / "photos" / "blue_001.jpg"
    example = photo
    if how == "copy":
        example = tmp_path / "holiday.jpg"
        shutil.copyfile(photo, example)
    _instances.clear()
    line = run_json(capsys, "search", "--library", str(library), "--image", str(example), "--json", "--limit", "3")
    assert _instances and not any(m.network_loaded or m.images_encoded for m in _instances)
    assert line["load_ms"] < 1000 * (SlowNetwork.load_s + SlowNetwork.network_s) * 0.9
    assert [Path(r["path"]).name[:4] for r in line["results"]] == ["blue"] * 3


def test_the_stored_vector_ranks_as_the_encoded_example_does(library: Path, tmp_path: Path) -> None:
    photo = tmp_path / "photos" / "green_002.jpg"
    with PhotoLibrary.open(library) as lib:
        stored = lib.search(SearchQuery(image_paths=(str(photo),), limit=12))
        lib._searcher._stored_example = lambda matrix, path: None  # type: ignore[method-assign]
        encoded = lib.search(SearchQuery(image_paths=(str(photo),), limit=12))
    # the same ranking up to ties (the stored vector is the float16 copy of the encoded one; the
    # synthetic green photos are near copies of each other, so their scores tie within float16)
    tied = {r.photo_id for r in encoded if r.score >= encoded[0].score - 2e-3}
    assert stored[0].photo_id in tied
    assert [r.score for r in stored] == pytest.approx([r.score for r in encoded], abs=2e-3)
