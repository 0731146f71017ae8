"""Two programs creating and indexing one new library at the same moment (issue 13): both succeed,
never "table meta already exists", a wrong "through a link", or an IntegrityError."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from desktop_search.core.app import PhotoLibrary
from tests.fakes import solid_image

REPO = Path(__file__).resolve().parent.parent

# waits for the start file, then creates the library, adds the folder and indexes it
WORKER = """
import json, os, sys, time, traceback
import tests.fakes
from desktop_search.core.app import PhotoLibrary
lib_dir, photos, go = sys.argv[1:4]
while not os.path.exists(go):
    time.sleep(0.001)
try:
    with PhotoLibrary.open(lib_dir, model_name="tiny") as lib:
        lib.add_folder(photos)
        last = None
        for last in lib.index([photos]):
            pass
        print(json.dumps({"ok": True, "added": last.counts.added, "indexed": lib.status().indexed}))
except Exception as exc:
    print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()}))
"""


def test_two_processes_create_and_index_one_new_library(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(5):
        solid_image(photos / f"p{i}.jpg", (40 * i, 80, 200))
    for trial in range(5):
        lib_dir, go = tmp_path / f"lib{trial}", tmp_path / f"go{trial}"
        procs = [
            subprocess.Popen([sys.executable, "-c", WORKER, str(lib_dir), str(photos), str(go)], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        time.sleep(2.5)  # both have imported and are spinning on the start file
        go.touch()
        results = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
        assert all(r["ok"] for r in results), (trial, [r.get("error") for r in results], results)
        assert sorted(r["added"] for r in results) == [0, 5]  # one indexed them, the other found them done
        assert all(r["indexed"] == 5 for r in results)


def test_threads_with_their_own_libraries_add_the_same_folder_at_once(tmp_path: Path) -> None:
    """The same race inside one process (two PhotoLibrary objects, two engines), many times."""
    photos = tmp_path / "photos"
    photos.mkdir()
    solid_image(photos / "p.jpg", (200, 30, 30))
    for trial in range(10):
        lib_dir = tmp_path / f"lib{trial}"
        barrier = threading.Barrier(3)
        errors: list[BaseException] = []

        def work(lib_dir: Path = lib_dir, barrier: threading.Barrier = barrier, errors: list = errors) -> None:
            try:
                barrier.wait()
                with PhotoLibrary.open(lib_dir, model_name="tiny") as lib:
                    lib.add_folder(photos)
                    for _ in lib.index([photos]):
                        pass
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == [], (trial, errors)
        with PhotoLibrary.open(lib_dir, model_name="tiny") as lib:
            assert [f.path for f in lib.folders()] == [photos.as_posix()]
            assert lib.status().indexed == 1
