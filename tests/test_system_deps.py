"""`make run` on a fresh machine: the system libraries Qt's window needs are checked before it starts,
installed where that is possible (root with apt-get), otherwise named with the one command that
installs them; and ``gui --screenshot`` with no display renders offscreen instead of aborting."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from desktop_search import system_deps
from desktop_search.system_deps import (
    Missing,
    ensure,
    find_missing,
    missing_for_display,
    unresolved_libraries,
)
from tests.ui_support import index_library, make_photos

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux system libraries")

# what ldd said for Qt's xcb plugin on a fresh Debian 12 with a desktop
FRESH_DEBIAN_LDD = """\
\tlinux-vdso.so.1 (0x00007ffd6b9f1000)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/plugins/platforms/../../lib/libQt6XcbQpa.so.6 (0x00007f7c0e400000)
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f7c0e3d0000)
\tlibxcb-icccm.so.4 => not found
\tlibfancy-new.so.2 => not found
"""


class FakeSystem:
    """ldd, dpkg-query and apt-get as a fresh Debian 12 answers them; apt-get 'installs'."""

    def __init__(self) -> None:
        self.installed: set[str] = {"libxcb1", "xauth"}
        self.commands: list[list[str]] = []

    def __call__(self, cmd):
        cmd = list(cmd)
        self.commands.append(cmd)
        if cmd[0] == "ldd":
            text = "".join(line + "\n" for line in FRESH_DEBIAN_LDD.splitlines()
                           if not any(f"{lib} =>" in line for lib, pkg in system_deps.SONAME_PACKAGES.items()
                                      if pkg in self.installed and "not found" in line)
                           and "libfancy" not in line)
            return subprocess.CompletedProcess(cmd, 0, text, "")
        if cmd[0] == "dpkg-query":
            out = "".join(f"{p} install ok installed\n" for p in cmd[3:] if p in self.installed)
            return subprocess.CompletedProcess(cmd, 0 if out else 1, out, "")
        if "apt-get" in cmd and "install" in cmd:
            self.installed |= {a for a in cmd[cmd.index("install") + 1:] if not a.startswith("-")}
        return subprocess.CompletedProcess(cmd, 0, "", "")


def test_ldd_output_names_each_missing_library_once() -> None:
    assert unresolved_libraries(FRESH_DEBIAN_LDD) == [
        "libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libfancy-new.so.2"]


def test_all_three_missing_libraries_are_named_with_the_command_that_installs_them(tmp_path: Path) -> None:
    """Qt's own message named only libxcb-cursor0; the check names all three, and the command."""
    fake = FakeSystem()
    missing = find_missing(run=fake, plugin=tmp_path / "libqxcb.so")
    assert missing.packages == ["libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1"]
    out = io.StringIO()
    code = ensure_with(fake, tmp_path, is_root=False, out=out)
    assert code == 1
    assert "sudo apt-get install -y libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1" in out.getvalue()
    assert not any("apt-get" in c for c in fake.commands), "nothing is installed without root"


def ensure_with(fake: FakeSystem, tmp_path: Path, **kwargs) -> int:
    plugin = tmp_path / "libqxcb.so"
    original = system_deps.xcb_plugin
    system_deps.xcb_plugin = lambda: plugin  # type: ignore[assignment]
    try:
        return ensure(run=fake, **kwargs)
    finally:
        system_deps.xcb_plugin = original  # type: ignore[assignment]


def test_as_root_with_apt_the_missing_packages_are_installed_then_checked_again(tmp_path: Path,
                                                                                  monkeypatch) -> None:
    monkeypatch.setattr(system_deps.shutil, "which", lambda name: f"/usr/bin/{name}")
    fake = FakeSystem()
    out = io.StringIO()
    assert ensure_with(fake, tmp_path, is_root=True, out=out) == 0
    installs = [c for c in fake.commands if "install" in c and "apt-get" in c]
    assert len(installs) == 1
    assert installs[0][-3:] == ["libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1"]
    assert fake.commands[-1][0] == "ldd"  # checked again after installing


def test_before_pyside6_is_installed_the_debian_package_list_is_checked(monkeypatch) -> None:
    monkeypatch.setattr(system_deps.shutil, "which", lambda name: f"/usr/bin/{name}")
    fake = FakeSystem()
    missing = find_missing(["xvfb", "xauth"], run=fake, plugin=None)
    assert "libxcb-cursor0" in missing.packages and "xvfb" in missing.packages
    assert "xauth" not in missing.packages and "libxcb1" not in missing.packages


def test_this_machine_has_what_the_window_needs() -> None:
    """The real check (ldd on the installed PySide6's xcb plugin) on the test machine."""
    if system_deps.xcb_plugin() is None:
        pytest.skip("PySide6's xcb plugin is not here")
    assert find_missing() == Missing(), find_missing().message()


def test_make_run_checks_the_system_before_it_opens_the_window() -> None:
    proc = subprocess.run(["make", "-n", "run"], cwd=REPO, capture_output=True, text=True, check=True,
                          env=dict(os.environ, MAKEFLAGS=""))
    lines = [line for line in proc.stdout.splitlines() if "system_deps.py" in line or "desktop-search" in line]
    assert "system_deps.py --install" in lines[0]
    assert lines[-1].strip().endswith("desktop-search")
    ci = (REPO / ".ci" / "run").read_text()
    assert "desktop_search/system_deps.py --install" in ci
    readme = (REPO / "README.md").read_text()
    assert "sudo apt-get install -y libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1" in readme


def _gui(args: list[str], tmp_path: Path, env_overrides: dict[str, str], drop: tuple[str, ...] = ()):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", *drop)}
    env.update(DESKTOP_SEARCH_HOME=str(tmp_path / "home"), HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO), **env_overrides)
    code = "import sys, tests.fakes; from desktop_search.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, "gui", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=150)


@pytest.mark.timeout(180)
def test_a_screenshot_without_a_display_renders_offscreen_instead_of_aborting(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    make_photos(photos, n_each=1, size=(160, 120))
    index_library(tmp_path / "lib", photos)
    shot = tmp_path / "shot.png"
    proc = _gui(["--library", str(tmp_path / "lib"), "--query", "red", "--screenshot", str(shot)], tmp_path, {})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert shot.exists() and shot.stat().st_size > 1000
    # and the window itself, with no display, says why in one line instead of Qt's abort
    proc = _gui(["--library", str(tmp_path / "lib")], tmp_path, {})
    assert proc.returncode == 1
    assert "no display" in proc.stderr and "Aborted" not in proc.stderr


@pytest.mark.timeout(120)
def test_the_window_names_missing_libraries_instead_of_aborting_in_qt(tmp_path: Path) -> None:
    """As on the fresh Debian 12: an X display, but the xcb plugin's libraries are not there (a
    stand-in ldd reports them missing): one message with the command, exit code 1, no core dump."""
    if system_deps.xcb_plugin() is None:
        pytest.skip("PySide6's xcb plugin is not here")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    ldd = bin_dir / "ldd"
    ldd.write_text("#!/bin/sh\nprintf '\\tlibxcb-cursor.so.0 => not found\\n\\tlibxcb-icccm.so.4 => not found\\n"
                   "\\tlibxcb-keysyms.so.1 => not found\\n'\n")
    ldd.chmod(ldd.stat().st_mode | stat.S_IEXEC)
    proc = _gui(["--library", str(tmp_path / "lib")], tmp_path,
                {"DISPLAY": ":97", "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"})
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "sudo apt-get install -y libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1" in proc.stderr
    assert missing_for_display({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}) == Missing()  # Qt uses Wayland
    assert missing_for_display({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}) == Missing()
