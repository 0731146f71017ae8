"""Measure launch-to-window time: start the app, wait until its window is mapped on an X server.

    python packaging/measure_startup.py [--runs 5] [--xvfb] -- COMMAND [ARGS...]

e.g. for the unpacked Linux bundle (under Xvfb, warm disk cache: the first run is a warm-up):

    python3 packaging/measure_startup.py --xvfb -- ./desktop-search-0.1.0/desktop-search

"Shown" means: a window of the started process is viewable (mapped) on the X server, found by
polling ``xdotool search --onlyvisible --pid PID`` every 10 ms. The app runs with a fresh, empty
DESKTOP_SEARCH_HOME each time. Needs xdotool (and Xvfb for --xvfb): apt-get install xvfb xdotool.
Prints one line per run and the median; exits 1 if a window did not appear within --timeout.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def start_xvfb() -> tuple[subprocess.Popen, str]:
    for number in range(97, 120):
        if os.path.exists(f"/tmp/.X11-unix/X{number}") or os.path.exists(f"/tmp/.X{number}-lock"):
            continue
        display = f":{number}"
        proc = subprocess.Popen(
            ["Xvfb", display, "-screen", "0", "1600x1000x24", "-nolisten", "tcp", "-noreset"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            if os.path.exists(f"/tmp/.X11-unix/X{number}"):
                return proc, display
            time.sleep(0.05)
        proc.kill()
    raise RuntimeError("could not start Xvfb")


def window_visible(pid: int, env: dict[str, str]) -> bool:
    out = subprocess.run(
        ["xdotool", "search", "--onlyvisible", "--pid", str(pid)], env=env, capture_output=True, text=True
    )
    return out.returncode == 0 and bool(out.stdout.strip())


def one_run(cmd: list[str], env: dict[str, str], timeout: float) -> float | None:
    with tempfile.TemporaryDirectory(prefix="ds-startup-") as home:
        run_env = dict(env, DESKTOP_SEARCH_HOME=home, QT_QPA_PLATFORM="xcb")
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=run_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        shown = None
        try:
            while time.perf_counter() - started < timeout:
                if window_visible(proc.pid, run_env):
                    shown = time.perf_counter() - started
                    break
                if proc.poll() is not None:
                    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                    print(f"the app exited with {proc.returncode} before showing a window:\n{err}", file=sys.stderr)
                    return None
                time.sleep(0.01)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return shown


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--xvfb", action="store_true", help="start a private Xvfb server")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--budget", type=float, default=3.0, help="exit 1 when the median exceeds this")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    cmd = [c for c in args.command if c != "--"] if args.command[:1] == ["--"] else args.command
    if not cmd:
        parser.error("give the command to start, after --")
    if not shutil.which("xdotool"):
        parser.error("xdotool is missing (apt-get install xdotool)")
    env = dict(os.environ)
    xvfb = None
    if args.xvfb:
        xvfb, env["DISPLAY"] = start_xvfb()
    elif not env.get("DISPLAY"):
        parser.error("no DISPLAY: use --xvfb")
    try:
        warm = one_run(cmd, env, args.timeout)
        print(f"warm-up: {warm:.2f} s" if warm is not None else "warm-up: no window")
        times = []
        for i in range(args.runs):
            t = one_run(cmd, env, args.timeout)
            if t is None:
                print(f"run {i + 1}: no window within {args.timeout:.0f} s")
                return 1
            times.append(t)
            print(f"run {i + 1}: {t:.2f} s")
        median = statistics.median(times)
        print(f"launch-to-window: median {median:.2f} s, min {min(times):.2f} s, max {max(times):.2f} s "
              f"over {len(times)} runs (budget {args.budget:.1f} s)")
        return 0 if median <= args.budget else 1
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait()


if __name__ == "__main__":
    sys.exit(main())
