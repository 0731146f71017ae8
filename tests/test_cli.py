"""The command line as scripts and users drive it: JSON output, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from desktop_search.cli import main
from tests.fakes import solid_image
from tests.test_indexing import make_photos

REPO = Path(__file__).resolve().parent.parent
# Runs the real CLI in a subprocess with the tiny test model registered.
CLI_WITH_TINY = "import sys, tests.fakes; from desktop_search.cli import main; sys.exit(main(sys.argv[1:]))"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CLI_WITH_TINY, *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def test_library_option_before_or_after_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """``desktop-search --library DIR index ...`` and ``desktop-search index --library DIR ...`` use DIR
    (the subcommand's own option once overwrote the global one with its default)."""
    monkeypatch.setenv("DESKTOP_SEARCH_HOME", str(tmp_path / "home"))
    photos = tmp_path / "photos"
    make_photos(photos, 1)
    before, after = tmp_path / "before", tmp_path / "after"
    assert main(["--library", str(before), "index", "--model", "tiny", str(photos), "--json"]) == 0
    assert main(["index", "--model", "tiny", "--library", str(after), str(photos), "--json"]) == 0
    capsys.readouterr()
    assert (before / "library.db").exists() and (after / "library.db").exists()
    assert not (tmp_path / "home").exists() or not any((tmp_path / "home").rglob("library.db"))
    for lib in (before, after):
        assert main(["--library", str(lib), "status", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["indexed"] == 4


def test_index_search_status_json(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    photos = tmp_path / "photos"
    make_photos(photos, 2)
    lib = str(tmp_path / "lib")
    assert main(["index", "--library", lib, "--model", "tiny", str(photos), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"added", "updated", "moved", "removed", "unchanged", "failed", "embedded", "seconds",
                        "text_read", "text_seconds"}
    assert out["text_read"] == 8  # the text job followed the embeddings
    assert out["added"] == 8 and out["embedded"] == 8

    assert main(["status", "--library", lib, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status == {"photos": 8, "indexed": 8, "pending": 0, "errors": 0, "model": "tiny", "folders": 1,
                      "upgrading": None, "text_pending": 0, "text_read": 8}

    queries = tmp_path / "queries.txt"
    queries.write_text("red\nblue\n")
    from desktop_search.core.app import PhotoLibrary

    warm_ups: list[int] = []
    real_warm_up = PhotoLibrary.warm_up_search
    monkeypatch.setattr(PhotoLibrary, "warm_up_search", lambda self: warm_ups.append(1) or real_warm_up(self))
    assert main(["search", "--library", lib, "--queries-file", str(queries), "--limit", "2", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["query"] for line in lines] == ["red", "blue"]
    assert all(line["ms"] > 0 for line in lines)  # each query's own time: the latency a script can check
    assert warm_ups == [1]  # a file of queries warms the search up once, after the first (as the window does)
    assert all(Path(r["path"]).name.startswith("IMG_R") for r in lines[0]["results"])
    assert all(Path(r["path"]).name.startswith("IMG_B") for r in lines[1]["results"])

    example = tmp_path / "example.png"
    solid_image(example, (20, 200, 30))
    assert main(["search", "--library", lib, "--image", str(example), "--limit", "2", "--json"]) == 0
    hit = json.loads(capsys.readouterr().out)
    assert all(Path(r["path"]).name.startswith("IMG_G") for r in hit["results"])

    assert main(["folders", "list", "--library", lib, "--json"]) == 0
    folders = json.loads(capsys.readouterr().out)
    assert folders[0]["path"] == photos.as_posix() and folders[0]["photos"] == 8


def test_filters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    make_photos(a, 1)
    make_photos(b, 1)
    old = b / "IMG_R000.jpg"
    os.utime(old, (946684800, 946684800))  # 2000-01-01: no EXIF date, so the file date counts
    lib = str(tmp_path / "lib")
    assert main(["index", "--library", lib, "--model", "tiny", str(a), str(b), "--json"]) == 0
    capsys.readouterr()
    assert main(["search", "red", "--library", lib, "--folder", str(b), "--json"]) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert results and all(r["path"].startswith(b.as_posix() + "/") for r in results)
    assert main(["search", "red", "--library", lib, "--before", "2001-01-01", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert [Path(r["path"]) for r in results] == [old]
    assert main(["search", "red", "--library", lib, "--after", "2001-01-01", "--min-score", "0.9", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert [Path(r["path"]).name for r in results] == ["IMG_R000.jpg"]  # only a's red one


def test_user_errors_are_one_line(tmp_path: Path) -> None:
    missing = cli("index", "--library", str(tmp_path / "lib"), str(tmp_path / "nope"))
    assert missing.returncode == 1
    assert missing.stderr.strip().count("\n") == 0 and "not a folder" in missing.stderr
    bad_lib = tmp_path / "badlib"
    bad_lib.mkdir()
    (bad_lib / "library.db").write_text("not a database at all " * 100)
    broken = cli("status", "--library", str(bad_lib))
    assert broken.returncode == 1 and "Traceback" not in broken.stderr
    assert "cannot read the library database" in broken.stderr


def test_a_damaged_or_read_only_library_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Damage inside the database (past its first page) and a read-only database: one line, exit 1."""
    photos = tmp_path / "photos"
    make_photos(photos, 2)
    lib = tmp_path / "lib"
    assert main(["--library", str(lib), "index", "--model", "tiny", str(photos), "--json"]) == 0
    with open(lib / "library.db", "r+b") as f:  # the first page (schema version) stays readable
        f.seek(8192)
        f.write(b"\xff" * 8192)
    for_status = cli("--library", str(lib), "status")
    assert for_status.returncode == 1 and "Traceback" not in for_status.stderr
    assert for_status.stderr.strip().count("\n") == 0
    assert "is damaged" in for_status.stderr and "rebuild" in for_status.stderr

    from desktop_search.core import app

    def read_only(self, *a, **k):  # type: ignore[no-untyped-def]
        raise sqlite3.OperationalError("attempt to write a readonly database")

    capsys.readouterr()
    monkeypatch.setattr(app.PhotoLibrary, "add_folder", read_only)
    other = tmp_path / "other"
    assert main(["--library", str(other), "folders", "add", str(photos)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "read-only" in err and str(other) in err


def test_newer_database_is_refused(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    mistyped = cli("status", "--library", str(lib))  # a read-only command creates no library
    assert mistyped.returncode == 1 and "no library at" in mistyped.stderr and not lib.exists()
    assert cli("folders", "list", "--library", str(lib)).returncode == 0
    conn = sqlite3.connect(lib / "library.db")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    result = cli("status", "--library", str(lib))
    assert result.returncode == 1 and "newer version" in result.stderr


@pytest.mark.timeout(300)
def test_kill_9_during_index_then_resume(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(600):
        solid_image(photos / f"IMG_{i:04d}.png", ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256), size=(96, 72))
    lib = tmp_path / "lib"
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI_WITH_TINY, "index", "--library", str(lib), "--model", "tiny", str(photos)],
        cwd=REPO,
    )
    db = lib / "library.db"
    deadline = time.monotonic() + 120
    indexed = 0
    while time.monotonic() < deadline:
        time.sleep(0.05)
        if db.exists():
            try:
                conn = sqlite3.connect(db, timeout=1)
                indexed = conn.execute("SELECT count(*) FROM photos WHERE status='indexed'").fetchone()[0]
                conn.close()
            except sqlite3.Error:
                continue
            if indexed >= 64:
                break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 0 < indexed < 600, "the kill must land in the middle of the run"
    again = cli("index", "--library", str(lib), "--json")
    assert again.returncode == 0, again.stderr
    counts = json.loads(again.stdout)
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT count(*), count(DISTINCT path) FROM photos").fetchone() == (600, 600)
    assert conn.execute("SELECT count(*) FROM photos WHERE status='indexed'").fetchone()[0] == 600
    assert conn.execute("SELECT count(*) FROM vectors").fetchone()[0] == 600
    conn.close()
    assert counts["embedded"] <= 600 - indexed + 32


@pytest.mark.parametrize("heic", [True, False])
def test_self_test_passes_with_and_without_heic(heic: bool, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The packaging check (`--self-test`) on the source tree; a generated HEIC photo is indexed where
    pillow-heif is installed, and its absence is said, not failed."""
    from desktop_search.core.library import formats

    if heic:
        pytest.importorskip("pillow_heif")
    else:
        monkeypatch.setattr(formats, "heif_available", lambda: False)
    assert main(["--self-test"]) == 0
    out = capsys.readouterr().out
    assert "self-test passed" in out
    assert ("ok   HEIC photos indexed" in out) == heic
    assert ("HEIC photos: not checked" in out) == (not heic)


def test_bad_arguments_are_refused_before_anything_changes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photos = tmp_path / "photos"
    make_photos(photos, 1)
    (photos / "broken.jpg").write_bytes(b"not a jpeg")
    lib = str(tmp_path / "lib")
    # one missing folder among good ones: nothing is added
    assert main(["--library", lib, "index", "--model", "tiny", str(photos), str(tmp_path / "nope")]) == 1
    assert "not a folder" in capsys.readouterr().err
    assert main(["--library", lib, "folders", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    # a typo in the model name is not stored as the library's model
    assert main(["--library", lib, "index", "--model", "no-such-model", str(photos)]) == 1
    assert "unknown model" in capsys.readouterr().err
    assert main(["--library", lib, "index", "--model", "tiny", str(photos), "--json"]) == 0
    capsys.readouterr()
    # status --json --errors stays one JSON document
    assert main(["--library", lib, "status", "--json", "--errors"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["model"] == "tiny"
    assert [Path(e["path"]).name for e in status["error_list"]] == ["broken.jpg"]
    # searches that cannot mean anything
    for bad in (["search", "red", "--limit", "0"], ["search", "red", "--min-score", "nan"]):
        with pytest.raises(SystemExit) as exit_info:
            main(["--library", lib, *bad])
        assert exit_info.value.code == 2
    capsys.readouterr()
    assert main(["--library", lib, "search", "   "]) == 1
    assert "empty" in capsys.readouterr().err
    latin1 = tmp_path / "queries.txt"
    latin1.write_bytes("café au lait\n".encode("latin-1"))
    assert main(["--library", lib, "search", "--queries-file", str(latin1)]) == 1
    assert "not UTF-8" in capsys.readouterr().err
    assert main(["--library", lib, "folders", "add"]) == 1
    assert "give at least one folder" in capsys.readouterr().err


def test_switching_to_a_model_that_cannot_be_had_keeps_the_library_and_its_vectors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Offline, `index --model clip:...` must not throw the index away: one line, exit 1, the
    library stays on its model with its vectors. Even a library already switched to such a model
    (the window, earlier) keeps the old vectors: the stand-in builtin never completes the switch."""
    from desktop_search.core.app import PhotoLibrary
    from desktop_search.core.errors import ModelUnavailable
    from desktop_search.core.models.registry import register_model

    def offline(name, device):  # type: ignore[no-untyped-def]
        raise ModelUnavailable("cannot reach huggingface.co: network is unreachable")

    register_model("offline-test", offline)
    photos = tmp_path / "photos"
    make_photos(photos, 1)
    lib_dir = tmp_path / "lib"
    assert main(["--library", str(lib_dir), "index", "--model", "tiny", str(photos)]) == 0
    capsys.readouterr()
    assert main(["--library", str(lib_dir), "index", "--model", "offline-test"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach huggingface.co" in err and "keeps tiny" in err
    assert main(["--library", str(lib_dir), "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "tiny"

    lib = PhotoLibrary.open(lib_dir)
    try:
        lib.set_model("offline-test")  # as a switch made while online, now offline
        for _ in lib.index():
            pass
        with sqlite3.connect(lib_dir / "library.db") as conn:
            models = {row[0] for row in conn.execute("SELECT DISTINCT model FROM vectors")}
        assert any(m.startswith("tiny") for m in models), models  # the old vectors are still there
    finally:
        lib.close()


def test_train_and_eval_refuse_bad_input_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Bad CSVs, splits and options are refused in one line before any training; a CSV saved with a
    byte-order mark (as spreadsheet programs do) is read."""
    photos = tmp_path / "photos"
    made = make_photos(photos, 1)
    names = [p.name for p in made]
    rows = "".join(f"{n},a photo of {n}\n{n},another caption\n" for n in names)
    good = tmp_path / "caps.csv"
    good.write_text("image,caption\n" + rows)
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + good.read_bytes())
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(("image,caption\n" + rows + f"{names[0]},café\n").encode("latin-1"))
    split = tmp_path / "dev.txt"
    split.write_text(names[0] + "\n")
    base = ["train", "--images", str(photos), "--out", str(tmp_path / "m.safetensors")]

    def refused(argv: list[str], words: str) -> None:
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err, err

    refused([*base, "--captions", str(latin1)], "not UTF-8")
    refused(["eval", "--images", str(photos), "--captions", str(latin1)], "not UTF-8")
    refused([*base, "--captions", str(bom), "--batch-size", "1"], "--batch-size")  # BOM read: got to the options
    refused([*base, "--captions", str(good), "--dropout", "1.5"], "--dropout")
    refused(["train", "--images", str(photos), "--captions", str(good), "--out", str(tmp_path)], "is a folder")
    refused(["train", "--images", str(photos), "--captions", str(good), "--out", str(good / "x.safetensors")],
            "is a file")
    refused([*base, "--captions", str(good), "--train-split", str(split), "--dev-split", str(split)], "disjoint")
    refused(["eval", "--images", str(photos), "--captions", str(good), "--limit", "0"], "--limit")
    assert not (tmp_path / "m.safetensors").exists()
