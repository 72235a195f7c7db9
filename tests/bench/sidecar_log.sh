#!/bin/sh
# tests/bench/sidecar_log.sh — sidecar-log next to rsyslog (imfile -> omfile), in the same run.
#
# Usage: sh tests/bench/sidecar_log.sh BINDIR   (run by `make bench`)
# SL_BENCH_LINES lines of ~117 bytes (default 1,000,000) are appended at once to a file each
# shipper already tails; the time is from the append to the last byte delivered (the
# output's size polled every 10 ms). Targets, taking turns for SL_BENCH_RUNS rounds
# (default 3): sidecar-log to file: (raw), sidecar-log to tcp:// (raw, a sink on loopback
# that only counts), rsyslog to a file. Medians, lines/s and the ratio to rsyslog; then
# sidecar-log's peak RSS, its RSS through an output outage (SL_BENCH_OUTAGE s, default 60),
# and its CPU over 10 s while it tails 1,000 idle files.
set -u

bindir=$(cd "${1:?usage: sh tests/bench/sidecar_log.sh BINDIR}" && pwd)
N=${SL_BENCH_LINES:-1000000}
RUNS=${SL_BENCH_RUNS:-3}
sl=$bindir/sidecar-log

if [ ! -x "$sl" ]; then
    echo "sidecar-log: no $sl (not built yet); benchmark skipped"
    exit 0
fi
for tool in rsyslogd python3; do
    command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || {
        echo "sidecar-log benchmark skipped: no $tool (sh mk/deps.sh bench)"
        exit 0
    }
done
rsyslogd=$(command -v rsyslogd || echo /usr/sbin/rsyslogd)

work=$(mktemp -d)
live=""
cleanup() {
    for p in $live; do kill -TERM "$p" 2>/dev/null; done
    sleep 0.3
    for p in $live; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

python3 - "$work/input.txt" "$N" <<'PY'
import sys
n = int(sys.argv[2])
with open(sys.argv[1], "w") as f:
    for i in range(1, n + 1):
        text = f"bench {i:08d} "
        f.write(text + "x" * (116 - len(text)) + "\n")
PY
size=$(stat -c %s "$work/input.txt")

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The TCP sink: counts lines (records) into the size of a file (sparse), so that size
# polling works alike for raw and JSON.
cat >"$work/sink.py" <<'PY'
import os, socket, sys
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1])))
srv.listen(8)
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT, 0o644)
total = 0
while True:
    c, _ = srv.accept()
    while True:
        b = c.recv(1 << 20)
        if not b:
            break
        total += b.count(b"\n")
        os.ftruncate(fd, total)
PY

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# wait_size FILE BYTES: until FILE holds BYTES (60 s at most).
wait_size() {
    end=$(($(now_ms) + 60000))
    while [ "$(stat -c %s "$1" 2>/dev/null || echo 0)" -lt "$2" ] && [ "$(now_ms)" -lt "$end" ]; do
        sleep 0.01
    done
}

# run_one TARGET: one timed run in a fresh directory; prints the ms.
run_one() {
    d="$work/$1.$$.$(date +%s%N)"
    mkdir -p "$d"
    : >"$d/app.log"
    case $1 in
    sl-file)
        "$sl" --path "$d/app.log" --output "file:$d/out" >"$d/log" 2>&1 &
        pid=$!
        out="$d/out"
        ;;
    sl-tcp | sl-tcp-raw)
        port=$(free_port)
        python3 "$work/sink.py" "$port" "$d/out" &
        sink=$!
        live="$live $sink"
        sleep 0.3
        fmt=json
        [ "$1" = sl-tcp-raw ] && fmt=raw
        "$sl" --path "$d/app.log" --output "tcp://127.0.0.1:$port" --format "$fmt" >"$d/log" 2>&1 &
        pid=$!
        out="$d/out"
        want=$N
        ;;
    rsyslog)
        mkdir -p "$d/spool"
        cat >"$d/rsyslog.conf" <<EOF
global(workDirectory="$d/spool")
module(load="imfile" mode="inotify")
template(name="raw" type="string" string="%msg%\n")
input(type="imfile" File="$d/app.log" Tag="app" ruleset="out")
ruleset(name="out") { action(type="omfile" file="$d/out" template="raw") }
EOF
        "$rsyslogd" -n -f "$d/rsyslog.conf" -i "$d/rsyslog.pid" >"$d/log" 2>&1 &
        pid=$!
        out="$d/out"
        ;;
    esac
    live="$live $pid"
    sleep 1
    t0=$(now_ms)
    cat "$work/input.txt" >>"$d/app.log"
    wait_size "$out" "${want:-$size}"
    ms=$(($(now_ms) - t0))
    if [ "$1" != rsyslog ]; then
        sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$pid/status" >>"$work/$1.kb"
    fi
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    [ -n "${sink:-}" ] && kill -KILL "$sink" 2>/dev/null && wait "$sink" 2>/dev/null
    sink=""
    got=$(stat -c %s "$out" 2>/dev/null || echo 0)
    if [ "$got" -lt "${want:-$size}" ]; then
        echo "$1: only $got of ${want:-$size} (bytes, or lines for tcp) within 60 s" >&2
    fi
    want=""
    rm -rf "$d"
    echo "$ms"
}

median() {
    sort -n | awk '{a[NR] = $1} END {if (NR == 0) print "-"; else print a[int((NR + 1) / 2)]}'
}

targets="sl-file sl-tcp sl-tcp-raw rsyslog"
for r in $(seq "$RUNS"); do
    for t in $targets; do
        run_one "$t" >>"$work/$t.ms"
    done
done

echo "sidecar-log: $N lines of 117 bytes appended to a tailed file, time to the last record" \
    "delivered, medians of $RUNS rounds"
printf '%-30s %8s %12s %11s %14s\n' "" "ms" "lines/s" "vs rsyslog" "peak RSS kB"
rs=$(median <"$work/rsyslog.ms")
for t in $targets; do
    m=$(median <"$work/$t.ms")
    kb=-
    [ -f "$work/$t.kb" ] && kb=$(median <"$work/$t.kb")
    awk -v t="$t" -v m="$m" -v n="$N" -v rs="$rs" -v kb="$kb" 'BEGIN {
        label = t == "sl-file" ? "sidecar-log -> file (raw)" : t == "sl-tcp" ? "sidecar-log -> tcp (json)" : t == "sl-tcp-raw" ? "sidecar-log -> tcp (raw)" : "rsyslog imfile -> omfile"
        if (m < 1) m = 1
        printf "%-30s %8d %12.0f %10.2fx %14s\n", label, m, n / (m / 1000), rs / m, kb }'
done
for t in $targets; do
    printf '%s ' "$t: $(tr '\n' ' ' <"$work/$t.ms")|"
done
echo "(ms per run)"

# An outage: the TCP sink is down for SL_BENCH_OUTAGE seconds (default 60) while all the
# lines wait in the file; RSS must stay flat (the queue is bounded, the file is the buffer).
OUTAGE=${SL_BENCH_OUTAGE:-60}
d="$work/outage"
mkdir -p "$d"
: >"$d/app.log"
port=$(free_port)
"$sl" --path "$d/app.log" --output "tcp://127.0.0.1:$port" --format raw --retry-backoff-max 1s \
    >"$d/log" 2>&1 &
pid=$!
live="$live $pid"
sleep 0.5
cat "$work/input.txt" >>"$d/app.log"
sleep 5
early=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$pid/status")
sleep $((OUTAGE - 5))
late=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$pid/status")
python3 "$work/sink.py" "$port" "$d/out" &
sink=$!
live="$live $sink"
t0=$(now_ms)
wait_size "$d/out" "$N"
echo "TCP sink down for ${OUTAGE} s with $N lines waiting: RSS ${early} kB after 5 s, ${late} kB" \
    "after ${OUTAGE} s; once it is up, all delivered in $(($(now_ms) - t0)) ms" \
    "($(stat -c %s "$d/out") of $N lines)"
kill -TERM "$pid" "$sink" 2>/dev/null
wait "$pid" 2>/dev/null

# Idle: 1,000 tailed files that do not change.
d="$work/idle"
mkdir -p "$d"
i=0
while [ "$i" -lt 1000 ]; do
    echo "line" >"$d/f$i.log"
    i=$((i + 1))
done
"$sl" --path "$d/*.log" --output "file:$d/out" >"$d/log" 2>&1 &
pid=$!
live="$live $pid"
sleep 5
t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
sleep 10
t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
hz=$(getconf CLK_TCK)
echo "1000 idle tailed files: $(awk -v a="$t0" -v b="$t1" -v hz="$hz" 'BEGIN {printf "%.2f", (b - a) / hz / 10 * 100}')% of a core over 10 s; RSS $(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$pid/status") kB"
kill -TERM "$pid"
wait "$pid" 2>/dev/null
