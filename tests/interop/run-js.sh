#!/usr/bin/env bash
# pika ⇄ warren-amqp (JS) interop, in Deno and in headless Chromium:
#   pika publishes every type → the JS package reads it exactly → publishes JS values → pika checks tags.
# Needs the broker, relay and static server running and pkg/ built.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
PY=${WARREN_PIKA_PYTHON:-.state/venv/bin/python}
AMQP=${WARREN_AMQP_URL:-amqp://guest:guest@127.0.0.1:5673/%2f}
WS=${WARREN_WS_URL:-ws://127.0.0.1:15673}
DENO=scripts/node_modules/.bin/deno
fail=0
for runner in deno chromium; do
    in=interop.pika-to-js.$runner.$$
    out=interop.js-to-pika.$runner.$$
    timeout 60 "$PY" tests/interop/pika_tool.py publish "$AMQP" "$in"
    if [[ $runner == deno ]]; then
        timeout 90 "$DENO" run --allow-net --allow-read tests/interop/deno.ts "$WS" "$in" "$out" || fail=1
    else
        timeout 120 node tests/interop/chromium.mjs "$WS" "$in" "$out" || fail=1
    fi
    if timeout 60 "$PY" tests/interop/pika_tool.py check "$AMQP" "$out" js; then
        echo "pika saw the exact types ($runner)"
    else
        fail=1
    fi
done
exit $fail
