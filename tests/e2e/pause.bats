#!/usr/bin/env bats
# tests/e2e/pause.bats — end-to-end tests of pause: real processes, PID namespaces, signals.
#
# Env: PODKIT_BIN = absolute directory holding the pause binary. Every test works in its
# own BATS_TEST_TMPDIR (removed by bats), bounds what could hang with `timeout` or a
# deadline, and teardown kills every process tree it started.

bats_require_minimum_version 1.5.0

setup() {
    PAUSE="${PODKIT_BIN:?PODKIT_BIN must name the directory holding pause}/pause"
    if [ ! -x "$PAUSE" ]; then
        echo "no executable $PAUSE" >&2
        return 1
    fi
    cd "$BATS_TEST_TMPDIR"
    STARTED=()
    write_helpers
}

teardown() {
    local p f pids=()

    # Collect whole trees first: killing a parent first would reparent its children.
    for p in "${STARTED[@]}"; do
        pids+=("$p" $(descendants "$p"))
    done
    for f in "$BATS_TEST_TMPDIR"/*.pid; do
        [ -s "$f" ] && pids+=($(cat "$f"))
    done
    for p in "${pids[@]}"; do
        if ours "$p"; then
            kill -KILL "$p" 2>/dev/null || true
        fi
    done
}

# ---- helpers ---------------------------------------------------------------------------

# assert_idle PID: PID uses at most one clock tick of CPU over one second (a process that
# polls or spins uses many more). A behaviour check, not a benchmark.
assert_idle() {
    local before after
    before=$(cpu_ticks "$1")
    sleep 1
    after=$(cpu_ticks "$1")
    echo "ticks before=$before after=$after"
    [ $((after - before)) -le 1 ]
}

# Scripts the children run: probe.sh (orphans and /proc scans, POSIX sh) and catcher.sh
# (bash: trap one signal, record it, exit with a chosen code).
write_helpers() {
    cat >probe.sh <<'EOF'
# make_orphans N SECONDS: start N `sleep SECONDS` whose parent exits at once.
make_orphans() {
    i=0
    while [ "$i" -lt "$1" ]; do
        (sleep "$2" &)
        i=$((i + 1))
    done
}
# proc_scan PPID: set orphans (live sleeps whose parent is PPID) and zombies (Z anywhere).
# Uses builtins only, so the scanning shell leaves no children of its own behind.
proc_scan() {
    orphans=0
    zombies=0
    for f in /proc/[0-9]*/stat; do
        read -r line 2>/dev/null <"$f" || continue
        comm=${line#*(}
        comm=${comm%%)*}
        rest=${line##*) }
        state=${rest%% *}
        rest=${rest#* }
        ppid=${rest%% *}
        if [ "$state" = Z ]; then
            zombies=$((zombies + 1))
        elif [ "$comm" = sleep ] && [ "$ppid" = "$1" ]; then
            orphans=$((orphans + 1))
        fi
    done
}
# settle PPID N: poll proc_scan PPID for up to 5 s until orphans=N and zombies=0, then
# print "orphans=... zombies=..." as last seen.
settle() {
    tries=0
    while proc_scan "$1"; [ "$orphans" != "$2" ] || [ "$zombies" != 0 ]; do
        [ "$tries" -ge 250 ] && break
        tries=$((tries + 1))
        sleep 0.02
    done
    echo "orphans=$orphans zombies=$zombies"
}
EOF
    cat >catcher.sh <<'EOF'
# catcher.sh SIG CODE: on SIG write SIG to got.SIG and exit CODE; "ready.SIG" once trapped.
sig=$1
code=$2
trap 'echo "$sig" >"got.$sig"; exit "$code"' "$sig"
echo $$ >"catcher.$sig.pid"
: >"ready.$sig"
while :; do
    sleep 0.05
done
EOF
}

# need_pidns: skip unless we may create PID namespaces.
need_pidns() {
    if [ "$(id -u)" -ne 0 ]; then
        skip "PID namespaces need root"
    fi
    if ! timeout 5 unshare --pid --fork --mount-proc true 2>/dev/null; then
        skip "unshare --pid --fork --mount-proc is not permitted here"
    fi
}

# now_us: wall clock in microseconds.
now_us() {
    local t=${EPOCHREALTIME//[.,]/}
    echo "$((10#$t))"
}

# proc_state PID: the one-letter state of PID (R, S, Z, T...), nothing if it is gone.
proc_state() {
    local line
    read -r line 2>/dev/null <"/proc/$1/stat" || return 0
    line=${line##*) }
    echo "${line%% *}"
}

# proc_ppid PID: the parent of PID, nothing if it is gone.
proc_ppid() {
    local line f
    read -r line 2>/dev/null <"/proc/$1/stat" || return 0
    read -r -a f <<<"${line##*) }"
    echo "${f[1]}"
}

# cpu_ticks PID: utime + stime of PID in clock ticks.
cpu_ticks() {
    local line f
    read -r line <"/proc/$1/stat"
    read -r -a f <<<"${line##*) }"
    echo "$((f[11] + f[12]))"
}

# descendants PID: every live descendant of PID, one per line.
descendants() {
    local c
    for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        echo "$c"
        descendants "$c"
    done
}

# ours PID: PID runs pause or works under this test's directory (guards against pid reuse).
ours() {
    local exe cwd
    exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
    cwd=$(readlink "/proc/$1/cwd" 2>/dev/null) || cwd=
    [ "$exe" = "$PAUSE" ] || [[ "$cwd" == "$BATS_TEST_TMPDIR"* ]]
}

# wait_for SECONDS COMMAND...: poll COMMAND every 20 ms until it succeeds; fail after SECONDS.
wait_for() {
    local end=$(($(now_us) + $1 * 1000000))
    shift
    until "$@"; do
        if [ "$(now_us)" -ge "$end" ]; then
            echo "timed out waiting for: $*" >&2
            return 1
        fi
        sleep 0.02
    done
}

# is_ready PID: PID has exec'd pause and sleeps (in sigwaitinfo, or on its exec pipe).
is_ready() {
    [ "$(readlink "/proc/$1/exe" 2>/dev/null)" = "$PAUSE" ] && [ "$(proc_state "$1")" = S ]
}

# has_exited PID: PID is gone or a zombie.
has_exited() {
    local s
    s=$(proc_state "$1")
    [ -z "$s" ] || [ "$s" = Z ]
}

# wait_exit PID SECONDS: wait until our child PID exits and set STATUS to its exit status.
wait_exit() {
    wait_for "$2" has_exited "$1"
    STATUS=0
    wait "$1" || STATUS=$?
}

# start_pause ARGS...: start pause in the background (stderr to ./err, fd 3 closed as bats
# needs); sets PID once it is set up and asleep.
start_pause() {
    "$PAUSE" "$@" 2>err 3>&- &
    PID=$!
    STARTED+=("$PID")
    wait_for 5 is_ready "$PID"
}

# find_pause PID: the first descendant of PID that runs pause (seen from our namespace).
find_pause() {
    local p
    for p in $(descendants "$1"); do
        if [ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$PAUSE" ]; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

# is_log TEXT LEVEL MESSAGE: TEXT is exactly the one line "pause[<pid>] LEVEL MESSAGE".
is_log() {
    [[ "$1" =~ ^pause\[[0-9]+\]\ (.*)$ ]] && [ "${BASH_REMATCH[1]}" = "$2 $3" ]
}

# fds_of PID: the open descriptors of PID, space separated and sorted.
fds_of() {
    ls "/proc/$1/fd" 2>/dev/null | sort -n | tr '\n' ' '
}

# ---- PID 1 and subreaper: zombies are reaped ---------------------------------------------

@test "probe sanity: a PID 1 that never reaps leaves zombies that proc_scan sees" {
    need_pidns
    # sleep as PID 1 never calls wait(): the orphans must show up as zombies.
    run timeout 20 unshare --pid --fork --mount-proc sh -c \
        'sh -c ". ./probe.sh; make_orphans 5 0.2; sleep 1; proc_scan 1; echo zombies=\$zombies" &
         exec sleep 2'
    [ "$status" -eq 0 ]
    [ "$output" = "zombies=5" ]
}

@test "PID 1 in a new PID namespace (init mode): orphaned grandchildren are reaped" {
    need_pidns
    # 50 orphans exit together, so their SIGCHLDs merge: every one must still be reaped.
    cat >orphans.sh <<'EOF'
. ./probe.sh
make_orphans 50 1
settle 1 50
settle 1 0
echo "pid1=$(readlink /proc/1/exe) ppid=$PPID"
EOF
    run --separate-stderr timeout 20 unshare --pid --fork --mount-proc "$PAUSE" -- sh orphans.sh
    echo "$output"
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "orphans=50 zombies=0" ]
    [ "${lines[1]}" = "orphans=0 zombies=0" ]
    [ "${lines[2]}" = "pid1=$PAUSE ppid=1" ]
    [ -z "$stderr" ]
}

@test "PID 1 in a new PID namespace (pause mode): orphans reaped, SIGTERM exits 0 as pause[1]" {
    need_pidns
    timeout 30 unshare --pid --fork --mount-proc "$PAUSE" 2>err 3>&- &
    local outer=$! ns_pause
    STARTED+=("$outer")
    wait_for 5 eval 'ns_pause=$(find_pause "$outer") && is_ready "$ns_pause"'

    run timeout 20 nsenter -t "$ns_pause" -p -m sh -c \
        'cd "$1" && . ./probe.sh && make_orphans 20 1 && settle 1 20 && settle 1 0' \
        sh "$BATS_TEST_TMPDIR"
    echo "$output"
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "orphans=20 zombies=0" ]
    [ "${lines[1]}" = "orphans=0 zombies=0" ]

    kill -TERM "$ns_pause"
    wait_exit "$outer" 2
    [ "$STATUS" -eq 0 ]
    [ "$(cat err)" = "pause[1] INFO received SIGTERM, exiting" ]
}

@test "pause mode, not PID 1: as a child subreaper it adopts and reaps orphans of descendants" {
    # The subshell is pause's child (sh execs pause); once told, it orphans a sleep.
    sh -c '(while [ ! -e go ]; do sleep 0.02; done; (sleep 1 & echo $! >orphan.pid)) &
           exec "$0"' "$PAUSE" 2>err 3>&- &
    PID=$!
    STARTED+=("$PID")
    wait_for 5 is_ready "$PID"
    : >go
    wait_for 5 test -s orphan.pid
    local orphan
    orphan=$(cat orphan.pid)
    # Its parent exits at once: the kernel must hand it to pause, not to our init.
    wait_for 2 eval '[ "$(proc_ppid "$orphan")" = "$PID" ]'
    # When it exits pause reaps it: it disappears instead of lingering as a zombie.
    wait_for 5 eval '[ ! -e /proc/$orphan ]'
    [ -z "$(ps -o pid= --ppid "$PID")" ]
    kill -TERM "$PID"
    wait_exit "$PID" 1
    [ "$STATUS" -eq 0 ]
}

# ---- pause mode: signals -----------------------------------------------------------------

@test "pause mode: SIGTERM exits 0 within a second and logs it" {
    start_pause
    kill -TERM "$PID"
    wait_exit "$PID" 1
    [ "$STATUS" -eq 0 ]
    [ "$(cat err)" = "pause[$PID] INFO received SIGTERM, exiting" ]
}

@test "pause mode: SIGINT exits 0 within a second and logs it (even if started ignoring it)" {
    # Background jobs of a non-interactive shell start with SIGINT ignored.
    start_pause
    kill -INT "$PID"
    wait_exit "$PID" 1
    [ "$STATUS" -eq 0 ]
    [ "$(cat err)" = "pause[$PID] INFO received SIGINT, exiting" ]
}

@test "pause mode: SIGHUP, SIGUSR1, SIGTSTP and other signals neither kill nor stop it" {
    local sig
    start_pause
    for sig in HUP USR1 USR2 QUIT TSTP TTIN TTOU PIPE ALRM WINCH CHLD CONT VTALRM PROF; do
        kill -s "$sig" "$PID"
    done
    kill -s RTMIN "$PID"
    sleep 0.3
    [ "$(proc_state "$PID")" = S ]
    [ ! -s err ]
    kill -TERM "$PID"
    wait_exit "$PID" 1
    [ "$STATUS" -eq 0 ]
    [ "$(cat err)" = "pause[$PID] INFO received SIGTERM, exiting" ]
}

@test "pause mode: cwd is / and inherited descriptors above 2 are closed" {
    echo data >file
    "$PAUSE" 2>err 3>file 4<file 5>>file 9<file &
    PID=$!
    STARTED+=("$PID")
    wait_for 5 is_ready "$PID"
    [ "$(readlink "/proc/$PID/cwd")" = / ]
    [ "$(fds_of "$PID")" = "0 1 2 " ]
    kill -TERM "$PID"
    wait_exit "$PID" 1
    [ "$STATUS" -eq 0 ]
}

@test "pause mode: idle costs no CPU (no polling)" {
    start_pause
    assert_idle "$PID"
    # And a signal it ignores wakes it only once, not into a loop.
    kill -HUP "$PID"
    assert_idle "$PID"
    kill -TERM "$PID"
    wait_exit "$PID" 1
    [ "$STATUS" -eq 0 ]
}

# ---- command line --------------------------------------------------------------------

@test "--version, -V and -v print the version on stdout and exit 0" {
    local opt
    for opt in --version -V -v; do
        run --separate-stderr timeout 5 "$PAUSE" "$opt"
        [ "$status" -eq 0 ]
        [[ "$output" =~ ^pause\ [0-9]+\.[0-9]+\.[0-9]+\ \(git\ [0-9a-z]+\)$ ]]
        [ -z "$stderr" ]
    done
}

@test "-h and --help print usage on stdout (modes, signals, exit codes) and exit 0" {
    local opt word
    for opt in -h --help; do
        run --separate-stderr timeout 5 "$PAUSE" "$opt"
        [ "$status" -eq 0 ]
        [ -z "$stderr" ]
        [[ "${lines[0]}" == "Usage: pause "* ]]
        for word in "Pause mode" "Init mode" -g SIGTERM SIGINT SIGHUP SIGUSR1 SIGUSR2 SIGQUIT \
            SIGWINCH 128+N 126 127; do
            [[ "$output" == *"$word"* ]]
        done
    done
}

@test "an unknown option is one line on stderr naming it, exit 2" {
    local opt
    for opt in -x --bogus; do
        run --separate-stderr timeout 5 "$PAUSE" "$opt"
        [ "$status" -eq 2 ]
        [ -z "$output" ]
        [ "${#stderr_lines[@]}" -eq 1 ]
        is_log "$stderr" ERROR "unknown option \"$opt\" (see --help)"
    done
    run --separate-stderr timeout 5 "$PAUSE" --
    [ "$status" -eq 2 ]
    is_log "$stderr" ERROR 'missing command after "--" (see --help)'
    run --separate-stderr timeout 5 "$PAUSE" -g
    [ "$status" -eq 2 ]
    is_log "$stderr" ERROR 'option "-g" needs a command (see --help)'
}

# ---- init mode: exit codes ---------------------------------------------------------------

@test "init mode: pause exits with CMD's status" {
    run timeout 5 "$PAUSE" -- true
    [ "$status" -eq 0 ]
    run timeout 5 "$PAUSE" -- false
    [ "$status" -eq 1 ]
    run timeout 5 "$PAUSE" -- sh -c 'exit 42'
    [ "$status" -eq 42 ]
    # Options may precede "--", and "--" may be left out.
    run timeout 5 "$PAUSE" -g sh -c 'exit 7'
    [ "$status" -eq 7 ]
}

@test "init mode: CMD not found exits 127 with one error line" {
    run -127 --separate-stderr timeout 5 "$PAUSE" -- podkit-no-such-command arg
    [ "$status" -eq 127 ]
    [ "${#stderr_lines[@]}" -eq 1 ]
    is_log "$stderr" ERROR 'exec "podkit-no-such-command": No such file or directory'
    echo x >plain
    run -127 --separate-stderr timeout 5 "$PAUSE" -- ./plain/sub
    [ "$status" -eq 127 ]
    is_log "$stderr" ERROR 'exec "./plain/sub": Not a directory'
}

@test "init mode: CMD not executable exits 126 with one error line" {
    printf '#!/bin/sh\nexit 0\n' >noexec
    chmod 0644 noexec
    run --separate-stderr timeout 5 "$PAUSE" -- ./noexec
    [ "$status" -eq 126 ]
    [ "${#stderr_lines[@]}" -eq 1 ]
    is_log "$stderr" ERROR 'exec "./noexec": Permission denied'
    mkdir adir
    run --separate-stderr timeout 5 "$PAUSE" -- ./adir
    [ "$status" -eq 126 ]
    is_log "$stderr" ERROR 'exec "./adir": Permission denied'
}

@test "init mode: CMD killed by signal N gives 128+N" {
    run timeout 5 "$PAUSE" -- sh -c 'kill -KILL $$'
    [ "$status" -eq 137 ]
    run timeout 5 "$PAUSE" -- sh -c 'kill -TERM $$'
    [ "$status" -eq 143 ]
}

@test "init mode: pause exits as soon as CMD does, without waiting for CMD's children" {
    local start
    start=$(now_us)
    run timeout 10 "$PAUSE" -- sh -c 'sleep 30 >/dev/null 2>&1 & echo $! >bg.pid; exit 5'
    [ "$status" -eq 5 ]
    [ $(($(now_us) - start)) -lt 3000000 ]
    kill -KILL "$(cat bg.pid)"
}

# ---- init mode: signals ------------------------------------------------------------------

# forward_case SIG CODE: pause must relay SIG to a child that traps it, then exit CODE.
forward_case() {
    local sig=$1 code=$2
    start_pause -- bash ./catcher.sh "$sig" "$code"
    wait_for 5 test -e "ready.$sig"
    kill -s "$sig" "$PID"
    wait_exit "$PID" 5
    [ "$STATUS" -eq "$code" ]
    [ "$(cat "got.$sig")" = "$sig" ]
    [ ! -s err ]
}

@test "init mode: SIGTERM is forwarded to CMD" {
    forward_case TERM 31
}

@test "init mode: SIGINT is forwarded to CMD" {
    forward_case INT 32
}

@test "init mode: SIGHUP is forwarded to CMD" {
    forward_case HUP 33
}

@test "init mode: SIGUSR1 is forwarded to CMD" {
    forward_case USR1 34
}

@test "init mode: SIGUSR2 is forwarded to CMD" {
    forward_case USR2 35
}

@test "init mode: SIGQUIT is forwarded to CMD" {
    forward_case QUIT 36
}

@test "init mode: SIGWINCH is forwarded to CMD" {
    forward_case WINCH 37
}

@test "init mode -g: signals reach a grandchild in CMD's process group" {
    start_pause -g -- sh -c 'bash ./catcher.sh TERM 3 & wait'
    wait_for 5 test -e ready.TERM
    kill -TERM "$PID"
    wait_exit "$PID" 5
    # sh itself dies of SIGTERM; its child, in the same group, traps it.
    [ "$STATUS" -eq 143 ]
    wait_for 5 test -e got.TERM
    [ "$(cat got.TERM)" = TERM ]
}

@test "init mode without -g: only CMD gets the signal, not its process group" {
    start_pause -- sh -c 'bash ./catcher.sh TERM 3 & wait'
    wait_for 5 test -e ready.TERM
    kill -TERM "$PID"
    wait_exit "$PID" 5
    [ "$STATUS" -eq 143 ]
    sleep 0.5
    [ ! -e got.TERM ]
    kill -0 "$(cat catcher.TERM.pid)"
}

@test "init mode: CMD gets default dispositions and the mask pause inherited" {
    # Control: an ignored signal survives exec (SIGUSR1 is bit 10: 0x200), so without the
    # reset CMD would inherit it; the blocked mask is whatever this environment has.
    bash -c "trap '' USR1; exec grep -E '^Sig(Blk|Ign)' /proc/self/status" >control 3>&-
    [ $((0x$(awk '/^SigIgn/ {print $2}' control) & 0x200)) -ne 0 ]
    bash -c "trap '' USR1; exec \"\$0\" -- grep -E '^Sig(Blk|Ign)' /proc/self/status" \
        "$PAUSE" >child 2>err 3>&- &
    PID=$!
    STARTED+=("$PID")
    wait_exit "$PID" 5
    [ "$STATUS" -eq 0 ]
    [ "$(grep SigBlk child)" = "$(grep SigBlk control)" ]
    [ "$(grep SigIgn child)" = $'SigIgn:\t0000000000000000' ]
}

@test "init mode: CMD leads its own process group, and the terminal's foreground on a tty" {
    command -v script >/dev/null || skip "script(1) is not installed"
    cat >ids.sh <<'EOF'
ps -o pid=,pgid=,tpgid= -p $$ >"$1"
ps -o pgid= -p $PPID >>"$1"
EOF
    run timeout 5 "$PAUSE" -- sh ids.sh notty
    [ "$status" -eq 0 ]
    local pid pgid tpgid ppgid
    read -r pid pgid tpgid <notty
    [ "$pid" = "$pgid" ]
    # On a terminal (script gives the command a pty as controlling tty).
    run timeout 10 script -qec "\"$PAUSE\" -- sh ids.sh tty" /dev/null </dev/null
    [ "$status" -eq 0 ]
    { read -r pid pgid tpgid && read -r ppgid; } <tty
    echo "child pid=$pid pgid=$pgid tpgid=$tpgid; pause pgid=$ppgid"
    [ "$pid" = "$pgid" ]
    [ "$tpgid" = "$pgid" ]
    [ "$ppgid" != "$pgid" ]
}

@test "init mode: CMD keeps cwd and inherited descriptors; pause closes its own copies" {
    echo data >file
    cat >child.sh <<'EOF'
echo via-fd3 >&3
pwd >cwd.txt
: >ready
while [ ! -e done ]; do
    sleep 0.02
done
EOF
    "$PAUSE" -- sh child.sh 2>err 3>out 4<file &
    PID=$!
    STARTED+=("$PID")
    wait_for 5 test -e ready
    local child
    child=$(ps -o pid= --ppid "$PID")
    child=${child// /}
    [ "$(readlink "/proc/$child/fd/3")" = "$BATS_TEST_TMPDIR/out" ]
    [ "$(readlink "/proc/$child/fd/4")" = "$BATS_TEST_TMPDIR/file" ]
    wait_for 5 eval '[ "$(fds_of "$PID")" = "0 1 2 " ]'
    [ "$(readlink "/proc/$PID/cwd")" = "$BATS_TEST_TMPDIR" ]
    : >done
    wait_exit "$PID" 5
    [ "$STATUS" -eq 0 ]
    [ "$(cat out)" = via-fd3 ]
    [ "$(cat cwd.txt)" = "$BATS_TEST_TMPDIR" ]
    [ ! -s err ]
}

@test "init mode: idle costs no CPU while CMD runs" {
    start_pause -- sleep 30
    assert_idle "$PID"
    kill -TERM "$PID"
    wait_exit "$PID" 2
    [ "$STATUS" -eq 143 ]
}
