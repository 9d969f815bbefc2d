#!/usr/bin/env bash
# Runs the six Rust tutorial examples (examples/tutorialN_*.rs) and examples/robust_consumer.rs (a
# session) against the broker, one after the other, each under `timeout 60`, and prints PASS/FAIL
# per example and "N passed, M failed".
#
#   tests/examples/run-native.sh [EXAMPLE...]
#
# Needs the broker (scripts/broker start); WARREN_AMQP_URL overrides its URL. The examples are
# compiled first in one bounded step, so the 60 s per example measures running, not building.
# Exits 0 when every example passed, 1 otherwise.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
case ":$PATH:" in
*":$HOME/.cargo/bin:"*) ;;
*) export PATH="$HOME/.cargo/bin:$PATH" ;;
esac

examples=("$@")
if ((${#examples[@]} == 0)); then
    examples=(tutorial1_hello_world tutorial2_work_queues tutorial3_publish_subscribe
        tutorial4_routing tutorial5_topics tutorial6_rpc robust_consumer)
fi

build_args=()
for e in "${examples[@]}"; do build_args+=(--example "$e"); done
if ! timeout 900 cargo build --quiet --features tokio "${build_args[@]}"; then
    echo "FAIL build: cargo build --features tokio ${build_args[*]} failed"
    echo "0 passed, ${#examples[@]} failed"
    exit 1
fi

passed=0
failed=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for e in "${examples[@]}"; do
    start=$EPOCHREALTIME
    timeout 60 cargo run --quiet --features tokio --example "$e" >"$out" 2>&1
    rc=$?
    secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
    if ((rc == 0)); then
        passed=$((passed + 1))
        echo "PASS $e (${secs} s)"
    else
        failed=$((failed + 1))
        if ((rc == 124)); then why="timed out after 60 s"; else why="exit code $rc"; fi
        echo "FAIL $e (${secs} s): $why"
        tail -n 15 "$out" | sed 's/^/    /'
    fi
done
echo "$passed passed, $failed failed"
((failed == 0))
