"""``desktop-search train`` end to end on a tiny generated dataset, and the feature cache."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from desktop_search.commands import evaluate as eval_cmd
from desktop_search.commands import train as train_cmd
from desktop_search.core import paths
from desktop_search.core.models.registry import load_model
from tests.model_helpers import make_tiny_dataset, run_command

FAST = ["--epochs", "3", "--text-epochs", "2", "--fusion-steps", "30", "--batch-size", "8", "--width", "64", "--dim", "32"]


def test_train_then_eval_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images, captions, train_split, dev_split = make_tiny_dataset(tmp_path / "data", n=24)
    out = tmp_path / "w.safetensors"
    argv = ["train", "--images", str(images), "--captions", str(captions), "--train-split", str(train_split)]
    argv += ["--dev-split", str(dev_split), "--out", str(out), "--json", *FAST]
    assert run_command(train_cmd, argv) == 0
    captured = capsys.readouterr()
    assert "retrieval epoch 3/3" in captured.err and "dev" in captured.err
    report = json.loads(captured.out)
    assert set(report["dev"]) == {"text_to_image", "image_only", "text_only", "fused"}
    assert out.is_file()
    cached = list((paths.features_cache_dir() / "images").rglob("*.npy"))
    assert len(cached) == 18 * 4 + 6  # train photos x 4 views + dev photos x 1 view

    # a second run reads every feature from the cache: none is extracted (written) again
    written = {f: f.stat().st_mtime_ns for f in cached}
    assert run_command(train_cmd, argv) == 0
    capsys.readouterr()
    assert len(list((paths.features_cache_dir() / "images").rglob("*.npy"))) == len(cached)
    assert {f: f.stat().st_mtime_ns for f in cached} == written

    model = load_model(f"builtin:{out}", device="cpu")
    assert model.dim == 32
    argv = ["eval", "--images", str(images), "--captions", str(captions), "--split", str(dev_split)]
    argv += ["--model", f"builtin:{out}", "--json"]
    assert run_command(eval_cmd, argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"model", "images", "queries", "text_to_image", "image_to_image", "seconds"}
    assert result["images"] == 6 and result["queries"] == 18
    assert set(result["text_to_image"]) == {"r1", "r5", "r10", "median_rank"}

    argv += ["--caption-fraction", "0.5", "--seed", "1", "--no-image-to-image"]
    assert run_command(eval_cmd, argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"model", "images", "queries", "image_only", "text_only", "fused", "seconds"}
    assert result["queries"] == 18 - 3


def test_train_reports_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["train", "--images", str(tmp_path / "nope"), "--captions", str(tmp_path / "c.csv")]
    assert run_command(train_cmd, argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not found" in err
    images, _captions, _, _ = make_tiny_dataset(tmp_path / "d", n=4)
    bad = tmp_path / "bad.csv"
    bad.write_text("file,text\na.jpg,hello\n")
    assert run_command(train_cmd, ["train", "--images", str(images), "--captions", str(bad)]) == 1
    assert "image,caption" in capsys.readouterr().err


def test_training_stages_learn_on_tiny_data(tmp_path: Path) -> None:
    """Heads trained on the tiny set rank its own photos far better than chance."""
    import torch

    from desktop_search.core.models.dataset import load_captioned
    from desktop_search.core.models.training import TrainSettings, text_to_image, train
    from desktop_search.core.models.training_features import load_features

    torch.manual_seed(0)
    images, captions, _, _ = make_tiny_dataset(tmp_path / "data", n=24)
    data = load_captioned(images, captions)
    s = TrainSettings(
        views=("orig",), width=64, dim=32, heads=4, epochs=40, batch_size=12, lr=3e-3, text_epochs=2, fusion_steps=20
    )
    fs = load_features(data, s.encoder, s.views, log=lambda m: None)
    result = train(fs, None, s, log=lambda m: None)
    r = text_to_image(result.heads, fs)
    assert r["r5"] > 60  # chance is 5/24
    assert np.isfinite(r["median_rank"])


def test_fusion_calibrated_on_several_held_out_sets(tmp_path: Path) -> None:
    """``--cal-folds``: disjoint held-out sets, each scored by heads trained without it; the first set
    is the one a single held-out run uses, so adding sets only adds calibration data."""
    from desktop_search.core.models.dataset import load_captioned
    from desktop_search.core.models.training import TrainSettings, heldout_folds, train
    from desktop_search.core.models.training_features import load_features

    one, three = TrainSettings(holdout=0.2), TrainSettings(holdout=0.2, cal_folds=3)
    folds = heldout_folds(100, three)
    assert [len(f) for f in folds] == [20, 20, 20]
    assert len(np.unique(np.concatenate(folds))) == 60
    np.testing.assert_array_equal(heldout_folds(100, one)[0], folds[0])
    assert len(heldout_folds(40, TrainSettings(holdout=0.25, cal_folds=9))) == 3  # as many as fit

    images, captions, _, _ = make_tiny_dataset(tmp_path / "data", n=40)
    fs = load_features(load_captioned(images, captions), "lite0", ("orig",), log=lambda m: None)
    s = TrainSettings(
        views=("orig",), width=32, dim=16, heads=2, epochs=2, batch_size=12, text_epochs=1, fusion_steps=10,
        holdout=0.25, cal_folds=2, refit=False,
    )
    lines: list[str] = []
    result = train(fs, None, s, log=lines.append)
    runs = [line for line in lines if line.startswith("calibration run")]
    assert runs == [
        "calibration run 1/2: heads on 30 photos, fusion data from 10 held-out photos",
        "calibration run 2/2: heads on 30 photos, fusion data from 10 held-out photos",
    ]
    assert any(line.startswith("fusion step 10/10") for line in lines)
    assert result.heads.fusion.log_s_img.item() != pytest.approx(np.log(20.0))  # the fusion was fitted


def test_feature_cache_follows_contents_not_paths(tmp_path: Path) -> None:
    """A data set copied elsewhere (new paths, new time stamps) reuses its cached features; a photo
    whose contents changed is extracted again."""
    import shutil

    from desktop_search.core.models.features import extract_image_features

    images, _, _, _ = make_tiny_dataset(tmp_path / "data", n=3)
    files = sorted(images.glob("*.jpg"))[:3]
    first = extract_image_features(files, "lite0", "orig")
    cache = paths.features_cache_dir() / "images"
    count = len(list(cache.rglob("*.npy")))
    copy = tmp_path / "copy"
    shutil.copytree(images, copy)
    moved = [copy / f.name for f in files]
    time.sleep(0.01)
    for f in moved:
        f.touch()
    again = extract_image_features(moved, "lite0", "orig")
    assert len(list(cache.rglob("*.npy"))) == count
    assert np.array_equal(first, again)
    from PIL import Image

    Image.new("RGB", (64, 48), (200, 10, 10)).save(moved[0])
    extract_image_features(moved, "lite0", "orig")
    assert len(list(cache.rglob("*.npy"))) == count + 1


def test_ensemble_members_train_save_and_load(tmp_path: Path) -> None:
    """Heads with two independently trained branches: one vector of the same size, learned, saved
    and loaded back as a library model; weights files from before branches still load."""
    import torch

    from desktop_search.core.models import builtin
    from desktop_search.core.models.dataset import load_captioned
    from desktop_search.core.models.heads import BuiltinHeads, HeadConfig, upgrade_state_dict
    from desktop_search.core.models.training import (
        TrainSettings,
        save_weights,
        text_to_image,
        train,
    )
    from desktop_search.core.models.training_features import load_features

    torch.manual_seed(0)
    images, captions, _, _ = make_tiny_dataset(tmp_path / "data", n=24)
    data = load_captioned(images, captions)
    s = TrainSettings(
        views=("orig",), width=64, dim=32, heads=4, epochs=40, batch_size=12, lr=3e-3, text_epochs=2,
        fusion_steps=20, members=2,
    )
    fs = load_features(data, s.encoder, s.views, log=lambda m: None)
    result = train(fs, None, s, log=lambda m: None)
    assert len(result.heads.image.branches.pairs()) == 2
    r = text_to_image(result.heads, fs)
    assert r["r5"] > 60  # chance is 5/24
    out = save_weights(tmp_path / "m2.safetensors", result)
    model = builtin.load_builtin(f"builtin:{out}", device="cpu")
    assert model.config.members == 2 and model.dim == 32
    q = model.encode_queries([data.captions[0][0]])
    assert q.shape == (1, 32) and abs(float(np.linalg.norm(q)) - 1) < 1e-5

    # a single-member state dict with the old key names loads into today's heads
    single = BuiltinHeads(HeadConfig(width=64, dim=32, heads=4))
    old_names = {k.replace("branches.", ""): v for k, v in single.state_dict().items()}
    assert any(k.startswith("image.trunk.") for k in old_names)
    fresh = BuiltinHeads(HeadConfig(width=64, dim=32, heads=4))
    fresh.load_state_dict(upgrade_state_dict(old_names), strict=True)
