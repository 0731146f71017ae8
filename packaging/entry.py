"""PyInstaller entry script: the frozen ``desktop-search`` executable.

``desktop_search/__main__.py`` cannot be the script itself (it uses relative imports), so this
calls its ``main()``; freeze_support() runs first so that a multiprocessing child started by the
frozen app runs its task instead of a second copy of the app.
"""

import multiprocessing

multiprocessing.freeze_support()

import sys  # noqa: E402

from desktop_search.__main__ import main  # noqa: E402

sys.exit(main())
