#!/usr/bin/env bats
# tests/e2e/podshim.bats — podshim runs real pods: namespaces, init containers, volumes,
# restarts, logs, exec, termination, and leaves nothing behind.
#
# Env: PODKIT_BIN (pause and podshim), PODKIT_TOP (the repo). Each test keeps its pods'
# state and logs in its own BATS_TEST_TMPDIR; teardown deletes what is left and kills
# anything of ours still running. Needs root (namespaces, mounts).

bats_require_minimum_version 1.5.0
load podshim_helpers

@test "init-web: init output served over localhost in the pod, and on the host via hostPort" {
    with_free_port "$PODS/init-web.yaml"
    run ps_ apply -f "$MANIFEST"
    [ "$status" -eq 0 ]
    [ "$output" = "pod/init-web created" ]
    wait_for 20 logs_have init-web client "client got: hello from init-web on init-web"

    # The host reaches the web container only through the hostPort forward.
    run curl -sf --max-time 5 "http://127.0.0.1:$PORT/index.html"
    [ "$status" -eq 0 ]
    [ "$output" = "hello from init-web on init-web" ]
    run curl -sf --max-time 2 "http://127.0.0.1:8080/index.html"
    [ "$output" != "hello from init-web on init-web" ]

    run ps_ get
    [ "$status" -eq 0 ]
    [[ "${lines[0]}" =~ ^NAME\ +READY\ +STATUS\ +RESTARTS\ +AGE$ ]]
    [[ "${lines[1]}" =~ ^init-web\ +2/2\ +Running\ +0\ + ]]

    run ps_ exec init-web -c web -- hostname
    [ "$status" -eq 0 ]
    [ "$output" = init-web ]
    # Each container has its own pid namespace, with pause as its init.
    run ps_ exec init-web -c client -- cat /proc/1/comm
    [ "$output" = pause ]

    run ps_ get init-web -o json
    [ "$status" -eq 0 ]
    python3 -c 'import json,sys; p=json.load(sys.stdin); s=p["status"];
assert p["kind"] == "Pod" and s["phase"] == "Running", s
assert [c["name"] for c in s["initContainerStatuses"]] == ["fetch"]
assert s["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
assert all("running" in c["state"] for c in s["containerStatuses"])' <<<"$output"

    run ps_ delete init-web
    [ "$status" -eq 0 ]
    [ "$output" = 'pod "init-web" deleted' ]
    assert_clean
    run curl -sf --max-time 2 "http://127.0.0.1:$PORT/index.html"
    [ "$status" -ne 0 ]
}

@test "OnFailure: CrashLoopBackOff with doubling back-off; the emptyDir survives restarts" {
    run ps_ apply -f "$PODS/crash.yaml" --backoff-base 300ms --backoff-max 600ms
    [ "$status" -eq 0 ]
    wait_for 20 logs_have crash app "run 4"
    run ps_ get crash
    [[ "${lines[1]}" =~ ^crash\ +0/1\ +(CrashLoopBackOff|Error|Running)\ +[3-9] ]]
    # The previous instance's log holds the previous run.
    run ps_ logs crash -p
    [ "$status" -eq 0 ]
    [[ "$output" =~ ^run\ [0-9]+$ ]]
    run ps_ get crash -o json
    python3 -c 'import json,sys; c=json.load(sys.stdin)["status"]["containerStatuses"][0];
assert c["restartCount"] >= 3, c
assert c["lastState"]["terminated"]["exitCode"] == 3, c' <<<"$output"
    # The gaps between runs follow the back-off: 300 ms, then 600 ms (capped).
    local files=("$LOGS"/default_crash_*/app/[0-9].log)
    run python3 - "${files[@]}" <<'PY'
import sys, datetime
def t(path):
    ts = open(path).readline().split(" ")[0]
    return datetime.datetime.strptime(ts[:26], "%Y-%m-%dT%H:%M:%S.%f").timestamp()
times = sorted(t(f) for f in sys.argv[1:])
gaps = [b - a for a, b in zip(times, times[1:])]
print(gaps)
assert gaps[0] >= 0.29 and all(g >= 0.59 for g in gaps[1:]), gaps
PY
    echo "$output"
    [ "$status" -eq 0 ]
    run ps_ delete crash
    [ "$status" -eq 0 ]
    assert_clean
}

@test "a container that ignores SIGTERM is killed after the grace period" {
    run ps_ apply -f "$PODS/stubborn.yaml"
    [ "$status" -eq 0 ]
    wait_for 10 logs_have stubborn app started
    local t0=$SECONDS
    run ps_ delete stubborn
    [ "$status" -eq 0 ]
    [ $((SECONDS - t0)) -le 4 ]
    assert_clean
    grep -q 'stdout F got TERM' "$LOGS"/default_stubborn_*/app/0.log
}

@test "run: a Job-like pod completes with 0; CRI log lines are exact" {
    run ps_ run -f "$PODS/job.yaml"
    [ "$status" -eq 0 ]
    assert_clean
    local log=("$LOGS"/batch_job_*/main/0.log)
    [ -f "${log[0]}" ]
    local ts='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}Z'
    cat "${log[0]}"
    [ "$(wc -l <"${log[0]}")" -eq 5 ]
    # Each stream's lines in order (the two pipes are read as they fill, so stdout and
    # stderr interleave by arrival).
    run grep ' stdout ' "${log[0]}"
    [ "${#lines[@]}" -eq 4 ]
    [[ "${lines[0]}" =~ ^$ts\ stdout\ F\ hello$ ]]
    [[ "${lines[1]}" =~ ^$ts\ stdout\ F\ worker-1$ ]]
    [[ "${lines[2]}" =~ ^$ts\ stdout\ F\ 127\.0\.0\.2$'\t'db\.local$'\t'cache\.local$ ]]
    [[ "${lines[3]}" =~ ^$ts\ stdout\ F\ last\ line\ without\ newline$ ]]
    run grep ' stderr ' "${log[0]}"
    [[ "$output" =~ ^$ts\ stderr\ F\ oops$ ]]
}

@test "run: a failing Never pod exits 1" {
    sed -e 's/name: job/name: job-fail/' -e 's/printf .last line without newline./exit 7/' \
        "$PODS/job.yaml" >fail.yaml
    run ps_ run -f fail.yaml
    [ "$status" -eq 1 ]
    assert_clean
}

@test "env: value, fieldRef, configMap and secret refs, envFrom, \$(VAR), \$\$, volumes" {
    run ps_ apply -f "$PODS/env.yaml"
    [ "$status" -eq 0 ]
    wait_for 10 logs_have env app "level = 3"
    run ps_ logs env
    echo "$output"
    [ "${lines[0]}" = 'hi-$(GREETING) hi s3cr3t default' ]
    [ "${lines[1]}" = "[main]" ]
    [ "${lines[2]}" = "level = 3" ]
    [ "${lines[3]}" = "s3cr3t" ]
    # The secret lives on a tmpfs, never on disk.
    run ps_ exec env -- sh -c 'grep " /etc/podkit-sec " /proc/mounts'
    [[ "$output" =~ tmpfs ]]
    run ps_ exec env -- sh -c 'echo $PASSWORD; pwd'
    [ "${lines[0]}" = s3cr3t ]
    [ "${lines[1]}" = /etc/podkit-cfg ]
    run ps_ delete env
    [ "$status" -eq 0 ]
    assert_clean
}

@test "SIGTERM to a foreground run stops the pod gracefully and exits 0" {
    "$PODSHIM" run --root "$ROOT" --log-dir "$LOGS" -f "$PODS/stubborn.yaml" 2>run.err &
    local pid=$!
    wait_for 10 logs_have stubborn app started
    kill -TERM "$pid"
    local rc=0
    wait "$pid" || rc=$?
    [ "$rc" -eq 0 ]
    assert_clean
}

@test "a second pod with the same name is refused" {
    run ps_ apply -f "$PODS/stubborn.yaml"
    [ "$status" -eq 0 ]
    run ps_ apply -f "$PODS/stubborn.yaml"
    [ "$status" -eq 1 ]
    [[ "$output" =~ pod\ \"stubborn\"\ already\ exists\ in\ namespace\ \"default\" ]]
    run ps_ get
    [ "${#lines[@]}" -eq 2 ]
    run ps_ delete stubborn --grace-period 0
    assert_clean
}

@test "bad manifests are refused with the field path and line; nothing starts" {
    cat >bad.yaml <<'EOF'
apiVersion: v1
kind: Pod
metadata:
  name: bad
spec:
  containers:
    - name: app
      image: busybox
      command: ["true"]
      resources:
        limits:
          ephemeral-storage: 1Gi
EOF
    run ps_ run -f bad.yaml
    [ "$status" -eq 2 ]
    [[ "$output" =~ bad\.yaml:12:11:\ spec\.containers\[0\]\.resources\.limits\[ephemeral-storage\] ]]
    [[ "$output" =~ not\ supported\ yet ]]
    [ -z "$(ls -A "$ROOT" 2>/dev/null)" ]

    run ps_ apply -f /nonexistent.yaml
    [ "$status" -eq 2 ]
    [[ "$output" =~ /nonexistent.yaml ]]
}

@test "logs and exec name what is wrong" {
    run ps_ logs nosuchpod
    [ "$status" -eq 1 ]
    [ "$output" = 'Error from server (NotFound): pods "nosuchpod" not found' ]
    run ps_ apply -f "$PODS/env.yaml"
    run ps_ exec env -c nope -- true
    [ "$status" -eq 1 ]
    [ "$output" = "container nope is not valid for pod env" ]
    run ps_ delete env --grace-period 0
    assert_clean
}

@test "shared pid namespace, memory emptyDir size limit, subPath, readOnly, hostPath made" {
    [ ! -e /podkit-e2e ] || skip "/podkit-e2e exists on this host"
    sed "s|HOSTDIR|$BATS_TEST_TMPDIR|" "$PODS/features.yaml" >features.yaml
    run ps_ apply -f features.yaml
    [ "$status" -eq 0 ]
    wait_for 10 logs_have features reader "reader sees the writer's sleep"
    run ps_ logs features -c writer
    echo "$output"
    [ "${lines[0]}" = "cache: full" ]
    [ "${lines[1]}" = "writer pid1: pause" ]
    run ps_ logs features -c reader
    echo "$output"
    [ "${lines[0]}" = "reader sees: from-writer" ]
    [ "${lines[1]}" = "read-only" ]
    [ "$(cat "$BATS_TEST_TMPDIR/made-by-podshim/file")" = on-host ]
    [ -d /podkit-e2e/cache ] # mount points made on the host while the pod runs...
    run ps_ delete features
    [ "$status" -eq 0 ]
    assert_clean
    [ ! -e /podkit-e2e ] # ...and removed with it
    [ -f "$BATS_TEST_TMPDIR/made-by-podshim/file" ] # a hostPath is the host's: kept
}

@test "logs -f follows a container to its end; get -o yaml" {
    run ps_ apply -f "$PODS/ticker.yaml"
    [ "$status" -eq 0 ]
    run ps_ logs -f ticker
    [ "$status" -eq 0 ]
    [ "$output" = $'tick 1\ntick 2\ntick 3\ntick 4\ntick 5' ]
    run ps_ logs ticker --timestamps --tail 2
    [[ "${lines[0]}" =~ ^[0-9-]+T[0-9:.]+Z\ tick\ 4$ ]]
    [[ "${lines[1]}" =~ ^[0-9-]+T[0-9:.]+Z\ tick\ 5$ ]]
    # An applied pod that ended stays visible until it is deleted.
    wait_for 5 bash -c "'$PODSHIM' get ticker --root '$ROOT' | grep -q Completed"
    run ps_ get ticker -o yaml
    [ "$status" -eq 0 ]
    [[ "$output" =~ (^|$'\n')kind:\ Pod($'\n') ]]
    [[ "$output" =~ phase:\ Succeeded ]]
    [[ "$output" =~ reason:\ Completed ]]
    run ps_ delete ticker
    [ "$status" -eq 0 ]
    assert_clean
}

@test "a container flooding its output does not delay another container's log lines" {
    run ps_ apply -f "$PODS/flood.yaml" --log-max-size 1MiB --log-max-files 2
    [ "$status" -eq 0 ]
    wait_for 20 logs_have flood tick done
    # Each tick line says when it was printed; the CRI time says when podshim logged it.
    local log=("$LOGS"/default_flood_*/tick/0.log)
    run python3 - "${log[0]}" <<'PY'
import sys, datetime
lags = []
for line in open(sys.argv[1]):
    ts, stream, tag, text = line.rstrip("\n").split(" ", 3)
    if text == "done":
        continue
    logged = datetime.datetime.strptime(ts[:26] + "Z", "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    lags.append(logged - float(text))
print("lines", len(lags), "max lag %.3f s" % max(lags))
assert len(lags) == 20 and max(lags) < 0.5, lags
PY
    echo "$output"
    [ "$status" -eq 0 ]
    run ps_ delete flood
    assert_clean
    # The flood was logged too, and rotated within its limits (counted once it stopped:
    # during a rotation a third file exists for a moment).
    ls -l "$LOGS"/default_flood_*/flood/
    [ "$(ls "$LOGS"/default_flood_*/flood/ | wc -l)" -eq 2 ]
}

@test "SIGKILL of the supervisor takes the pod with it; the next apply clears the stale state" {
    run ps_ apply -f "$PODS/stubborn.yaml"
    [ "$status" -eq 0 ]
    wait_for 10 logs_have stubborn app started
    local ctr net sup
    ctr=$(ps_ get stubborn -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"]["containerStatuses"][0]["containerID"].split("//")[1])')
    net=$(readlink "/proc/$ctr/ns/net")
    sup=$(pgrep -f -- "apply --root $ROOT")
    kill -KILL "$sup"
    # Nothing may stay in the pod's network namespace.
    in_pod_net() {
        local f
        for f in /proc/[0-9]*/ns/net; do
            [ "$(readlink "$f" 2>/dev/null)" = "$net" ] && return 0
        done
        return 1
    }
    wait_for 5 bash -c "$(declare -f in_pod_net); net='$net'; ! in_pod_net"
    run ps_ apply -f "$PODS/stubborn.yaml"
    [ "$status" -eq 0 ]
    run ps_ delete stubborn --grace-period 0
    [ "$status" -eq 0 ]
    assert_clean
}

@test "an image that is a directory becomes the container's root (pivot_root)" {
    local rfs="$BATS_TEST_TMPDIR/rootfs" lib
    mkdir -p "$rfs/bin"
    cp /bin/dash "$rfs/bin/sh"
    for lib in $(ldd /bin/dash | grep -o '/[^ ]*'); do
        mkdir -p "$rfs$(dirname "$lib")"
        cp "$lib" "$rfs$lib"
    done
    cat >rootfs.yaml <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: rootfs
spec:
  restartPolicy: Never
  volumes:
    - name: data
      emptyDir: {}
  containers:
    - name: app
      image: $rfs
      command: ["/bin/sh", "-c"]
      args:
        - |
          read -r h < /etc/hostname; echo "hostname file: \$h"
          [ -e /etc/debian_version ] && echo "host root visible" || echo "own root"
          [ -c /dev/null ] && echo "dev/null is a device"
          read -r c < /proc/1/comm; echo "pid 1: \$c"
          echo hi > /data/x && read -r x < /data/x && echo "volume: \$x"
          while read -r l; do case "\$l" in *rootfs*) echo "hosts: \$l";; esac; done < /etc/hosts
      volumeMounts:
        - {name: data, mountPath: /data}
YAML
    run ps_ run -f rootfs.yaml
    [ "$status" -eq 0 ]
    run cut -d' ' -f4- "$LOGS"/default_rootfs_*/app/0.log
    echo "$output"
    [ "$output" = $'hostname file: rootfs\nown root\ndev/null is a device\npid 1: pause\nvolume: hi\nhosts: 127.0.0.1\trootfs' ]
    assert_clean
    ! grep -q "$rfs" /proc/self/mounts
}

@test "kubelet: static pods follow their directory (add, change, remove, bad file, SIGTERM)" {
    local dir="$BATS_TEST_TMPDIR/manifests"
    mkdir -p "$dir"
    cp "$PODS/stubborn.yaml" "$dir/a.yaml"
    echo "kind: Pod" >"$dir/bad.yaml"
    echo "junk" >"$dir/.hidden.yaml"
    "$PODSHIM" kubelet --root "$ROOT" --log-dir "$LOGS" --manifest-dir "$dir" 2>kubelet.log &
    local kp=$!
    wait_for 10 bash -c "'$PODSHIM' get --root '$ROOT' 2>/dev/null | grep -q '^stubborn .*Running'"
    grep -q "ERROR static pod bad.yaml not started: $dir/bad.yaml:1:1: apiVersion: required value" kubelet.log
    [ "$(grep -c 'bad.yaml not started' kubelet.log)" -eq 1 ]
    # A new file: its pod starts.
    cp "$PODS/ticker.yaml" "$dir/t.yaml"
    wait_for 10 bash -c "'$PODSHIM' logs --root '$ROOT' ticker 2>/dev/null | grep -q 'tick 5'"
    # A changed file: the old pod goes, the new one comes.
    sed 's/name: stubborn/name: stubborn2/' "$PODS/stubborn.yaml" >"$dir/.tmp"
    mv "$dir/.tmp" "$dir/a.yaml"
    wait_for 10 bash -c "'$PODSHIM' get --root '$ROOT' 2>/dev/null | grep -q '^stubborn2 .*Running'"
    wait_for 10 bash -c "! '$PODSHIM' get --root '$ROOT' stubborn >/dev/null 2>&1"
    # A removed file: its pod goes.
    rm "$dir/a.yaml"
    wait_for 10 bash -c "! '$PODSHIM' get --root '$ROOT' stubborn2 >/dev/null 2>&1"
    cp "$PODS/stubborn.yaml" "$dir/a.yaml"
    wait_for 10 bash -c "'$PODSHIM' get --root '$ROOT' 2>/dev/null | grep -q '^stubborn .*Running'"
    kill -TERM "$kp"
    local rc=0
    wait "$kp" || rc=$?
    [ "$rc" -eq 0 ]
    ! grep -q hidden kubelet.log
    assert_clean
}

@test "debug: a host command in the pod's namespaces sees the target's processes" {
    run ps_ apply -f "$PODS/stubborn.yaml"
    [ "$status" -eq 0 ]
    wait_for 10 logs_have stubborn app started
    run ps_ debug stubborn --target app -- sh -c 'hostname; for p in /proc/[0-9]*; do cat $p/comm; done'
    [ "$status" -eq 0 ]
    echo "$output"
    [ "${lines[0]}" = stubborn ]
    [[ "$output" =~ $'\n'pause$'\n' ]] # the container's init, PID 1 of its namespace
    [[ "$output" =~ $'\n'sleep ]]      # the container's own process
    run ps_ debug stubborn -- sh -c 'exit 7' # the status comes back
    [ "$status" -eq 7 ]
    run ps_ get stubborn -o json
    python3 -c 'import json,sys; c=json.load(sys.stdin)["status"]["containerStatuses"][0];
assert c["restartCount"] == 0 and "running" in c["state"], c' <<<"$output"
    run ps_ debug stubborn --target nope -- true
    [ "$status" -eq 1 ]
    [ "$output" = "container nope is not valid for pod stubborn" ]
    run ps_ delete stubborn --grace-period 0
    assert_clean
}

@test "securityContext: user, groups, capabilities, no_new_privs, read-only root, runAsNonRoot" {
    run ps_ run -f "$PODS/security.yaml"
    [ "$status" -eq 0 ]
    run cut -d' ' -f4- "$LOGS"/default_secure_*/app/0.log
    echo "$output"
    [ "$output" = $'1000\n3000\n3000 4000\nNoNewPrivs:\t1\nCapEff:\t0000000000000000\nCapBnd:\t0000000000000400' ] ||
        [ "$(sort <<<"$output")" = "$(sort <<<$'1000\n3000\n3000 4000\nNoNewPrivs:\t1\nCapEff:\t0000000000000000\nCapBnd:\t0000000000000400')" ]
    # A root container gets the runtime's 14 default capabilities, not all of them.
    run cut -d' ' -f4- "$LOGS"/default_secure_*/root/0.log
    echo "$output"
    [[ "$output" =~ CapBnd:$'\t'00000000a80425fb ]]
    [[ "$output" =~ CapEff:$'\t'00000000a80425fb ]]
    [[ "$output" =~ NoNewPrivs:$'\t'0 ]]
    [[ "$output" =~ root\ fs\ ro ]]
    # Its postStart exec hook ran as the container's user, with its (empty) capability set.
    run cut -d' ' -f4- "$LOGS"/default_secure_*/hooked/0.log
    echo "$output"
    [ "$output" = $'1000\nCapEff:\t0000000000000000' ]
    # runAsNonRoot without a user is refused, as the kubelet refuses it.
    sed -e '/runAsUser: 1000/d' -e 's/name: secure/name: insecure/' "$PODS/security.yaml" >nonroot.yaml
    run ps_ run -f nonroot.yaml
    [ "$status" -eq 1 ]
    [[ "$output" =~ container\ has\ runAsNonRoot\ and\ image\ will\ run\ as\ root\ \(pod:\ insecure,\ container:\ app\) ]]
    assert_clean
}
