#!/usr/bin/env bats
# tests/e2e/sidecars.bats — podshim's native sidecars: start order, restarts, stop order.
#
# Env: PODKIT_BIN (pause and podshim), PODKIT_TOP (the repo). Each test keeps its pods'
# state and logs in its own BATS_TEST_TMPDIR; teardown deletes what is left and kills
# anything of ours still running. Needs root (namespaces, mounts).

bats_require_minimum_version 1.5.0

setup() {
    [ "$(id -u)" -eq 0 ] || skip "podshim needs root (namespaces and mounts)"
    PODSHIM="${PODKIT_BIN:?}/podshim"
    PODS="${PODKIT_TOP:?}/tests/e2e/pods"
    ROOT="$BATS_TEST_TMPDIR/root"
    LOGS="$BATS_TEST_TMPDIR/logs"
    cd "$BATS_TEST_TMPDIR"
}

teardown() {
    local d name ns
    for d in "$ROOT"/*_*/; do
        [ -d "$d" ] || continue
        d=${d%/}
        d=${d##*/}
        ns=${d%%_*}
        name=${d#*_}
        timeout 20 "$PODSHIM" delete --root "$ROOT" --log-dir "$LOGS" "$name" -n "$ns" \
            --grace-period 0 >/dev/null 2>&1 || true
    done
    pkill -KILL -f -- "--root $ROOT" 2>/dev/null || true
    # Unmount anything a failed test left, so that bats can remove the directory.
    grep -o " $BATS_TEST_TMPDIR[^ ]*" /proc/self/mounts 2>/dev/null | sort -r |
        while read -r m; do umount -l "$m" 2>/dev/null; done
    return 0
}

# podshim COMMAND ... with this test's state and log directories (before any "--").
ps_() {
    local cmd=$1
    shift
    timeout 60 "$PODSHIM" "$cmd" --root "$ROOT" --log-dir "$LOGS" "$@"
}

# wait_for SECONDS CMD...: until CMD succeeds, or fail after SECONDS.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "timed out waiting for: $*" >&2
            return 1
        fi
        sleep 0.1
    done
}

logs_have() { # logs_have POD CONTAINER TEXT
    ps_ logs "$1" -c "$2" 2>/dev/null | grep -qF -- "$3"
}

# Nothing of the pod may remain: no process started under our root, no mount below the
# test directory, no state directory.
no_process_left() { ! pgrep -f -- "--root $ROOT" >/dev/null; }

assert_clean() {
    local left
    wait_for 5 no_process_left || true
    left=$(pgrep -f -- "--root $ROOT" || true)
    [ -z "$left" ] || { ps -o pid,args -p "$left" >&2; return 1; }
    ! grep -q " $BATS_TEST_TMPDIR" /proc/self/mounts
    [ -z "$(ls -A "$ROOT" 2>/dev/null)" ]
}

# A manifest with HOSTPORT set to a port free on the host.
with_free_port() {
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    sed "s/HOSTPORT/$PORT/" "$1" >"$BATS_TEST_TMPDIR/${1##*/}"
    MANIFEST="$BATS_TEST_TMPDIR/${1##*/}"
}

@test "native sidecars: start in order, app stops first, sidecars last-first, shipper sees the last line" {
    sed "s|HOSTDIR|$BATS_TEST_TMPDIR|" "$PODS/sidecars.yaml" >sidecars.yaml
    run ps_ apply -f sidecars.yaml
    [ "$status" -eq 0 ]
    wait_for 10 logs_have sidecars shipper "app: line 3"
    run ps_ logs sidecars -c check
    [ "$output" = "shipper was up before me" ]
    run ps_ get sidecars
    [[ "${lines[1]}" =~ ^sidecars\ +3/3\ +Running\ +0\  ]]
    run ps_ delete sidecars
    [ "$status" -eq 0 ]
    assert_clean
    # The order file is on a hostPath: it outlives the pod.
    cat "$BATS_TEST_TMPDIR/order/order"
    [ "$(cat "$BATS_TEST_TMPDIR/order/order")" = $'app stopped\nhelper stopped\nshipper stopped' ]
    # The shipper, stopped after the app, shipped the line the app wrote while stopping.
    grep -q 'stdout F app: last line' "$LOGS"/default_sidecars_*/shipper/0.log
}

@test "a Job-like pod with sidecars completes; a crashing sidecar is restarted meanwhile" {
    run ps_ run -f "$PODS/sidecar-job.yaml" --backoff-base 100ms --backoff-max 100ms
    [ "$status" -eq 0 ]
    assert_clean
    grep -q 'stdout F job done' "$LOGS"/default_sidecar-job_*/job/0.log
    grep -q 'stdout F proxy got TERM' "$LOGS"/default_sidecar-job_*/proxy/0.log
    # flaky exited every 0.2 s and was started again while the job ran.
    [ "$(ls "$LOGS"/default_sidecar-job_*/flaky/ | wc -l)" -ge 3 ]
}

