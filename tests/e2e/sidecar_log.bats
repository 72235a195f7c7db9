#!/usr/bin/env bats
# tests/e2e/sidecar_log.bats — sidecar-log against real files, real rotation and real sinks
# on loopback: every check counts lines by number (sl_tool.py check): none missing, none
# twice (unless the test says how many duplicates a crash may cause).
#
# Env: PODKIT_BIN (sidecar-log), PODKIT_TOP. Each test works in its own directory; teardown
# kills what it started (redis_helpers.bash). Every wait has a deadline. Needs python3 and
# redis-server (the Redis tests), logrotate for the logrotate test (skipped without it).

bats_require_minimum_version 1.5.0
load redis_helpers
: "${BATS_TEST_TIMEOUT:=180}"

setup_file() { :; }

sl_setup() {
    SL="${PODKIT_BIN:?}/sidecar-log"
    TOOL="${PODKIT_TOP:?}/tests/e2e/sl_tool.py"
    [ -x "$SL" ] || { echo "no executable $SL (not built yet?)"; return 1; }
    mkdir -p "$W/logs"
}

# ship NAME ARGS...: sidecar-log in the background, its log in $W/NAME.log.
ship() {
    local name=$1
    shift
    bg "$name" "$SL" --log-level debug "$@"
}

# lines_in FILE: how many lines FILE has (0 when it does not exist).
lines_in() { [ -f "$1" ] && wc -l <"$1" || echo 0; }
has_lines() { [ "$(lines_in "$1")" -ge "$2" ]; }
check() { python3 "$TOOL" check "$@"; }
write() { python3 "$TOOL" write "$@"; }

# stop_ship NAME: SIGTERM, and it exits 0 within 15 s.
stop_ship() {
    local pid
    pid=$(pid_of "$1")
    kill -TERM "$pid"
    wait_for 15 exited "$1"
    wait "$pid"
}
exited() { ! running "$1"; }

rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$(pid_of "$1")/status"; }
peak_kb() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$(pid_of "$1")/status"; }

@test "command line: -h, -V, a bad flag, a missing --path and a bad regex: one line each" {
    sl_setup
    run --separate-stderr "$SL" -h
    [ "$status" -eq 0 ]
    [[ "$output" == *--path* && "$output" == *--output* && "$output" == *--db* ]]
    run --separate-stderr "$SL" -V
    [ "$status" -eq 0 ]
    [[ "$output" == *sidecar-log* && "$output" == *jansson* ]]
    run --separate-stderr "$SL" --no-such-flag
    [ "$status" -eq 2 ]
    [ "${#stderr_lines[@]}" -eq 1 ]
    run --separate-stderr "$SL" --output stdout
    [ "$status" -ne 0 ]
    [ "${#stderr_lines[@]}" -eq 1 ]
    [[ "$stderr" == *path* ]]
    run --separate-stderr "$SL" --path "$W/logs/*.log" --multiline-start '('
    [ "$status" -ne 0 ]
    [ "${#stderr_lines[@]}" -eq 1 ]
    [[ "$stderr" == *multiline-start* ]]
    run --separate-stderr "$SL" --path "$W/logs/*.log" --output 'tcp://127.0.0.1'
    [ "$status" -ne 0 ]
    [ "${#stderr_lines[@]}" -eq 1 ]
    [[ "$stderr" == *tcp://127.0.0.1* ]]
    printf 'path: [a\noutput: stdout\n' >"$W/bad.yaml"
    run --separate-stderr "$SL" -t -c "$W/bad.yaml"
    [ "$status" -ne 0 ]
    [[ "$stderr" == *bad.yaml:* ]]
}

@test "rename+create rotation: 5 files x 100k numbered lines rotated at 256 KB, none lost or twice" {
    sl_setup
    ship sl --path "$W/logs/*.log" --output "file:$W/out.txt" --rotate-wait 1s
    wait_for 10 grep -q 'shipping' "$W/sl.log"
    local writers="" k
    for k in 1 2 3 4 5; do
        write "$W/logs/app$k.log" "f$k" 100000 --rotate-bytes 262144 --keep 50 &
        writers="$writers $!"
    done
    wait $writers
    wait_for 90 has_lines "$W/out.txt" 500000
    for k in 1 2 3 4 5; do check "$W/out.txt" "f$k" 100000; done
    stop_ship sl
}

@test "logrotate (create, and copytruncate) while the app writes: nothing lost" {
    sl_setup
    command -v logrotate >/dev/null || skip "logrotate is not installed"
    cat >"$W/lr.conf" <<EOF
$W/logs/app.log {
    rotate 100
    create
    missingok
}
$W/logs/ct.log {
    rotate 100
    copytruncate
    missingok
}
EOF
    ship sl --path "$W/logs/*.log" --output "file:$W/out.txt" --rotate-wait 1s
    wait_for 10 grep -q 'shipping' "$W/sl.log"
    # The app appends by reopening the path for every 500 lines, as apps do after a
    # postrotate signal; logrotate runs every 0.3 s meanwhile.
    python3 - "$W/logs/app.log" "$W/logs/ct.log" <<'PY' &
import sys, time
sys.path.insert(0, __import__("os").environ["PODKIT_TOP"] + "/tests/e2e")
from sl_tool import line_of
for start in range(1, 40001, 500):
    for path, tag in ((sys.argv[1], "lr"), (sys.argv[2], "ct")):
        with open(path, "a") as f:
            f.write("".join(line_of(tag, n) for n in range(start, start + 500)))
    time.sleep(0.02)
PY
    local writer=$!
    while kill -0 "$writer" 2>/dev/null; do
        logrotate -f -s "$W/lr.state" "$W/lr.conf"
        sleep 0.3
    done
    wait_for 60 has_lines "$W/out.txt" 80000
    check "$W/out.txt" lr 40000
    # copytruncate itself can lose lines written between its copy and its truncate
    # (logrotate's own warning); only those, and nothing twice.
    check "$W/out.txt" ct 40000 || true
    [ "$(python3 -c "
import sys; sys.path.insert(0, '$PODKIT_TOP/tests/e2e'); import sl_tool
print(len(sl_tool.numbers_in('$W/out.txt', 'ct', '')))")" -ge 39000 ]
    stop_ship sl
}

@test "copytruncate and truncate in place: read again from the start, nothing twice" {
    sl_setup
    ship sl --path "$W/logs/*.log" --output "file:$W/out.txt"
    wait_for 10 grep -q 'shipping' "$W/sl.log"
    write "$W/logs/ct.log" ct 30000 --rotate-bytes 200000 --mode copytruncate \
        --rotate-pause-ms 300 --pace-every 2000 --pace-ms 20
    write "$W/logs/tr.log" tr 30000 --rotate-bytes 200000 --mode truncate \
        --rotate-pause-ms 300 --pace-every 2000 --pace-ms 20
    wait_for 60 has_lines "$W/out.txt" 60000
    check "$W/out.txt" ct 30000
    check "$W/out.txt" tr 30000
    grep -q 'truncated' "$W/sl.log"
    stop_ship sl
}

@test "a last line without newline waits for it, and ships as is once the file is rotated away" {
    sl_setup
    ship sl --path "$W/logs/*.log" --output "file:$W/out.txt" --rotate-wait 1s
    wait_for 10 grep -q 'shipping' "$W/sl.log"
    write "$W/logs/a.log" nl 100 --no-final-newline
    wait_for 10 has_lines "$W/out.txt" 99
    sleep 1.5
    [ "$(lines_in "$W/out.txt")" -eq 99 ]
    ! grep -q 'nl 00000100' "$W/out.txt"
    mv "$W/logs/a.log" "$W/logs/a.log.1"
    wait_for 10 grep -q 'nl 00000100' "$W/out.txt"
    check "$W/out.txt" nl 100
    stop_ship sl
}

@test "a clean stop and restart: no line twice, none lost (positions file)" {
    sl_setup
    write "$W/logs/a.log" rs 200000 &
    local writer=$!
    ship sl --path "$W/logs/*.log" --output "file:$W/out.txt" --db "$W/pos.db"
    wait_for 30 has_lines "$W/out.txt" 20000
    stop_ship sl
    wait "$writer"
    grep -q 'stopped' "$W/sl.log"
    [ -s "$W/pos.db" ]
    ship sl2 --path "$W/logs/*.log" --output "file:$W/out.txt" --db "$W/pos.db"
    wait_for 60 has_lines "$W/out.txt" 200000
    sleep 0.5
    check "$W/out.txt" rs 200000
    stop_ship sl2
}

@test "kill -9 mid-stream: nothing lost; duplicates only from what was not yet saved" {
    sl_setup
    write "$W/logs/a.log" k9 200000 &
    local writer=$!
    ship sl --path "$W/logs/*.log" --output "file:$W/out.txt" --db "$W/pos.db" \
        --save-interval 100ms
    wait_for 30 has_lines "$W/out.txt" 30000
    kill -KILL "$(pid_of sl)"
    wait "$writer"
    ship sl2 --path "$W/logs/*.log" --output "file:$W/out.txt" --db "$W/pos.db"
    wait_for 60 has_lines "$W/out.txt" 200000
    sleep 0.5
    check "$W/out.txt" k9 200000 --dups-max 200000
    stop_ship sl2
}

@test "the TCP output down for a while: memory stays flat, then every line arrives once" {
    sl_setup
    local port before after
    port=$(free_port)
    write "$W/logs/a.log" dn 300000
    ship sl --path "$W/logs/*.log" --output "tcp://127.0.0.1:$port" --format raw \
        --buffer-bytes 4MiB --retry-backoff 100ms --retry-backoff-max 500ms
    sleep 2
    before=$(rss_kb sl)
    sleep 3
    after=$(rss_kb sl)
    echo "RSS while the sink is down: $before kB, then $after kB"
    [ "$after" -le $((before + 1024)) ]
    [ "$(peak_kb sl)" -le 16384 ]
    bg sink python3 "$TOOL" tcp-sink "$port" "$W/out.txt"
    wait_for 60 has_lines "$W/out.txt" 300000
    sleep 0.5
    check "$W/out.txt" dn 300000
    stop_ship sl
}

@test "a symlink re-pointed is a rotation; both targets are shipped whole" {
    sl_setup
    mkdir -p "$W/pods"
    write "$W/pods/a.log" sa 5000
    ln -s "$W/pods/a.log" "$W/logs/current.log"
    ship sl --path "$W/logs/*.log" --output "file:$W/out.txt" --rotate-wait 1s
    wait_for 20 has_lines "$W/out.txt" 5000
    write "$W/pods/b.log" sb 5000
    ln -sfn "$W/pods/b.log" "$W/logs/current.log"
    write "$W/pods/b.log" sb2 3000
    wait_for 20 has_lines "$W/out.txt" 13000
    check "$W/out.txt" sa 5000
    check "$W/out.txt" sb 5000
    check "$W/out.txt" sb2 3000
    stop_ship sl
}

@test "multiline: stack traces are one record each, across a rotation; flushed after a pause" {
    sl_setup
    ship sl --path "$W/logs/*.log" --output "file:$W/out.json" --format json \
        --multiline-start '^\d{4}-' --multiline-flush 500ms --rotate-wait 1s
    wait_for 10 grep -q 'shipping' "$W/sl.log"
    python3 - "$W/logs/app.log" <<'PY'
import os, sys
path = sys.argv[1]
for n in range(1, 2001):
    with open(path, "a") as f:
        f.write(f"2026-11-22 ERROR event {n:08d}\n  at frame one\n  at frame two\n")
    if n == 1000:
        os.replace(path, path + ".1")
PY
    wait_for 20 has_lines "$W/out.json" 2000
    python3 - "$W/out.json" <<'PY'
import json, sys
# Each file's records are in order; the rotated file's last group may come after the new
# file's first (it is flushed by the pause, or when the file is closed).
msgs = sorted(json.loads(l)["message"] for l in open(sys.argv[1]))
assert len(msgs) == 2000, len(msgs)
for n, m in enumerate(msgs, 1):
    assert m == f"2026-11-22 ERROR event {n:08d}\n  at frame one\n  at frame two", m
PY
    stop_ship sl
}

@test "CRI logs: partial lines joined per stream, time and stream kept" {
    sl_setup
    python3 - "$W/logs/c.log" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for n in range(1, 1001):
        f.write(f"2026-11-22T01:02:03.{n:09d}Z stdout P part-a-{n:06d}-\n")
        f.write(f"2026-11-22T01:02:03.{n:09d}Z stderr F err {n:06d}\n")
        f.write(f"2026-11-22T01:02:04.{n:09d}Z stdout F part-b\n")
PY
    ship sl --path "$W/logs/*.log" --output "file:$W/out.json" --format json --parser cri
    wait_for 20 has_lines "$W/out.json" 2000
    python3 - "$W/out.json" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
out = [r for r in recs if r.get("stream", "stdout") == "stdout"]
err = [r for r in recs if r.get("stream") == "stderr"]
assert len(out) == 1000 and len(err) == 1000, (len(out), len(err))
for n, r in enumerate(out, 1):
    assert r["message"] == f"part-a-{n:06d}-part-b", r
for n, r in enumerate(err, 1):
    assert r["message"] == f"err {n:06d}" and r["time"] == f"2026-11-22T01:02:03.{n:09d}Z", r
PY
    stop_ship sl
}

@test "Redis outputs: RPUSH to a list and XADD with MAXLEN to a stream, against redis-server" {
    sl_setup
    redis_start r
    local p
    p=$(port_of r)
    write "$W/logs/a.log" rd 20000
    ship sl --path "$W/logs/*.log" --output "redis://127.0.0.1:$p/logs?type=list" \
        --output "redis://127.0.0.1:$p/st?type=stream&maxlen=100000"
    wait_for 30 eval '[ "$(rcli "$p" LLEN logs)" -ge 20000 ]'
    wait_for 30 eval '[ "$(rcli "$p" XLEN st)" -ge 20000 ]'
    rcli "$p" LRANGE logs 0 -1 >"$W/list.json"
    check "$W/list.json" rd 20000 --json message --expect-order
    [ "$(rcli "$p" XLEN st)" -eq 20000 ]
    stop_ship sl
}

@test "Redis output down at first: retried until it is up, nothing lost" {
    sl_setup
    local p
    p=$(free_port)
    write "$W/logs/a.log" ru 5000
    ship sl --path "$W/logs/*.log" --output "redis://127.0.0.1:$p/logs?type=list" \
        --retry-backoff 100ms --retry-backoff-max 300ms --timeout 1s
    sleep 1.5
    PORT=$p redis_start r
    wait_for 30 eval '[ "$(rcli "$p" LLEN logs)" -ge 5000 ]'
    rcli "$p" LRANGE logs 0 -1 >"$W/list.json"
    check "$W/list.json" ru 5000 --json message
    stop_ship sl
}

@test "HTTP output: 503 answers are retried, every record arrives once, in order" {
    sl_setup
    local port
    port=$(free_port)
    bg sink python3 "$TOOL" http-sink "$port" "$W/out.json" --fail-first 3
    wait_for 10 eval "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", $port))'"
    write "$W/logs/a.log" ht 20000
    ship sl --path "$W/logs/*.log" --output "http://127.0.0.1:$port/ingest" \
        --retry-backoff 100ms --flush-interval 50ms
    wait_for 30 has_lines "$W/out.json" 20000
    sleep 0.5
    check "$W/out.json" ht 20000 --json message --expect-order
    stop_ship sl
}

@test "Elasticsearch _bulk: 429 items retried alone, mapping errors dead-lettered, 409 is success" {
    sl_setup
    local port
    port=$(free_port)
    bg sink python3 "$TOOL" es-sink "$port" "$W/es.json" --429-first 50 --reject 'es 00000777'
    wait_for 10 eval "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", $port))'"
    write "$W/logs/a.log" es 5000
    ship sl --path "$W/logs/*.log" --output "es://127.0.0.1:$port/logs" \
        --dead-letter "$W/dead.json" --retry-backoff 100ms --flush-interval 50ms
    wait_for 30 has_lines "$W/es.json" 4999
    wait_for 10 has_lines "$W/dead.json" 1
    sleep 0.5
    [ "$(lines_in "$W/es.json")" -eq 4999 ]
    [ "$(lines_in "$W/dead.json")" -eq 1 ]
    grep -q 'es 00000777' "$W/dead.json"
    grep -q mapper_parsing_exception "$W/dead.json"
    stop_ship sl
}

@test "/metrics and /healthz; SIGHUP reloads (a bad file keeps the running config)" {
    sl_setup
    local port
    port=$(free_port)
    cat >"$W/c.yaml" <<EOF
path: ["$W/logs/*.log"]
output: ["file:$W/one.txt"]
admin-listen: 127.0.0.1:$port
EOF
    write "$W/logs/a.log" m1 1000
    ship sl -c "$W/c.yaml"
    wait_for 20 has_lines "$W/one.txt" 1000
    curl -sf "http://127.0.0.1:$port/metrics" >"$W/m.txt"
    grep -q '^sidecar_log_lines_read_total{path=".*a.log"} 1000$' "$W/m.txt"
    grep -q '^sidecar_log_records_shipped_total{output="file:.*one.txt"} 1000$' "$W/m.txt"
    grep -q '^sidecar_log_lag_bytes{path=".*a.log"} 0$' "$W/m.txt"
    [ "$(curl -sf "http://127.0.0.1:$port/healthz")" = ok ]
    echo 'path: [' >"$W/c.yaml"
    kill -HUP "$(pid_of sl)"
    wait_for 10 grep -q 'running configuration stays' "$W/sl.log"
    cat >"$W/c.yaml" <<EOF
path: ["$W/logs/*.log"]
output: ["file:$W/two.txt"]
admin-listen: 127.0.0.1:$port
EOF
    kill -HUP "$(pid_of sl)"
    wait_for 10 grep -q 'running on the new configuration' "$W/sl.log"
    write "$W/logs/a.log" m2 500
    wait_for 20 has_lines "$W/two.txt" 500
    check "$W/one.txt" m1 1000
    # Without --db a reload starts over per --start-at: the old lines come again.
    check "$W/two.txt" m2 500
    stop_ship sl
}
