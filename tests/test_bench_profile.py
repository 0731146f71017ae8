"""The indexing profile's bookkeeping: py-spy's collapsed stacks summed into stages."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _module():
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("profile_indexing", BENCH / "profile_indexing.py")
        assert spec and spec.loader
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(BENCH))


def test_stacks_are_summed_by_stage(tmp_path: Path) -> None:
    mod = _module()
    prepare = "Thread.run (threading.py:982);Indexer._prepare (desktop_search/core/indexing/pipeline.py:371)"
    raw = tmp_path / "raw.txt"
    raw.write_text(
        "\n".join(
            [
                f"{prepare};decode (desktop_search/core/library/imageio.py:81);ImageFile.load (PIL/ImageFile.py:296) 30",
                f"{prepare};make_thumbnail (desktop_search/core/library/imageio.py:120) 5",
                f"{prepare} 2",
                "Indexer._prepare_and_encode (pipeline.py:313);Indexer._encode (pipeline.py:404);"
                "BuiltinModel.encode_images (desktop_search/core/models/builtin.py:300) 60",
                "<module> (desktop_search/cli.py:1);_find_and_load (<frozen importlib._bootstrap>:1176) 20",
                "Thread._bootstrap (threading.py:1002) 3",
                "not a sample line",
            ]
        )
    )
    counts, total = mod.shares(raw)
    assert total == 120
    assert counts["JPEG decoding"] == 30
    assert counts["thumbnail"] == 5
    assert counts["other preparation (open, stat)"] == 2
    assert counts["network, photos"] == 60
    assert counts[mod.START_UP] == 20
    assert counts[mod.OTHER] == 3
