# tests/e2e/podshim_helpers.bash — what every podshim e2e file shares: setup and teardown
# (each test in its own state and log directories, nothing left running), podshim with
# those directories, waiting, and the checks that nothing of a pod remains.
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

