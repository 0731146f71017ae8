"""Entry point: ``python -m desktop_search`` and the ``desktop-search`` executable."""

from __future__ import annotations

import multiprocessing
import sys


def main() -> int:
    multiprocessing.freeze_support()
    from .cli import main as cli_main

    return cli_main(sys.argv[1:])


def gui_main() -> int:
    multiprocessing.freeze_support()
    from .cli import main as cli_main

    return cli_main(["gui", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
