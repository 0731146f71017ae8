#!/usr/bin/env bash
# Add Desktop Search to this user's application launcher (no root needed).
#
#   ./install.sh            link the launcher entry and icons to this unpacked folder
#   ./install.sh --prefix DIR   use DIR instead of ~/.local/share (XDG data home)
#
# Installs ~/.local/share/applications/desktop-search.desktop (Exec pointing at this folder's
# executable) and the icon into ~/.local/share/icons/hicolor/{48x48,128x128,256x256,512x512,scalable}/apps.
# Move the folder? Run install.sh again. Remove with ./uninstall.sh.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DATA_HOME="${XDG_DATA_HOME:-$HOME/.local/share}"
if [[ "${1:-}" == "--prefix" && -n "${2:-}" ]]; then DATA_HOME="$2"; fi
APP_ID="desktop-search"
EXE="$HERE/$APP_ID"
RES="$HERE/_internal/resources"

[[ -x "$EXE" ]] || { echo "install.sh: $EXE not found; run me from the unpacked desktop-search folder" >&2; exit 1; }
[[ -f "$RES/$APP_ID.desktop" ]] || { echo "install.sh: $RES/$APP_ID.desktop is missing" >&2; exit 1; }

APPS="$DATA_HOME/applications"
ICONS="$DATA_HOME/icons/hicolor"
mkdir -p "$APPS"

# Icons: PNG renders at fixed sizes plus the SVG for any size.
for size in 48 128 256 512; do
    png="$RES/icons/$APP_ID-$size.png"
    [[ -f "$png" ]] || continue
    mkdir -p "$ICONS/${size}x${size}/apps"
    install -m 0644 "$png" "$ICONS/${size}x${size}/apps/$APP_ID.png"
done
if [[ -f "$RES/icons/$APP_ID.svg" ]]; then
    mkdir -p "$ICONS/scalable/apps"
    install -m 0644 "$RES/icons/$APP_ID.svg" "$ICONS/scalable/apps/$APP_ID.svg"
fi

# The launcher entry: the shipped one, with Exec/TryExec pointing at this folder.
quoted_exe="$EXE"
if [[ "$EXE" == *" "* ]]; then quoted_exe="\"$EXE\""; fi
sed -e "s|^Exec=.*|Exec=$quoted_exe %F|" \
    -e "s|^TryExec=.*|TryExec=$EXE|" \
    -e "s|^Icon=.*|Icon=$APP_ID|" \
    "$RES/$APP_ID.desktop" > "$APPS/$APP_ID.desktop.tmp"
chmod 0644 "$APPS/$APP_ID.desktop.tmp"
mv -f "$APPS/$APP_ID.desktop.tmp" "$APPS/$APP_ID.desktop"

# Refresh caches where the tools exist (all optional).
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$APPS" || true
command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$ICONS" 2>/dev/null || true
command -v xdg-desktop-menu >/dev/null 2>&1 && xdg-desktop-menu forceupdate 2>/dev/null || true

echo "Desktop Search is in your applications menu ($APPS/$APP_ID.desktop)."
echo "Command line: $EXE --help"
