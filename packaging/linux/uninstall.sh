#!/usr/bin/env bash
# Remove Desktop Search's launcher entry and icons installed by install.sh.
# Your library (index, thumbnails, settings) is kept; delete it from the app's data folder if you wish.
#
#   ./uninstall.sh [--prefix DIR]
set -euo pipefail

DATA_HOME="${XDG_DATA_HOME:-$HOME/.local/share}"
if [[ "${1:-}" == "--prefix" && -n "${2:-}" ]]; then DATA_HOME="$2"; fi
APP_ID="desktop-search"
APPS="$DATA_HOME/applications"
ICONS="$DATA_HOME/icons/hicolor"

rm -f "$APPS/$APP_ID.desktop"
for size in 48 128 256 512; do
    rm -f "$ICONS/${size}x${size}/apps/$APP_ID.png"
done
rm -f "$ICONS/scalable/apps/$APP_ID.svg"

command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$APPS" || true
command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$ICONS" 2>/dev/null || true

echo "Removed Desktop Search from the applications menu. The unpacked folder itself is untouched."
