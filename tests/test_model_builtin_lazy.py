"""The builtin model builds its image encoder on first use (a text query needs MiniLM only), and what
it builds with one torch thread is what the default build gives."""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytestmark = pytest.mark.timeout(300)


def test_builtin_builds_its_image_encoder_on_first_use_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch
    from PIL import Image

    from desktop_search.core.models import builtin

    builtin.release_shared_encoders()
    threads = torch.get_num_threads()
    model = builtin.load_builtin()
    assert torch.get_num_threads() == threads, "building changed the thread's torch thread count"
    lite_key = ("lite", model.config.encoder, model.device)
    assert model._lite is None and lite_key not in builtin._ENCODERS
    query = model.encode_queries(["a dog on the beach"])
    arrays = [model.preprocess(Image.new("RGB", (300 + i, 200), (40 * i, 90, 200))) for i in range(4)]
    assert arrays[0].shape == (model.image_size, model.image_size, 3)
    assert model._lite is None, "a text query or preprocessing built the image encoder"

    # the first image use, from several threads at once, builds one encoder
    with ThreadPoolExecutor(4) as pool:
        vectors = list(pool.map(lambda a: model.encode_images([a]), arrays))
    assert model._lite is builtin._ENCODERS[lite_key]
    assert np.allclose(np.concatenate(vectors), model.encode_images(arrays), atol=1e-4)

    # built as before (the thread's own torch thread count, everything at once): the same weights
    # and the same vectors
    builtin.release_shared_encoders()
    monkeypatch.setattr(builtin, "_one_torch_thread", lambda torch: contextlib.nullcontext())
    eager = builtin.load_builtin()
    assert eager._image_encoder is not model._image_encoder
    for mine, theirs in ((model._heads, eager._heads), (model._text_encoder, eager._text_encoder),
                         (model._image_encoder, eager._image_encoder)):
        a, b = mine.state_dict(), theirs.state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert np.array_equal(query, eager.encode_queries(["a dog on the beach"]))
    assert np.array_equal(model.encode_images(arrays), eager.encode_images(arrays))

    model.close()
    eager.close()
    assert model._image_encoder is None  # closed: not built again
