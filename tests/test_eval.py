"""The evaluation protocol: metrics, caption split, near-duplicates, and ``eval`` errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from desktop_search.commands import evaluate as eval_cmd
from desktop_search.core.models.evaluation import (
    caption_split,
    evaluate_model,
    near_duplicate_copies,
    ranks_from_scores,
    recall_summary,
)
from tests.model_helpers import make_tiny_dataset, run_command


def test_ranks_are_pessimistic_on_ties() -> None:
    scores = np.array([[0.9, 0.1, 0.5], [0.2, 0.2, 0.2], [-np.inf, -np.inf, 1.0]])
    ranks = ranks_from_scores(scores, np.array([0, 1, 0]))
    assert ranks.tolist() == [1, 3, 3]
    s = recall_summary(np.array([1, 2, 6, 11]))
    assert s == {"r1": 25.0, "r5": 50.0, "r10": 75.0, "median_rank": 4.0}


def test_caption_split_is_seeded_and_uses_first_captions() -> None:
    caps = [[f"p{i} c{j}" for j in range(5)] for i in range(10)]
    has, texts, queries = caption_split(10, caps, 0.5, seed=3)
    has2, _, _ = caption_split(10, caps, 0.5, seed=3)
    assert has.sum() == 5 and np.array_equal(has, has2)
    for i in range(10):
        assert texts[i] == (caps[i][0] if has[i] else "")
    assert len(queries) == 50 - 5
    assert all(q != caps[i][0] or not has[i] for q, i in queries)


def test_near_duplicate_copies() -> None:
    im = Image.new("RGB", (200, 100), (10, 200, 30))
    small, crop, jpeg = near_duplicate_copies(im)
    assert small.size == (100, 50) and crop.size == (180, 90) and jpeg.size == (200, 100)


def test_eval_reports_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images, captions, _, _ = make_tiny_dataset(tmp_path, n=8)
    base = ["eval", "--images", str(images), "--captions", str(captions)]
    assert run_command(eval_cmd, [*base, "--model", "nosuchmodel"]) == 1
    assert run_command(eval_cmd, [*base, "--split", str(tmp_path / "missing.txt")]) == 1
    assert run_command(eval_cmd, [*base, "--caption-fraction", "1.5"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("desktop-search eval:") for line in err)


def test_eval_json_on_generated_photos(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images, captions, _, _ = make_tiny_dataset(tmp_path, n=8)
    argv = ["eval", "--images", str(images), "--captions", str(captions), "--json", "--caption-fraction", "0.5"]
    assert run_command(eval_cmd, argv) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    result = json.loads(out[0])
    assert result["model"] == "builtin" and result["images"] == 8 and result["queries"] == 24 - 4
    for key in ("image_only", "text_only", "fused"):
        assert set(result[key]) == {"r1", "r5", "r10", "median_rank"}
    assert set(result["image_to_image"]) == {"r1"}
    assert isinstance(result["seconds"], float)


# -- quality on Flickr8k dev -----------------------------------------------------------------------
QUALITY_SUBSET = 250


def _dev(flickr8k: Path, limit: int | None):
    from desktop_search.core.models.dataset import load_captioned

    data = load_captioned(flickr8k / "images", flickr8k / "captions.csv", flickr8k / "splits" / "dev.txt")
    return data.subset(data.names[:limit]) if limit else data


@pytest.fixture(scope="module")
def trained_model():
    import torch

    from desktop_search.core.models import builtin

    if not builtin.DEFAULT_WEIGHTS.exists():
        pytest.skip("trained weights not shipped")
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    return builtin.load_builtin("builtin", device="cpu")


@pytest.mark.quality
def test_quality_dev_subset(flickr8k: Path, trained_model) -> None:
    """Fast check on the first 250 dev photos (thresholds for that gallery size; see docs/MODELS.md)."""
    data = _dev(flickr8k, QUALITY_SUBSET)
    t2i = evaluate_model(trained_model, data.paths, data.captions, image_to_image=False)
    r = t2i.sections["text_to_image"]
    assert r["r1"] >= 45 and r["r5"] >= 75 and r["r10"] >= 85, r


@pytest.mark.quality
@pytest.mark.slow
def test_quality_dev_full(flickr8k: Path, trained_model) -> None:
    """The targets on all 1000 dev photos (about 4 minutes on 2 CPU cores)."""
    data = _dev(flickr8k, None)
    res = evaluate_model(trained_model, data.paths, data.captions)
    t2i = res.sections["text_to_image"]
    assert t2i["r1"] >= 25 and t2i["r5"] >= 53 and t2i["r10"] >= 66, t2i
    assert res.sections["image_to_image"]["r1"] >= 98, res.sections
    fus = evaluate_model(trained_model, data.paths, data.captions, caption_fraction=0.5, image_to_image=False)
    f, i, t = (fus.sections[k] for k in ("fused", "image_only", "text_only"))
    assert f["r1"] >= 33 and f["r10"] >= 72, fus.sections
    assert f["r1"] >= max(i["r1"], t["r1"]) + 3 and f["r10"] >= max(i["r10"], t["r10"]) + 10, fus.sections
