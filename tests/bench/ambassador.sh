#!/bin/sh
# tests/bench/ambassador.sh — ambassador-redis (pinned, multiplex) next to redis-server itself
# and twemproxy, through one redis-server, in the same run.
#
# Usage: sh tests/bench/ambassador.sh BINDIR   (run by `make bench`)
# redis-benchmark -c 50 -n N -t set,get at -P 1 and -P 16 against: redis-server directly, the
# ambassador in pinned and in multiplex mode, and twemproxy (nutcracker, one pool of one
# server, 2 server connections like --upstream-conns' default). RUNS rounds in which the
# targets take turns, so that drift hits them alike; medians of requests/s and of p50
# latency, ratios to direct and to twemproxy. Then each proxy's RSS (VmRSS), fresh and idle,
# and with 1000 idle clients connected (each after one PING), and how many connections
# redis-server then counts.
# Knobs: AMB_BENCH_N (requests per test, default 200000), AMB_BENCH_RUNS (default 3),
# AMB_BENCH_CLIENTS (idle clients, default 1000). Without bin/ambassador-redis it says so
# and exits 0, unless AMB_BENCH_PEERS=1 (then direct and twemproxy only).
set -u

bindir=$(cd "${1:?usage: sh tests/bench/ambassador.sh BINDIR}" && pwd)
N=${AMB_BENCH_N:-200000}
RUNS=${AMB_BENCH_RUNS:-3}
IDLE=${AMB_BENCH_CLIENTS:-1000}
amb=$bindir/ambassador-redis
top=$(cd "$(dirname "$0")/../.." && pwd)
resp=$top/tests/e2e/resp_client.py

if [ ! -x "$amb" ]; then
    if [ "${AMB_BENCH_PEERS:-}" != 1 ]; then
        echo "ambassador-redis: no $amb (not built yet); benchmark skipped"
        exit 0
    fi
    amb=""
fi
for tool in redis-server redis-cli redis-benchmark python3; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "ambassador-redis benchmark skipped: no $tool (sh mk/deps.sh bench)"
        exit 0
    fi
done

work=$(mktemp -d)
live="" # pids of what this run started, killed by cleanup

cleanup() {
    for p in $live; do kill -TERM "$p" 2>/dev/null; done
    i=0
    while [ "$i" -lt 30 ] && kill -0 $live 2>/dev/null; do
        sleep 0.1
        i=$((i + 1))
    done
    for p in $live; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 1000 idle clients, plus a pinned ambassador's 1000 upstream connections.
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge 4096 ] || ulimit -n 4096 2>/dev/null

# free_port: a port of 127.0.0.1 that a bind finds free, below the ephemeral range.
free_port() {
    python3 -c '
import random, socket
for _ in range(500):
    p = random.randrange(20000, 32000)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    break'
}

# start NAME CMD...: CMD in the background, output in $work/NAME.log, its pid in $pid.
start() {
    name=$1
    shift
    "$@" >"$work/$name.log" 2>&1 &
    pid=$!
    live="$live $pid"
}

# stop PID: SIGTERM, up to 5 s, then SIGKILL.
stop() {
    kill -TERM "$1" 2>/dev/null
    i=0
    while [ "$i" -lt 50 ] && kill -0 "$1" 2>/dev/null; do
        sleep 0.1
        i=$((i + 1))
    done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

# up PORT: until a PING through 127.0.0.1:PORT gets PONG (10 s at most).
up() {
    i=0
    while [ "$i" -lt 100 ]; do
        [ "$(timeout 2 redis-cli -h 127.0.0.1 -p "$1" PING 2>/dev/null)" = PONG ] && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/status" 2>/dev/null; }

median() {
    sort -n | awk '{a[NR] = $1} END {if (NR == 0) print "-"; else print a[int((NR + 1) / 2)]}'
}

rport=$(free_port)
start redis redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$work" --daemonize no
redis_pid=$pid
up "$rport" || { echo "redis-server did not start:"; tail -n 5 "$work/redis.log"; exit 1; }

# Each target: "label port". Ports of targets that could not start are left out, with a
# line saying why.
targets="direct:$rport"
notes=""

# amb_start MODE: an ambassador in MODE on a free port; sets aport and apid.
amb_start() {
    aport=$(free_port)
    start "amb-$1" "$amb" --listen "127.0.0.1:$aport" --upstream "127.0.0.1:$rport" --mode "$1"
    apid=$pid
    up "$aport"
}

if [ -n "$amb" ]; then
    for mode in pinned multiplex; do
        if amb_start "$mode"; then
            targets="$targets $mode:$aport"
        else
            notes="$notes
ambassador --mode $mode did not answer PING: $(tail -n 1 "$work/amb-$mode.log")"
        fi
    done
fi

# nc_start: twemproxy on a free port (stats on another, both on 127.0.0.1); sets tport, tpid.
nc_start() {
    tport=$(free_port)
    cat >"$work/nutcracker.yml" <<EOF
bench:
  listen: 127.0.0.1:$tport
  hash: fnv1a_64
  distribution: ketama
  redis: true
  auto_eject_hosts: false
  server_connections: 2
  servers:
    - 127.0.0.1:$rport:1
EOF
    start nutcracker nutcracker -c "$work/nutcracker.yml" -s "$(free_port)" -a 127.0.0.1 \
        -o "$work/nutcracker.out"
    tpid=$pid
    up "$tport"
}

if ! command -v nutcracker >/dev/null 2>&1; then
    notes="$notes
twemproxy skipped: nutcracker is not installed (sh mk/deps.sh bench)"
elif nc_start; then
    targets="$targets twemproxy:$tport"
else
    notes="$notes
twemproxy did not answer PING: $(tail -n 1 "$work/nutcracker.out" 2>/dev/null)"
fi

# bench TARGET PORT PIPELINE: one redis-benchmark run; appends
# "target pipeline set_rps get_rps set_p50 get_p50" to $work/results.
bench() {
    timeout 600 redis-benchmark -h 127.0.0.1 -p "$2" -c 50 -n "$N" -t set,get -P "$3" --csv \
        2>>"$work/benchmark.err" |
        awk -F'"' -v t="$1" -v p="$3" '
            $2 == "SET" { s = $4; sl = $10 }
            $2 == "GET" { g = $4; gl = $10 }
            END { if (s != "" && g != "") print t, p, s, g, sl, gl }' >>"$work/results"
}

echo "ambassador-redis: redis-benchmark -c 50 -n $N -t set,get, medians of $RUNS rounds" \
    "(targets take turns)"
: >"$work/results"
r=0
while [ "$r" -lt "$RUNS" ]; do
    for p in 1 16; do
        for t in $targets; do
            bench "${t%%:*}" "${t#*:}" "$p"
        done
    done
    r=$((r + 1))
done

# med TARGET PIPELINE COLUMN: the median of a column (3 SET rps, 4 GET rps, 5/6 p50 ms).
med() {
    awk -v t="$1" -v p="$2" -v c="$3" '$1 == t && $2 == p {print $c}' "$work/results" | median
}

# ratio A B: A / B, two decimals ("-" when either is missing).
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN {if (a == "-" || b == "-" || b == 0) print "-";
        else printf "%.2f\n", a / b}'
}

label() {
    case "$1" in
    direct) echo "redis-server (direct)" ;;
    pinned) echo "ambassador --mode pinned" ;;
    multiplex) echo "ambassador --mode multiplex" ;;
    twemproxy) echo "twemproxy (nutcracker)" ;;
    esac
}

printf '%-28s %11s %11s %11s %11s %14s\n' "requests/s" "SET -P 1" "GET -P 1" "SET -P 16" \
    "GET -P 16" "p50 ms -P 1"
for t in $targets; do
    t=${t%%:*}
    printf '%-28s %11s %11s %11s %11s %14s\n' "$(label "$t")" "$(med "$t" 1 3)" "$(med "$t" 1 4)" \
        "$(med "$t" 16 3)" "$(med "$t" 16 4)" "$(med "$t" 1 5)/$(med "$t" 1 6)"
done
echo
echo "ratios of medians (SET -P 1, GET -P 1, SET -P 16, GET -P 16):"
for t in $targets; do
    t=${t%%:*}
    [ "$t" = direct ] && continue
    for peer in direct twemproxy; do
        [ "$t" = "$peer" ] && continue
        case " $targets" in *" $peer:"*) ;; *) continue ;; esac
        printf '  %-28s vs %-10s %6s %6s %6s %6s\n' "$(label "$t")" "$peer" \
            "$(ratio "$(med "$t" 1 3)" "$(med "$peer" 1 3)")" \
            "$(ratio "$(med "$t" 1 4)" "$(med "$peer" 1 4)")" \
            "$(ratio "$(med "$t" 16 3)" "$(med "$peer" 16 3)")" \
            "$(ratio "$(med "$t" 16 4)" "$(med "$peer" 16 4)")"
    done
done
[ -n "$notes" ] && echo "$notes" | sed '/^$/d'
grep -v 'Could not fetch server CONFIG' "$work/benchmark.err" | sort -u | head -n 5

# Memory: each proxy fresh (the ones above hold buffers from the benchmark), idle, then with
# $IDLE idle clients; redis-server's client count shows the upstream connections they use.
# stop_proxies: everything this run started but redis-server.
stop_proxies() {
    for p in $live; do
        [ "$p" = "$redis_pid" ] || stop "$p"
    done
    live=$redis_pid
}
stop_proxies

echo
printf '%-28s %14s %20s %26s\n' "VmRSS (kB)" "idle" "$IDLE idle clients" "redis-server's clients"
mem_row() { # mem_row TARGET PID PORT
    sleep 0.3
    idle=$(rss "$2")
    rm -f "$work/held"
    start hold timeout 300 python3 "$resp" hold "127.0.0.1:$3" "$IDLE" --ready-file "$work/held" \
        --seconds 240
    hold=$pid
    i=0
    while [ "$i" -lt 600 ] && [ ! -s "$work/held" ] && kill -0 "$hold" 2>/dev/null; do
        sleep 0.1
        i=$((i + 1))
    done
    if [ -s "$work/held" ]; then
        sleep 0.3
        busy=$(rss "$2")
        n=$(timeout 5 redis-cli -p "$rport" INFO clients | tr -d '\r' |
            sed -n 's/^connected_clients://p')
    else
        busy="failed"
        n="-"
    fi
    stop "$hold"
    printf '%-28s %14s %20s %26s\n' "$(label "$1")" "$idle" "$busy" "$n"
}
for t in $targets; do
    t=${t%%:*}
    case "$t" in
    direct) continue ;;
    twemproxy) nc_start && mem_row twemproxy "$tpid" "$tport" ;;
    *) amb_start "$t" && mem_row "$t" "$apid" "$aport" ;;
    esac
    stop_proxies
done
echo "  (redis-server's count includes the redis-cli that asks)"
