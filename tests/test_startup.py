"""Start-up: the window is on screen before torch is imported; the model loads on a worker thread; a
text query on an indexed library is answered without torch (the builtin model's numpy text encoder),
also by the catch-up scan that follows it; ``desktop-search gui --screenshot`` and ``desktop-search
watch`` work from the command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from tests.fakes import solid_image
from tests.ui_support import index_library, make_photos

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.timeout(180)

PROBE = r"""
import json, sys, threading, time
started = time.monotonic()
record = {}

class TorchImportProbe:
    # notes which thread imports torch first
    def find_spec(self, name, path=None, target=None):
        if name == "torch" and "torch_thread" not in record:
            record["torch_thread"] = threading.current_thread().name
            record["torch_main_thread"] = threading.current_thread() is threading.main_thread()
            record["torch_at"] = time.monotonic() - started
        return None

sys.meta_path.insert(0, TorchImportProbe())

from desktop_search.ui import main_window
_show = main_window.MainWindow.showEvent

def showEvent(self, event):
    if "shown_at" not in record:
        record["shown_at"] = time.monotonic() - started
        record["torch_at_show"] = "torch" in sys.modules
    _show(self, event)

main_window.MainWindow.showEvent = showEvent

from desktop_search.ui import controller
_init = controller.LibraryController.__init__

def _results_ready(query, results, more):
    if "results" not in record and not query.is_empty:
        record["results"] = len(results)
        record["torch_at_results"] = "torch" in sys.modules

def __init__(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    self.results_ready.connect(_results_ready)  # the first results the window is given

controller.LibraryController.__init__ = __init__

from desktop_search.cli import main
rc = main(sys.argv[1:])
record["rc"] = rc
record["torch_after"] = "torch" in sys.modules
print("PROBE " + json.dumps(record))
"""


def run_cli(args: list[str], env_home: Path, timeout: float = 150, code: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, DESKTOP_SEARCH_HOME=str(env_home), QT_QPA_PLATFORM="offscreen", HF_HUB_OFFLINE="1",
               PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-c", code or "import sys, tests.fakes; from desktop_search.cli import main; sys.exit(main(sys.argv[1:]))", *args]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def builtin_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few photos indexed with the real builtin model (once for this module)."""
    root = tmp_path_factory.mktemp("builtin")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DESKTOP_SEARCH_HOME", str(root / "home"))
        make_photos(root / "photos", n_each=2, size=(160, 120))
        index_library(root / "lib", root / "photos", model="builtin")
    return root / "lib"


def probe_gui(args: list[str], home: Path) -> dict:
    proc = run_cli(["gui", *args, "--no-watch", "--size", "900x600"], home, code=PROBE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(line for line in proc.stdout.splitlines() if line.startswith("PROBE "))
    record = json.loads(line[len("PROBE "):])
    print(f"\nwindow shown after {record['shown_at']:.2f} s; torch imported after {record.get('torch_at', 0):.2f} s "
          f"on thread {record.get('torch_thread')!r}")
    assert record["rc"] == 0
    assert record["torch_at_show"] is False, "torch was imported before the window was shown"
    return record


def test_window_appears_before_torch_and_a_text_query_is_answered_without_it(builtin_library: Path,
                                                                                tmp_path: Path) -> None:
    """The real start-up path (the CLI's ``gui`` command) with the real builtin model: results of a text
    query on an indexed library, and no torch at all (the catch-up scan finds nothing to embed)."""
    shot = tmp_path / "shot.png"
    record = probe_gui(["--library", str(builtin_library), "--query", "a red photo", "--screenshot", str(shot)],
                       tmp_path / "home")
    assert record["results"] > 0
    assert record["torch_at_results"] is False
    assert record["torch_after"] is False, "torch was imported though nothing needed it"
    assert shot.exists()


def test_torch_loads_on_a_worker_when_an_example_photo_needs_it(builtin_library: Path, tmp_path: Path) -> None:
    example = tmp_path / "example.jpg"  # outside the library: it must be embedded
    solid_image(example, (230, 20, 20), size=(160, 120))
    record = probe_gui(["--library", str(builtin_library), "--screenshot", str(tmp_path / "shot.png"), str(example)],
                       tmp_path / "home")
    assert record["results"] > 0
    assert record["torch_after"] is True, "the example photo was not embedded"
    assert record["torch_main_thread"] is False, "torch was imported on the GUI thread"
    assert record["torch_at"] > record["shown_at"]


SEARCH = r"""
import json, sys
from pathlib import Path
from desktop_search.core import app
from desktop_search.core.app import PhotoLibrary
from desktop_search.core.types import SearchQuery

record = {}
with PhotoLibrary.open(sys.argv[1]) as lib:
    lib.load_model()
    hits = lib.search(SearchQuery(text="a red photo", limit=4))
    record["names"] = [Path(h.path).name for h in hits]
    record["torch_after_search"] = "torch" in sys.modules
    record["catch_up"] = [e.message for e in lib.index() if e.phase == "done"]
    record["torch_after_catch_up"] = "torch" in sys.modules
    record["warm_up_small"] = lib.warm_up_search()  # a small library: scanned exactly, no torch needed
    record["torch_after_warm_up_small"] = "torch" in sys.modules
    app.EXACT_ROWS = 0  # as if it were large: torch's int8 kernel is worth importing
    record["warm_up_large"] = lib.warm_up_search()
    record["torch_after_warm_up_large"] = "torch" in sys.modules
    record["names_again"] = [Path(h.path).name for h in lib.search(SearchQuery(text="a red photo", limit=4))]
    record["names_with_example"] = [Path(h.path).name for h in lib.search(SearchQuery(image_paths=(sys.argv[2],)))]
print("SEARCH " + json.dumps(record))
"""


def test_a_fresh_process_searches_an_indexed_library_without_torch(builtin_library: Path, tmp_path: Path) -> None:
    example = tmp_path / "example.jpg"
    solid_image(example, (20, 30, 230), size=(160, 120))
    proc = run_cli([str(builtin_library), str(example)], tmp_path / "home", code=SEARCH)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(line for line in proc.stdout.splitlines() if line.startswith("SEARCH "))
    record = json.loads(line[len("SEARCH "):])
    assert record["torch_after_search"] is False
    assert record["names"] and all(name.startswith("red_") for name in record["names"][:2]), record["names"]
    assert record["catch_up"] == ["Up to date"] and record["torch_after_catch_up"] is False
    assert record["warm_up_small"] is False and record["torch_after_warm_up_small"] is False
    assert record["warm_up_large"] is True and record["torch_after_warm_up_large"] is True
    assert record["names_again"] == record["names"]
    assert record["names_with_example"][0].startswith("blue_"), record["names_with_example"]  # embedded


def test_gui_command_saves_a_screenshot_once_results_and_thumbnails_are_shown(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    make_photos(photos, n_each=3, size=(160, 120))
    lib = tmp_path / "lib"
    index_library(lib, photos)
    shot = tmp_path / "out" / "window.png"
    proc = run_cli(["gui", "--library", str(lib), "--query", "red", "--screenshot", str(shot), "--size", "1000x640"],
                   tmp_path / "home")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"Saved {shot}" in proc.stdout
    with Image.open(shot) as im:
        assert im.size == (1000, 640)
        rgb = im.convert("RGB")
        # the first thumbnail (a red photo) is painted in the top-left cell of the grid
        reds = sum(1 for x in range(0, 400, 4) for y in range(80, 320, 4)
                   if (p := rgb.getpixel((x, y)))[0] > 180 and p[1] < 80 and p[2] < 80)
        assert reds > 500, "no thumbnail in the screenshot"
    assert "QThread" not in proc.stderr


def test_watch_command_prints_a_line_per_batch_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    make_photos(photos, n_each=1)
    lib = tmp_path / "lib"
    index_library(lib, photos)
    env = dict(os.environ, DESKTOP_SEARCH_HOME=str(tmp_path / "home"), HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO),
               PYTHONUNBUFFERED="1")
    code = "import sys, tests.fakes; from desktop_search.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", code, "watch", "--library", str(lib), "--quiet-period", "0.3"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    try:
        assert proc.stdout is not None

        def wait_for(text: str, timeout: float = 30) -> str:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                line = proc.stdout.readline()
                if not line:
                    break
                lines.append(line.rstrip())
                if text in line:
                    return line
            raise AssertionError(f"{text!r} not printed; got {lines}")

        wait_for("press Ctrl+C")
        from tests.fakes import solid_image

        solid_image(photos / "new.jpg", (10, 200, 200))
        line = wait_for("1 added")
        assert "changed path" in line
        os.remove(photos / "new.jpg")
        wait_for("1 removed")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
        rest = proc.stdout.read()
        assert "Stopped." in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
