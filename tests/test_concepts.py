"""The concept bridge, the keyword-query evaluation and the built-in model's upgrade in place."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from desktop_search.core.models.builtin import DEFAULT_WEIGHTS, load_builtin, read_numpy_weights
from desktop_search.core.models.concepts import PREFIX, ConceptBridge
from desktop_search.core.models.evaluation import (
    KeywordQuery,
    keyword_relevance,
    keyword_report,
    load_keyword_queries,
    precision_at_k,
)

DATA = Path(__file__).parent / "data"


# -- keyword queries ----------------------------------------------------------------------------------
def test_a_photo_is_relevant_when_a_caption_has_one_of_the_words_whole() -> None:
    captions = [["A dog runs on the beach"], ["Hot dogs on a plate"], ["Sofa in a living room"], ["doggedly"]]
    queries = [KeywordQuery("dog", ("dog",)), KeywordQuery("living room", ("living room", "couch"))]
    rel = keyword_relevance(captions, queries)
    assert rel.tolist() == [[True, False, False, False], [False, False, True, False]]


def test_precision_in_the_top_k_uses_k_min_10_relevant_and_counts_ties_against_the_query() -> None:
    relevant = np.array([[True, True, False, False], [True, False, False, False], [False] * 4])
    scores = np.array([[0.9, 0.1, 0.8, 0.0], [0.5, 0.5, 0.1, 0.0], [1, 2, 3, 4]], dtype=float)
    p = precision_at_k(scores, relevant)
    assert p[0] == 0.5  # k = 2: the top two are the first photo and an irrelevant one
    assert p[1] == 0.0  # k = 1: a tie with an irrelevant photo counts against it
    assert np.isnan(p[2])
    report = keyword_report([KeywordQuery(q, (q,)) for q in "abc"], scores, relevant)
    assert report["mean_p_at_k"] == 0.25
    assert report["queries"][2] == {"q": "c", "p_at_k": None, "relevant": 0}


@pytest.mark.parametrize(
    "content, message",
    [("[]", "non-empty JSON list"), ('[{"q": "dog"}]', "entry 1"), ("{", "not valid JSON"), ('[{"q": "", "any": ["x"]}]', "entry 1")],
)
def test_a_bad_keyword_file_is_refused_in_one_line(tmp_path: Path, content: str, message: str) -> None:
    f = tmp_path / "q.json"
    f.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_keyword_queries(f)


@pytest.mark.parametrize("name", ["keyword_queries_flickr8k.json", "keyword_queries_coco_people.json"])
def test_the_shipped_everyday_query_files_hold_at_least_30_queries(name: str) -> None:
    queries = load_keyword_queries(DATA / name)
    assert len(queries) >= 30
    assert len({q.q for q in queries}) == len(queries)


COLOUR_NAMES = {"red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white", "gray", "grey"}


@pytest.mark.parametrize("name", ["colour_queries_flickr8k.json", "colour_queries_coco_people.json"])
def test_the_colour_query_files_name_a_colour_in_every_query_and_in_every_phrase(name: str) -> None:
    queries = load_keyword_queries(DATA / name)
    assert len(queries) >= 15
    assert len({q.q for q in queries}) == len(queries)
    for q in queries:
        assert COLOUR_NAMES & set(q.q.split()), q.q
        assert all(COLOUR_NAMES & set(w.split()) for w in q.any), q.q


# -- the bridge ---------------------------------------------------------------------------------------
def _bridge_params(d: int = 8, seed: int = 0, classes: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(2 * classes, 384)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return {
        "img_w": rng.normal(size=(d, 1280)).astype(np.float32) * 0.01, "img_b": np.zeros(d, np.float32),
        "alias_emb": emb, "alias_start": np.arange(0, 2 * classes, 2),
        "q_b": rng.normal(size=(d, classes)).astype(np.float32), "q_a": np.zeros((d, 384), np.float32),
        "q_a0": np.zeros(d, np.float32), "tau": np.array([0.5], np.float32), "scale": np.array([0.25], np.float32),
    }


def test_a_query_that_names_no_concept_has_an_empty_profile_and_one_that_names_a_class_leans_on_it() -> None:
    params = _bridge_params()
    bridge = ConceptBridge(params)
    alias = params["alias_emb"]
    unrelated = np.zeros((1, 384), np.float32)
    unrelated[0, 0] = 1.0
    g = bridge.profile(np.vstack([alias[3:4], unrelated]))
    assert g[0].argmax() == 1 and g[0].sum() == pytest.approx(1.0)  # alias 3 is class 1's second name
    assert not g[1].any() or g[1].max() < 1.0
    y = bridge.queries(alias[3:4])
    assert y.shape == (1, 8)
    np.testing.assert_allclose(y[0], 0.5 * params["q_b"][:, 1] * g[0, 1], rtol=1e-5)


def test_weights_made_before_the_bridge_have_none() -> None:
    state, _, _ = read_numpy_weights(DEFAULT_WEIGHTS.read_bytes())
    assert ConceptBridge.from_state({k: v for k, v in state.items() if not k.startswith(PREFIX)}) is None
    with pytest.raises(ValueError, match="missing"):
        ConceptBridge({"img_w": np.zeros((2, 1280))})


def _without_concepts(src: Path, dst: Path) -> None:
    from safetensors.numpy import save_file

    from desktop_search.core.models.colours import PREFIX as COLOURS

    state, _, meta = read_numpy_weights(src.read_bytes())  # weights before the bridge had no colours either
    meta = {k: v for k, v in meta.items() if k not in ("upgrades_from", "concepts", "concept_vocabulary", "colours")}
    save_file({k: v for k, v in state.items() if not k.startswith((PREFIX, COLOURS))}, str(dst), metadata=meta)


def _classes_params(d: int = 16) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    params = _bridge_params(d=d, classes=1000)
    params["q_b"] = rng.normal(size=(d, 1000)).astype(np.float32)
    return params


def test_the_builtin_model_with_a_bridge_appends_its_half_to_images_and_queries(tmp_path: Path) -> None:
    from desktop_search.core.models.concept_training import ConceptSettings, save_with_concepts

    old = tmp_path / "old.safetensors"
    _without_concepts(DEFAULT_WEIGHTS, old)
    base = load_builtin(f"builtin:{old}", device="cpu")
    new = tmp_path / "new.safetensors"
    save_with_concepts(base, _classes_params(), new, ConceptSettings(dim=16), {})
    model = load_builtin(f"builtin:{new}", device="cpu")
    assert model.head_dim == base.dim and model.dim == base.dim + 16
    assert base.version in model.legacy_versions
    q_new, q_old = model.encode_queries(["a pizza on a table"]), base.encode_queries(["a pizza on a table"])
    np.testing.assert_allclose(q_new[0, : base.dim], q_old[0], atol=1e-5)  # the heads' half is unchanged
    texts = model.encode_photo_texts(["dog_on_the_beach"])
    assert texts.vectors.shape == (1, model.dim) and not texts.vectors[0, base.dim :].any()
    image = np.full((model.image_size, model.image_size, 3), 128, np.uint8)
    v_new, v_old = model.encode_images([image]), base.encode_images([image])
    assert v_new.shape == (1, model.dim)
    np.testing.assert_allclose(v_new[0, : base.dim], v_old[0], atol=1e-4)
    assert json.loads(read_numpy_weights(new.read_bytes())[2]["concept_vocabulary"])[963][0] == "pizza"


# -- upgrade in place -----------------------------------------------------------------------------------
def test_a_library_indexed_with_the_old_weights_keeps_answering_while_it_re_embeds(tmp_path: Path) -> None:
    from desktop_search.core.app import PhotoLibrary
    from desktop_search.core.cancel import CancelToken
    from desktop_search.core.models.concept_training import ConceptSettings, save_with_concepts
    from desktop_search.core.types import SearchQuery
    from tests.test_indexing import make_photos, run

    weights = tmp_path / "w.safetensors"
    _without_concepts(DEFAULT_WEIGHTS, weights)
    name = f"builtin:{weights}"
    photos = tmp_path / "photos"
    make_photos(photos, n_each=10)
    lib = PhotoLibrary.open(tmp_path / "lib", model_name=name)
    lib.add_folder(photos)
    run(lib)
    old_key = lib.get_model().key
    assert lib.status().upgrading is None
    lib.close()

    # new weights arrive (an app update): same heads, a concept bridge added
    new = tmp_path / "new.safetensors"
    save_with_concepts(load_builtin(name, device="cpu"), _classes_params(), new, ConceptSettings(dim=16), {})
    shutil.copyfile(new, weights)

    lib = PhotoLibrary.open(tmp_path / "lib", model_name=name)
    assert lib.get_model().key != old_key
    assert lib.status().upgrading == 40
    assert len(lib.search(SearchQuery(text="a red photo", limit=100))) == 40  # the old vectors answer

    token = CancelToken()
    for event in lib.index(cancel=token):
        if event.phase == "embed" and event.done >= 16:
            token.cancel()
    assert 0 < (lib.status().upgrading or 0) < 40
    assert len(lib.search(SearchQuery(text="a red photo", limit=100))) == 40

    run(lib)
    assert lib.status().upgrading is None
    assert len(lib.search(SearchQuery(text="a red photo", limit=100))) == 40
    with lib.engine.connect() as conn:
        keys = {r[0] for r in conn.exec_driver_sql("SELECT DISTINCT model FROM vectors")}
        dims = {r[0] for r in conn.exec_driver_sql("SELECT DISTINCT length(image) FROM vectors")}
    assert keys == {lib.get_model().key}
    assert dims == {2 * lib.get_model().dim}
    lib.close()
