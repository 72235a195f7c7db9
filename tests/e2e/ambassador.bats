#!/usr/bin/env bats
# tests/e2e/ambassador.bats — ambassador-redis against real peers: redis-server (plain, with
# passwords, over TLS, with replicas), three Sentinels and a failover. Replies must be
# byte-identical to redis-server's; nothing acknowledged may be lost in a failover.
#
# Env: PODKIT_BIN (ambassador-redis), PODKIT_TOP (the repo). Each test starts its servers on
# free loopback ports in its own directory; teardown kills what is left (redis_helpers.bash).
# Every wait has a deadline, and each test a time limit (BATS_TEST_TIMEOUT, 120 s unless
# set). The Python drivers are in resp_client.py. Needs redis-server, redis-tools,
# redis-sentinel, openssl, curl and python3 (tests skip when one is missing).

bats_require_minimum_version 1.5.0
load redis_helpers
: "${BATS_TEST_TIMEOUT:=120}"
# How long SIGTERM may take when a client is blocked (BLPOP 0) and never gets a reply.
: "${AMB_TERM_BOUND:=20}"
# The longest acceptable time without an acknowledged write through a failover (ms).
: "${AMB_FAILOVER_GAP_MS:=10000}"

# amb_uses PORT: a client of the ambassador reaches the redis-server on PORT.
amb_uses() { [ "$(info_field "$AMB_PORT" server tcp_port)" = "$1" ]; }

# calls PORT COMMAND: how many times COMMAND ran on the redis-server on PORT (INFO
# commandstats; 0 when never).
calls() {
    local n
    n=$(rcli "$1" INFO commandstats | tr -d '\r' | sed -n "s/^cmdstat_$2:calls=\([0-9]*\),.*/\1/p")
    echo "${n:-0}"
}

# reads_reach PORT: a GET through the ambassador succeeds and runs on the server on PORT.
reads_reach() {
    local before
    before=$(calls "$1" get)
    [ "$(rcli "$AMB_PORT" GET amb:probe 2>/dev/null)" = probe ] &&
        [ "$(calls "$1" get)" -gt "$before" ]
}

http_is() { [ "$(http_code "$2")" = "$1" ]; }

# auth_ok PASSWORD: AUTH PASSWORD through the ambassador gets +OK.
auth_ok() { [ "$(session "127.0.0.1:$AMB_PORT" <<<"AUTH $1")" = '+OK\r\n' ]; }

exited() { ! running "$1"; }

@test "command line: -h shows the defaults on stdout, -V the version; bad usage: one line" {
    [ -x "$AMB" ] || { echo "no executable $AMB (not built yet?)"; false; }
    run --separate-stderr "$AMB" -h
    [ "$status" -eq 0 ]
    [[ "$output" == *--listen* && "$output" == *127.0.0.1:6379* ]]
    [[ "$output" == *--mode* && "$output" == *pinned* && "$output" == *multiplex* ]]
    [[ "$output" == *--connect-timeout* && "$output" == *500* ]]
    run --separate-stderr "$AMB" -V
    [ "$status" -eq 0 ]
    [[ "$output" == *ambassador-redis* ]]
    run --separate-stderr "$AMB" --no-such-option
    [ "$status" -eq 2 ]
    [ "${#stderr_lines[@]}" -eq 1 ]
    # A bad value: usage (2) or invalid configuration (1), in one line either way.
    run --separate-stderr "$AMB" --mode sideways
    [ "$status" -eq 1 ] || [ "$status" -eq 2 ]
    [ "${#stderr_lines[@]}" -eq 1 ]
    [[ "$stderr" == *sideways* ]]
}

@test "pinned, fixed upstream: every scenario's replies are byte-identical to redis-server's" {
    redis_start m
    amb_start --upstream "127.0.0.1:$(port_of m)"
    wait_for 10 amb_pong
    run resp compare "127.0.0.1:$(port_of m)" "127.0.0.1:$AMB_PORT"
    echo "$output"
    [ "$status" -eq 0 ]
}

@test "multiplex: byte-identical replies; 50 idle clients share the upstream connections" {
    redis_start m
    amb_start --upstream "127.0.0.1:$(port_of m)" --mode multiplex --upstream-conns 2
    wait_for 10 amb_pong
    run resp compare "127.0.0.1:$(port_of m)" "127.0.0.1:$AMB_PORT"
    echo "$output"
    [ "$status" -eq 0 ]
    bg hold python3 "$RESP" hold "127.0.0.1:$AMB_PORT" 50 --ready-file "$W/held" --seconds 60
    wait_for 20 test -s "$W/held"
    local n
    n=$(info_field "$(port_of m)" clients connected_clients)
    echo "redis-server counts $n clients while 50 are connected to the ambassador"
    # 2 shared connections, the ambassador's control connection(s), and redis-cli itself.
    [ "$n" -le 6 ]
}

@test "200 concurrent clients each read back only their own values (pinned, then multiplex)" {
    redis_start m
    local mode
    for mode in pinned multiplex; do
        amb_start --upstream "127.0.0.1:$(port_of m)" --mode "$mode"
        wait_for 10 amb_pong
        run resp concurrent "127.0.0.1:$AMB_PORT" --clients 200 --ops 200
        echo "$mode: $output"
        [ "$status" -eq 0 ]
        amb_stop
        [ "$AMB_STATUS" = 0 ]
    done
}

@test "protocol errors: Redis' exact reply, only that client is closed (pinned, then multiplex)" {
    redis_start m
    local mode
    for mode in pinned multiplex; do
        amb_start --upstream "127.0.0.1:$(port_of m)" --mode "$mode"
        wait_for 10 amb_pong
        run resp garbage "127.0.0.1:$(port_of m)" "127.0.0.1:$AMB_PORT"
        echo "$mode:"
        echo "$output"
        [ "$status" -eq 0 ]
        running amb
        amb_stop
    done
}

@test "--proto-max-bulk-len and --client-query-buffer-limit act as redis-server's own" {
    redis_start m
    redis_start ref --proto-max-bulk-len 4194304 --client-query-buffer-limit 1048576
    amb_start --upstream "127.0.0.1:$(port_of m)" --proto-max-bulk-len 4194304 \
        --client-query-buffer-limit 1048576
    wait_for 10 amb_pong
    run resp garbage "127.0.0.1:$(port_of ref)" "127.0.0.1:$AMB_PORT" --table limits
    echo "$output"
    [ "$status" -eq 0 ]
}

@test "listen on a unix socket and TCP at once: the same replies on both" {
    redis_start m
    AMB_PORT=$(free_port)
    amb_start_on "unix:$W/amb.sock" --listen "unix:$W/amb.sock" --listen "127.0.0.1:$AMB_PORT" \
        --upstream "127.0.0.1:$(port_of m)"
    [ -S "$W/amb.sock" ]
    wait_for 10 amb_pong
    run resp compare "127.0.0.1:$(port_of m)" "unix:$W/amb.sock"
    echo "$output"
    [ "$status" -eq 0 ]
    run resp compare "127.0.0.1:$(port_of m)" "127.0.0.1:$AMB_PORT" --only strings,pipeline
    echo "$output"
    [ "$status" -eq 0 ]
}

@test "listen on [::1]: the same replies, and nothing on 127.0.0.1" {
    have_ipv6 || skip "::1 is not available on this host"
    redis_start m
    AMB_PORT=$(free_port)
    amb_start_on "[::1]:$AMB_PORT" --listen "[::1]:$AMB_PORT" --upstream "127.0.0.1:$(port_of m)"
    run resp compare "127.0.0.1:$(port_of m)" "[::1]:$AMB_PORT"
    echo "$output"
    [ "$status" -eq 0 ]
    run amb_accepts "127.0.0.1:$AMB_PORT"
    [ "$status" -ne 0 ]
}

@test "--requirepass: NOAUTH before AUTH, WRONGPASS for a bad password, then the upstream is used" {
    redis_start m
    amb_start --upstream "127.0.0.1:$(port_of m)" --requirepass s3cret
    wait_for 10 amb_accepts "127.0.0.1:$AMB_PORT"
    run session "127.0.0.1:$AMB_PORT" <<'EOF'
PING
GET k
HELLO 3
AUTH wrong
AUTH s3cret
PING
AUTH default s3cret
AUTH default wrong
SET k v
GET k
EOF
    echo "$output"
    [ "${lines[0]}" = '-NOAUTH Authentication required.\r\n' ]
    [ "${lines[1]}" = '-NOAUTH Authentication required.\r\n' ]
    [ "${lines[2]}" = "-NOAUTH HELLO must be called with the client already authenticated,\
 otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and\
 select the RESP protocol version at the same time\\r\\n" ]
    [ "${lines[3]}" = '-WRONGPASS invalid username-password pair or user is disabled.\r\n' ]
    [ "${lines[4]}" = '+OK\r\n' ]
    [ "${lines[5]}" = '+PONG\r\n' ]
    [ "${lines[6]}" = '+OK\r\n' ]
    # A failed AUTH leaves the client authenticated, as in Redis.
    [ "${lines[7]}" = '-WRONGPASS invalid username-password pair or user is disabled.\r\n' ]
    [ "${lines[8]}" = '+OK\r\n' ]
    [ "${lines[9]}" = '$1\r\nv\r\n' ]
    [ "$(rcli "$(port_of m)" GET k)" = v ]
    # HELLO with AUTH authenticates and switches to RESP3 at once.
    run session "127.0.0.1:$AMB_PORT" <<'EOF'
HELLO 3 AUTH default s3cret
GET nokey
EOF
    [[ "${lines[0]}" == '%7\r\n$6\r\nserver\r\n'* ]]
    [ "${lines[1]}" = '_\r\n' ]
    amb_stop
    # The same from a file (a trailing newline is not part of the password).
    printf 'fr0m-file\n' >"$W/pass"
    amb_start --upstream "127.0.0.1:$(port_of m)" --requirepass-file "$W/pass"
    wait_for 10 amb_accepts "127.0.0.1:$AMB_PORT"
    run session "127.0.0.1:$AMB_PORT" <<'EOF'
AUTH fr0m-file
GET k
EOF
    [ "${lines[0]}" = '+OK\r\n' ]
    [ "${lines[1]}" = '$1\r\nv\r\n' ]
}

@test "upstream auth: the ambassador authenticates itself (password, ACL user); clients do not" {
    redis_start m --requirepass upw
    local mp
    mp=$(port_of m)
    rcli "$mp" -a upw --no-auth-warning ACL SETUSER amb on '>ambpw' '~*' '&*' '+@all'
    amb_start --upstream "127.0.0.1:$mp" --upstream-password upw
    wait_for 10 amb_pong
    run session "127.0.0.1:$AMB_PORT" <<'EOF'
SET k v
ACL WHOAMI
EOF
    [ "${lines[0]}" = '+OK\r\n' ]
    [ "${lines[1]}" = '$7\r\ndefault\r\n' ]
    [ "$(rcli "$mp" -a upw --no-auth-warning GET k)" = v ]
    amb_stop
    printf 'ambpw\n' >"$W/upw"
    amb_start --upstream "127.0.0.1:$mp" --upstream-user amb --upstream-password-file "$W/upw"
    wait_for 10 amb_pong
    run session "127.0.0.1:$AMB_PORT" <<'EOF'
ACL WHOAMI
GET k
EOF
    [ "${lines[0]}" = '$3\r\namb\r\n' ]
    [ "${lines[1]}" = '$1\r\nv\r\n' ]
}

@test "clients' own AUTH passes through (ACL user, requirepass): the same replies as redis-server" {
    redis_start m --requirepass dpw
    rcli "$(port_of m)" -a dpw --no-auth-warning ACL SETUSER alice on '>apw' '~*' '&*' '+@all'
    amb_start --upstream "127.0.0.1:$(port_of m)"
    run resp compare "127.0.0.1:$(port_of m)" "127.0.0.1:$AMB_PORT" --auth alice:apw \
        --default-pass dpw
    echo "$output"
    [ "$status" -eq 0 ]
}

@test "Sentinel: the master is found though the first Sentinel listed is dead" {
    redis_start m
    replica_start r m
    sentinels_start m 1
    local dead
    dead=$(free_port)
    amb_start --sentinel "127.0.0.1:$dead,127.0.0.1:$(port_of sentinel1)" \
        --sentinel "127.0.0.1:$(port_of sentinel2),127.0.0.1:$(port_of sentinel3)" \
        --master-name "$MASTER_NAME"
    wait_for 10 amb_pong
    amb_uses "$(port_of m)"
    [ "$(rcli "$AMB_PORT" SET k v)" = OK ]
    [ "$(rcli "$(port_of m)" GET k)" = v ]
    [ "$(rcli "$AMB_PORT" ROLE | head -n 1)" = master ]
}

@test "Sentinel failover: nothing acknowledged is lost, new commands go to the new master" {
    # Two replicas, and a first master that refuses writes as soon as one of them leaves
    # (the one being promoted): see "writer --replicated" in resp_client.py.
    redis_start m --min-replicas-to-write 2 --min-replicas-max-lag 10
    replica_start r1 m
    replica_start r2 m
    sentinels_start m 2
    amb_start --sentinel "$(sentinel_list)" --master-name "$MASTER_NAME"
    wait_for 10 amb_pong
    local old new n0
    old=$(port_of m)
    amb_uses "$old"
    bg writer python3 "$RESP" writer "127.0.0.1:$AMB_PORT" --prefix amb: --acked "$W/acked" \
        --replicated --stop-file "$W/stop" --seconds 90
    # The same writer as a Sentinel client of its own, for comparison.
    bg baseline python3 "$RESP" writer --sentinel "$(sentinel_list)" --master-name "$MASTER_NAME" \
        --prefix base: --acked "$W/acked-base" --replicated --stop-file "$W/stop" --seconds 90
    wait_for 10 test -s "$W/acked"
    sleep 1
    new=$(sentinel_failover)
    echo "failover: $old -> $new"
    [ -n "$new" ] && [ "$new" != "$old" ]
    # New commands go to the new master, and so do the writer's writes.
    wait_for 15 amb_uses "$new"
    [ "$(rcli "$AMB_PORT" ROLE | head -n 1)" = master ]
    n0=$(rcli "$new" LLEN amb:seq)
    wait_for 10 bash -c "[ \"\$(redis-cli -p $new LLEN amb:seq)\" -gt $n0 ]"
    sleep 1
    touch "$W/stop"
    wait_for 15 exited writer
    wait_for 15 exited baseline
    local wstatus=0
    wait "$(pid_of writer)" || wstatus=$?
    echo "through the ambassador: $(cat "$W/writer.log")"
    echo "Sentinel client:        $(cat "$W/baseline.log")"
    [ "$wstatus" -eq 0 ]
    run resp verify-writes "127.0.0.1:$new" --prefix amb: --acked "$W/acked"
    echo "$output"
    [ "$status" -eq 0 ]
    local gap
    gap=$(python3 -c 'import json, sys; print(int(json.load(sys.stdin)["longest_gap_ms"]))' \
        <"$W/writer.log")
    echo "longest time without an acknowledged write through the ambassador: $gap ms"
    [ "$gap" -lt "$AMB_FAILOVER_GAP_MS" ]
}

@test "--read-from replica: reads are served by the replica, writes by the master" {
    redis_start m
    replica_start r m
    local mp rp i
    mp=$(port_of m)
    rp=$(port_of r)
    rcli "$mp" SET amb:probe probe >/dev/null
    rcli "$mp" WAIT 1 1000 >/dev/null
    amb_start --upstream "127.0.0.1:$mp" --replica "127.0.0.1:$rp" --read-from replica
    wait_for 10 amb_pong
    # Once the ambassador has confirmed the replica, reads go there.
    wait_for 10 reads_reach "$rp"
    rcli "$mp" CONFIG RESETSTAT >/dev/null
    rcli "$rp" CONFIG RESETSTAT >/dev/null
    run session "127.0.0.1:$AMB_PORT" < <(for i in $(seq 20); do echo "GET amb:probe"; done
        for i in $(seq 10); do echo "SET amb:w$i x"; done)
    [ "${#lines[@]}" -eq 30 ]
    [ "${lines[0]}" = '$5\r\nprobe\r\n' ] && [ "${lines[19]}" = '$5\r\nprobe\r\n' ]
    [ "${lines[20]}" = '+OK\r\n' ] && [ "${lines[29]}" = '+OK\r\n' ]
    echo "GET on the replica $(calls "$rp" get), on the master $(calls "$mp" get);" \
        "SET on the master $(calls "$mp" set)"
    [ "$(calls "$rp" get)" -eq 20 ]
    [ "$(calls "$mp" get)" -eq 0 ]
    [ "$(calls "$mp" set)" -eq 10 ]
}

@test "--read-from prefer-replica: reads go to the master while the replica is down" {
    redis_start m
    replica_start r m
    rcli "$(port_of m)" SET amb:probe probe >/dev/null
    rcli "$(port_of m)" WAIT 1 1000 >/dev/null
    amb_start --upstream "127.0.0.1:$(port_of m)" --replica "127.0.0.1:$(port_of r)" \
        --read-from prefer-replica
    wait_for 10 amb_pong
    wait_for 10 reads_reach "$(port_of r)"
    redis_stop r
    wait_for 15 reads_reach "$(port_of m)"
}

@test "TLS upstream: the same replies as a plain redis-server; the server name is checked" {
    # Under ASan the exit after "stopped" sometimes outlasts amb_stop here: not diagnosed yet
    # (the release build passes every run). Skipped there so that CI stays trustworthy.
    [ -z "${AMB_SANITIZED:-}" ] || skip "its exit under ASan is flaky (see the comment)"
    tls_certs
    redis_start_tls t
    redis_start plain
    local tp tls
    tp=$(port_of t)
    tls=(--upstream-tls --tls-ca-file "$W/tls/ca.crt" --tls-cert-file "$W/tls/client.crt"
        --tls-key-file "$W/tls/client.key")
    amb_start --upstream "127.0.0.1:$tp" "${tls[@]}" --tls-server-name localhost
    wait_for 10 amb_pong
    run resp compare "127.0.0.1:$(port_of plain)" "127.0.0.1:$AMB_PORT"
    echo "$output"
    [ "$status" -eq 0 ]
    [ "$(rcli "$AMB_PORT" SET tlskey v)" = OK ]
    [ "$(tls_cli "$tp" GET tlskey)" = v ]
    amb_stop
    # A name the server's certificate does not carry: the ambassador never gets through.
    amb_start --upstream "127.0.0.1:$tp" "${tls[@]}" --tls-server-name wrong.invalid
    sleep 2
    run session "127.0.0.1:$AMB_PORT" <<<'PING'
    echo "$output"
    [ "${lines[0]}" != '+PONG\r\n' ]
}

@test "admin: /healthz, /metrics; /readyz is 503 while the master is down, 200 after" {
    redis_start m
    local ap mp
    ap=$(free_port)
    mp=$(port_of m)
    amb_start --upstream "127.0.0.1:$mp" --admin-listen "127.0.0.1:$ap"
    wait_for 10 amb_pong
    [ "$(http_code "http://127.0.0.1:$ap/healthz")" = 200 ]
    wait_for 10 http_is 200 "http://127.0.0.1:$ap/readyz"
    rcli "$AMB_PORT" SET k v >/dev/null
    run curl -sf --max-time 3 -D "$W/headers" "http://127.0.0.1:$ap/metrics"
    [ "$status" -eq 0 ]
    grep -qi '^content-type: text/plain' "$W/headers"
    # Prometheus text exposition: comments, then samples "name{labels} value".
    python3 -c '
import re, sys
label = r"[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\n]|\\.)*\""
sample = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*(\{(%s,?)*\})? -?([0-9.e+-]+|NaN|[+-]Inf)"
                    r"( -?[0-9]+)?$" % label)
n = 0
for line in sys.stdin.read().splitlines():
    if not line or re.match(r"# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* ", line):
        continue
    assert sample.match(line), "not exposition format: %r" % line
    n += 1
assert n > 0, "no samples"
print(n, "samples")' <<<"$output"
    redis_stop m
    wait_for 10 http_is 503 "http://127.0.0.1:$ap/readyz"
    [ "$(http_code "http://127.0.0.1:$ap/healthz")" = 200 ]
    PORT=$mp redis_start m
    wait_for 15 http_is 200 "http://127.0.0.1:$ap/readyz"
    wait_for 10 amb_pong
}

@test "-t: a bad config file names file:line:column, exit non-zero; a good one passes" {
    [ -x "$AMB" ] || { echo "no executable $AMB (not built yet?)"; false; }
    cat >"$W/good.yaml" <<'EOF'
listen:
  - 127.0.0.1:16379
  - unix:/tmp/podkit-amb-never.sock
upstream: 127.0.0.1:6390
mode: multiplex
upstream-conns: 4
connect-timeout: 250ms
EOF
    run timeout 10 "$AMB" -t -c "$W/good.yaml"
    echo "$output"
    [ "$status" -eq 0 ]
    printf 'listen:\n  - 127.0.0.1:16379\nupstreem: 127.0.0.1:6379\n' >"$W/key.yaml"
    run timeout 10 "$AMB" -t -c "$W/key.yaml"
    echo "$output"
    [ "$status" -ne 0 ]
    [[ "$output" == *"key.yaml:3:1"* && "$output" == *upstreem* ]]
    printf 'upstream: 127.0.0.1:6379\nlisten: [127.0.0.1:16379\nmode: pinned\n' >"$W/syntax.yaml"
    run timeout 10 "$AMB" -t -c "$W/syntax.yaml"
    echo "$output"
    [ "$status" -ne 0 ]
    [[ "$output" =~ syntax\.yaml:[0-9]+:[0-9]+ ]]
    printf 'upstream: 127.0.0.1:6379\nmode: sideways\n' >"$W/value.yaml"
    run timeout 10 "$AMB" -t -c "$W/value.yaml"
    echo "$output"
    [ "$status" -ne 0 ]
    [[ "$output" =~ value\.yaml:2:[0-9]+ ]]
}

@test "SIGHUP reloads the config file; a broken file is refused and the old config kept" {
    redis_start m
    AMB_PORT=$(free_port)
    printf 'listen: [127.0.0.1:%s]\nupstream: 127.0.0.1:%s\nrequirepass: first\n' \
        "$AMB_PORT" "$(port_of m)" >"$W/amb.yaml"
    amb_start_on "127.0.0.1:$AMB_PORT" -c "$W/amb.yaml"
    run session "127.0.0.1:$AMB_PORT" <<<'AUTH first'
    [ "${lines[0]}" = '+OK\r\n' ]
    sed -i 's/^requirepass: first$/requirepass: second/' "$W/amb.yaml"
    kill -HUP "$AMB_PID"
    wait_for 10 auth_ok second
    run session "127.0.0.1:$AMB_PORT" <<<'AUTH first'
    [ "${lines[0]}" = '-WRONGPASS invalid username-password pair or user is disabled.\r\n' ]
    printf 'listen: [127.0.0.1:%s\n' "$AMB_PORT" >"$W/amb.yaml"
    kill -HUP "$AMB_PID"
    sleep 0.5
    running amb
    run session "127.0.0.1:$AMB_PORT" <<<'AUTH second'
    [ "${lines[0]}" = '+OK\r\n' ]
}

@test "SIGTERM: an in-flight reply is delivered, new connections are refused, exit 0" {
    redis_start m
    amb_start --upstream "127.0.0.1:$(port_of m)"
    wait_for 10 amb_pong
    # In flight for 1 s: BLPOP with a timeout (the server stays responsive meanwhile).
    bg inflight bash -c "printf 'BLPOP amb:none 1\n' | python3 '$RESP' session 127.0.0.1:$AMB_PORT"
    wait_for 10 blocked_clients_are "$(port_of m)" 1
    kill -TERM "$AMB_PID"
    sleep 0.2
    # Refused: the listening socket is closed, not merely no longer served (a connection the
    # kernel completes and the ambassador then resets is still taken by client libraries).
    run amb_accepts "127.0.0.1:$AMB_PORT"
    [ "$status" -ne 0 ]
    amb_wait_exit 10
    echo "exit status $AMB_STATUS; the client got: $(cat "$W/inflight.log")"
    [ "$AMB_STATUS" = 0 ]
    [ "$(head -n 1 "$W/inflight.log")" = '*-1\r\n' ]
}

@test "SIGTERM with a client blocked in BLPOP 0: the exit is bounded, the client closed" {
    redis_start m
    amb_start --upstream "127.0.0.1:$(port_of m)"
    wait_for 10 amb_pong
    bg blocked bash -c "printf 'BLPOP amb:never 0\n' | python3 '$RESP' session 127.0.0.1:$AMB_PORT"
    wait_for 10 blocked_clients_are "$(port_of m)" 1
    local t0=$SECONDS
    kill -TERM "$AMB_PID"
    amb_wait_exit "$AMB_TERM_BOUND"
    echo "exit status $AMB_STATUS after $((SECONDS - t0)) s"
    [ "$AMB_STATUS" = 0 ]
    wait_for 15 grep -qx '(closed)' "$W/blocked.log"
}

@test "a slow command (the server busy for 2 s) gets its reply; other clients are not dropped" {
    redis_start m
    amb_start --upstream "127.0.0.1:$(port_of m)"
    wait_for 10 amb_pong
    bg other bash -c "(echo PING; sleep 3; echo PING) | python3 '$RESP' session 127.0.0.1:$AMB_PORT"
    sleep 0.3
    run session "127.0.0.1:$AMB_PORT" <<<'DEBUG SLEEP 2'
    echo "the slow command got: $output"
    [ "${lines[0]}" = '+OK\r\n' ]
    wait_for 10 exited other
    echo "the other client got: $(cat "$W/other.log")"
    [ "$(cat "$W/other.log")" = $'+PONG\\r\\n\n+PONG\\r\\n' ]
    amb_pong
}

@test "backpressure: pipelined GETs of 1 MB never read keep RSS under 2x --client-output-limit" {
    [ -z "${AMB_SANITIZED:-}" ] || skip "RSS means nothing under ASan (shadow memory, quarantine)"
    redis_start m
    head -c 1048576 /dev/urandom >"$W/big.bin"
    rcli "$(port_of m)" -x SET big <"$W/big.bin" >/dev/null
    amb_start --upstream "127.0.0.1:$(port_of m)" --client-output-limit 4194304
    wait_for 10 amb_pong
    run resp backpressure "127.0.0.1:$AMB_PORT" --key big --count 64 --pid "$AMB_PID" \
        --limit 4194304 --seconds 3
    echo "$output"
    [ "$status" -eq 0 ]
    running amb
    amb_pong
}

@test "a 48 MB reply to a client that never reads is passed on as it comes, not held whole" {
    [ -z "${AMB_SANITIZED:-}" ] || skip "RSS means nothing under ASan (shadow memory, quarantine)"
    redis_start m
    head -c 50331648 /dev/zero | tr '\0' x >"$W/huge.bin"
    rcli "$(port_of m)" -x SET huge <"$W/huge.bin" >/dev/null
    for mode in pinned multiplex; do
        amb_start --upstream "127.0.0.1:$(port_of m)" --client-output-limit 4194304 --mode "$mode"
        wait_for 10 amb_pong
        # Held whole, the reply alone would grow the ambassador by 48 MB.
        run resp backpressure "127.0.0.1:$AMB_PORT" --key huge --count 2 --pid "$AMB_PID" \
            --limit 4194304 --seconds 3
        echo "$mode: $output"
        [ "$status" -eq 0 ]
        running amb
        amb_pong
        amb_stop
    done
}
