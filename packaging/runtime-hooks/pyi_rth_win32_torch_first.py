"""Runtime hook (Windows builds only): import torch before anything loads PySide6.

torch 2.9 and later is reported to fail initialising its DLLs (c10.dll: "A dynamic link library
(DLL) initialization routine failed", WinError 1114) when it is imported after Qt has loaded its
own copies of the MSVC runtime / OpenMP DLLs. The GUI imports torch lazily, after the window is up,
so in the frozen Windows app torch is imported here, first. This costs the import time of torch
(1-3 s) before the window appears on Windows only; the spec adds this hook only when building on
win32 and it is a no-op elsewhere.

Set DESKTOP_SEARCH_NO_EARLY_TORCH=1 to skip it (to check whether a given torch/Qt pair still needs it).
"""

import os
import sys

if sys.platform == "win32" and not os.environ.get("DESKTOP_SEARCH_NO_EARLY_TORCH"):
    try:
        import torch  # noqa: F401
    except Exception as exc:  # report, but let the app start: it shows its own error on model load
        sys.stderr.write(f"desktop-search: early torch import failed: {exc!r}\n") if sys.stderr else None
