"""Entry point: ``python -m desktop_search`` and the ``desktop-search`` executable."""

from __future__ import annotations

import multiprocessing
import sys


def main() -> int:
    multiprocessing.freeze_support()
    from .cli import main as cli_main

    return _end(cli_main(sys.argv[1:]))


def gui_main() -> int:
    multiprocessing.freeze_support()
    from .cli import main as cli_main

    return _end(cli_main(["gui", *sys.argv[1:]]))


def _end(code: int) -> int:
    """After the window has closed cleanly (every thread joined, the library closed), the process
    ends at once: Python's own teardown of torch and Qt took 1-3 s more, a window gone but a process
    still there (quitting must take under 2 s)."""
    app = sys.modules.get("desktop_search.ui.app")
    if app is not None and getattr(app, "window_closed_cleanly", False):
        app._exit_now(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
