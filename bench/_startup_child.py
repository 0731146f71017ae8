"""Runs ``desktop-search gui`` in this process with two probes, for bench/startup.py.

Prints ``STARTUP window <unix time>`` at the first paint of the main window and
``STARTUP results <unix time> <count>`` when the first non-empty results reach the window's results
model, then exits at once. Nothing else is imported before the app's own entry point, so the time
from process start is the app's. Usage: _startup_child.py ARGS-FOR-desktop-search...
"""

from __future__ import annotations

import os
import sys
import time


def _say(*parts: object) -> None:
    sys.stdout.write("STARTUP " + " ".join(str(p) for p in parts) + "\n")
    sys.stdout.flush()


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
            return False

    original = results_model.ResultsModel.set_results

    def set_results(self, results, *a, **kw):  # type: ignore[no-untyped-def]
        out = original(self, results, *a, **kw)
        results = list(results)
        if results:
            _say("results", f"{time.time():.6f}", len(results))
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


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        _install_probes()
    except Exception as exc:  # the window code changed: say so, the parent reports it
        _say("error", repr(exc))
        sys.exit(3)
    from desktop_search.__main__ import main

    sys.argv = ["desktop-search", *sys.argv[1:]]
    sys.exit(main())
