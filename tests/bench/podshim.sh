#!/bin/sh
# tests/bench/podshim.sh — podshim apply/delete against podman kube play/down, same manifest.
#
# Usage: sh tests/bench/podshim.sh BINDIR   (as root; run by `make bench`)
# Prints medians of RUNS runs: time from `apply` to both containers of a two-container pod
# running, time of `delete`, the same for a 100-container pod, and the supervisor's RSS.
# When podman is installed (and a busybox image can be made from the host's busybox), the
# same manifest goes through `podman kube play` / `podman kube down` in the same run.
set -u

bindir=$(cd "${1:?usage: sh tests/bench/podshim.sh BINDIR}" && pwd)
RUNS=${RUNS:-11}
podshim=$bindir/podshim
work=$(mktemp -d)
root=$work/root
logs=$work/logs
trap 'for d in "$root"/*_*/; do [ -d "$d" ] && n=${d%/} && n=${n##*/} &&
    "$podshim" delete --root "$root" --log-dir "$logs" "${n#*_}" -n "${n%%_*}" --grace-period 0 \
    >/dev/null 2>&1; done; rm -rf "$work"' EXIT INT TERM

if [ "$(id -u)" -ne 0 ]; then
    echo "podshim.sh: needs root (namespaces); skipped"
    exit 0
fi

# now_ms: the monotonic-enough wall clock in milliseconds (date +%s%3N).
now_ms() { date +%s%3N; }

# median of the numbers on stdin
median() { sort -n | awk '{a[NR] = $1} END {if (NR == 0) print "-"; else print a[int((NR + 1) / 2)]}'; }

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
        t0=$(now_ms)
        "$podshim" apply --root "$root" --log-dir "$logs" -f "$work/$1.yaml" >/dev/null || exit 1
        t1=$(now_ms)
        if [ "$r" -eq 0 ]; then
            sup=$(pgrep -f -- "--root $root" | head -n 1)
            [ -n "$sup" ] && awk '/^VmRSS/ {print $2}' "/proc/$sup/status" >>"$work/$1.rss"
        fi
        "$podshim" delete --root "$root" --log-dir "$logs" "$1" >/dev/null || exit 1
        t2=$(now_ms)
        echo "$((t1 - t0)) $((t2 - t1))"
        r=$((r + 1))
    done
}

bench_podman() { # bench_podman NAME NCONTAINERS (needs a local busybox image)
    pod_yaml "$1" "$2" | sed 's/image: busybox/image: localhost\/podkit-busybox/' >"$work/$1.pm.yaml"
    r=0
    while [ "$r" -lt "$RUNS" ]; do
        t0=$(now_ms)
        podman kube play --quiet "$work/$1.pm.yaml" >/dev/null 2>&1 || return 1
        t1=$(now_ms)
        podman kube down "$work/$1.pm.yaml" >/dev/null 2>&1 || return 1
        t2=$(now_ms)
        echo "$((t1 - t0)) $((t2 - t1))"
        r=$((r + 1))
    done
}

report() { # report LABEL FILE
    a=$(cut -d' ' -f1 "$2" | median)
    d=$(cut -d' ' -f2 "$2" | median)
    printf '%-40s %10s %10s\n' "$1" "$a" "$d"
}

echo "podshim: pod start and delete, medians of $RUNS runs (ms)"
printf '%-40s %10s %10s\n' "" "to running" "delete"
bench_podshim two 2 >"$work/two.ps" || { echo "podshim apply failed"; exit 1; }
report "podshim, 2 containers" "$work/two.ps"
bench_podshim hundred 100 >"$work/hundred.ps" || { echo "podshim apply failed"; exit 1; }
report "podshim, 100 containers" "$work/hundred.ps"

if command -v podman >/dev/null 2>&1 && command -v busybox >/dev/null 2>&1; then
    if ! podman image exists localhost/podkit-busybox 2>/dev/null; then
        mkdir -p "$work/img/bin"
        cp "$(command -v busybox)" "$work/img/bin/"
        for app in sh sleep; do ln -sf busybox "$work/img/bin/$app"; done
        tar -C "$work/img" -c . | podman import - localhost/podkit-busybox >/dev/null 2>&1
    fi
    if bench_podman two 2 >"$work/two.pm"; then
        report "podman kube play/down, 2 containers" "$work/two.pm"
        pa=$(cut -d' ' -f1 "$work/two.pm" | median)
        sa=$(cut -d' ' -f1 "$work/two.ps" | median)
        echo "podshim is $(awk -v a="$pa" -v b="$sa" 'BEGIN {printf "%.0f", a / (b > 0 ? b : 1)}')x faster to running than podman kube play"
    else
        echo "podman kube play failed (see the README for the containers.conf these machines need)"
    fi
else
    echo "podman (and busybox for its image) not installed: podman comparison skipped"
fi
echo "supervisor RSS with 2 containers: $(median <"$work/two.rss") kB; with 100: $(median <"$work/hundred.rss") kB"
