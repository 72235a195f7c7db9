#!/bin/sh
# tests/bench/pause.sh — file size and idle RSS of pause next to tini-static and catatonit.
#
# Usage: sh tests/bench/pause.sh BINDIR
# Each process is started, left to settle, measured (VmRSS from /proc/PID/status) and
# stopped; the median of RUNS runs is shown. A trap kills whatever is still running.
set -u

bindir=${1:?usage: sh tests/bench/pause.sh BINDIR}
RUNS=5
SETTLE=0.3
ours=$bindir/pause
tini=/usr/bin/tini-static
catatonit=/usr/bin/catatonit

# The process being measured, if any; cleanup() and stop() kill it with its children.
live=""

# kill_live: SIGKILL $live and its children (looked up first, or they would be reparented).
kill_live() {
    for p in $live; do
        kill -KILL $(children "$p") "$p" 2>/dev/null
    done
}

cleanup() {
    kill_live
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ ! -x "$ours" ]; then
    echo "pause.sh: no executable $ours (run make first)" >&2
    exit 2
fi

# state PID: the one-letter state of PID, nothing once it is gone.
state() {
    sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null
}

# children PID: the direct children of PID.
children() {
    ps -o pid= --ppid "$1" 2>/dev/null
}

# stop PID: SIGTERM (tini forwards it to its child), wait up to 2 s, then SIGKILL.
stop() {
    kill -TERM "$1" 2>/dev/null
    i=0
    while [ "$i" -lt 100 ] && [ -n "$(state "$1")" ] && [ "$(state "$1")" != Z ]; do
        sleep 0.02
        i=$((i + 1))
    done
    kill_live
    wait "$1" 2>/dev/null
    live=""
}

# rss_once CMD...: start CMD, wait until it sleeps, then set rss to its VmRSS in kB.
# It runs in this shell (no command substitution), so the trap always sees $live.
rss_once() {
    "$@" >/dev/null 2>&1 &
    pid=$!
    live=$pid
    i=0
    while [ "$i" -lt 250 ] && [ "$(state "$pid")" != S ]; do
        sleep 0.02
        i=$((i + 1))
    done
    sleep "$SETTLE"
    rss=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$pid/status" 2>/dev/null)
    stop "$pid"
    rss=${rss:-0}
}

# rss_median CMD...: set median to the median VmRSS (kB) of RUNS runs of CMD.
rss_median() {
    n=0
    values=""
    while [ "$n" -lt "$RUNS" ]; do
        rss_once "$@"
        values="$values $rss"
        n=$((n + 1))
    done
    median=$(printf '%s\n' $values | sort -n | sed -n "$(((RUNS + 1) / 2))p")
}

# ratio PEER OURS: how ours compares, e.g. "44.0x smaller".
ratio() {
    awk -v peer="$1" -v ours="$2" 'BEGIN {
        if (peer <= 0 || ours <= 0) { print "n/a"; exit }
        if (peer >= ours) printf "%.1fx smaller\n", peer / ours
        else printf "%.1fx larger\n", ours / peer
    }'
}

row() {
    printf '%-34s %12s  %-15s %14s  %s\n' "$1" "$2" "$3" "$4" "$5"
}

our_size=$(wc -c <"$ours")
rss_median "$ours"
our_rss=$median

echo "pause: file size and idle RSS (VmRSS, median of $RUNS runs, after ${SETTLE} s idle)"
row "process" "size (bytes)" "ours is" "idle RSS (kB)" "ours is"
row "podkit pause ($ours)" "$our_size" "-" "$our_rss" "-"

# peer NAME BINARY CMD...: measure a peer, or say it is missing.
peer() {
    name=$1
    bin=$2
    shift 2
    if [ ! -x "$bin" ]; then
        row "$name" "not installed" "-" "not installed" "-"
        return
    fi
    size=$(wc -c <"$bin")
    rss_median "$@"
    row "$name" "$size" "$(ratio "$size" "$our_size")" "$median" "$(ratio "$median" "$our_rss")"
}

peer "tini-static -s -- sleep 1000" "$tini" "$tini" -s -- sleep 1000
peer "catatonit -P" "$catatonit" "$catatonit" -P

if command -v size >/dev/null 2>&1; then
    echo
    echo "size(1) of ours, bytes:"
    size "$ours"
fi
