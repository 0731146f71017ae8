"""One relevance scale (0-100: strong / good / weak) for text and example searches, and the
"no good matches" state, as a user meets them: through the library and the command line on real
photos with the shipped model, and the scale's arithmetic on its own."""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from desktop_search.core.models.lexicon import knows_words
from desktop_search.core.search.relevance import (
    GOOD,
    NAMED,
    STRONG,
    UNKNOWN_WORDS_CAP,
    Part,
    RelevanceScale,
    rate,
    strength,
)

DATA = Path(__file__).parent / "data"


def _scale(dim: int = 4) -> RelevanceScale:
    mean = np.zeros(dim, np.float32)
    mean[0] = 0.5
    return RelevanceScale(
        version="v", mean=mean, direction_mean=mean.copy(), text_good=0.4, text_width=0.1,
        image_good=0.3, image_width=0.2,
    )


def test_a_text_match_is_good_where_it_stands_the_fitted_distance_above_the_bank_s_average_photo() -> None:
    scale = _scale()
    q = np.array([1.0, 0, 0, 0], np.float32)
    unit, offset = 20.0, -3.0
    baseline = unit * 0.5 + offset  # the bank's average photo
    rel = scale.relevance([baseline + unit * 0.4, baseline + unit * (0.4 + 0.1 * math.log(3)), baseline],
                          [Part(q, 1.0, False)], unit, offset)
    assert rel[0] == pytest.approx(GOOD)
    assert rel[1] == pytest.approx(STRONG)
    assert rel[2] < 5


def test_an_example_photo_is_rated_on_its_cosine_against_the_bank_s_mean_direction() -> None:
    scale = _scale()
    q = np.array([1.0, 0, 0, 0], np.float32)
    rel = scale.relevance([0.5 + 0.3, 0.5 + 0.1], [Part(q, 1.0, True)], 20.0, -3.0)
    assert rel[0] == pytest.approx(GOOD)
    assert rel[1] < GOOD


def test_a_query_far_from_what_the_model_knows_has_its_matches_lowered_and_a_familiar_one_does_not() -> None:
    rng = np.random.default_rng(0)
    bank = rng.normal(size=(50, 8)).astype(np.float32)
    bank /= np.linalg.norm(bank, axis=1, keepdims=True)
    scale = replace(_scale(), familiar=bank, familiar_k=3, familiar_f0=0.5, familiar_lam=2.0, concept_delta=0.3)
    near = scale.familiarity(bank[:1])  # a query that is one of the training captions
    far = scale.familiarity(-bank.mean(axis=0, keepdims=True) / np.linalg.norm(bank.mean(axis=0)))
    assert near is not None and far is not None and near[0] > 0.5 > far[0]
    # a query naming a concept the model knows is familiar however far from the captions
    named = scale.familiarity(-bank.mean(axis=0, keepdims=True) / np.linalg.norm(bank.mean(axis=0)), np.array([1.0]))
    assert named is not None and named[0] == pytest.approx(0.7)
    assert scale.shortfall(float(near[0])) == 0.0 and scale.shortfall(None) == 0.0
    assert scale.shortfall(0.3) == pytest.approx(0.4)
    q = Part(np.array([1.0, 0, 0, 0], np.float32), 1.0, False)
    unit, offset = 20.0, -3.0
    score = unit * 0.5 + offset + unit * 0.6  # well above a good match
    assert scale.relevance([score], [q], unit, offset)[0] > STRONG
    assert scale.relevance([score], [q], unit, offset, scale.shortfall(0.3))[0] < GOOD
    # an example photo beside the text keeps its own part of the match
    both = scale.relevance([score / 2 + 0.4], [replace(q, weight=0.5), Part(q.vector, 0.5, True)], unit, offset,
                           scale.shortfall(0.3))[0]
    assert scale.relevance([score / 2 + 0.4], [replace(q, weight=0.5), Part(q.vector, 0.5, True)], unit, offset)[0] > both


def test_strength_words_and_the_cap_for_unknown_words_and_the_named_file() -> None:
    assert [strength(x) for x in (None, 10, 50, 74.9, 75)] == [None, "weak", "good", "good", "strong"]

    class Model:
        relevance_scale = _scale()

        class fusion:
            s_img, c_none = 20.0, -3.0

        @staticmethod
        def knows_words(text: str) -> bool:
            return knows_words(text)

    q = Part(np.array([1.0, 0, 0, 0], np.float32), 1.0, False)
    high = 20.0 * 0.5 - 3.0 + 20.0 * 0.9
    assert rate([high], [q], Model, "a dog on the beach", [False])[0] > STRONG
    assert rate([high], [q], Model, "xqzvbnm plork", [False])[0] <= UNKNOWN_WORDS_CAP
    assert rate([0.0], [q], Model, "IMG_0001", [True])[0] == NAMED
    assert rate([1.0, 0.5], [q], object(), "a dog", [False, True]) == [None, None]  # a model without a scale

    class Unfamiliar(Model):
        relevance_scale = replace(_scale(), familiar=np.eye(4, dtype=np.float32), familiar_f0=0.5, familiar_lam=2.0)

        @staticmethod
        def query_familiarity(text: str) -> float:
            return 0.1 if "spreadsheet" in text else 0.9

    assert rate([high], [q], Unfamiliar, "a dog on the beach", [False])[0] > STRONG
    assert rate([high], [q], Unfamiliar, "quarterly tax return spreadsheet", [False])[0] < GOOD


def test_queries_of_made_up_words_are_told_from_real_ones_in_several_languages() -> None:
    nonsense = json.loads((DATA / "offtopic_queries_flickr8k.json").read_text(encoding="utf-8"))[:10]
    assert not any(knows_words(q) for q in nonsense), nonsense
    for real in ("a dog on the beach", "trampoline", "skateboarder", "selfie with friends", "Hund am Strand",
                 "perro en la playa", "un chat noir", "犬", "a quarterly tax spreadsheet"):
        assert knows_words(real), real


def test_the_shipped_model_ships_its_fitted_scale() -> None:
    from desktop_search.core.models.builtin import load_builtin

    model = load_builtin()
    scale = model.relevance_scale
    assert scale is not None, "weights/builtin-relevance.json is missing or was fitted for other weights"
    assert scale.mean.shape == (model.dim,)
    assert scale.text_width > 0 and scale.image_width > 0
    assert scale.familiar is not None and scale.familiar.shape[1] == 384 and scale.familiar_lam > 0


def test_the_shipped_model_tells_off_topic_queries_from_what_it_was_trained_on() -> None:
    """Familiarity on the text side alone (no photos): held-out off-topic sentences fall below the
    point where matches are lowered, everyday queries and captions of both datasets do not."""
    from desktop_search.core.models.builtin import load_builtin

    model = load_builtin()
    scale = model.relevance_scale
    held = json.loads((DATA / "offtopic_queries_flickr8k_heldout.json").read_text(encoding="utf-8"))
    model.encode_queries(held)
    lowered = [q for q in held if scale.shortfall(model.query_familiarity(q)) > 0]
    assert len(lowered) >= 27, sorted(set(held) - set(lowered))
    everyday = ["dog", "beach", "snow", "a man riding a bike", "two children playing in the sand", "pizza",
                "refrigerator", "a woman holding an umbrella", "a black dog runs through the grass"]
    model.encode_queries(everyday)
    assert all(scale.shortfall(model.query_familiarity(q)) == 0 for q in everyday), [
        (q, model.query_familiarity(q)) for q in everyday]


def test_queries_read_in_another_language_are_judged_in_the_multilingual_encoders_space() -> None:
    """An off-topic query in German or French, or an English one the router reads as another language,
    is lowered as an English one would be; everyday queries in those languages are not."""
    from desktop_search.core.models.builtin import load_builtin

    model = load_builtin()
    if model.multilingual() is None:
        pytest.skip("the multilingual encoder is not installed")
    scale = model.relevance_scale
    assert scale.familiar_multilingual is not None, "weights/builtin-relevance-multilingual.npy is missing"
    off_topic = ["Steuererklärung Tabelle", "déclaration d'impôts trimestrielle", "quarterly tax return spreadsheet"]
    everyday = ["Hund", "Strand", "rotes Hemd", "perro en la playa", "un chat noir", "犬",
                "Kinder spielen im Sand", "un homme sur un vélo"]
    model.encode_queries(everyday + off_topic)
    assert all(scale.shortfall(model.query_familiarity(q)) > 0.2 for q in off_topic), [
        (q, model.query_familiarity(q)) for q in off_topic]
    assert all(scale.shortfall(model.query_familiarity(q)) == 0 for q in everyday), [
        (q, model.query_familiarity(q)) for q in everyday]


# -- on real photos with the shipped model ------------------------------------------------------------
@pytest.fixture(scope="module")
def photo_library(tmp_path_factory: pytest.TempPathFactory):
    from tests.conftest import flickr8k_dir

    root = flickr8k_dir()
    if not (root / "splits" / "dev.txt").exists():
        pytest.skip(f"Flickr8k not found at {root}")
    folder = tmp_path_factory.mktemp("photos")
    for name in (root / "splits" / "dev.txt").read_text().split()[:150]:
        shutil.copy(root / "images" / name, folder / name)
    home = tmp_path_factory.mktemp("home")
    mp = pytest.MonkeyPatch()
    mp.setenv("DESKTOP_SEARCH_HOME", str(home))
    from desktop_search.core.app import PhotoLibrary

    lib = PhotoLibrary.open(home / "lib", model_name="builtin")
    lib.add_folder(folder)
    for _ in lib.index():
        pass
    yield lib, home
    lib.close()
    mp.undo()


def test_nonsense_finds_no_good_match_and_a_real_query_does(photo_library) -> None:
    from desktop_search.core.types import SearchQuery

    lib, _ = photo_library
    nonsense = lib.search(SearchQuery(text="xqzvbnm plork", limit=20))
    assert nonsense and not any(r.good for r in nonsense)
    assert all(r.strength == "weak" for r in nonsense)
    dogs = lib.search(SearchQuery(text="a dog runs through the grass", limit=20))
    assert dogs[0].good, [(r.path, r.relevance) for r in dogs[:3]]
    assert [r.relevance for r in dogs] == sorted((r.relevance for r in dogs), reverse=True)
    like = lib.search(SearchQuery(photo_ids=(dogs[0].photo_id,), limit=10))
    assert like and all(0 <= (r.relevance or -1) <= 100 for r in like)


def test_off_topic_sentences_find_no_good_match_and_everyday_queries_still_do(photo_library) -> None:
    from desktop_search.core.types import SearchQuery

    lib, _ = photo_library
    for text in ("mri scan of a human brain", "the control room of a nuclear reactor", "a pie chart of sales figures",
                 "a graph of cpu usage over time", "a bowl of miso soup with tofu", "the meaning of life"):
        found = lib.search(SearchQuery(text=text, limit=10))
        assert found and not any(r.good for r in found), (text, [(r.path, r.relevance) for r in found[:3]])
    for text in ("dog", "a man in a red shirt", "people on the beach"):
        found = lib.search(SearchQuery(text=text, limit=10))
        assert found[0].good, (text, [(r.path, r.relevance) for r in found[:3]])


def test_the_command_line_shows_the_same_scale_and_says_when_nothing_matches(photo_library, capsys) -> None:
    from desktop_search.cli import main

    _, home = photo_library
    assert main(["--library", str(home / "lib"), "search", "xqzvbnm plork", "--limit", "3"]) == 0
    out = capsys.readouterr().out
    assert "No good matches" in out and "weak" in out
    assert main(["--library", str(home / "lib"), "search", "mri scan of a human brain", "--json", "--limit", "3"]) == 0
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["good_matches"] == 0 and all(r["match"] == "weak" for r in row["results"])
    assert main(["--library", str(home / "lib"), "search", "a dog runs through the grass", "--json", "--limit", "3"]) == 0
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["good_matches"] >= 1
    first = row["results"][0]
    assert set(first) >= {"path", "relevance", "match", "score"} and first["match"] in ("strong", "good")
