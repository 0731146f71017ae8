"""Switching the library's model re-embeds in the background; old vectors answer meanwhile."""

from __future__ import annotations

from pathlib import Path

from desktop_search.core.app import PhotoLibrary
from desktop_search.core.cancel import CancelToken
from desktop_search.core.types import SearchQuery
from tests.test_indexing import make_photos, run


def test_old_vectors_answer_until_new_ones_are_complete(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    make_photos(photos, n_each=20)
    lib = PhotoLibrary.open(tmp_path / "lib", model_name="tiny")
    lib.add_folder(photos)
    run(lib)
    lib.set_model("tiny2")
    assert lib.status().model == "tiny2"

    token = CancelToken()
    for event in lib.index(cancel=token):
        if event.phase == "embed" and event.done >= 32:
            token.cancel()
    # half re-embedded: searches still see every photo through the old model's vectors
    assert len(lib.search(SearchQuery(text="red", limit=500))) == 80
    assert lib.get_model(lib._search_model_name()).name == "tiny"

    run(lib)
    assert lib._search_model_name() == "tiny2"
    assert len(lib.search(SearchQuery(text="red", limit=500))) == 80
    with lib.engine.connect() as conn:
        models = {r[0] for r in conn.exec_driver_sql("SELECT DISTINCT model FROM vectors")}
    assert models == {"tiny2@1"}
    lib.close()
