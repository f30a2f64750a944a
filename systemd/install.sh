#!/usr/bin/env bash
# Installs wekad as a systemd service.
#
#   systemd/install.sh [--destdir DIR] [--bin-dir DIR]
#
# Puts wekad and weka in /usr/local/bin, the unit in /etc/systemd/system, the config in
# /etc/wekad/wekad.toml (an existing one is kept), creates /srv/wekad/{data,mnt} and the
# admin group `wekaadm` whose members may use the control socket, lets FUSE daemons use
# io_uring (/etc/modprobe.d/wekad-fuse.conf, and at once if the running kernel has the
# parameter: Linux 6.14+), then says what to do next.
# With DESTDIR (env or --destdir) everything goes below DIR and nothing on the running
# system is touched (no group, no systemctl): for packaging and tests.
# Binaries come from --bin-dir, else target/release, else target/debug (build first:
# cargo build --release -p wekad -p weka).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
destdir="${DESTDIR:-}"
bindir=""
group="wekaadm"

while [ $# -gt 0 ]; do
  case "$1" in
    --destdir) destdir="$2"; shift 2 ;;
    --destdir=*) destdir="${1#*=}"; shift ;;
    --bin-dir) bindir="$2"; shift 2 ;;
    --bin-dir=*) bindir="${1#*=}"; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [ -z "$bindir" ]; then
  for d in "$repo/target/release" "$repo/target/debug"; do
    if [ -x "$d/wekad" ] && [ -x "$d/weka" ]; then bindir="$d"; break; fi
  done
fi
if [ -z "$bindir" ] || [ ! -x "$bindir/wekad" ] || [ ! -x "$bindir/weka" ]; then
  echo "install.sh: wekad/weka binaries not found; build them first: cargo build --release -p wekad -p weka" >&2
  exit 1
fi
if [ -z "$destdir" ] && [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root (or pass --destdir DIR to stage the files)" >&2
  exit 1
fi

install -D -m 0755 "$bindir/wekad" "$destdir/usr/local/bin/wekad"
install -D -m 0755 "$bindir/weka" "$destdir/usr/local/bin/weka"
install -D -m 0644 "$here/wekad.service" "$destdir/etc/systemd/system/wekad.service"
install -D -m 0644 "$repo/README.md" "$destdir/usr/local/share/doc/wekad/README.md"
install -D -m 0644 "$here/wekad-confined.conf" "$destdir/usr/local/share/doc/wekad/wekad-confined.conf"
if [ -e "$destdir/etc/wekad/wekad.toml" ]; then
  echo "kept existing $destdir/etc/wekad/wekad.toml"
else
  install -D -m 0640 "$here/wekad.toml" "$destdir/etc/wekad/wekad.toml"
fi
install -d -m 0755 "$destdir/srv/wekad/data" "$destdir/srv/wekad/mnt"
# FUSE over io_uring (Linux 6.14+) makes metadata calls on the mount about 1.5x faster. The
# fuse module only offers it when this parameter is on; it lets a FUSE daemon ask for
# io_uring and changes nothing for daemons that do not. Older kernels ignore the option.
install -D -m 0644 /dev/stdin "$destdir/etc/modprobe.d/wekad-fuse.conf" <<'CONF'
# Installed by wekad: lets FUSE daemons take requests over io_uring (Linux 6.14+).
options fuse enable_uring=1
CONF

if [ -z "$destdir" ]; then
  uring=/sys/module/fuse/parameters/enable_uring
  if [ -w "$uring" ] && [ "$(cat "$uring")" != "Y" ]; then
    echo Y >"$uring" && echo "enabled FUSE over io_uring ($uring)"
  fi
  if ! getent group "$group" >/dev/null; then
    groupadd --system "$group"
    echo "created group $group (members may use the control socket)"
  fi
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
  fi
fi

cat <<NEXT
wekad installed${destdir:+ under $destdir}.
Next:
  1. review /etc/wekad/wekad.toml (data, mount, listen addresses)
  2. systemctl enable --now wekad
  3. journalctl -u wekad     # shows the first S3 user's credentials, also in /var/lib/wekad/initial-credentials
  4. usermod -aG $group <you>   # lets <you> run \`weka\` without root (log in again)
  5. weka status
Uninstall: systemd/uninstall.sh (add --purge to remove config, state and the group).
NEXT
