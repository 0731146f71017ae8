#!/bin/sh
# Regenerate the screenshots in this folder from real photos (Flickr8k's 200 originals) with the
# builtin model, through the app's own scripted-screenshot mode. Nothing is copied into the
# repository but the PNGs of the window. Usage, from the repository root:
#
#     docs/screenshots/make.sh                 # offscreen
#     xvfb-run -a docs/screenshots/make.sh     # on a virtual X screen
set -eu
REPO=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-$REPO/.venv/bin/python}
DATA=${FLICKR8K_DIR:-$REPO/../shared/data/flickr8k}
OUT=$REPO/docs/screenshots
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export DESKTOP_SEARCH_HOME="$WORK/home" HF_HUB_OFFLINE=1
[ -n "${DISPLAY:-}" ] || export QT_QPA_PLATFORM=offscreen
cd "$REPO"

"$PY" -m desktop_search index --library "$WORK/lib" --model builtin -q "$DATA/originals"
"$PY" -m desktop_search gui --library "$WORK/lib" --no-watch --size 1280x800 \
    --query "a dog running on the beach" --screenshot "$OUT/search.png"
# search by example: a photo from the dev split that is not in the library
EXAMPLE=$(sed -n 40p "$DATA/splits/dev.txt")
"$PY" -m desktop_search gui --library "$WORK/lib" --no-watch --size 1280x800 \
    --screenshot "$OUT/similar.png" "$DATA/images/$EXAMPLE"
