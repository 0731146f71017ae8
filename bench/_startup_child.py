"""Runs ``desktop-search gui`` in this process with two probes, for bench/startup.py.

Prints ``STARTUP window <unix time>`` at the first paint of the main window and
``STARTUP results <unix time> <count>`` when the first non-empty results reach the window's results
model, then exits at once. Nothing else is imported before the app's own entry point, so the time
from process start is the app's. Usage: _startup_child.py ARGS-FOR-desktop-search...

With ``DESKTOP_SEARCH_BENCH_PHASES=1`` it also prints ``STARTUP phase NAME start|end <unix time>
<thread>`` around the steps on the way to the first result (importing torch, opening the library,
loading the model and each encoder (``encoder_numpy_minilm``: the numpy text encoder), reading the
vectors, the query, the catch-up scan). These probes are attached after each module is imported, so
they change no import order.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any


def _say(*parts: object) -> None:
    sys.stdout.write("STARTUP " + " ".join(str(p) for p in parts) + "\n")
    sys.stdout.flush()


def _phase(name: str, edge: str) -> None:
    _say("phase", name, edge, f"{time.time():.6f}", threading.current_thread().name.replace(" ", "_"))


def _timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _phase(name, "start")
        try:
            return fn(*args, **kwargs)
        finally:
            _phase(name, "end")

    return wrapper


def _timed_generator(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _phase(name, "start")
        try:
            yield from fn(*args, **kwargs)
        finally:
            _phase(name, "end")

    return wrapper


def _patch_app(module: Any) -> None:
    lib = module.PhotoLibrary
    lib.__init__ = _timed("open_library", lib.__init__)
    lib.load_model = _timed("load_model", lib.load_model)
    lib._load_matrix = _timed("load_matrix", lib._load_matrix)
    lib.search = _timed("search", lib.search)
    lib.index = _timed_generator("catch_up_index", lib.index)
    prefetch = getattr(module, "_Prefetch", None)  # the vectors read while the model loads
    if prefetch is not None:
        prefetch._run = _timed("prefetch_vectors", prefetch._run)
        prefetch.take = _timed("prefetch_take", prefetch.take)


def _patch_registry(module: Any) -> None:
    module.load_model = _timed("build_model", module.load_model)


def _patch_builtin(module: Any) -> None:
    shared = module._shared

    def timed_shared(key: tuple[str, ...], make: Callable[[], Any]) -> Any:
        return shared(key, _timed(f"encoder_{key[0]}", make))

    module._shared = timed_shared
    module.BuiltinModel.encode_queries = _timed("encode_query", module.BuiltinModel.encode_queries)


_PATCHES: dict[str, Callable[[Any], None]] = {
    "desktop_search.core.app": _patch_app,
    "desktop_search.core.models.registry": _patch_registry,
    "desktop_search.core.models.builtin": _patch_builtin,
    "torch": lambda module: None,
}


class _Probe(importlib.abc.MetaPathFinder):
    """Times ``import torch`` and patches the app's modules right after they are executed."""

    def find_spec(self, name, path=None, target=None):  # type: ignore[no-untyped-def]
        if name not in _PATCHES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        exec_module = loader.exec_module
        patch = _PATCHES[name]
        label = "import_torch" if name == "torch" else None

        def timed_exec(module):  # type: ignore[no-untyped-def]
            if label:
                _phase(label, "start")
            try:
                exec_module(module)
            finally:
                if label:
                    _phase(label, "end")
            patch(module)

        loader.exec_module = timed_exec  # type: ignore[method-assign]
        return spec


def _install_probes() -> None:
    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtWidgets import QApplication

    from desktop_search.ui import results_model
    from desktop_search.ui.main_window import MainWindow

    seen = {"window": False}

    class FirstPaint(QObject):
        def eventFilter(self, obj, event):  # type: ignore[no-untyped-def]
            if not seen["window"] and event.type() == QEvent.Type.Paint:
                window = obj.window() if hasattr(obj, "window") else None
                if isinstance(window, MainWindow):
                    seen["window"] = True
                    _say("window", f"{time.time():.6f}")
                    # an application-wide filter costs a Python call per event: seen, it goes
                    QApplication.instance().removeEventFilter(self)
            return False

    original = results_model.ResultsModel.set_results

    def set_results(self, results, *a, **kw):  # type: ignore[no-untyped-def]
        out = original(self, results, *a, **kw)
        results = list(results)
        if results:
            _say("results", f"{time.time():.6f}", len(results))
            if _PHASES:
                # CPU seconds so far: this (the GUI) thread's, and the whole process's
                _say("cpu", f"{time.thread_time():.3f}", f"{time.process_time():.3f}")
            os._exit(0)  # the measurement is over; the library is a scratch copy
        return out

    results_model.ResultsModel.set_results = set_results  # type: ignore[method-assign]
    filt = FirstPaint()
    _install_probes.keep = filt  # type: ignore[attr-defined]
    # install the filter when the window is shown (the application object exists by then)
    original_show = MainWindow.show

    def show(self):  # type: ignore[no-untyped-def]
        QApplication.instance().installEventFilter(filt)
        return original_show(self)

    MainWindow.show = show  # type: ignore[method-assign]


_PHASES = os.environ.get("DESKTOP_SEARCH_BENCH_PHASES") == "1"

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if _PHASES:
        sys.meta_path.insert(0, _Probe())
    try:
        _install_probes()
    except Exception as exc:  # the window code changed: say so, the parent reports it
        _say("error", repr(exc))
        sys.exit(3)
    from desktop_search.__main__ import main

    sys.argv = ["desktop-search", *sys.argv[1:]]
    sys.exit(main())
