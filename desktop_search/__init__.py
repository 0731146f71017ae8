"""Desktop Search: find photos in your own library by meaning, entirely on your machine."""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("desktop-search")
except _metadata.PackageNotFoundError:  # running from a source tree or a frozen bundle
    __version__ = "0.1.0"

APP_NAME = "Desktop Search"
APP_ID = "desktop-search"
