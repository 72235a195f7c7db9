#!/bin/sh
# tests/run.sh — run podkit's unit (cmocka) and end-to-end (bats) tests, count
# their TAP results and end with one line CI can read: "N passed, N failed, N skipped".
#
# Usage: tests/run.sh --bindir DIR --build DIR [--unit] [--e2e]
# Every suite is bounded by `timeout`; a suite that crashes or times out without
# reporting a failing case counts as one failure, so a crash is never a pass.
set -u

bindir=bin
build=build/release
unit=0
e2e=0
while [ $# -gt 0 ]; do
    case "$1" in
    --bindir) bindir=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --unit) unit=1; shift ;;
    --e2e) e2e=1; shift ;;
    *) echo "tests/run.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done

top=$(cd "$(dirname "$0")/.." && pwd)
export PODKIT_TOP="$top"
if [ "$e2e" -eq 1 ]; then
    PODKIT_BIN=$(cd "$bindir" 2>/dev/null && pwd) || { echo "tests/run.sh: no $bindir" >&2; exit 2; }
    export PODKIT_BIN
fi
UNIT_TIMEOUT=${UNIT_TIMEOUT:-120}
E2E_TIMEOUT=${E2E_TIMEOUT:-600}
# E2E_ONLY=NAME runs tests/e2e/NAME.bats alone (a glob: "amb*").

passed=0
failed=0
skipped=0
out=$(mktemp)
failures=$(mktemp) # the failing cases' lines, repeated above the summary
trap 'rm -f "$out" "$failures"' EXIT INT TERM

# count SUITE RC: tally the TAP lines in $out; print failures with their diagnostics.
count() {
    suite=$1
    rc=$2
    p=$(grep '^ok ' "$out" | grep -vc '# [Ss][Kk][Ii][Pp]' || true)
    s=$(grep -E '^(not )?ok .*# [Ss][Kk][Ii][Pp]' "$out" | wc -l)
    f=$(grep '^not ok ' "$out" | grep -vc '# [Ss][Kk][Ii][Pp]' || true)
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        if [ "$rc" -eq 124 ]; then
            echo "not ok - $suite timed out"
        else
            echo "not ok - $suite exited with status $rc without a failing case"
        fi | tee -a "$failures"
    fi
    grep '^not ok ' "$out" | grep -v '# [Ss][Kk][Ii][Pp]' | sed "s|^|  $suite: |" >>"$failures"

    # Show each case once, prefixed by its suite, with the diagnostics of failures.
    awk -v suite="$suite" '
        /^ok / { print "  " suite ": " $0; shown = 0; next }
        /^not ok / { print "  " suite ": " $0; shown = 1; next }
        /^#/ && shown { print "      " $0; next }
        /^1\.\./ { next }
        shown { print "      " $0 }' "$out"
    passed=$((passed + p))
    failed=$((failed + f))
    skipped=$((skipped + s))
}

if [ "$unit" -eq 1 ]; then
    for t in "$build"/tests/test_*; do
        [ -x "$t" ] || continue
        name=unit/$(basename "$t")
        CMOCKA_MESSAGE_OUTPUT=TAP timeout "$UNIT_TIMEOUT" "$t" >"$out" 2>&1
        count "$name" $?
    done
fi

if [ "$e2e" -eq 1 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "tests/run.sh: end-to-end tests need root (namespaces); they are skipped" >&2
    fi
    for t in "$top"/tests/e2e/${E2E_ONLY:-*}.bats; do
        [ -f "$t" ] || continue
        name=e2e/$(basename "$t" .bats)
        timeout "$E2E_TIMEOUT" bats --tap "$t" >"$out" 2>&1
        count "$name" $?
    done
fi

if [ -s "$failures" ]; then
    echo "failed:"
    cat "$failures"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ $((passed + skipped)) -gt 0 ]
