"""Hostile folder and file names: LIKE wildcards, case, quotes, bytes that are not UTF-8, control
characters (issue 13). Real files, the real SQLite library, the tiny model."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from desktop_search.core.app import PhotoLibrary
from desktop_search.core.db import Problem
from desktop_search.core.indexing.bookkeeping import record_problems
from desktop_search.core.library.scanner import ScanProblem, normalise
from tests.fakes import last_counts as run
from tests.fakes import solid_image

#: folder names that a LIKE pattern or a glob would read as wildcards, with their look-alikes
WILD_NAMES = ("a_b", "axb", "A_B", "100%", "1000", "100x", "[ab]", "a", "b", "*", "x", "?", "it's", 'say "hi"', "MiXeD", "mixed")




def fill(folder: Path, n: int, colour: tuple[int, int, int] = (200, 40, 40)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        p = folder / f"p{i}.jpg"
        solid_image(p, (colour[0], (colour[1] + 37 * i) % 255, colour[2]))
        out.append(p)
    return out


def photo_paths(lib: PhotoLibrary) -> set[str]:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from desktop_search.core.db import Photo

    with Session(lib.engine) as s:
        return set(s.scalars(select(Photo.path)))



def test_deleting_a_folder_with_wildcards_in_its_name_removes_only_its_photos(lib: PhotoLibrary, tmp_path: Path) -> None:
    w = tmp_path / "W"
    for name in WILD_NAMES:
        fill(w / name, 2)
    fill(w / "100x" / "sub", 2)
    lib.add_folder(w)
    counts = run(lib.index())
    assert counts.added == 2 * len(WILD_NAMES) + 2
    for name in ("a_b", "100%", "[ab]", "*", "?", "it's", "MiXeD"):
        before = photo_paths(lib)
        shutil.rmtree(w / name)
        counts = run(lib.apply_changes([str(w / name)]))  # what the watcher sends for a deleted folder
        gone = before - photo_paths(lib)
        assert counts.removed == 2, (name, counts)
        assert gone == {normalise(w / name / f"p{i}.jpg") for i in range(2)}, name


def test_errors_of_a_folder_do_not_match_wildcards(lib: PhotoLibrary, tmp_path: Path) -> None:
    w = tmp_path / "W"
    for name in ("a_b", "axb", "A_B", "100%", "1000"):
        (w / name).mkdir(parents=True)
        (w / name / "broken.jpg").write_bytes(b"not a photo")
    lib.add_folder(w)
    run(lib.index())
    assert len(lib.errors()) == 5
    assert [Path(e.path).parent.name for e in lib.errors(str(w / "a_b"))] == ["a_b"]
    assert [Path(e.path).parent.name for e in lib.errors(str(w / "100%"))] == ["100%"]


def test_a_clean_scan_forgets_only_the_problems_below_the_scanned_folder(lib: PhotoLibrary, tmp_path: Path) -> None:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    root = normalise(tmp_path)
    others = [f"{root}/axb/x", f"{root}/A_B/x", f"{root}/a_b0/x"]
    record_problems(lib.engine, [ScanProblem(p, "folder cannot be read") for p in [f"{root}/a_b/x", *others]], [])
    record_problems(lib.engine, [], [f"{root}/a_b"])
    with Session(lib.engine) as s:
        assert sorted(s.scalars(select(Problem.path))) == sorted(others)


# -- names that are not UTF-8 ---------------------------------------------------------------------
def test_the_path_codec_is_lossless() -> None:
    from desktop_search.core.db.pathtext import ESCAPE, from_db, to_db

    samples = ["/a/b.jpg", "/x/caf\udce9.jpg", "/x/\udcff\udc80", f"/x/{ESCAPE}DCE9.jpg", f"/x/{ESCAPE}{ESCAPE}",
               "/x/\ud800half", "/x/Ünï ☀.jpg", f"/x/{ESCAPE}"]
    stored = [to_db(s) for s in samples]
    for s, d in zip(samples, stored, strict=True):
        d.encode("utf-8")  # valid UTF-8, whatever the name held
        assert from_db(d) == s
    assert len(set(stored)) == len(samples)
    assert to_db("/x/caf\udce9/p.jpg").startswith(to_db("/x/caf\udce9") + "/")  # prefixes kept: ranges work


@pytest.mark.skipif(os.name == "nt", reason="Windows file names are UTF-16, never bytes")
def test_a_name_that_is_not_utf8_is_indexed_found_moved_and_removed(lib: PhotoLibrary, tmp_path: Path) -> None:
    d = tmp_path / "D"
    fill(d, 1)
    odd_dir = os.fsdecode(bytes(d) + b"/Fotos \xe4lt")  # a folder name in Latin-1 too
    os.mkdir(odd_dir)
    odd = os.fsdecode(bytes(d) + b"/caf\xe9.jpg")
    deeper = odd_dir + os.fsdecode(b"/\xff.jpg")
    solid_image(odd, (10, 200, 10))
    solid_image(deeper, (10, 10, 200))
    broken = os.fsdecode(bytes(d) + b"/kaputt\xfc.jpg")
    Path(broken).write_bytes(b"this is not a photo")
    lib.add_folder(d)
    counts = run(lib.index())
    # added: the photos added (issue 14: a file that could not be read is failed, not also added)
    assert counts.added == 3 and counts.embedded == 3 and counts.failed == 1
    assert {normalise(odd), normalise(deeper)} <= photo_paths(lib)
    assert [e.path for e in lib.errors()] == [normalise(broken)]
    from desktop_search.core.types import SearchQuery

    hits = lib.search(SearchQuery(text="green"))
    assert normalise(odd) in [h.path for h in hits] and all(os.path.exists(h.path) for h in hits)
    assert [h.path for h in lib.search(SearchQuery(text="blue", folder=odd_dir))] == [normalise(deeper)]
    assert run(lib.index()).unchanged == 4  # found again as the same photos: nothing to do
    moved = os.fsdecode(bytes(d) + b"/d\xe9j\xe0.jpg")
    os.rename(odd, moved)
    assert run(lib.apply_changes([odd, moved])).moved == 1
    shutil.rmtree(odd_dir)
    assert run(lib.apply_changes([odd_dir])).removed == 1
    assert photo_paths(lib) == {normalise(d / "p0.jpg"), normalise(moved), normalise(broken)}


@pytest.mark.skipif(os.name == "nt", reason="Windows file names are UTF-16, never bytes")
def test_a_watched_folder_whose_name_is_not_utf8(lib: PhotoLibrary, tmp_path: Path) -> None:
    odd_dir = os.fsdecode(bytes(tmp_path) + b"/\xc0lbum")
    fill(Path(odd_dir), 2)
    lib.add_folder(odd_dir)
    assert [f.path for f in lib.folders()] == [normalise(odd_dir)]
    assert run(lib.index()).embedded == 2
    lib.remove_folder(odd_dir)
    assert photo_paths(lib) == set()


def _cli(*args: str, env: dict[str, str] | None = None):
    import subprocess
    import sys

    from tests.test_cli import CLI_WITH_TINY, REPO

    return subprocess.run([sys.executable, "-c", CLI_WITH_TINY, *args], cwd=REPO, capture_output=True, timeout=300,
                          env={**os.environ, "PYTHONIOENCODING": "utf-8:strict", "LC_ALL": "C.UTF-8", **(env or {})})


@pytest.mark.skipif(os.name == "nt", reason="Windows file names are UTF-16, never bytes")
def test_the_command_line_indexes_and_prints_odd_names_escaped(tmp_path: Path) -> None:
    """The trial's reproduction (one good photo, one named ``caf\\xe9.jpg``), plus names with control
    characters: every photo indexed, and no raw escape sequence, newline or undecodable byte printed."""
    d = tmp_path / "D"
    fill(d, 1)
    solid_image(os.fsdecode(bytes(d) + b"/caf\xe9.jpg"), (20, 220, 30))
    solid_image(d / "clear\x1b[2Jscreen.jpg", (20, 220, 30))
    solid_image(d / "two\nlines.jpg", (20, 220, 30))
    (d / "bad\x1b]0;title\x07.jpg").write_bytes(b"not a photo")
    lib = str(tmp_path / "lib")
    done = _cli("index", "--library", lib, "--model", "tiny", str(d))
    assert done.returncode == 0, done.stderr
    assert b"4 added" in done.stdout and b"1 failed; 4 embedded" in done.stdout
    for args in (["search", "green"], ["status", "--errors"], ["folders"]):
        out = _cli(*args, "--library", lib)
        assert out.returncode == 0, out.stderr
        assert b"Traceback" not in out.stderr and b"\x1b" not in out.stdout and b"\x07" not in out.stdout
        out.stdout.decode("utf-8")  # nothing that is not UTF-8 reached the terminal
        if args[0] == "search":
            lines = out.stdout.decode().splitlines()
            assert any(line.endswith("caf\\xe9.jpg") for line in lines)
            assert any(line.endswith("two\\nlines.jpg") for line in lines)
            assert any(line.endswith("clear\\x1b[2Jscreen.jpg") for line in lines)
            assert len(lines) == 5  # the heading and one line a photo: no line faked by a newline
        if args[0] == "status":
            assert b"bad\\x1b]0;title\\x07.jpg: " in out.stdout
    out = _cli("search", "green", "--json", "--library", lib)
    import json

    paths = {r["path"] for r in json.loads(out.stdout)["results"]}
    assert os.fsdecode(bytes(d) + b"/caf\xe9.jpg") in paths and str(d / "two\nlines.jpg") in paths


def test_a_folder_left_out_whose_name_looks_like_a_glob_leaves_out_only_itself(lib: PhotoLibrary, tmp_path: Path) -> None:
    """The window writes a folder chosen to be left out with its glob characters escaped
    (``folder_exclusion``): ``W/[ab]`` and ``W/Best*`` are those folders, not ``W/a``, ``W/b``, ``W/Bestx``."""
    import glob

    w = tmp_path / "W"
    for name in ("[ab]", "a", "b", "Best*", "Bestx", "what?"):
        fill(w / name, 1)
    lib.add_folder(w, exclusions=[glob.escape(str(w / "[ab]")), glob.escape(str(w / "Best*")), "[[]ab]", "what[?]"])
    run(lib.index())
    assert sorted(Path(p).parent.name for p in photo_paths(lib)) == ["Bestx", "a", "b"]
    fill(w / "[ab]" / "deeper", 1)
    counts = run(lib.apply_changes([str(w / "[ab]" / "deeper" / "p0.jpg"), str(w / "[ab]" / "deeper")]))
    assert counts.added == 0
    from desktop_search.core.library.scanner import folder_exclusion

    assert folder_exclusion(str(w / "[ab]")) == glob.escape(str(w / "[ab]"))
    assert folder_exclusion(str(w / "a")) == str(w / "a")  # a plain path stays as it is
