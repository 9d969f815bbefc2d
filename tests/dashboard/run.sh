#!/usr/bin/env bash
# The dashboard test (tests/dashboard/run.mjs): builds the traffic generator, then drives www/ in
# headless Chromium through the fault relay. Needs the services of scripts/test (broker, relay,
# static server, faults) and pkg/ built.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
cd "$ROOT"
cargo build --quiet --example demo_traffic --features tokio
export WARREN_DEMO_TRAFFIC="$ROOT/target/debug/examples/demo_traffic"
export WARREN_HTTP_PORT="$HTTP_PORT"
export WARREN_AMQP_URL="${WARREN_AMQP_URL:-amqp://guest:guest@127.0.0.1:$BROKER_PORT/%2f}"
export WARREN_FAULT_WS_URL="${WARREN_FAULT_WS_URL:-ws://127.0.0.1:$FAULT_RELAY_PORT}"
export WARREN_FAULT_CONTROL_URL="${WARREN_FAULT_CONTROL_URL:-http://127.0.0.1:$FAULT_CONTROL_PORT}"
exec node tests/dashboard/run.mjs
