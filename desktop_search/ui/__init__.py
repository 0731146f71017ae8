"""The PySide6 window: thin widgets over the Qt-free core (see docs/ARCHITECTURE.md).

Import-light: importing this package imports nothing; ``desktop_search.ui.app.run_gui`` starts the
window.
"""
