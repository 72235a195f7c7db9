#!/usr/bin/env bats
# tests/e2e/sidecars.bats — podshim's native sidecars: start order, restarts, stop order.
#
# Env: PODKIT_BIN (pause and podshim), PODKIT_TOP (the repo). Each test keeps its pods'
# state and logs in its own BATS_TEST_TMPDIR; teardown deletes what is left and kills
# anything of ours still running. Needs root (namespaces, mounts).

bats_require_minimum_version 1.5.0
load podshim_helpers

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

