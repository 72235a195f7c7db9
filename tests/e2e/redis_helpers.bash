# tests/e2e/redis_helpers.bash — what the ambassador-redis e2e tests share: free loopback
# ports, redis-server masters and replicas, three Sentinels, a TLS redis-server, the
# ambassador in the background, waiting with deadlines, and a teardown that kills all of it.
#
# Everything a test starts lives in $W (under BATS_TEST_TMPDIR): configs, data dirs, logs,
# and the file of pids that teardown kills (SIGTERM, then SIGKILL after 3 s). Ports are
# checked with a bind and reserved in $PORT_LOCKS (a directory per port, made atomically)
# so that parallel runs never pick the same one; teardown releases them. Only 127.0.0.1
# and ::1 are used.
#
# A server NAME started here is known by files: $W/NAME.port, $W/NAME.pid, $W/NAME.log.

PORT_LOCKS=${PODKIT_PORT_LOCKS:-${TMPDIR:-/tmp}/podkit-e2e-ports}
MASTER_NAME=mymaster

setup() {
    local t
    for t in redis-server redis-cli; do
        command -v "$t" >/dev/null || skip "$t is not installed (Debian: redis-server redis-tools)"
    done
    AMB="${PODKIT_BIN:?}/ambassador-redis"
    RESP="${PODKIT_TOP:?}/tests/e2e/resp_client.py"
    W="$BATS_TEST_TMPDIR/w"
    mkdir -p "$W"
    : >"$W/pids"
    : >"$W/ports"
    cd "$W" || return 1
}

teardown() {
    local pid port i f
    [ -d "${W:-}" ] || return 0
    while read -r pid; do kill -TERM "$pid" 2>/dev/null || true; done <"$W/pids"
    for i in $(seq 30); do
        alive_pids >/dev/null || break
        sleep 0.1
    done
    for pid in $(alive_pids); do kill -KILL "$pid" 2>/dev/null || true; done
    # A failed test shows the end of every log (bats prints teardown's output on failure).
    if [ -z "${BATS_TEST_COMPLETED:-}" ]; then
        for f in "$W"/*.log; do
            [ -s "$f" ] || continue
            echo "---- ${f##*/} (last 15 lines)"
            tail -n 15 "$f"
        done
    fi
    while read -r port; do rmdir "$PORT_LOCKS/$port" 2>/dev/null || true; done <"$W/ports"
    cd / && rm -rf "$W"
    return 0
}

# alive_pids: the recorded pids still running (not zombies); status 1 when none is.
alive_pids() {
    local pid st found=1
    while read -r pid; do
        st=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$pid/status" 2>/dev/null) || true
        if [ -n "$st" ] && [ "$st" != Z ]; then
            echo "$pid"
            found=0
        fi
    done <"$W/pids"
    return $found
}

# wait_for SECONDS CMD...: until CMD succeeds, or fail after SECONDS; CMD returning 2
# means it never will (a process it waits for died): fail at once.
wait_for() {
    local deadline=$((SECONDS + $1)) rc
    shift
    while true; do
        rc=0
        "$@" || rc=$?
        [ "$rc" -eq 0 ] && return 0
        [ "$rc" -eq 2 ] && return 1
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "timed out waiting for: $*" >&2
            return 1
        fi
        sleep 0.1
    done
}

# free_port: prints a loopback port that is free now (a bind on 127.0.0.1, and on ::1 when
# the host has it, succeeds) and reserved for this test. Below the ephemeral range, so no
# outgoing connection takes it meanwhile. Reservations older than an hour are stale (a run
# killed before its teardown) and are taken over.
free_port() {
    local port
    port=$(python3 - "$PORT_LOCKS" <<'PY'
import os, random, socket, sys, time
locks = sys.argv[1]
os.makedirs(locks, exist_ok=True)
for _ in range(500):
    port = random.randrange(20000, 32000)
    lock = os.path.join(locks, str(port))
    try:
        os.mkdir(lock)
    except FileExistsError:
        try:
            if time.time() - os.stat(lock).st_mtime > 3600:
                os.utime(lock)
            else:
                continue
        except OSError:
            continue
    free = True
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        s = socket.socket(family, socket.SOCK_STREAM)
        try:
            s.bind((host, port))
        except OSError as e:
            if family == socket.AF_INET or e.errno != 99:  # ::1 absent: EADDRNOTAVAIL
                free = False
        finally:
            s.close()
    if free:
        print(port)
        sys.exit(0)
    os.rmdir(lock)
sys.exit("no free port found")
PY
    ) || return 1
    echo "$port" >>"$W/ports"
    echo "$port"
}

# have_ipv6: ::1 is configured and a socket can bind it.
have_ipv6() {
    python3 -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null
}

port_of() { cat "$W/$1.port"; }
pid_of() { cat "$W/$1.pid"; }

# bg NAME CMD...: CMD in the background, output in $W/NAME.log, pid in $W/NAME.pid and
# the teardown list. FD 3 is closed, or bats would wait for the process to end.
bg() {
    local name=$1
    shift
    "$@" >"$W/$name.log" 2>&1 3>&- &
    echo $! >"$W/$name.pid"
    echo $! >>"$W/pids"
}

# rcli PORT ARGS...: redis-cli on 127.0.0.1:PORT, bounded.
rcli() {
    local port=$1
    shift
    timeout 10 redis-cli -h 127.0.0.1 -p "$port" "$@"
}

pong_at() { [ "$(timeout 2 redis-cli -h 127.0.0.1 -p "$1" PING 2>/dev/null)" = PONG ]; }

# running NAME: its process is alive.
running() {
    local st pid
    pid=$(pid_of "$1")
    st=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$pid/status" 2>/dev/null) || true
    [ -n "$st" ] && [ "$st" != Z ]
}

# redis_start NAME [redis-server options...]: a redis-server on a free port of 127.0.0.1
# (or on port $PORT when set: a restart), without persistence, in the foreground of a
# background job; returns once it answers PING. DEBUG is allowed from loopback, for
# DEBUG PROTOCOL and DEBUG SLEEP. A full sync starts at once (Redis 7 waits 5 s by default
# for more replicas to share a diskless sync, which would stall every replica start and
# every replica reconfigured by a failover).
redis_start() {
    local name=$1 port
    shift
    port=${PORT:-$(free_port)} || return 1
    mkdir -p "$W/$name"
    echo "$port" >"$W/$name.port"
    bg "$name" redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$W/$name" --daemonize no --enable-debug-command local \
        --repl-diskless-sync-delay 0 "$@"
    wait_for 10 redis_up "$name" || return 1
}

# redis_up NAME: answers PING (NOAUTH counts: it has a password), or fails loudly at once
# if it died.
redis_up() {
    running "$1" || { echo "$1 exited:" >&2; tail -n 5 "$W/$1.log" >&2; return 2; }
    local out
    out=$(timeout 2 redis-cli -h 127.0.0.1 -p "$(port_of "$1")" PING 2>/dev/null) || true
    [[ "$out" == @(PONG|NOAUTH*) ]]
}

# redis_stop NAME: SIGKILL (a crash, as far as clients can tell), and reaped.
redis_stop() {
    kill -KILL "$(pid_of "$1")" 2>/dev/null || true
    wait "$(pid_of "$1")" 2>/dev/null || true
}

# replica_start NAME MASTER [options...]: a replica of MASTER, once its link is up.
replica_start() {
    local name=$1 master=$2
    shift 2
    redis_start "$name" --replicaof 127.0.0.1 "$(port_of "$master")" "$@" || return 1
    wait_for 15 link_up "$name"
}

link_up() { rcli "$(port_of "$1")" INFO replication | grep -q '^master_link_status:up'; }

# info_field PORT SECTION FIELD: one field of INFO SECTION.
info_field() {
    rcli "$1" INFO "$2" | tr -d '\r' | sed -n "s/^$3://p"
}

# blocked_clients_are PORT N: the server on PORT has N clients blocked (BLPOP...).
blocked_clients_are() { [ "$(info_field "$1" clients blocked_clients)" = "$2" ]; }

# ---- Sentinel ---------------------------------------------------------------------------

need_sentinel() {
    command -v redis-sentinel >/dev/null ||
        skip "redis-sentinel is not installed (Debian: redis-sentinel)"
}

# sentinels_start MASTER NREPLICAS: three Sentinels (sentinel1..3) monitoring MASTER as
# $MASTER_NAME, quorum 2; returns once each knows the two others and NREPLICAS replicas.
# Sentinel rewrites its config file, so each has its own in $W.
sentinels_start() {
    local master=$1 nrep=$2 i port
    need_sentinel
    for i in 1 2 3; do
        port=$(free_port) || return 1
        echo "$port" >"$W/sentinel$i.port"
        cat >"$W/sentinel$i.conf" <<EOF
port $port
bind 127.0.0.1
daemonize no
dir $W
sentinel monitor $MASTER_NAME 127.0.0.1 $(port_of "$master") 2
sentinel down-after-milliseconds $MASTER_NAME 1000
sentinel failover-timeout $MASTER_NAME 5000
sentinel parallel-syncs $MASTER_NAME 1
EOF
        bg "sentinel$i" redis-sentinel "$W/sentinel$i.conf"
    done
    for i in 1 2 3; do
        wait_for 10 redis_up "sentinel$i" || return 1
    done
    for i in 1 2 3; do
        wait_for 20 sentinel_sees "sentinel$i" 2 "$nrep" || return 1
    done
}

# sentinel_sees NAME NSENTINELS NREPLICAS: NAME's view of the master has them all.
sentinel_sees() {
    local out
    out=$(rcli "$(port_of "$1")" SENTINEL master "$MASTER_NAME" 2>/dev/null) || return 1
    [ "$(sed -n '/^num-other-sentinels$/{n;p}' <<<"$out")" = "$2" ] &&
        [ "$(sed -n '/^num-slaves$/{n;p}' <<<"$out")" = "$3" ]
}

# sentinel_list: "127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3"
sentinel_list() {
    local i list=""
    for i in 1 2 3; do list="$list,127.0.0.1:$(port_of "sentinel$i")"; done
    echo "${list#,}"
}

# master_port_per SENTINEL: the master's port as SENTINEL reports it.
master_port_per() {
    rcli "$(port_of "$1")" SENTINEL get-master-addr-by-name "$MASTER_NAME" | sed -n 2p
}

# all_sentinels_say PORT: every Sentinel reports the master on PORT, and it says master.
all_sentinels_say() {
    local i
    for i in 1 2 3; do
        [ "$(master_port_per "sentinel$i")" = "$1" ] || return 1
    done
    [ "$(rcli "$1" ROLE 2>/dev/null | head -n 1)" = master ]
}

# sentinel_failover: SENTINEL FAILOVER through sentinel1, then waits (30 s at most) until
# all three Sentinels agree on a new master that says it is one; prints its port.
sentinel_failover() {
    local old
    old=$(master_port_per sentinel1)
    [ "$(rcli "$(port_of sentinel1)" SENTINEL FAILOVER "$MASTER_NAME")" = OK ] || return 1
    wait_for 30 new_master_known "$old" >&2 || return 1
    master_port_per sentinel1
}

new_master_known() {
    local now
    now=$(master_port_per sentinel1)
    [ -n "$now" ] && [ "$now" != "$1" ] && all_sentinels_say "$now"
}

# ---- TLS --------------------------------------------------------------------------------

need_openssl() {
    command -v openssl >/dev/null || skip "openssl is not installed"
}

# tls_certs: in $W/tls, a CA (ca.crt), a server certificate for 127.0.0.1 and localhost
# (server.crt/.key) and a client certificate (client.crt/.key), both signed by the CA.
tls_certs() {
    local d="$W/tls" who
    need_openssl
    mkdir -p "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=podkit e2e CA" \
        -keyout "$d/ca.key" -out "$d/ca.crt" 2>"$d/openssl.log" || return 1
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' \
        >"$d/server.ext"
    printf 'extendedKeyUsage=clientAuth\n' >"$d/client.ext"
    for who in server client; do
        openssl req -newkey rsa:2048 -nodes -subj "/CN=podkit e2e $who" \
            -keyout "$d/$who.key" -out "$d/$who.csr" 2>>"$d/openssl.log" || return 1
        openssl x509 -req -in "$d/$who.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
            -CAcreateserial -days 2 -extfile "$d/$who.ext" -out "$d/$who.crt" \
            2>>"$d/openssl.log" || return 1
    done
}

# tls_cli PORT ARGS...: redis-cli over TLS with the client certificate.
tls_cli() {
    local port=$1
    shift
    timeout 10 redis-cli --tls --cacert "$W/tls/ca.crt" --cert "$W/tls/client.crt" \
        --key "$W/tls/client.key" -h 127.0.0.1 -p "$port" "$@"
}

# redis_start_tls NAME [options...]: as redis_start, but the server speaks TLS only
# (--port 0) and wants client certificates (tls-auth-clients defaults to yes). Run
# tls_certs first.
redis_start_tls() {
    local name=$1 port
    shift
    port=$(free_port) || return 1
    mkdir -p "$W/$name"
    echo "$port" >"$W/$name.port"
    bg "$name" redis-server --port 0 --tls-port "$port" --bind 127.0.0.1 --save '' \
        --appendonly no --dir "$W/$name" --daemonize no --enable-debug-command local \
        --repl-diskless-sync-delay 0 \
        --tls-cert-file "$W/tls/server.crt" --tls-key-file "$W/tls/server.key" \
        --tls-ca-cert-file "$W/tls/ca.crt" "$@"
    wait_for 10 tls_up "$name"
}

tls_up() {
    running "$1" || { echo "$1 exited:" >&2; tail -n 5 "$W/$1.log" >&2; return 2; }
    [ "$(tls_cli "$(port_of "$1")" PING 2>/dev/null)" = PONG ]
}

# ---- the ambassador ---------------------------------------------------------------------

# amb_start_on ADDR ARGS...: the ambassador with exactly ARGS, in the background (log in
# $W/amb.log, pid in $AMB_PID); returns once ADDR (HOST:PORT, [::1]:PORT or unix:PATH)
# accepts connections. It is not necessarily ready: see pong_at / amb_pong.
amb_start_on() {
    local addr=$1
    shift
    [ -x "$AMB" ] || { echo "no executable $AMB (not built yet?)" >&2; return 1; }
    # A test may start several in turn: each keeps its log (amb.log is the last one).
    [ -f "$W/amb.log" ] && mv "$W/amb.log" "$W/amb-$(date +%s%N).log"
    bg amb "$AMB" "$@"
    AMB_PID=$(pid_of amb)
    wait_for 10 amb_accepts "$addr"
}

# amb_start ARGS...: the ambassador listening on 127.0.0.1:$AMB_PORT (a free port), plus ARGS.
amb_start() {
    AMB_PORT=$(free_port) || return 1
    amb_start_on "127.0.0.1:$AMB_PORT" --listen "127.0.0.1:$AMB_PORT" "$@"
}

amb_accepts() {
    running amb || { echo "the ambassador exited:" >&2; tail -n 20 "$W/amb.log" >&2; return 2; }
    python3 - "$1" <<'PY'
import socket, sys
addr = sys.argv[1]
if addr.startswith("unix:"):
    family, target = socket.AF_UNIX, addr[5:]
elif addr.startswith("["):
    host, _, port = addr[1:].partition("]:")
    family, target = socket.AF_INET6, (host, int(port))
else:
    host, _, port = addr.rpartition(":")
    family, target = socket.AF_INET, (host, int(port))
s = socket.socket(family)
s.settimeout(1)
try:
    s.connect(target)
except OSError:
    sys.exit(1)
PY
}

# amb_pong: a PING through the ambassador on $AMB_PORT gets PONG (a master is in use).
amb_pong() { pong_at "$AMB_PORT"; }

# amb_stop [SECONDS]: SIGTERM, then wait up to SECONDS (default 10; 30 for the sanitized
# build, whose exit runs LeakSanitizer over the whole heap: seen taking over 10 s on a
# loaded machine after the 200-client test) for the exit; sets AMB_STATUS to its exit
# status (or "running" when it did not exit).
amb_stop() {
    local limit=${1:-$([ "${AMB_SANITIZED:-}" = 1 ] && echo 30 || echo 10)}
    kill -TERM "$AMB_PID" 2>/dev/null
    amb_wait_exit "$limit"
}

# amb_wait_exit SECONDS: waits for $AMB_PID to exit; AMB_STATUS as in amb_stop.
amb_wait_exit() {
    local deadline=$((SECONDS + $1))
    while running amb && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
    if running amb; then
        AMB_STATUS=running
        # Say what it is doing (shown with the logs when the test fails).
        {
            grep -E '^(State|Threads|VmRSS)' "/proc/$AMB_PID/status"
            echo "wchan: $(cat "/proc/$AMB_PID/wchan" 2>/dev/null)"
            echo "cpu ticks (utime stime): $(cut -d' ' -f14,15 "/proc/$AMB_PID/stat")"
            echo "open fds: $(ls "/proc/$AMB_PID/fd" | wc -l)"
            command -v gdb >/dev/null &&
                timeout 60 gdb -p "$AMB_PID" -batch -ex "thread apply all bt" 2>/dev/null |
                grep '^#'
        } >"$W/amb-stuck.log" 2>&1
        return 1
    fi
    AMB_STATUS=0
    wait "$AMB_PID" 2>/dev/null || AMB_STATUS=$?
}

# resp ARGS...: the Python RESP client (see resp_client.py), bounded.
resp() { timeout 120 python3 "$RESP" "$@"; }

# session ADDR: resp session; commands on stdin, one reply per output line.
session() { timeout 30 python3 "$RESP" session "$1"; }

# vmrss PID: resident set size in kB.
vmrss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/status"; }

# http_code URL: the status code of a GET (000 when nothing answered).
http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$1"; }
