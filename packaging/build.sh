#!/usr/bin/env bash
# Build the Linux one-folder bundle and its tarball:
#   dist/desktop-search-VERSION-linux-x86_64.tar.gz
#
# Creates its own build environment in packaging/.buildenv (CPU torch, PyInstaller, the app and its
# dependencies), never the development venv (which has CUDA torch). Re-runs reuse the environment
# while pyproject.toml and this script's pins are unchanged.
#
#   packaging/build.sh              environment (if needed) + bundle + tarball
#   packaging/build.sh --env-only   only create/refresh the build environment
#   packaging/build.sh --fresh      delete the build environment and PyInstaller's cache first
#   packaging/build.sh --archive-only  keep only the tarball: remove the unpacked bundle and
#                                   PyInstaller's work folder afterwards (~0.9 GB less disk; CI)
#
# Environment overrides:
#   PYTHON            interpreter for the venv (default: python3.11, else python3)
#   TORCH_SPEC        torch requirement (default: torch==2.13.0; a CPU wheel must be what pip finds)
#   TORCH_INDEX_URL   extra index for torch, e.g. https://download.pytorch.org/whl/cpu elsewhere
#   PYINSTALLER_SPEC  PyInstaller requirement (default: pinned below)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
ENV_DIR="$HERE/.buildenv"
WORK_DIR="$HERE/build"
OUT_DIR="$ROOT/dist"

TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
PYINSTALLER_SPEC="${PYINSTALLER_SPEC:-pyinstaller==6.22.3 pyinstaller-hooks-contrib==2026.9}"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"

ENV_ONLY=0
FRESH=0
ARCHIVE_ONLY=0
for arg in "$@"; do
    case "$arg" in
        --env-only) ENV_ONLY=1 ;;
        --fresh) FRESH=1 ;;
        --archive-only) ARCHIVE_ONLY=1 ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "build.sh: unknown option $arg" >&2; exit 2 ;;
    esac
done

export PIP_DISABLE_PIP_VERSION_CHECK=1
export HF_HUB_OFFLINE=1
export TOKENIZERS_PARALLELISM=false
SECONDS=0
log() { printf '[build %4ds] %s\n' "$SECONDS" "$*"; }

if [[ $FRESH == 1 ]]; then
    log "removing $ENV_DIR and $WORK_DIR"
    rm -rf "$ENV_DIR" "$WORK_DIR"
fi

# ---------------------------------------------------------------------------------------------- env
BIN="$ENV_DIR/bin"
PY="$BIN/python"
STAMP="$ENV_DIR/.installed"
#: the app's optional extras shipped in the bundle: HEIC/HEIF photos (pillow-heif, ~10 MB)
APP_EXTRAS="heic"
STAMP_KEY="$(cat "$ROOT/pyproject.toml" <(echo "$TORCH_SPEC $PYINSTALLER_SPEC ${TORCH_INDEX_URL:-} $APP_EXTRAS") | sha256sum | cut -c1-16)"

if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$STAMP_KEY" ]]; then
    log "creating the build environment in $ENV_DIR with $PYTHON"
    [[ -x "$PY" ]] || "$PYTHON" -m venv "$ENV_DIR"
    "$PY" -m pip install --quiet --upgrade pip wheel setuptools
    # 1. CPU torch first, alone (no CUDA wheels: the nvidia-* packages never enter this env)
    # shellcheck disable=SC2086
    "$PY" -m pip install --quiet ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} "$TORCH_SPEC"
    "$PY" - <<'PYEOF'
import torch, sys
if torch.version.cuda is not None or torch.version.hip is not None:
    sys.exit(f"build.sh: {torch.__version__} is a GPU build; the packaged app needs the CPU build")
print("torch", torch.__version__, "(CPU build)")
PYEOF
    # 2. Keep that exact torch while the app's dependencies install (pip would otherwise be free to
    #    "upgrade" it to a CUDA build from the index).
    TORCH_VERSION="$("$PY" -c 'import importlib.metadata as m; print(m.version("torch"))')"
    echo "torch==$TORCH_VERSION" > "$ENV_DIR/constraints.txt"
    # shellcheck disable=SC2086
    "$PY" -m pip install --quiet -c "$ENV_DIR/constraints.txt" $PYINSTALLER_SPEC
    "$PY" -m pip install --quiet -c "$ENV_DIR/constraints.txt" "$ROOT[$APP_EXTRAS]"
    if "$PY" -m pip show torchvision >/dev/null 2>&1; then
        echo "build.sh: torchvision got into the build environment; it has no matching CPU build here" >&2
        exit 1
    fi
    if "$PY" -m pip list 2>/dev/null | grep -qiE '^nvidia-'; then
        echo "build.sh: CUDA packages (nvidia-*) got into the build environment" >&2
        exit 1
    fi
    echo "$STAMP_KEY" > "$STAMP"
else
    log "reusing the build environment in $ENV_DIR"
    # the app itself changes between builds: refresh it (its metadata gives the bundle's version)
    "$PY" -m pip install --quiet --no-deps --force-reinstall -c "$ENV_DIR/constraints.txt" "$ROOT"
fi
[[ $ENV_ONLY == 1 ]] && { log "environment ready"; exit 0; }

# ---------------------------------------------------------------------------------------------- bundle
read -r NAME VERSION < <("$PY" - "$ROOT/pyproject.toml" <<'PYEOF'
import sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
print(project["name"], project["version"])
PYEOF
)
FOLDER="$NAME-$VERSION"
DIST_DIR="$WORK_DIR/dist"
ARCHIVE="$OUT_DIR/$NAME-$VERSION-linux-x86_64.tar.gz"
MAX_ARCHIVE_MB="${MAX_ARCHIVE_MB:-450}"

# Qt's xcb platform plugin needs these host libraries at build time to bundle them; without them the
# bundle still runs offscreen/Wayland but not on X11 systems that lack libxcb-cursor0.
if command -v ldconfig >/dev/null 2>&1; then
    missing=()
    for lib in libxcb-cursor.so.0 libxkbcommon-x11.so.0 libxcb-icccm.so.4 libxcb-keysyms.so.1 \
               libxcb-render-util.so.0 libxcb-image.so.0; do
        ldconfig -p | grep -q "$lib" || missing+=("$lib")
    done
    if (( ${#missing[@]} )); then
        echo "build.sh: WARNING: ${missing[*]} not found: the bundle's X11 (xcb) support will rely on the" \
             "user's system. Install: apt-get install libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4" \
             "libxcb-keysyms1 libxcb-render-util0 libxcb-image0" >&2
    fi
fi

log "PyInstaller: $FOLDER (one folder)"
rm -rf "${DIST_DIR:?}/$FOLDER"
(cd "$ROOT" && QT_QPA_PLATFORM=offscreen "$PY" -m PyInstaller --noconfirm --log-level WARN \
    --distpath "$DIST_DIR" --workpath "$WORK_DIR/pyi" "$HERE/desktop-search.spec")

BUNDLE="$DIST_DIR/$FOLDER"
[[ -x "$BUNDLE/$NAME" ]] || { echo "build.sh: no executable at $BUNDLE/$NAME" >&2; exit 1; }
log "bundle: $(du -sh "$BUNDLE" | cut -f1) in $BUNDLE"

# quick smoke check (the full check is tests/test_packaging.py / --self-test)
"$BUNDLE/$NAME" --version

# ---------------------------------------------------------------------------------------------- archive
mkdir -p "$OUT_DIR"
log "archiving to $ARCHIVE"
if command -v pigz >/dev/null 2>&1; then COMPRESS="pigz -6"; else COMPRESS="gzip -6"; fi
tar -C "$DIST_DIR" --owner=0 --group=0 --numeric-owner -cf - "$FOLDER" | $COMPRESS > "$ARCHIVE.tmp"
mv -f "$ARCHIVE.tmp" "$ARCHIVE"
SIZE_MB=$(( $(stat -c %s "$ARCHIVE") / 1000000 ))
log "archive: $SIZE_MB MB (budget $MAX_ARCHIVE_MB MB)"
if (( SIZE_MB > MAX_ARCHIVE_MB )); then
    echo "build.sh: $ARCHIVE is $SIZE_MB MB, over the $MAX_ARCHIVE_MB MB budget" >&2
    exit 1
fi
if [[ $ARCHIVE_ONLY == 1 ]]; then
    log "removing the unpacked bundle and PyInstaller's work folder (--archive-only)"
    rm -rf "${BUNDLE:?}" "$WORK_DIR/pyi"
fi
log "done: $ARCHIVE"
