#!/usr/bin/env bats
# tests/e2e/health.bats — podshim's probes and lifecycle hooks, against real containers.
bats_require_minimum_version 1.5.0
load podshim_helpers

# ctr_is POD NAME EXPR VALUE: the expression over container NAME's status equals VALUE
# (a function, so that wait_for evaluates it afresh each time).
ctr_is() { [ "$(ctr_json "$1" "$2" "$3" 2>/dev/null)" = "$4" ]; }

ctr_json() { # ctr_json POD NAME PYTHON-EXPR-OVER-c
    ps_ get "$1" -o json | python3 -c "import json,sys; s=json.load(sys.stdin)['status'];
c=[x for x in s.get('containerStatuses', []) + s.get('initContainerStatuses', []) if x['name'] == '$2'][0]
print($3)"
}

@test "probes: startup holds the others off; readiness drives READY and Ready; apply --wait ready" {
    run ps_ apply -f "$PODS/probes.yaml"
    [ "$status" -eq 0 ]
    # Before the startup probe passes the container is running but not started nor ready.
    run ctr_json probes web "c['started'], c['ready']"
    [ "$output" = "False False" ]
    wait_for 10 ctr_is probes web "c['started']" True
    # /ready is a 404: not ready.
    run ps_ get probes
    [[ "${lines[1]}" =~ ^probes\ +0/1\ +Running ]]
    # Make /ready exist: ready within a period; the pod's Ready condition follows.
    ps_ exec probes -- touch /podkit-www/ready
    wait_for 10 bash -c "'$PODSHIM' get probes --root '$ROOT' | grep -q '^probes *1/1 '"
    run ps_ get probes -o json
    python3 -c 'import json,sys; s=json.load(sys.stdin)["status"];
assert {c["type"]: c["status"] for c in s["conditions"]}["Ready"] == "True", s' <<<"$output"
    # And back: not ready after failureThreshold (1) failures; liveness kept passing.
    ps_ exec probes -- rm /podkit-www/ready
    wait_for 10 bash -c "'$PODSHIM' get probes --root '$ROOT' | grep -q '^probes *0/1 '"
    [ "$(ctr_json probes web "c['restartCount']")" = 0 ]
    run ps_ delete probes --grace-period 0
    # apply --wait ready returns only once the pod is Ready.
    sed -e 's/name: probes/name: probes2/' -e 's|touch /podkit-www/started|touch /podkit-www/started /podkit-www/ready|' \
        "$PODS/probes.yaml" >probes2.yaml
    run ps_ apply -f probes2.yaml --wait ready --timeout 20s
    [ "$status" -eq 0 ]
    [ "$output" = "pod/probes2 created and ready" ]
    [ "$(ctr_json probes2 web "c['ready']")" = True ]
    run ps_ delete probes2 --grace-period 0
    assert_clean
}

@test "hooks: postStart before running, preStop before SIGTERM; liveness and postStart failures restart" {
    mkdir -p "$BATS_TEST_TMPDIR/ev"
    sed "s|HOSTDIR|$BATS_TEST_TMPDIR/ev|" "$PODS/hooks.yaml" >hooks.yaml
    run ps_ apply -f hooks.yaml --backoff-base 200ms --backoff-max 200ms
    # The app's postStart takes 1 s: meanwhile it is still being created, not running.
    run ctr_json hooks app "list(c['state'])[0], c['state'].get('waiting', {}).get('reason')"
    [ "$output" = "waiting ContainerCreating" ]
    wait_for 10 grep -qs poststart "$BATS_TEST_TMPDIR/ev/events"
    wait_for 5 ctr_is hooks app "list(c['state'])[0]" running
    # A failing postStart kills its container, which is restarted.
    wait_for 10 ctr_is hooks badhook "c['restartCount'] >= 1" True
    run ctr_json hooks badhook "c['lastState']['terminated']['message']"
    [[ "$output" =~ ^PostStartHookError: ]]
    # A tcpSocket liveness probe to a port nobody listens on restarts its container.
    wait_for 15 ctr_is hooks notcp "c['restartCount'] >= 1" True
    run ctr_json hooks notcp "c['lastState']['terminated']['message']"
    [[ "$output" =~ ^Liveness\ probe\ failed:.*connection\ refused ]]
    # A failing liveness probe restarts its container, with the reason recorded.
    ps_ exec hooks -c app -- rm /podkit-state/alive
    wait_for 15 ctr_is hooks app "c['restartCount']" 1
    run ctr_json hooks app "c['lastState']['terminated']['message']"
    [[ "$output" =~ ^Liveness\ probe\ failed: ]]
    wait_for 10 ctr_is hooks app "list(c['state'])[0]" running
    # preStop runs before the stop signal.
    run ps_ delete hooks
    [ "$status" -eq 0 ]
    cat "$BATS_TEST_TMPDIR/ev/events"
    [ "$(tail -n 2 "$BATS_TEST_TMPDIR/ev/events")" = $'prestop\nterm' ]
    [ "$(head -n 1 "$BATS_TEST_TMPDIR/ev/events")" = poststart ]
    assert_clean
}

@test "resources: a memory limit gets a container OOMKilled; cpu and pids limits in its cgroup" {
    [ -d /sys/fs/cgroup/memory ] || [ -f /sys/fs/cgroup/cgroup.controllers ] || skip "no cgroups"
    run ps_ apply -f "$PODS/resources.yaml" --pids-limit 64
    [ "$status" -eq 0 ]
    wait_for 20 ctr_is res hog "list(c['state'])[0]" terminated
    run ctr_json res hog "c['state']['terminated']['reason'], c['state']['terminated']['exitCode']"
    [ "$output" = "OOMKilled 137" ]
    ! grep -q survived "$LOGS"/default_res_*/hog/0.log
    # Requests (defaulted from limits when not given) are shown as Kubernetes shows them.
    run ps_ get res -o json
    python3 -c 'import json,sys; c=json.load(sys.stdin)["spec"]["containers"][1]["resources"];
assert c == {"requests": {"cpu": "250m", "memory": "67108864"},
             "limits": {"cpu": "500m", "memory": "67108864"}}, c' <<<"$output"
    # The running container's cgroup holds the kubelet's values.
    local cg
    if [ -d /sys/fs/cgroup/cpu/podkit ]; then # v1 (or hybrid)
        [ "$(cat $(echo /sys/fs/cgroup/cpu/podkit/default_res_*/calm-0)/cpu.cfs_quota_us)" = 50000 ]
        [ "$(cat $(echo /sys/fs/cgroup/cpu/podkit/default_res_*/calm-0)/cpu.shares)" = 256 ]
        [ "$(cat $(echo /sys/fs/cgroup/memory/podkit/default_res_*/calm-0)/memory.limit_in_bytes)" = 67108864 ]
        [ "$(cat $(echo /sys/fs/cgroup/pids/podkit/default_res_*/calm-0)/pids.max)" = 64 ]
    else
        cg=$(echo /sys/fs/cgroup/podkit/default_res_*/calm-0)
        [ "$(cat $cg/cpu.max)" = "50000 100000" ]
        [ "$(cat $cg/memory.max)" = 67108864 ]
        [ "$(cat $cg/pids.max)" = 64 ]
    fi
    run ps_ delete res --grace-period 0
    assert_clean
    [ -z "$(find /sys/fs/cgroup/ -path '*podkit/default_res_*' 2>/dev/null)" ]
}
