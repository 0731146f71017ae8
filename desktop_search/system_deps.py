"""The system libraries Qt's window needs on Linux: find what is missing, install it or say how.

``make run`` runs this before it opens the window, and ``.ci/run`` before the tests; ``desktop-search
gui`` asks :func:`missing_for_display` before it creates the window, so a missing library is a
one-line message with the command that fixes it, never Qt's abort (which names only the first
library it missed). Stdlib only: it runs as a plain script before any virtual environment exists::

    python3 desktop_search/system_deps.py [--install] [--extra PKG ...]

What is missing is known two ways, both used where they work: the Debian packages below that
``dpkg-query`` does not report installed, and — once PySide6 is installed — the libraries ``ldd``
cannot resolve for Qt's X11 platform plugin (any distribution; named by their files where no
package is known). ``--install`` installs the missing packages with apt-get when run as root (as
``.ci/run`` does); otherwise it prints the one command that does and exits 1.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: what Qt needs on Debian / Ubuntu to open a window on X11 (and EGL/GL, fonts, D-Bus even offscreen)
QT_PACKAGES = (
    "libegl1", "libgl1", "libglib2.0-0", "libfontconfig1", "libdbus-1-3", "libxkbcommon0",
    "libxkbcommon-x11-0", "libxcb-cursor0", "libxcb-icccm4", "libxcb-image0", "libxcb-keysyms1",
    "libxcb-render-util0", "libxcb-xinerama0", "libxcb-xkb1", "libxcb-shape0", "libxcb-randr0",
)

#: library file -> the Debian package that has it (for what ldd reports missing)
SONAME_PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb.so.1": "libxcb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libSM.so.6": "libsm6",
    "libICE.so.6": "libice6",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libGLX.so.0": "libglx0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libdbus-1.so.3": "libdbus-1-3",
}


@dataclass
class Missing:
    """What Qt's window lacks: Debian packages, and library files with no known package."""

    packages: list[str] = field(default_factory=list)
    libraries: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.packages or self.libraries)

    def install_command(self) -> str:
        return "sudo apt-get install -y " + " ".join(self.packages) if self.packages else ""

    def message(self) -> str:
        """What a user reads: what is missing and the one command that installs it."""
        names = self.packages + self.libraries
        lines = [f"The window needs system libraries that are missing: {', '.join(names)}."]
        if self.packages:
            lines.append(f"Install them with:\n    {self.install_command()}")
        else:
            lines.append("Install them with your distribution's package manager.")
        return "\n".join(lines)


Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def _run(cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, check=False)


def unresolved_libraries(ldd_output: str) -> list[str]:
    """The library files ``ldd`` reports as ``not found``, in order, each once."""
    out: list[str] = []
    for line in ldd_output.splitlines():
        name, sep, where = line.strip().partition("=>")
        if sep and where.strip() == "not found" and name.strip() not in out:
            out.append(name.strip())
    return out


def packages_for(libraries: Iterable[str]) -> tuple[list[str], list[str]]:
    """Split library files into (Debian packages that have them, files with no known package)."""
    packages: list[str] = []
    unknown: list[str] = []
    for lib in libraries:
        pkg = SONAME_PACKAGES.get(lib)
        if pkg is None:
            unknown.append(lib)
        elif pkg not in packages:
            packages.append(pkg)
    return packages, unknown


def uninstalled_packages(packages: Iterable[str], run: Runner = _run) -> list[str]:
    """The Debian packages dpkg does not report installed ([] without dpkg)."""
    wanted = list(dict.fromkeys(packages))
    if not wanted or shutil.which("dpkg-query") is None:
        return []
    result = run(["dpkg-query", "-W", "-f=${Package} ${Status}\n", *wanted])
    installed = {line.split()[0] for line in result.stdout.splitlines()
                 if line.strip() and line.rstrip().endswith("install ok installed")}
    return [p for p in wanted if p not in installed]


def xcb_plugin() -> Path | None:
    """Qt's X11 platform plugin in the installed PySide6 (None without PySide6, or frozen)."""
    if getattr(sys, "frozen", False):
        return None  # the bundle carries its own libraries
    try:
        import importlib.util

        spec = importlib.util.find_spec("PySide6")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        plugin = Path(base) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
        if plugin.exists():
            return plugin
    return None


def find_missing(extra: Iterable[str] = (), run: Runner = _run, plugin: Path | bool | None = True) -> Missing:
    """What is missing now. With PySide6 installed, exactly what ``ldd`` cannot resolve for Qt's
    X11 plugin (``plugin``: that file, True: find it); before that (a fresh CI machine), the
    Debian packages of :data:`QT_PACKAGES` dpkg does not have. ``extra`` packages always count."""
    if not sys.platform.startswith("linux"):
        return Missing()
    path = xcb_plugin() if plugin is True else plugin or None
    if path is not None and shutil.which("ldd") is not None:
        packages, libraries = packages_for(unresolved_libraries(run(["ldd", str(path)]).stdout))
        packages += [p for p in uninstalled_packages(extra, run) if p not in packages]
        return Missing(packages, libraries)
    return Missing(uninstalled_packages([*QT_PACKAGES, *extra], run), [])


def missing_for_display(environ: dict[str, str] | None = None, run: Runner = _run) -> Missing:
    """What Qt's X11 window would miss here (nothing to check for offscreen, Wayland-only, macOS,
    Windows): the libraries ldd cannot resolve for the xcb plugin. Fast (one ldd)."""
    env = os.environ if environ is None else environ
    platform = env.get("QT_QPA_PLATFORM", "")
    if not sys.platform.startswith("linux") or (platform and not platform.startswith("xcb")):
        return Missing()
    if not env.get("DISPLAY") or (not platform and env.get("WAYLAND_DISPLAY")):
        return Missing()  # no X11 display, or Qt opens the window on Wayland
    path = xcb_plugin()
    if path is None or shutil.which("ldd") is None:
        return Missing()
    packages, libraries = packages_for(unresolved_libraries(run(["ldd", str(path)]).stdout))
    return Missing(packages, libraries)


def has_display(environ: dict[str, str] | None = None) -> bool:
    """Whether a window can be shown at all (Linux needs an X11 or Wayland display)."""
    env = os.environ if environ is None else environ
    if not sys.platform.startswith("linux"):
        return True
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def can_install(run_as_root: bool | None = None) -> bool:
    root = (os.geteuid() == 0) if run_as_root is None else run_as_root
    return root and shutil.which("apt-get") is not None


def ensure(extra: Iterable[str] = (), install: bool = True, run: Runner = _run, is_root: bool | None = None,
           out=None) -> int:
    """Check, install what is missing where possible (root with apt-get), and report.
    Returns 0 when nothing is missing (any more), 1 otherwise (after printing the fix)."""
    out = out or sys.stderr
    extra = list(extra)
    missing = find_missing(extra, run)
    if not missing:
        return 0
    if install and missing.packages and can_install(is_root):
        print(f"Installing what Qt needs: {' '.join(missing.packages)}", file=out)
        env_cmd = ["env", "DEBIAN_FRONTEND=noninteractive"]
        run([*env_cmd, "apt-get", "update", "-qq"])
        result = run([*env_cmd, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing.packages])
        if result.returncode != 0:
            print(f"apt-get could not install them: {(result.stderr or result.stdout).strip()[-500:]}", file=out)
        missing = find_missing(extra, run)
        if not missing:
            return 0
    print(missing.message(), file=out)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check (and install) the system libraries Qt's window needs.")
    parser.add_argument("--install", action="store_true", help="install what is missing (root with apt-get)")
    parser.add_argument("--extra", nargs="*", default=[], metavar="PKG", help="more Debian packages wanted")
    args = parser.parse_args(argv)
    return ensure(args.extra, install=args.install)


if __name__ == "__main__":
    sys.exit(main())
