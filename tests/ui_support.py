"""Helpers for the window tests: photo folders, libraries indexed with the tiny model, and a window
fixture that checks, at teardown, that every thread it started has ended."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QThreadPool

from desktop_search.core.app import PhotoLibrary
from desktop_search.core.models.registry import register_model
from tests.fakes import TinyModel, solid_image

COLOURS = {"red": (230, 20, 20), "green": (20, 220, 30), "blue": (20, 30, 230), "yellow": (230, 230, 20)}


def make_photos(folder: Path, n_each: int = 3, size: tuple[int, int] = (64, 48), colours=COLOURS) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, rgb in colours.items():
        for i in range(n_each):
            p = folder / f"{name}_{i:03d}.jpg"
            solid_image(p, rgb, size=size)
            out.append(p)
    return out


def index_library(root: Path, folder: Path, model: str = "tiny") -> None:
    lib = PhotoLibrary.open(root, model_name=model)
    try:
        lib.add_folder(folder)
        for _ in lib.index():
            pass
    finally:
        lib.close()


class SlowTiny(TinyModel):
    """The tiny model, slowed down per image: indexing takes long enough to interrupt."""

    name = "slowtiny"
    delay_s = 0.01

    def encode_images(self, batch):
        time.sleep(self.delay_s * len(batch))
        return super().encode_images(batch)


_SLOW = SlowTiny()
register_model("slowtiny", lambda name, device: _SLOW)


class SlowLoadTiny(TinyModel):
    """The tiny model with a loading time, like a real network (for "Loading model…")."""

    name = "slowload"
    load_s = 1.5


def _slow_load(name: str, device: str | None) -> TinyModel:
    time.sleep(SlowLoadTiny.load_s)
    return SlowLoadTiny()


register_model("slowload", _slow_load)


def wait_until(qtbot, predicate: Callable[[], bool], timeout_ms: int = 10000) -> None:
    qtbot.waitUntil(predicate, timeout=timeout_ms)


@pytest.fixture
def make_window(qtbot) -> Iterator[Callable[..., object]]:
    """Create started main windows; at teardown shut them down and check for leaked threads."""
    from desktop_search.ui.main_window import MainWindow

    before = {t.ident for t in threading.enumerate()}
    windows: list[MainWindow] = []

    def factory(library: Path, *, start: bool = True, query: str | None = None, **kwargs) -> MainWindow:
        kwargs.setdefault("watch", False)
        window = MainWindow(library=library, **kwargs)
        qtbot.addWidget(window)
        window.resize(1000, 700)
        window.show()
        windows.append(window)
        if start:
            window.start(query)
        return window

    yield factory

    for window in windows:
        assert window.shutdown_now(timeout_s=30), "background jobs did not stop"
        window.close()
        assert window.closed
        assert not window.controller.jobs.jobs
        assert window.loader._pool.activeThreadCount() == 0
    deadline = time.monotonic() + 10
    leaked: list[threading.Thread] = []
    while time.monotonic() < deadline:
        leaked = [t for t in threading.enumerate() if t.ident not in before and t.is_alive()
                  and not t.name.startswith("Dummy")]
        if not leaked:
            break
        time.sleep(0.05)
    assert not leaked, f"threads left running: {[t.name for t in leaked]}"
    assert QThreadPool.globalInstance().activeThreadCount() == 0
