#!/bin/sh
# tests/bench/podshim.sh — podshim apply/delete against podman kube play/down, same manifest.
#
# Usage: sh tests/bench/podshim.sh BINDIR   (as root; run by `make bench`)
# Prints medians of RUNS runs: time from `apply` to both containers of a two-container pod
# running, time of `delete`, the same for a 100-container pod, and the supervisor's RSS.
# When podman is installed, the two-container manifest also goes through `podman kube play`
# and `podman kube down` in the same run (row and ratio under podshim's), with an image
# imported from the host's static busybox. podman keeps its storage, locks and network
# config in this run's temporary directory, and reads tests/bench/containers.conf; a podman
# failure is one line saying why, and the podshim figures stand.
set -u
# Re-run under bash when it is there, for a clock that needs no fork (see now_ms).
if [ -z "${BASH_VERSION:-}" ] && command -v bash >/dev/null 2>&1; then
    exec bash "$0" "$@"
fi

bindir=$(cd "${1:?usage: sh tests/bench/podshim.sh BINDIR}" && pwd)
RUNS=${RUNS:-11}
PODMAN_TIMEOUT=${PODMAN_TIMEOUT:-30} # seconds, for each podman call
podshim=$bindir/podshim
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
root=$work/root
logs=$work/logs
pm=$work/podman

cleanup() {
    for d in "$root"/*_*/; do
        [ -d "$d" ] || continue
        n=${d%/} && n=${n##*/}
        "$podshim" delete --root "$root" --log-dir "$logs" "${n#*_}" -n "${n%%_*}" \
            --grace-period 0 >/dev/null 2>&1
    done
    [ -d "$pm" ] && podman_cleanup
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "$(id -u)" -ne 0 ]; then
    echo "podshim.sh: needs root (namespaces); skipped"
    exit 0
fi

# stamp VAR: the wall clock in microseconds, into VAR. Under bash, $EPOCHREALTIME costs
# nothing; $(date) costs a fork and an exec (~1.5 ms here), which every sample would count.
if [ -n "${EPOCHREALTIME:-}" ]; then
    stamp() { eval "$1=\${EPOCHREALTIME/[.,]/}"; }
else
    stamp() { eval "$1=$(date +%s%6N)"; }
fi

# median of the numbers on stdin
median() { sort -n | awk '{a[NR] = $1} END {if (NR == 0) print "-"; else print a[int((NR + 1) / 2)]}'; }

# ms MICROSECONDS: milliseconds with one decimal
ms() { awk -v u="$1" 'BEGIN {if (u == "-") print "-"; else printf "%.1f", u / 1000}'; }

pod_yaml() { # pod_yaml NAME NCONTAINERS
    printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\nspec:\n' "$1"
    printf '  terminationGracePeriodSeconds: 1\n  containers:\n'
    i=0
    while [ "$i" -lt "$2" ]; do
        printf '    - name: c%d\n      image: busybox\n      command: ["sleep", "1000"]\n' "$i"
        i=$((i + 1))
    done
}

bench_podshim() { # bench_podshim NAME NCONTAINERS -> "apply_ms delete_ms" per run
    pod_yaml "$1" "$2" >"$work/$1.yaml"
    r=0
    while [ "$r" -lt "$RUNS" ]; do
        stamp t0
        "$podshim" apply --root "$root" --log-dir "$logs" -f "$work/$1.yaml" >/dev/null || exit 1
        stamp t1
        if [ "$r" -eq 0 ]; then
            sup=$(pgrep -f -- "--root $root" | head -n 1)
            [ -n "$sup" ] && awk '/^VmRSS/ {print $2}' "/proc/$sup/status" >>"$work/$1.rss"
        fi
        "$podshim" delete --root "$root" --log-dir "$logs" "$1" >/dev/null || exit 1
        stamp t2
        echo "$((t1 - t0)) $((t2 - t1))"
        r=$((r + 1))
    done
}

# pm ARGS...: podman on this run's own state under $pm, each call bounded by PODMAN_TIMEOUT.
# CONTAINERS_CONF replaces the host's containers.conf; the storage.conf is podman_setup's.
pm() {
    CONTAINERS_CONF=$here/containers.conf CONTAINERS_STORAGE_CONF=$pm/storage.conf TMPDIR=$pm/tmp \
        timeout -k 5 "$PODMAN_TIMEOUT" podman --tmpdir "$pm/tmp" --network-config-dir "$pm/net" \
        --volumepath "$pm/vol" "$@"
}

# pm_skip WHAT [STATUS]: the one line saying why podman is left out (its error is in $pm/err).
pm_skip() {
    case "${2:-}" in
    124 | 137) why="timed out after ${PODMAN_TIMEOUT}s" ;;
    *) why=$(grep -v -e '^WARN' -e 'level=warn' "$pm/err" 2>/dev/null | grep . | head -n 1) ;;
    esac
    echo "podman comparison skipped: $1: ${why:-exit status ${2:-?}}"
}

# What podman changes on the host whatever its paths: runc's state dir /run/runc (a
# --runtime-flag root=DIR would not reach the `podman container cleanup` conmon runs), the
# blob-info cache that `import` writes, and cgroups (with runc on a hybrid layout, podman
# leaves each pod's in the unified tree).
# podman_setup notes what is new, and podman_cleanup removes it.
blobcache=/var/lib/containers/cache/blob-info-cache-v1.boltdb
pm_cgroups() {
    find /sys/fs/cgroup/libpod_parent /sys/fs/cgroup/*/libpod_parent -depth -type d 2>/dev/null
}

# podman_setup: podman's own storage and the busybox image, FROM scratch: /bin/busybox,
# /bin/sh and /bin/sleep (no registry is reachable).
podman_setup() {
    bb=$(command -v busybox) || { pm_skip "no busybox (Debian: busybox-static)"; return 1; }
    if ldd "$bb" >/dev/null 2>&1; then
        pm_skip "$bb is dynamically linked (Debian: busybox-static)"
        return 1
    fi
    mkdir -p "$pm/tmp" "$pm/img/bin"
    pm_cgroups >"$pm/cgroups.before"
    for f in "$blobcache" /run/runc; do [ -e "$f" ] || echo "$f"; done >"$pm/host.new"
    printf '[storage]\ndriver = "overlay"\ngraphroot = "%s"\nrunroot = "%s"\n' \
        "$pm/root" "$pm/run" >"$pm/storage.conf"
    cp "$bb" "$pm/img/bin/busybox"
    for app in sh sleep; do ln -s busybox "$pm/img/bin/$app"; done
    tar -C "$pm/img" -c . | pm import --quiet --change 'ENV PATH=/bin' - localhost/podkit-busybox \
        >/dev/null 2>"$pm/err" || { pm_skip "podman import" $?; return 1; }
}

# podman_cleanup: no pod, container, image, mount, process or cgroup of ours left.
podman_cleanup() {
    if [ -f "$pm/storage.conf" ]; then
        pm pod rm --all --force --time 0 >/dev/null 2>&1
        pm rm --all --force --time 0 >/dev/null 2>&1
        pm rmi --all --force >/dev/null 2>&1
    fi
    awk -v p="$pm/" 'index($2, p) == 1 {print $2}' /proc/self/mounts | sort -r |
        while read -r m; do umount -l "$m"; done
    if [ -f "$pm/cgroups.before" ]; then
        pm_cgroups | grep -vxF -f "$pm/cgroups.before" | while read -r d; do rmdir "$d"; done
    fi
    if grep -qxF "$blobcache" "$pm/host.new" 2>/dev/null; then
        rm -f "$blobcache"
        rmdir "${blobcache%/*}" "${blobcache%/*/*}" 2>/dev/null
    fi
    grep -qx /run/runc "$pm/host.new" 2>/dev/null && rmdir /run/runc 2>/dev/null
}

# pm_check NAME NCONTAINERS: the pod and all its containers are running (after kube play),
# or, with NCONTAINERS 0, nothing is left (after kube down).
pm_check() {
    if [ "$2" -eq 0 ]; then
        left=$({ pm ps --all --quiet && pm pod ps --quiet; } 2>"$pm/err" | wc -l)
        [ "$left" -eq 0 ] && return 0
        echo "podman comparison skipped: kube down left $left containers and pods behind"
        return 1
    fi
    st=$(pm pod ps --filter "name=^$1\$" --format '{{.Status}}' 2>"$pm/err")
    up=$(pm ps --filter "pod=$1" --filter status=running --quiet 2>"$pm/err" | wc -l)
    [ "$st" = Running ] && [ "$up" -eq $(($2 + 1)) ] && return 0
    echo "podman comparison skipped: kube play returned with the pod '$st'" \
        "and $up of $(($2 + 1)) containers running (infra included)"
    return 1
}

# bench_podman NAME NCONTAINERS OUT: "play_ms down_ms" per run into OUT. A podshim pod has
# loopback only, so the podman pod gets --network none (a netns with lo, and no bridge).
bench_podman() {
    pod_yaml "$1" "$2" | sed 's|image: busybox|image: localhost/podkit-busybox|' >"$work/$1.pm.yaml"
    : >"$3"
    r=-1 # run -1 is not timed: on its first pod, podman builds its infra image from catatonit
    while [ "$r" -lt "$RUNS" ]; do
        stamp t0
        pm kube play --quiet --network none "$work/$1.pm.yaml" >/dev/null 2>"$pm/err" ||
            { pm_skip "podman kube play" $?; return 1; }
        stamp t1
        if [ "$r" -lt 0 ]; then pm_check "$1" "$2" || return 1; fi
        pm kube down "$work/$1.pm.yaml" >/dev/null 2>"$pm/err" ||
            { pm_skip "podman kube down" $?; return 1; }
        stamp t2
        if [ "$r" -lt 0 ]; then pm_check "$1" 0 || return 1; fi
        if [ "$r" -ge 0 ]; then echo "$((t1 - t0)) $((t2 - t1))" >>"$3"; fi
        r=$((r + 1))
    done
}

report() { # report LABEL FILE
    a=$(cut -d' ' -f1 "$2" | median)
    d=$(cut -d' ' -f2 "$2" | median)
    printf '%-40s %10s %10s\n' "$1" "$(ms "$a")" "$(ms "$d")"
}

ratio() { # ratio COLUMN: podman's median over podshim's, 2 containers
    a=$(cut -d' ' -f"$1" "$work/two.pm" | median)
    b=$(cut -d' ' -f"$1" "$work/two.ps" | median)
    awk -v a="$a" -v b="$b" 'BEGIN {printf "%.0f", a / (b > 0 ? b : 1)}'
}

echo "podshim: pod start and delete, medians of $RUNS runs (ms)"
bench_podshim two 2 >"$work/two.ps" || { echo "podshim apply failed"; exit 1; }
bench_podshim hundred 100 >"$work/hundred.ps" || { echo "podshim apply failed"; exit 1; }
if ! command -v podman >/dev/null 2>&1; then
    echo "podman comparison skipped: podman not installed (sh mk/deps.sh bench)" >"$work/pm.out"
elif ! { podman_setup && bench_podman two 2 "$work/two.pm"; } >"$work/pm.out"; then
    rm -f "$work/two.pm"
fi

printf '%-40s %10s %10s\n' "" "to running" "delete"
report "podshim, 2 containers" "$work/two.ps"
if [ -f "$work/two.pm" ]; then
    report "podman kube play/down, 2 containers" "$work/two.pm"
    echo "  podshim: $(ratio 1)x faster to running than kube play," \
        "$(ratio 2)x faster to delete than kube down"
fi
cat "$work/pm.out"
report "podshim, 100 containers" "$work/hundred.ps"
# Static pods: from a manifest appearing in the kubelet's directory (a rename, as editors and
# config tools write) to its container running (it touches a file on a hostPath volume).
static_pods() {
    kdir=$work/static
    mark=$work/mark
    mkdir -p "$kdir" "$mark"
    "$podshim" kubelet --root "$root" --log-dir "$logs" --manifest-dir "$kdir" 2>/dev/null &
    kpid=$!
    sleep 0.3
    python3 - "$kdir" "$mark" "$RUNS" "$podshim" "$root" <<'PY'
import os, sys, time, subprocess, statistics
kdir, mark, runs, podshim, root = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
manifest = """apiVersion: v1
kind: Pod
metadata: {name: static-bench}
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{name: m, hostPath: {path: %s}}]
  containers:
  - name: c
    image: busybox
    command: ["/bin/sh", "-c", "touch /podkit-bench-mark/up; exec sleep 1000"]
    volumeMounts: [{name: m, mountPath: /podkit-bench-mark}]
""" % mark
times = []
for _ in range(runs):
    up = os.path.join(mark, "up")
    with open(os.path.join(kdir, ".tmp"), "w") as f:
        f.write(manifest)
    t0 = time.monotonic()
    os.rename(os.path.join(kdir, ".tmp"), os.path.join(kdir, "pod.yaml"))
    while not os.path.exists(up):
        time.sleep(0.0002)
    times.append((time.monotonic() - t0) * 1000)
    os.unlink(os.path.join(kdir, "pod.yaml"))
    os.unlink(up)
    deadline = time.monotonic() + 10
    while subprocess.run([podshim, "get", "--root", root, "static-bench"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
        if time.monotonic() > deadline:
            sys.exit("static pod not removed")
        time.sleep(0.01)
print("%-40s %10.1f" % ("static pod: file to running (kubelet)", statistics.median(times)))
PY
    kill -TERM "$kpid"
    wait "$kpid" 2>/dev/null
}
static_pods

# Probe overhead: one pod of 50 containers, each with a startup (tcpSocket), a readiness
# (httpGet) and a liveness (exec) probe at period 1 s; the supervisor's CPU over 10 s of
# steady state, alone and with the exec probes' processes it reaps.
probe_overhead() {
    # The probed server: quiet (its access log would be podshim's log-shipping work, not
    # probing) and with a listen backlog for 50 connections at once (http.server's 5 drops
    # SYNs, and the probes then time out).
    cat >"$work/probed.py" <<'PY'
import http.server as h
class Quiet(h.SimpleHTTPRequestHandler):
    def log_message(self, *args): pass
class Server(h.ThreadingHTTPServer):
    request_queue_size = 256
Server(("127.0.0.1", 8081), Quiet).serve_forever()
PY
    {
        printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: probes-bench}\nspec:\n'
        printf '  terminationGracePeriodSeconds: 1\n  containers:\n'
        i=0
        while [ "$i" -lt 50 ]; do
            if [ "$i" -eq 0 ]; then
                cmd="[\"/usr/bin/python3\", \"$work/probed.py\"]"
            else
                cmd='["sleep", "1000"]'
            fi
            printf '    - name: c%d\n      image: x\n      command: %s\n' "$i" "$cmd"
            printf '      startupProbe: {tcpSocket: {port: 8081}, periodSeconds: 1, failureThreshold: 60}\n'
            printf '      readinessProbe: {httpGet: {port: 8081, path: /}, periodSeconds: 1}\n'
            printf '      livenessProbe: {exec: {command: ["true"]}, periodSeconds: 1}\n'
            i=$((i + 1))
        done
    } >"$work/probes.yaml"
    "$podshim" apply --root "$root" --log-dir "$logs" -f "$work/probes.yaml" --wait ready \
        --timeout 60s >/dev/null || { echo "probe overhead: the pod did not get ready"; return; }
    sup=$(pgrep -f -- "apply --root $root" | head -n 1)
    hz=$(getconf CLK_TCK)
    # Own CPU from the scheduler's nanosecond count (se.sum_exec_runtime, in ms) where the
    # kernel shows it, else from stat's ticks; the reaped probe processes from stat's ticks.
    read_cpu() {
        awk -v hz="$hz" -v sched="/proc/$sup/sched" 'BEGIN {
            own = -1
            while ((getline l < sched) > 0) {
                if (l ~ /^se\.sum_exec_runtime/) { split(l, f, ":"); own = f[2] + 0 }
            }
        } { ticks = ($14 + $15) * 1000 / hz; kids = ($16 + $17) * 1000 / hz
            printf "%.3f %.3f\n", (own >= 0 ? own : ticks), kids }' "/proc/$sup/stat"
    }
    # Three windows of 10 s; the median is quoted.
    for w in 1 2 3; do
        set -- $(read_cpu)
        own0=$1 kids0=$2
        sleep 10
        set -- $(read_cpu)
        awk -v o0="$own0" -v o1="$1" -v k0="$kids0" -v k1="$2" \
            'BEGIN { printf "%.3f %.3f\n", (o1 - o0) / 100, (o1 - o0 + k1 - k0) / 100 }'
    done >"$work/probe.cpu"
    own=$(cut -d' ' -f1 "$work/probe.cpu" | median)
    all=$(cut -d' ' -f2 "$work/probe.cpu" | median)
    printf "%-40s %9.2f%% of a core (%.2f%% with the exec probe processes; windows: %s)\n" \
        "probe overhead, 50 ctrs x 3 probes @1s" "$own" "$all" \
        "$(cut -d' ' -f1 "$work/probe.cpu" | tr '\n' ' ' | sed 's/ $//')"
    "$podshim" delete --root "$root" --log-dir "$logs" probes-bench --grace-period 0 >/dev/null
}
probe_overhead

echo "supervisor RSS with 2 containers: $(median <"$work/two.rss") kB; with 100: $(median <"$work/hundred.rss") kB"
