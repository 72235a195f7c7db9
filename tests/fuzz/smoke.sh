#!/bin/sh
# tests/fuzz/smoke.sh — run each libFuzzer target for a bounded time from its seed corpus.
# Usage: tests/fuzz/smoke.sh SECONDS TARGET...   New inputs go to build/fuzz/corpus-NAME,
# so the committed seeds stay as they are. Ends with "N passed, N failed".
set -u
seconds=$1
shift
passed=0
failed=0
for t in "$@"; do
    name=$(basename "$t")
    seeds=tests/fuzz/corpus/$name
    [ -d "$seeds" ] || seeds="" # libFuzzer refuses a folder that does not exist
    work=build/fuzz/corpus-$name
    mkdir -p "$work"
    log=build/fuzz/$name.log
    if timeout $((seconds + 60)) "$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 \
        -max_len=4096 -print_final_stats=1 -artifact_prefix=build/fuzz/"$name"- "$work" ${seeds:+"$seeds"} >"$log" 2>&1; then
        echo "ok - $name: $(grep -a -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') runs in ${seconds}s"
        passed=$((passed + 1))
    else
        echo "not ok - $name (see $log):"
        grep -a -A 30 'ERROR\|Test unit written' "$log" | head -40
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
