#!/usr/bin/env bash
# Removes what systemd/install.sh installed.
#
#   systemd/uninstall.sh [--destdir DIR] [--purge]
#
# Stops and disables the service, removes the binaries, the unit and the docs. Keeps
# /etc/wekad, /var/lib/wekad (users, keys) and /srv/wekad (your data) unless --purge is
# given; --purge removes the config, the state and the group, and never the data
# directory (/srv/wekad/data), which holds your files: remove it yourself.
set -euo pipefail

destdir="${DESTDIR:-}"
purge=0
group="wekaadm"

while [ $# -gt 0 ]; do
  case "$1" in
    --destdir) destdir="$2"; shift 2 ;;
    --destdir=*) destdir="${1#*=}"; shift ;;
    --purge) purge=1; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "uninstall.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [ -z "$destdir" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  systemctl disable --now wekad 2>/dev/null || true
fi

rm -f "$destdir/usr/local/bin/wekad" "$destdir/usr/local/bin/weka" \
      "$destdir/etc/systemd/system/wekad.service" "$destdir/etc/modprobe.d/wekad-fuse.conf"
rm -rf "$destdir/usr/local/share/doc/wekad"

if [ -z "$destdir" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  systemctl daemon-reload
fi

if [ "$purge" -eq 1 ]; then
  rm -rf "$destdir/etc/wekad" "$destdir/var/lib/wekad"
  rmdir "$destdir/srv/wekad/mnt" 2>/dev/null || true
  if [ -z "$destdir" ] && getent group "$group" >/dev/null; then
    groupdel "$group"
  fi
  echo "wekad uninstalled and purged; your data in $destdir/srv/wekad/data was kept."
else
  echo "wekad uninstalled; kept $destdir/etc/wekad, $destdir/var/lib/wekad and $destdir/srv/wekad (use --purge to remove config and state)."
fi
