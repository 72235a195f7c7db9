#!/usr/bin/env bats
# tests/e2e/adapter_metrics.bats — adapter-metrics against real sources (files, an HTTP
# server, statsd over UDP/TCP/unixgram, a real redis-server) and real oracles: every
# document scraped goes through `promtool check metrics` (no errors, no lint warnings) and
# every OpenMetrics one through python3-prometheus-client's strict parser; one test has a
# real Prometheus scrape the adapter.
#
# Env: PODKIT_BIN (adapter-metrics), PODKIT_TOP; AM_SANITIZED=1 skips the RSS check. Each
# test works in its own directory; teardown kills what it started (redis_helpers.bash).
# Every wait has a deadline. Only 127.0.0.1 is used.

bats_require_minimum_version 1.5.0
load redis_helpers
: "${BATS_TEST_TIMEOUT:=120}"

PY=/usr/bin/python3

am_setup() {
    AM="${PODKIT_BIN:?}/adapter-metrics"
    TOOL="${PODKIT_TOP:?}/tests/e2e/am_tool.py"
    [ -x "$AM" ] || { echo "no executable $AM (not built yet?)"; return 1; }
    command -v promtool >/dev/null || skip "promtool is not installed (Debian: prometheus)"
    command -v curl >/dev/null || skip "curl is not installed"
    "$PY" -c 'import prometheus_client' 2>/dev/null ||
        skip "python3-prometheus-client is not installed"
}

# adapter NAME ARGS...: adapter-metrics on a free loopback port, once /-/healthy answers.
adapter() {
    local name=$1 port
    shift
    port=$(free_port) || return 1
    echo "$port" >"$W/$name.port"
    bg "$name" "$AM" --log-level debug --web.listen-address "127.0.0.1:$port" "$@"
    wait_for 10 healthy "$name"
}

healthy() {
    running "$1" || { echo "$1 exited:" >&2; tail -n 5 "$W/$1.log" >&2; return 2; }
    curl -fsS -o /dev/null "http://127.0.0.1:$(port_of "$1")/-/healthy" 2>/dev/null
}

# scrape NAME FILE [curl args...]: GET the metrics into FILE (headers into FILE.h).
scrape() {
    local name=$1 out=$2
    shift 2
    curl -fsS --max-time 10 -D "$out.h" -o "$out" "$@" "http://127.0.0.1:$(port_of "$name")/metrics"
}

# lint FILE: promtool finds nothing to say about a 0.0.4 document.
lint() {
    local said
    said=$(promtool check metrics <"$1" 2>&1) || true
    [ -z "$said" ] || { echo "promtool on $1: $said" >&2; return 1; }
}

# om_ok NAME: an OpenMetrics scrape passes the strict parser and ends in # EOF.
om_ok() {
    scrape "$1" "$W/om.txt" -H 'Accept: application/openmetrics-text; version=1.0.0' || return 1
    grep -qi '^content-type: application/openmetrics-text; version=1.0.0; charset=utf-8' \
        "$W/om.txt.h" || { cat "$W/om.txt.h" >&2; return 1; }
    [ "$(tail -n 1 "$W/om.txt")" = "# EOF" ] || return 1
    "$PY" "$TOOL" om-check "$W/om.txt" >/dev/null
}

# value NAME SERIES: SERIES' value in a fresh 0.0.4 scrape (lint-checked).
value() {
    scrape "$1" "$W/v.txt" || return 1
    lint "$W/v.txt" || return 1
    "$PY" "$TOOL" value "$W/v.txt" "$2"
}

# value_is NAME SERIES WANT
value_is() { [ "$(value "$1" "$2" 2>/dev/null)" = "$3" ]; }

@test "command line: -h, -V, --config.check, bad flags and bad files: one line each" {
    am_setup
    run --separate-stderr "$AM" -h
    [ "$status" -eq 0 ]
    [[ "$output" == *--web.listen-address* && "$output" == *--web.telemetry-path* ]]
    [[ "$output" == *--config.file* && "$output" == *--config.check* && "$output" == *10180* ]]
    run --separate-stderr "$AM" -V
    [ "$status" -eq 0 ]
    [[ "$output" == *adapter-metrics* && "$output" == *zlib* && "$output" == *hiredis* ]]
    run --separate-stderr "$AM" --no-such-flag
    [ "$status" -eq 2 ]
    [ "${#stderr_lines[@]}" -eq 1 ]
    run --separate-stderr "$AM" --config.check
    [ "$status" -eq 1 ]
    [ "${#stderr_lines[@]}" -eq 1 ]
    [[ "$stderr" == *"no sources"* ]]
    printf 'sources:\n  - name: app\n    url: file:%s/s.txt\nmappings:\n  - match: "a.*"\n    name: a\n' "$W" >"$W/good.yaml"
    run --separate-stderr "$AM" --config.file "$W/good.yaml" --config.check
    [ "$status" -eq 0 ]
    run --separate-stderr "$AM" --config.file="$W/good.yaml" -t
    [ "$status" -eq 0 ]
    printf 'sources:\n  - name: app\n    url: file:/x\nmappings:\n  - match: "a(("\n    match_type: regex\n    name: a\n' >"$W/badre.yaml"
    run --separate-stderr "$AM" -c "$W/badre.yaml" -t
    [ "$status" -eq 1 ]
    [ "${#stderr_lines[@]}" -eq 1 ]
    [[ "$stderr" == *badre.yaml:* ]]
    printf 'sources:\n  - name: app\n    url: ftp://x\n' >"$W/badurl.yaml"
    run --separate-stderr "$AM" -c "$W/badurl.yaml" -t
    [ "$status" -eq 1 ]
    [ "${#stderr_lines[@]}" -eq 1 ]
    [[ "$stderr" == *app* ]]
    printf 'sources: [\n' >"$W/syntax.yaml"
    run --separate-stderr "$AM" -c "$W/syntax.yaml" -t
    [ "$status" -eq 1 ]
    [ "${#stderr_lines[@]}" -eq 1 ]
    [[ "$stderr" == *syntax.yaml:* ]]
}

@test "files: key=value, JSON and Prometheus text, read at scrape time, lint-clean, OpenMetrics-clean" {
    am_setup
    printf 'requests=42\nqueue.depth: 7\nratio=0.25\nup=true\n# a comment\nbroken line\njobs_total=9\n' >"$W/stats.txt"
    printf '{"server": {"conns": 3, "busy": false}, "workers": [{"jobs": 5}], "version": "1.2"}\n' >"$W/status.json"
    printf '# HELP app_hits_total Hits.\n# TYPE app_hits_total counter\napp_hits_total{path="/a"} 5\n# TYPE app_lat histogram\napp_lat_bucket{le="0.1"} 1\napp_lat_bucket{le="+Inf"} 3\napp_lat_count 3\napp_lat_sum 1.5\n' >"$W/app.prom"
    adapter am --source "kv=file:$W/stats.txt" --source "js=file:$W/status.json?format=json" \
        --source "pr=file:$W/app.prom?format=prom" --prefix app_
    value_is am app_requests 42
    value_is am app_queue_depth 7
    value_is am app_ratio 0.25
    value_is am app_up 1
    value_is am app_jobs_total 9
    grep -q "^# TYPE app_jobs_total counter" "$W/v.txt"
    value_is am app_server_conns 3
    value_is am app_server_busy 0
    value_is am app_workers_0_jobs 5
    value_is am 'app_hits_total{path="/a"}' 5
    value_is am 'app_lat_bucket{le="0.1"}' 1
    value_is am app_lat_count 3
    value_is am 'adapter_metrics_source_up{source="kv"}' 1
    [ "$(value am 'adapter_metrics_parse_errors_total{source="kv"}')" -ge 1 ]
    om_ok am
    # Read at scrape time: a change shows at the next scrape; a series gone is gone.
    printf 'requests=43\n' >"$W/stats.txt"
    value_is am app_requests 43
    ! value am app_ratio
    # A missing file: the source is down, everything else still served.
    rm "$W/stats.txt"
    value_is am 'adapter_metrics_source_up{source="kv"}' 0
    value_is am app_server_conns 3
    om_ok am
}

@test "http: a JSON status page fetched at scrape time; a dead server is source_up 0, not a 500" {
    am_setup
    local hp
    hp=$(free_port)
    mkdir -p "$W/www"
    printf '{"stats": {"hits": 10, "misses": 2}}' >"$W/www/status.json"
    bg http "$PY" -m http.server --bind 127.0.0.1 --directory "$W/www" "$hp"
    wait_for 10 curl -fsS -o /dev/null "http://127.0.0.1:$hp/status.json"
    adapter am --source "web=http://127.0.0.1:$hp/status.json"
    value_is am stats_hits 10
    value_is am stats_misses 2
    value_is am 'adapter_metrics_source_up{source="web"}' 1
    kill -TERM "$(pid_of http)"
    wait_for 10 bash -c "! curl -fsS -o /dev/null http://127.0.0.1:$hp/status.json"
    value_is am 'adapter_metrics_source_up{source="web"}' 0
    ! value am stats_hits
    om_ok am
}

@test "statsd over UDP: mapping rules, tags, rates, relative gauges, sets, histograms, summaries" {
    am_setup
    local sp
    sp=$(free_port)
    cat >"$W/am.yaml" <<EOF
sources:
  - name: app
    url: statsd+udp://127.0.0.1:$sp
defaults:
  observer_type: histogram
  buckets: [0.01, 0.1, 1]
mappings:
  - match: "api.*.requests"
    name: api_requests
    help: Requests by endpoint.
    labels: {endpoint: "\$1"}
  - match: "api.*.latency"
    name: api_latency_seconds
    observer_type: summary
    labels: {endpoint: "\$1"}
  - match: 'db\.(\w+)\.queries'
    match_type: regex
    name: db_queries
    labels: {db: "\$1"}
  - match: "noise.*"
    action: drop
    name: dropped
EOF
    adapter am -c "$W/am.yaml"
    local p=(127.0.0.1 "$sp")
    "$PY" "$TOOL" statsd "${p[@]}" 'api.users.requests:1|c' 'api.users.requests:1|c' \
        'api.users.requests:1|c' 'api.users.requests:2|c|@0.5' 'api.users.latency:100|ms' \
        'api.users.latency:100|ms' 'db.main.queries:5|c' 'noise.x:1|c' 'temp.level:10|g' \
        'temp.level:+5|g' 'temp.level:-3|g' 'users.online:alice|s' 'users.online:bob|s' \
        'users.online:alice|s' 'upload.size:0.5|h' 'page.views:1|c|#env:prod,region:eu' \
        'influx.hits,env=dev:2|c'
    wait_for 10 value_is am 'influx_hits_total{env="dev"}' 2
    value_is am 'api_requests_total{endpoint="users"}' 7
    value_is am 'api_latency_seconds_count{endpoint="users"}' 2
    value_is am 'api_latency_seconds_sum{endpoint="users"}' 0.2
    local q
    q=$(value am 'api_latency_seconds{endpoint="users",quantile="0.5"}')
    "$PY" -c "import sys; sys.exit(0 if abs($q - 0.1) <= 0.001 else 1)"
    value_is am 'db_queries_total{db="main"}' 5
    ! value am dropped_total
    ! value am noise_x_total
    value_is am temp_level 12
    value_is am users_online 2
    value_is am 'upload_size_bucket{le="0.1"}' 0
    value_is am 'upload_size_bucket{le="1"}' 1
    value_is am 'upload_size_bucket{le="+Inf"}' 1
    value_is am 'page_views_total{env="prod",region="eu"}' 1
    grep -q '^# HELP api_requests_total Requests by endpoint.$' "$W/v.txt"
    om_ok am
    grep -q '^# TYPE api_requests counter$' "$W/om.txt"
    grep -q '^upload_size_bucket{le="1.0"} 1$' "$W/om.txt"
}

@test "statsd over TCP (lines split across writes) and unixgram" {
    am_setup
    local tp
    tp=$(free_port)
    adapter am --source "t=statsd+tcp://127.0.0.1:$tp" --source "u=statsd+unix:$W/statsd.sock"
    "$PY" "$TOOL" statsd-tcp 127.0.0.1 "$tp" 'tcp.a:1|c' 'tcp.a:2|c' 'tcp.g:5|g'
    "$PY" - "$W/statsd.sock" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"unix.a:4|c\nunix.level:1|g", sys.argv[1])
PY
    wait_for 10 value_is am unix_a_total 4
    wait_for 10 value_is am tcp_a_total 3
    value_is am tcp_g 5
    value_is am unix_level 1
}

@test "redis INFO: redis_exporter's names, lint-clean, and a dead redis is source_up 0" {
    am_setup
    redis_start r
    rcli "$(port_of r)" SET k v >/dev/null
    rcli "$(port_of r)" GET k >/dev/null
    adapter am --source "r=redis://127.0.0.1:$(port_of r)" --prefix redis_
    value_is am 'adapter_metrics_source_up{source="r"}' 1
    value am redis_memory_used_bytes >/dev/null
    value am redis_connected_clients >/dev/null
    value_is am 'redis_db_keys{db="db0"}' 1
    value am 'redis_commands_total{cmd="get"}' >/dev/null
    value am redis_uptime_in_seconds >/dev/null
    # redis_exporter's redis_instance_info, from the built-in rule of redis sources.
    grep -q '^redis_instance_info{.*role="master".*redis_version="[0-9.]*"} 1$' "$W/v.txt"
    om_ok am
    redis_stop r
    value_is am 'adapter_metrics_source_up{source="r"}' 0
    ! value am redis_memory_used_bytes
}

@test "hostile input: bad lines, hostile label values and a type flip-flop never break a scrape" {
    am_setup
    local sp
    sp=$(free_port)
    adapter am --source "app=statsd+udp://127.0.0.1:$sp"
    "$PY" "$TOOL" statsd 127.0.0.1 "$sp" 'good:1|c' 'nocolon' 'x:1' 'x:abc|c' 'x:1|zz' \
        'x:-1|c' ':1|c' 'y:1|c|@2' 'q:1|c|#path:a"b' 'q:1|c|#path:back\slash' \
        $'q:1|c|#path:new\\nline' 'flip:1|c' 'flip:1|g' $'bad:1|c|#v:\xff\xfe' 'h.x:1|h' \
        'h.x:1|c' 'ok2:2|c'
    wait_for 10 value_is am ok2_total 2
    value_is am good_total 1
    value_is am flip_total 1
    ! value am flip
    value_is am 'q_total{path="a\"b"}' 1
    value_is am 'q_total{path="back\\slash"}' 1
    [ "$(value am 'adapter_metrics_refused_total{reason="type_conflict"}')" -ge 2 ]
    [ "$(value am 'adapter_metrics_refused_total{reason="bad_label"}')" -ge 1 ]
    [ "$(value am 'adapter_metrics_parse_errors_total{source="app"}')" -ge 6 ]
    om_ok am
    grep -q 'source app: .*' "$W/am.log"
}

@test "cardinality: 100k distinct label values, the family cap holds and memory stays bounded" {
    am_setup
    local sp
    sp=$(free_port)
    adapter am --source "app=statsd+udp://127.0.0.1:$sp" --max-series-per-family 1000
    "$PY" "$TOOL" flood 127.0.0.1 "$sp" 100000 100000
    "$PY" "$TOOL" statsd 127.0.0.1 "$sp" 'done:1|c'
    wait_for 20 value_is am done_total 1
    scrape am "$W/c.txt"
    lint "$W/c.txt"
    [ "$("$PY" "$TOOL" count "$W/c.txt" flood_c_total)" -eq 1000 ]
    # Most of the other 99,000 were refused by the cap (a loaded machine may drop a few).
    [ "$(value am 'adapter_metrics_refused_total{reason="overflow"}')" -gt 50000 ]
    [ -z "${AM_SANITIZED:-}" ] || return 0 # RSS means nothing under ASan
    local rss
    rss=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$(pid_of am)/status")
    echo "rss ${rss} kB"
    [ "$rss" -lt 40000 ]
}

@test "ttl: series not updated within their TTL are gone from the next scrape" {
    am_setup
    local sp
    sp=$(free_port)
    printf 'sources:\n  - name: app\n    url: statsd+udp://127.0.0.1:%s\ndefaults:\n  ttl: 1s\nmappings:\n  - match: "keep.*"\n    name: keep\n    ttl: 0s\n    labels: {k: "$1"}\n' "$sp" >"$W/am.yaml"
    adapter am -c "$W/am.yaml"
    "$PY" "$TOOL" statsd 127.0.0.1 "$sp" 'brief:1|g' 'keep.a:1|g'
    wait_for 10 value_is am brief 1
    wait_for 10 bash -c "! curl -fsS http://127.0.0.1:$(port_of am)/metrics | grep -q '^brief '"
    value_is am 'keep{k="a"}' 1
    [ "$(value am 'adapter_metrics_series_removed_total{reason="expired"}')" -ge 1 ]
}

@test "reload: SIGHUP and POST /-/reload swap mappings in; a bad file keeps the old one" {
    am_setup
    local sp
    sp=$(free_port)
    printf 'sources:\n  - name: app\n    url: statsd+udp://127.0.0.1:%s\nmappings:\n  - match: "a.*"\n    name: first\n    labels: {x: "$1"}\n' "$sp" >"$W/am.yaml"
    adapter am -c "$W/am.yaml"
    "$PY" "$TOOL" statsd 127.0.0.1 "$sp" 'a.b:1|c'
    wait_for 10 value_is am 'first_total{x="b"}' 1
    sed -i 's/name: first/name: second/' "$W/am.yaml"
    kill -HUP "$(pid_of am)"
    wait_for 10 grep -q 'reload: running on the new configuration' "$W/am.log"
    "$PY" "$TOOL" statsd 127.0.0.1 "$sp" 'a.b:1|c'
    wait_for 10 value_is am 'second_total{x="b"}' 1
    value_is am adapter_metrics_config_last_reload_successful 1
    # A bad file: the running configuration stays, and says so.
    printf 'mappings: [\n' >"$W/am.yaml"
    run curl -sS -o "$W/r.txt" -w '%{http_code}' -X POST "http://127.0.0.1:$(port_of am)/-/reload"
    [ "$output" = 500 ]
    grep -q 'am.yaml' "$W/r.txt"
    value_is am adapter_metrics_config_last_reload_successful 0
    "$PY" "$TOOL" statsd 127.0.0.1 "$sp" 'a.b:1|c'
    wait_for 10 value_is am 'second_total{x="b"}' 2
    printf 'sources:\n  - name: app\n    url: statsd+udp://127.0.0.1:%s\nmappings:\n  - match: "a.*"\n    name: third\n    labels: {x: "$1"}\n' "$sp" >"$W/am.yaml"
    run curl -sS -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$(port_of am)/-/reload"
    [ "$output" = 200 ]
    "$PY" "$TOOL" statsd 127.0.0.1 "$sp" 'a.b:1|c'
    wait_for 10 value_is am 'third_total{x="b"}' 1
    value_is am 'adapter_metrics_config_reloads_total{result="failure"}' 1
}

@test "http endpoints: negotiation, gzip, health, readiness, landing page, 404 and 405" {
    am_setup
    printf 'a=1\n' >"$W/s.txt"
    adapter am --source "s=file:$W/s.txt"
    local base="http://127.0.0.1:$(port_of am)"
    scrape am "$W/t.txt" -H 'Accept: */*'
    grep -qi '^content-type: text/plain; version=0.0.4; charset=utf-8' "$W/t.txt.h"
    scrape am "$W/t.txt" -H 'Accept: application/openmetrics-text;q=0.5,text/plain;q=0.9'
    grep -qi '^content-type: text/plain; version=0.0.4' "$W/t.txt.h"
    scrape am "$W/g.txt" --compressed
    grep -qi '^content-encoding: gzip' "$W/g.txt.h"
    lint "$W/g.txt"
    grep -q '^a 1$' "$W/g.txt"
    curl -fsS "$base/-/healthy" | grep -q Healthy
    curl -fsS "$base/-/ready" | grep -q Ready
    curl -fsS "$base/" | grep -q 'href="/metrics"'
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/nope")" = 404 ]
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/-/reload")" = 405 ]
    [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/metrics")" = 405 ]
}

@test "a real Prometheus scrapes it: target up, samples queryable, no out-of-order or duplicates" {
    am_setup
    command -v prometheus >/dev/null || skip "prometheus is not installed"
    local sp pp
    sp=$(free_port)
    pp=$(free_port)
    printf 'x=1\n' >"$W/s.txt"
    adapter am --source "app=statsd+udp://127.0.0.1:$sp" --source "f=file:$W/s.txt"
    cat >"$W/prom.yml" <<EOF
global: {scrape_interval: 1s, scrape_timeout: 1s}
scrape_configs:
  - job_name: adapter
    static_configs: [{targets: ["127.0.0.1:$(port_of am)"]}]
EOF
    bg prom prometheus --config.file "$W/prom.yml" --storage.tsdb.path "$W/data" \
        --web.listen-address "127.0.0.1:$pp"
    local api="http://127.0.0.1:$pp"
    for i in $(seq 5); do "$PY" "$TOOL" statsd 127.0.0.1 "$sp" 'req:1|c' 'lat:5|ms'; done
    wait_for 60 bash -c "[ \"\$('$PY' '$TOOL' promql '$api' 'up{job=\"adapter\"}' 2>/dev/null)\" = 1 ]"
    wait_for 30 bash -c "[ \"\$('$PY' '$TOOL' promql '$api' 'req_total' 2>/dev/null)\" = 5 ]"
    wait_for 30 bash -c "[ \"\$('$PY' '$TOOL' promql '$api' 'x' 2>/dev/null)\" = 1 ]"
    [ "$("$PY" "$TOOL" promql "$api" 'lat_count')" = 5 ]
    sleep 3
    # Prometheus' own counters, from its own /metrics (it does not scrape itself here).
    curl -fsS "$api/metrics" >"$W/self.txt"
    local q
    for q in prometheus_target_scrapes_sample_out_of_order_total \
        prometheus_target_scrapes_sample_duplicate_timestamp_total \
        prometheus_target_scrapes_sample_out_of_bounds_total \
        prometheus_target_scrapes_exceeded_sample_limit_total; do
        grep -q "^$q 0$" "$W/self.txt" || { grep "^$q" "$W/self.txt" >&2; false; }
    done
    [ "$("$PY" "$TOOL" promql "$api" 'scrape_samples_scraped{job="adapter"} > 0')" != none ]
}
