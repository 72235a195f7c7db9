#!/bin/sh
# tests/bench/adapter_metrics.sh — adapter-metrics next to Debian's prometheus-redis-exporter
# on the same redis-server, in the same run; then statsd ingest and rendering.
#
# Usage: sh tests/bench/adapter_metrics.sh BINDIR   (run by `make bench`)
#  1. Redis: AM_BENCH_SCRAPES (default 60) scrapes of each, taking turns, over one kept-alive
#     connection each (as Prometheus scrapes) and again with a curl per scrape (time_total);
#     medians, the ratios; the CPU each scrape costs (the target's and redis-server's, from
#     /proc over 1,000 scrapes); RSS after them, and promtool's complaints about each.
#  2. statsd ingest: 25-line datagrams paced at 40,000/s (1,000,000 lines/s) for 5 s by
#     statsd_blast (C, built here); lines taken in, drops, and lines per CPU-second of the
#     adapter (utime + stime from /proc).
#  3. 100k packets/s of one line each for 5 s while /metrics (100,000 series) is scraped in
#     a loop: drops must stay 0.
#  4. Rendering 100,000 counter series (2 labels): medians of 20 scrapes, plain and gzip,
#     ns per series, and memory per series (RSS growth, and the store's own count).
set -u

bindir=$(cd "${1:?usage: sh tests/bench/adapter_metrics.sh BINDIR}" && pwd)
top=$(cd "$(dirname "$0")/../.." && pwd)
SCRAPES=${AM_BENCH_SCRAPES:-60}
am=$bindir/adapter-metrics

if [ ! -x "$am" ]; then
    echo "adapter-metrics: no $am (not built yet); benchmark skipped"
    exit 0
fi
for tool in redis-server prometheus-redis-exporter curl python3 cc promtool; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "adapter-metrics benchmark skipped: no $tool (sh mk/deps.sh bench test)"
        exit 0
    }
done

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

cc -O2 -o "$work/blast" "$top/tests/bench/statsd_blast.c" || exit 1

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
up() { curl -fsS -o /dev/null "$1" 2>/dev/null; }
wait_up() {
    i=0
    until up "$1"; do
        i=$((i + 1))
        [ $i -lt 100 ] || { echo "adapter-metrics benchmark: $1 never came up" >&2; exit 1; }
        sleep 0.1
    done
}
# value URL SERIES: a sample's value from a scrape (the exact series text, labels as rendered).
value() { curl -fsS "$1" 2>/dev/null | awk -v s="$2" '$1 == s {print $2; exit}'; }

# ---- 1. Redis INFO against prometheus-redis-exporter ----
rp=$(free_port)
redis-server --port "$rp" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
    >"$work/redis.log" 2>&1 &
live="$live $!"
i=0
until [ "$(redis-cli -p "$rp" PING 2>/dev/null)" = PONG ]; do
    i=$((i + 1)); [ $i -lt 100 ] || exit 1; sleep 0.1
done
redis-cli -p "$rp" DEBUG POPULATE 1000 >/dev/null 2>&1 || true
ap=$(free_port)
"$am" --web.listen-address "127.0.0.1:$ap" --source "r=redis://127.0.0.1:$rp" --prefix redis_ \
    --log-level error >"$work/am.log" 2>&1 &
am_pid=$!
live="$live $am_pid"
ep=$(free_port)
prometheus-redis-exporter --redis.addr "redis://127.0.0.1:$rp" \
    --web.listen-address "127.0.0.1:$ep" >"$work/exp.log" 2>&1 &
exp_pid=$!
live="$live $exp_pid"
wait_up "http://127.0.0.1:$ap/metrics"
wait_up "http://127.0.0.1:$ep/metrics"
for i in 1 2 3 4 5; do
    up "http://127.0.0.1:$ap/metrics"
    up "http://127.0.0.1:$ep/metrics"
done
i=0
while [ $i -lt "$SCRAPES" ]; do
    curl -fsS -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$ap/metrics" >>"$work/am.t"
    curl -fsS -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$ep/metrics" >>"$work/exp.t"
    i=$((i + 1))
done
# The same, as Prometheus scrapes: one kept-alive connection per target, turns taken.
python3 - "$ap" "$ep" "$SCRAPES" >"$work/ka.t" <<'PY'
import http.client, sys, time
conns = [http.client.HTTPConnection("127.0.0.1", int(p)) for p in sys.argv[1:3]]
ts = [[], []]
for _ in range(int(sys.argv[3])):
    for i, c in enumerate(conns):
        t = time.perf_counter()
        c.request("GET", "/metrics")
        c.getresponse().read()
        ts[i].append(time.perf_counter() - t)
for t in ts:
    t.sort()
    print("%.3f" % (t[len(t) // 2] * 1000))
PY
# CPU each scrape costs the machine: the target's own and the redis-server time it causes
# (/proc ticks over AM_BENCH_CPU_SCRAPES kept-alive scrapes, one target at a time).
CPUN=${AM_BENCH_CPU_SCRAPES:-1000}
redis_pid=$(pgrep -f "redis-server .*:$rp" | head -n 1)
scrape_cpu() { # PORT PID -> "target-ms redis-ms" per scrape
    t0=$(cpu_ticks "$2")
    r0=$(cpu_ticks "$redis_pid")
    python3 - "$1" "$CPUN" <<'PY'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
for _ in range(int(sys.argv[2])):
    c.request("GET", "/metrics")
    c.getresponse().read()
PY
    t1=$(cpu_ticks "$2")
    r1=$(cpu_ticks "$redis_pid")
    echo "$t0 $t1 $r0 $r1 $(getconf CLK_TCK) $CPUN" |
        awk '{printf "%.3f %.3f", ($2 - $1) / $5 * 1000 / $6, ($4 - $3) / $5 * 1000 / $6}'
}
show_cpu() { echo "$1" | awk '{printf "%.3f ms (+ redis-server %.3f ms)", $1, $2}'; }
am_cpu=$(scrape_cpu "$ap" "$am_pid")
exp_cpu=$(scrape_cpu "$ep" "$exp_pid")
am_ka=$(sed -n 1p "$work/ka.t")
exp_ka=$(sed -n 2p "$work/ka.t")
am_ms=$(median <"$work/am.t" | awk '{printf "%.3f", $1 * 1000}')
exp_ms=$(median <"$work/exp.t" | awk '{printf "%.3f", $1 * 1000}')
am_kb=$(rss_kb "$am_pid")
exp_kb=$(rss_kb "$exp_pid")
curl -fsS "http://127.0.0.1:$ap/metrics" >"$work/am.txt"
curl -fsS "http://127.0.0.1:$ep/metrics" >"$work/exp.txt"
am_lint=$(promtool check metrics <"$work/am.txt" 2>&1 | grep -c . || true)
exp_lint=$(promtool check metrics <"$work/exp.txt" 2>&1 | grep -c . || true)
echo "adapter-metrics: Redis INFO scrape vs prometheus-redis-exporter, same redis-server (1,000 keys), medians of $SCRAPES"
echo "  latency, kept-alive connection (as Prometheus scrapes): adapter-metrics $am_ka ms, redis_exporter $exp_ka ms, ratio $(echo "$am_ka $exp_ka" | awk '{printf "%.3f", $1 / $2}') (goal <= 0.2)"
echo "  latency, a curl per scrape (time_total, connection included): adapter-metrics $am_ms ms, redis_exporter $exp_ms ms, ratio $(echo "$am_ms $exp_ms" | awk '{printf "%.3f", $1 / $2}')"
echo "  CPU per scrape ($CPUN kept-alive scrapes each; own + redis-server's): adapter-metrics $(show_cpu "$am_cpu"), redis_exporter $(show_cpu "$exp_cpu"), ratio $(echo "$am_cpu $exp_cpu" | awk '{printf "%.3f", ($1 + $2) / ($3 + $4)}')"
echo "  RSS:     adapter-metrics $((am_kb / 1024)).$((am_kb % 1024 * 10 / 1024)) MB, redis_exporter $((exp_kb / 1024)).$((exp_kb % 1024 * 10 / 1024)) MB, ratio $(echo "$am_kb $exp_kb" | awk '{printf "%.3f", $1 / $2}') (goal <= 0.2)"
echo "  promtool check metrics: adapter-metrics $am_lint lines, redis_exporter $exp_lint lines"
kill -TERM "$am_pid" "$exp_pid" 2>/dev/null
wait "$am_pid" "$exp_pid" 2>/dev/null

# ---- 2. statsd ingest, paced at 1M lines/s ----
sp=$(free_port)
ap=$(free_port)
"$am" --web.listen-address "127.0.0.1:$ap" --source "s=statsd+udp://127.0.0.1:$sp" \
    --max-series 300000 --max-series-per-family 300000 --log-level error >>"$work/am.log" 2>&1 &
am_pid=$!
live="$live $am_pid"
url="http://127.0.0.1:$ap/metrics"
wait_up "$url"
c0=$(cpu_ticks "$am_pid")
"$work/blast" "$sp" 200000 25 40000 1000 >"$work/blast.out"
sleep 1
c1=$(cpu_ticks "$am_pid")
taken=$(value "$url" 'adapter_metrics_samples_total{outcome="unmapped",source="s"}')
drops=$(curl -fsS "$url" 2>/dev/null | awk '/^adapter_metrics_statsd_drops_total/ {s += $2} END {print s + 0}')
hz=$(getconf CLK_TCK)
echo "adapter-metrics: statsd ingest, $(cat "$work/blast.out") (paced at 1,000,000 lines/s)"
echo "  taken in: $taken lines, dropped datagrams: $drops; adapter CPU $(echo "$c0 $c1 $hz" | awk '{printf "%.2f", ($2 - $1) / $3}') s: $(echo "$taken $c0 $c1 $hz" | awk '{printf "%.0f", $1 / (($3 - $2) / $4)}') lines per CPU-second (goal >= 1,000,000)"

# ---- 4 first: load 100,000 series for the render and memory figures, then 3 ----
kb0=$(rss_kb "$am_pid")
"$work/blast" "$sp" 4000 25 20000 100000 >/dev/null
sleep 1
series=$(value "$url" adapter_metrics_series)
bytes=$(value "$url" adapter_metrics_store_bytes)
kb1=$(rss_kb "$am_pid")
i=0
while [ $i -lt 20 ]; do
    curl -fsS -o /dev/null -w '%{time_total}\n' "$url" >>"$work/r.t"
    curl -fsS -o /dev/null -H 'Accept-Encoding: gzip' -w '%{time_total} %{size_download}\n' \
        "$url" >>"$work/rz.t"
    i=$((i + 1))
done
size=$(curl -fsS "$url" | wc -c)
r_ms=$(median <"$work/r.t" | awk '{printf "%.2f", $1 * 1000}')
rz_ms=$(cut -d' ' -f1 "$work/rz.t" | median | awk '{printf "%.2f", $1 * 1000}')
zsize=$(cut -d' ' -f2 "$work/rz.t" | median)
echo "adapter-metrics: rendering $series series (100,000 counters with 2 labels), medians of 20 scrapes (curl time_total)"
echo "  plain: $r_ms ms for $size bytes, $(echo "$r_ms $series" | awk '{printf "%.0f", $1 * 1e6 / $2}') ns per series (goal <= 200)"
echo "  gzip:  $rz_ms ms for $zsize bytes (goal <= 80 ms)"
echo "  memory: RSS +$(( (kb1 - kb0) * 1024 / 100000 )) bytes per series; the store counts $(echo "$bytes $series" | awk '{printf "%.0f", $1 / $2}') bytes per series (goal <= 1024)"

d0=$(curl -fsS "$url" 2>/dev/null | awk '/^adapter_metrics_statsd_drops_total/ {s += $2} END {print s + 0}')
t0=$(value "$url" 'adapter_metrics_samples_total{outcome="unmapped",source="s"}')
(while :; do curl -fsS -o /dev/null "$url" || break; done) &
loop=$!
live="$live $loop"
"$work/blast" "$sp" 500000 1 100000 1000 >"$work/blast3.out"
kill "$loop" 2>/dev/null
wait "$loop" 2>/dev/null
sleep 1
d1=$(curl -fsS "$url" 2>/dev/null | awk '/^adapter_metrics_statsd_drops_total/ {s += $2} END {print s + 0}')
t1=$(value "$url" 'adapter_metrics_samples_total{outcome="unmapped",source="s"}')
echo "adapter-metrics: 100,000 datagrams/s for 5 s while /metrics ($series series) is scraped in a loop"
echo "  $(cat "$work/blast3.out"); taken in $(echo "$t0 $t1" | awk '{printf "%.0f", $2 - $1}'), dropped $((d1 - d0)) (goal 0)"
