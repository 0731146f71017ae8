"""Start the window: ``run_gui(options) -> exit code``.

Start-up order matters for how fast the window appears: Qt and the window first (no torch, no
SQLAlchemy on this path), then, once the event loop runs, the library opens on a worker thread and
the model loads on another (``lib.load_model()`` imports torch there). A query given on the command
line, or typed before the model is ready, runs as soon as it is.

``screenshot`` mode waits until the library is open, the query's results are in the grid and every
visible thumbnail is decoded, saves the window as PNG and exits: the documentation's screenshots
and a smoke test use it, under ``QT_QPA_PLATFORM=offscreen`` or Xvfb.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from desktop_search import APP_ID, APP_NAME, __version__

log = logging.getLogger(__name__)


@dataclass
class GuiOptions:
    library: Path | None = None
    query: str | None = None
    examples: Sequence[str] = field(default_factory=tuple)
    screenshot: Path | None = None
    model: str | None = None
    #: window size for screenshots, e.g. (1280, 800)
    size: tuple[int, int] | None = None
    #: give up (exit code 1) when the screenshot is not ready after this many seconds
    timeout_s: float = 180.0
    watch: bool | None = None


#: the last window closed with every background thread ended and the library closed: nothing is
#: left for the interpreter's teardown to do but take time (``__main__`` then ends the process at once)
window_closed_cleanly = False

#: how often a Python thread holding the GIL is asked to let another run (CPython's default is
#: 5 ms). The indexing job's threads run a lot of Python; with several of them waiting for the
#: GIL, a 5 ms interval lets the GUI thread wait several rounds (stalls of 50-150 ms measured on a
#: loaded 2-core machine); 2 ms keeps it responsive at a negligible cost to throughput.
GUI_SWITCH_INTERVAL_S = 0.002


def tune_interpreter_for_gui() -> float:
    """Apply the GUI process's interpreter settings; returns the previous switch interval."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(min(previous, GUI_SWITCH_INTERVAL_S))
    return previous


def _application(argv: Sequence[str] | None):
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(list(argv) if argv else [sys.argv[0] if sys.argv else APP_ID])
    app.setApplicationName(APP_ID)
    QGuiApplication.setApplicationDisplayName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setOrganizationName(APP_ID)
    QGuiApplication.setDesktopFileName(APP_ID)  # matches resources/desktop-search.desktop (Wayland app id)
    return app


def run_gui(options: GuiOptions | None = None, argv: Sequence[str] | None = None) -> int:
    """Open the main window and run the event loop; returns the exit code."""
    options = options or GuiOptions()
    refusal = _choose_platform(options)
    if refusal:
        print(f"desktop-search: {refusal}", file=sys.stderr)
        return 1
    tune_interpreter_for_gui()
    app = _application(argv)

    from .icons import app_icon
    from .main_window import MainWindow

    app.setWindowIcon(app_icon())
    window = MainWindow(library=options.library, model_name=options.model, watch=options.watch)
    if options.size:
        window.resize(*options.size)
    # a blocking join as a last resort if the application quits without closing the window
    app.aboutToQuit.connect(lambda: window.shutdown_now(timeout_s=0.1 if window.abandoned else window.force_quit_s))
    window.show()

    from PySide6.QtCore import QTimer

    QTimer.singleShot(0, lambda: window.start(options.query, tuple(options.examples)))
    previous_handler = _close_on_interrupt(window)
    outcome = {"code": 0}
    if options.screenshot is not None:
        _arm_screenshot(window, options, outcome)
    try:
        code = app.exec()
    finally:
        if previous_handler is not None:
            import signal

            signal.signal(signal.SIGINT, previous_handler)
    result = outcome["code"] if options.screenshot is not None else int(code)
    global window_closed_cleanly
    window_closed_cleanly = window.closed and not window.controller.busy() and not window.controller.library_open
    if window.controller.busy():
        # a job that did not stop in time (a long batch in flight): quitting must not wait for it,
        # and a QThread still running when Python tears the objects down aborts the process.
        # Committed batches are on disk; SQLite rolls back the one in flight.
        _exit_now(result)
    return result


def _exit_now(code: int) -> None:
    import os

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def _choose_platform(options: GuiOptions) -> str | None:
    """Before Qt starts (which aborts the process when it cannot open its platform): a screenshot
    with no usable display renders offscreen; a window that cannot be opened is a message naming
    the fix. Returns that message, or None to go on."""
    import os

    from PySide6.QtWidgets import QApplication

    from desktop_search.system_deps import has_display, missing_for_display

    if QApplication.instance() is not None or os.environ.get("QT_QPA_PLATFORM"):
        return None  # Qt runs already, or the user chose the platform
    if not has_display():
        if options.screenshot is not None:
            os.environ["QT_QPA_PLATFORM"] = "offscreen"
            return None
        return ("there is no display to open the window on (DISPLAY and WAYLAND_DISPLAY are not set). "
                "Start it from a desktop session, or use the command line: desktop-search --help")
    missing = missing_for_display()
    if missing:
        if options.screenshot is not None:
            print(f"desktop-search: {missing.message()}\nSaving the screenshot offscreen.", file=sys.stderr)
            os.environ["QT_QPA_PLATFORM"] = "offscreen"
            return None
        return missing.message()
    return None


def _close_on_interrupt(window):
    """Ctrl+C in the terminal closes the window the normal way (background work stops cleanly).

    Python handles signals only when it runs, so a light timer wakes it while Qt's loop waits.
    """
    import signal
    import threading

    from PySide6.QtCore import QTimer

    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        previous = signal.signal(signal.SIGINT, lambda *_: window.close())
    except (ValueError, OSError):  # no such signal here
        return None
    wake = QTimer(window)
    wake.setInterval(250)
    wake.timeout.connect(lambda: None)
    wake.start()
    return previous


def _arm_screenshot(window, options: GuiOptions, outcome: dict[str, int]) -> None:
    """Poll until the window shows what was asked for, then save it and quit."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from .main_window import Page

    started = time.monotonic()
    state: dict[str, float | None] = {"settled_at": None}
    timer = QTimer(window)
    timer.setInterval(100)

    def ready() -> bool:
        c = window.controller
        if not c.library_open or window.stack.currentIndex() == Page.LOADING:
            return False
        wants_results = bool(options.query or options.examples)
        if wants_results:
            if not c.model_ready or c.search_pending or window.shown_query is None:
                return False
            if window.stack.currentIndex() not in (Page.RESULTS, Page.NO_RESULTS):
                return False
        window.view.viewport().repaint()  # paints the visible cells, which requests their thumbnails
        return window.results.visible_thumbnails_loaded() and window.loader.pending_count() == 0

    def tick() -> None:
        if ready():
            # one more round so the decoded thumbnails are painted
            if state["settled_at"] is None:
                state["settled_at"] = time.monotonic()
                return
            timer.stop()
            assert options.screenshot is not None  # only armed with a screenshot path
            path = Path(options.screenshot)
            path.parent.mkdir(parents=True, exist_ok=True)
            window.repaint()
            if window.grab().save(str(path), "PNG", 0):  # 0: the smallest PNG
                print(f"Saved {path}")
            else:
                print(f"desktop-search: cannot write {path}", file=sys.stderr)
                outcome["code"] = 1
            window.close()
            _quit_when_closed(window)
        elif time.monotonic() - started > options.timeout_s:
            timer.stop()
            print("desktop-search: the window was not ready for a screenshot in time", file=sys.stderr)
            outcome["code"] = 1
            window.close()
            _quit_when_closed(window)
        else:
            state["settled_at"] = None

    def _quit_when_closed(win) -> None:
        def check() -> None:
            if win.closed:
                QApplication.quit()
            else:
                QTimer.singleShot(50, check)

        check()

    def open_failed(text: str) -> None:  # nothing to wait for: say why and stop at once
        timer.stop()
        print(f"desktop-search: {text}", file=sys.stderr)
        outcome["code"] = 1
        window.close()
        _quit_when_closed(window)

    window.controller.open_failed.connect(open_failed)
    timer.timeout.connect(tick)
    timer.start()
