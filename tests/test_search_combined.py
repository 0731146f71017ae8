"""Text and an example photo together: both count (the real builtin model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop_search.core.app import PhotoLibrary
from desktop_search.core.types import SearchQuery
from tests.ui_support import index_library, make_photos


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("combined")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DESKTOP_SEARCH_HOME", str(root / "home"))
        make_photos(root / "photos", n_each=2, size=(160, 120))
        index_library(root / "lib", root / "photos", model="builtin")
    return root / "lib", root / "photos"


def test_text_and_example_photo_both_count(library: tuple[Path, Path]) -> None:
    """'a red photo' AND like this blue photo: each part moves the ranking. Example scores (cosines,
    at most 1) are brought to the text scores' scale (the fusion's image-match scale, ~20 per unit),
    so the example is not drowned by the text's larger numbers (it was: the blue photo stayed last)."""
    root, photos = library
    blue = sorted(photos.glob("blue_*"))[0]
    lib = PhotoLibrary.open(root)
    try:
        def names(query: SearchQuery) -> list[str]:
            return [Path(r.path).name for r in lib.search(query)]

        text_only = names(SearchQuery(text="a red photo", limit=8))
        example_only = names(SearchQuery(image_paths=(str(blue),), limit=8))
        both = names(SearchQuery(text="a red photo", image_paths=(str(blue),), limit=8))
        assert text_only[0].startswith("red_") and example_only[0] == blue.name
        assert both.index(blue.name) <= text_only.index(blue.name) - 2  # the example counts
        first_red = min(i for i, n in enumerate(both) if n.startswith("red_"))
        assert first_red < min(i for i, n in enumerate(example_only) if n.startswith("red_"))  # so does the text
    finally:
        lib.close()
