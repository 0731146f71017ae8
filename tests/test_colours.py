"""Colours where the described thing is (core/models/colours.py): the colour naming, the query and
photo parts, and — on real photos with the shipped weights — that a colour-and-garment query finds
the photos whose captions say it better than the same model without its colour part."""

from __future__ import annotations

import csv
import re

import numpy as np
import pytest
from PIL import Image

from desktop_search.core.models.builtin import DEFAULT_WEIGHTS, load_builtin, read_numpy_weights
from desktop_search.core.models.colours import (
    COLOUR_NAMES,
    ColourParts,
    cell_shares,
    content_words,
    named_colours,
)


@pytest.mark.parametrize(("rgb", "name"), [((200, 30, 30), "red"), ((30, 60, 200), "blue"), ((250, 250, 250), "white"),
                                           ((10, 10, 10), "black"), ((240, 220, 40), "yellow"), ((128, 128, 128), "gray"),
                                           ((120, 70, 20), "brown"), ((240, 120, 200), "pink"), ((40, 160, 60), "green")])
def test_each_pixel_gets_the_colour_name_a_person_would_give_it(rgb: tuple[int, int, int], name: str) -> None:
    shares = cell_shares(np.full((224, 224, 3), rgb, np.uint8))
    assert shares.shape == (49, len(COLOUR_NAMES))
    assert np.allclose(shares[:, COLOUR_NAMES.index(name)], 1.0)


def test_the_shares_are_per_cell_in_the_feature_maps_order() -> None:
    image = np.full((224, 224, 3), 250, np.uint8)
    image[:32, 192:] = (200, 30, 30)  # the top right cell is red
    shares = cell_shares(image)
    red = shares[:, COLOUR_NAMES.index("red")]
    assert red[6] == 1.0 and red.sum() == 1.0


def test_a_query_weighs_the_colours_it_names_less_the_longer_it_is() -> None:
    parts = ColourParts.from_state(read_numpy_weights(DEFAULT_WEIGHTS.read_bytes())[0])
    assert parts is not None, "the shipped weights have no colour part"
    assert named_colours("a man in a grey jacket and blue jeans") == [COLOUR_NAMES.index("blue"), COLOUR_NAMES.index("gray")]
    assert content_words("a man in a grey jacket") == 3 and content_words("the") == 1
    q = parts.queries(["red shirt", "a dog running on the beach",
                       "a little girl in a red shirt runs across the big green lawn with her dog"])
    weight = parts.query_weight / parts.photo_scale
    assert q[0, COLOUR_NAMES.index("red")] == pytest.approx(weight) and np.count_nonzero(q[0]) == 1
    assert not q[1].any()  # no colour named: no colour part
    assert 0 < q[2, COLOUR_NAMES.index("red")] < weight  # a long caption leans less on its colour word


def test_the_builtin_model_appends_the_colour_part_to_photos_and_queries_only() -> None:
    model = load_builtin(device="cpu")
    assert model.colours is not None
    start = model.dim - model.colours.dim
    red = np.full((model.image_size, model.image_size, 3), (200, 30, 30), np.uint8)
    blue = np.full((model.image_size, model.image_size, 3), (30, 60, 200), np.uint8)
    photos = model.encode_images([red, blue])
    assert photos.shape == (2, model.dim)
    red_i = start + COLOUR_NAMES.index("red")
    assert photos[0, red_i] > photos[1, red_i]
    q = model.encode_queries(["red shirt", "a dog on the beach"])
    assert q[0, red_i] > 0 and not q[1, start:].any()
    texts = model.encode_photo_texts(["a red shirt"])
    assert not texts.vectors[0, start:].any()  # photo texts: the colour part stays zero


# -- on real photos with the shipped weights -------------------------------------------------------
PHRASES = ("red shirt", "pink dress", "yellow shirt")


def test_photos_whose_captions_name_the_colour_and_garment_rank_higher_with_the_colour_part() -> None:
    """Flickr8k dev photos whose captions say "red shirt" (or "pink dress", "yellow shirt") among 100
    others: their mean rank for that query is better with the colour part than without it."""
    from tests.conftest import flickr8k_dir

    root = flickr8k_dir()
    if not (root / "splits" / "dev.txt").exists():
        pytest.skip(f"Flickr8k not found at {root}")
    captions: dict[str, list[str]] = {}
    with open(root / "captions.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            captions.setdefault(row["image"], []).append(row["caption"].lower())
    names = (root / "splits" / "dev.txt").read_text().split()
    says = {ph: {n for n in names if any(re.search(rf"\b{ph}\b", c) for c in captions[n])} for ph in PHRASES}
    chosen = sorted(set().union(*says.values())) + [n for n in names if not any(n in v for v in says.values())][:100]
    model = load_builtin(device="cpu")
    assert model.colours is not None
    photos = model.encode_images([model.preprocess(Image.open(root / "images" / n).convert("RGB")) for n in chosen])
    queries = model.encode_queries(list(PHRASES))
    without = queries.copy()
    without[:, model.dim - model.colours.dim:] = 0

    def mean_rank(query: np.ndarray, relevant: np.ndarray) -> float:
        order = np.argsort(-(photos @ query), kind="stable")
        ranks = np.empty(len(order), int)
        ranks[order] = np.arange(1, len(order) + 1)
        return float(ranks[relevant].mean())

    for phrase, q, q0 in zip(PHRASES, queries, without, strict=True):
        relevant = np.array([n in says[phrase] for n in chosen])
        assert relevant.sum() >= 2, phrase
        assert mean_rank(q, relevant) < mean_rank(q0, relevant), (phrase, mean_rank(q, relevant), mean_rank(q0, relevant))


# -- upgrade in place from the weights before the colour part -------------------------------------------
def test_a_library_indexed_before_the_colour_part_answers_text_and_example_searches_while_it_re_embeds(
        tmp_path) -> None:
    """Its stored vectors (heads and concept half) are a prefix of the new ones: during the upgrade a
    text search answers from them, and an example photo still finds itself first, at a cosine of 1."""
    from safetensors.numpy import save_file

    from desktop_search.core.app import PhotoLibrary
    from desktop_search.core.models.colour_training import ColourSettings, save_with_colours
    from desktop_search.core.models.colours import PREFIX
    from desktop_search.core.types import SearchQuery
    from tests.test_indexing import make_photos, run

    state, _, meta = read_numpy_weights(DEFAULT_WEIGHTS.read_bytes())
    weights = tmp_path / "w.safetensors"
    save_file({k: v for k, v in state.items() if not k.startswith(PREFIX)}, str(weights),
              metadata={k: v for k, v in meta.items() if k != "colours"})
    name = f"builtin:{weights}"
    photos = tmp_path / "photos"
    make_photos(photos, n_each=5)
    lib = PhotoLibrary.open(tmp_path / "lib", model_name=name)
    lib.add_folder(photos)
    run(lib)
    old_dim = lib.get_model().dim
    lib.close()

    new = tmp_path / "new.safetensors"
    colours = {k[len(PREFIX):]: v for k, v in state.items() if k.startswith(PREFIX)}
    save_with_colours(load_builtin(name, device="cpu"), colours, new, ColourSettings())
    weights.write_bytes(new.read_bytes())

    lib = PhotoLibrary.open(tmp_path / "lib", model_name=name)
    assert lib.get_model().dim == old_dim + len(COLOUR_NAMES)
    assert lib.status().upgrading == 20
    assert len(lib.search(SearchQuery(text="a red photo", limit=100))) == 20  # the old vectors answer
    example = sorted(photos.iterdir())[0]
    hits = lib.search(SearchQuery(image_paths=(str(example),), limit=3))
    assert hits[0].path == str(example) and hits[0].score > 0.99  # itself: a cosine of 1
    run(lib)
    assert lib.status().upgrading is None
    hits = lib.search(SearchQuery(image_paths=(str(example),), limit=3))
    assert hits[0].path == str(example) and hits[0].score > 0.99  # itself: a cosine of 1
    lib.close()
