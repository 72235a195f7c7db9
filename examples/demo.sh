#!/bin/sh
# examples/demo.sh — shows pause holding a pod's namespaces, reaping, and stopping.
# Usage: examples/demo.sh BINDIR   (run by `make demo`; needs root for namespaces)
# Until the demo pods arrive, this is the demo: it leaves nothing running behind.
set -eu

bindir=$1
pause=$(cd "$bindir" && pwd)/pause
work=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

if [ -t 1 ]; then
    say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
    say() { printf '\n== %s\n' "$*"; }
fi

say "pause: the pod's infra process"
echo "$("$pause" --version): $(wc -c <"$pause") bytes, static, no dependencies"

if [ "$(id -u)" -ne 0 ]; then
    echo "(not root: namespaces need root; showing pause as a subreaper instead)"
    "$pause" 2>"$work/log" &
    pid=$!
else
    say "1. start pause as PID 1 of new pid, net, ipc and uts namespaces"
    unshare --fork --pid --net --ipc --uts --mount --mount-proc --propagation private \
        sh -c "hostname demo-pod; exec '$pause'" 2>"$work/log" &
    sleep 0.3
    # unshare --fork leaves a parent on the host side; pause is its child.
    pid=$(pgrep -P $! -x pause || true)
    [ -n "$pid" ] || { echo "pause did not start"; cat "$work/log"; exit 1; }
    for ns in net ipc uts pid; do
        printf '  %-4s host %-22s pod %s\n' "$ns" "$(readlink /proc/self/ns/$ns)" \
            "$(readlink /proc/$pid/ns/$ns)"
    done
    echo "  host PID of pause: $pid, its PID in the pod: $(awk '/^NSpid/ {print $3}' /proc/$pid/status)"
    echo "  idle RSS: $(awk '/^VmRSS/ {print $2, $3}' /proc/$pid/status)"

    say "2. a 'container' joins the pod's namespaces (as podshim will)"
    nsenter -t "$pid" --net --uts --ipc --pid --mount sh -c '
        echo "  hostname inside: $(hostname)"
        echo "  network interfaces inside: $(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " | tr "\n" " ")"
        echo "  processes inside (PID, command):"
        for p in /proc/[0-9]*; do echo "    ${p#/proc/} $(cat $p/comm)"; done'

    say "3. an orphan in the pod is adopted by pause, and reaped when it exits"
    nsenter -t "$pid" --pid --mount sh -c '(exec sleep 0.6) & exit 0'
    sleep 0.2
    nsenter -t "$pid" --pid --mount sh -c 'for p in /proc/[0-9]*; do
        [ "$(cat $p/comm)" = sleep ] && echo "  orphan sleep is PID ${p#/proc/}, its parent now PID $(awk "/^PPid/ {print \$2}" $p/status) (pause)"
    done; true'
    sleep 0.8
    zombies=$(nsenter -t "$pid" --pid --mount sh -c \
        'grep -l "^State:.*Z" /proc/[0-9]*/status 2>/dev/null | wc -l')
    echo "  zombies left in the pod: $zombies"
fi

say "4. SIGHUP is ignored, SIGTERM ends pause with status 0"
kill -HUP "$pid"
sleep 0.2
kill -0 "$pid" && echo "  still running after SIGHUP"
kill -TERM "$pid"
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 20 ]; do sleep 0.05; i=$((i + 1)); done
pid=
wait || true
echo "  its log: $(cat "$work/log")"

say "5. init mode: pause -- CMD runs CMD, forwards signals, returns its status"
set +e
"$pause" -- sh -c 'echo "  child says hi"; exit 3'
echo "  pause -- sh -c 'exit 3' returned $?"
"$pause" -- /nonexistent/cmd 2>&1 | sed 's/^/  /'
"$pause" -- /nonexistent/cmd 2>/dev/null
echo "  pause -- /nonexistent/cmd returned $? (127: not found)"
set -e

say "done: nothing left running. podshim runs whole pods already (shim/README.md); the demo pods arrive with issue 8."
