#!/bin/sh
# mk/deps.sh — install the Debian packages podkit needs, only those missing.
#
# Usage: mk/deps.sh GROUP...   (groups: build test fuzz bench)
# Idempotent: asks dpkg what is installed and calls apt-get only for the rest.
# Not root: prints the exact command to run and exits 1.
set -eu

pkgs_build="gcc make pkg-config libc6-dev libyaml-dev libevent-dev musl-tools libhiredis-dev \
    libssl-dev libpcre2-dev libjansson-dev zlib1g-dev"
pkgs_test="libcmocka-dev bats procps util-linux coreutils python3 curl redis-server redis-sentinel\
    redis-tools openssl logrotate prometheus python3-prometheus-client"
pkgs_fuzz="clang libclang-rt-dev"
pkgs_bench="tini catatonit procps podman runc busybox-static redis-server redis-tools nutcracker \
    rsyslog prometheus-redis-exporter"

want=""
for group in "$@"; do
    case "$group" in
    build) want="$want $pkgs_build" ;;
    test) want="$want $pkgs_build $pkgs_test" ;;
    fuzz) want="$want $pkgs_build $pkgs_fuzz" ;;
    bench) want="$want $pkgs_build $pkgs_bench" ;;
    *) echo "mk/deps.sh: unknown group '$group' (build, test, fuzz, bench)" >&2; exit 2 ;;
    esac
done

missing=""
for p in $want; do
    case " $missing " in *" $p "*) continue ;; esac
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$status" = installed ] || missing="$missing $p"
done
[ -n "$missing" ] || exit 0

cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" -ne 0 ]; then
    echo "mk/deps.sh: missing Debian packages:$missing" >&2
    echo "mk/deps.sh: run as root: apt-get update && $cmd" >&2
    exit 1
fi
echo "mk/deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists yet; refresh them once if the first try fails.
$cmd >/dev/null 2>&1 || { apt-get update -qq && $cmd >/dev/null; } || {
    echo "mk/deps.sh: '$cmd' failed" >&2
    exit 1
}
