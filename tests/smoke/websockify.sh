#!/usr/bin/env bash
# The websockify compatibility run: the Deno smoke test once through Debian websockify (the relay
# warren used before warren-relay, and what many users still run) on ws://127.0.0.1:15675.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
cd "$ROOT"
started=0
if ! port_open "$WEBSOCKIFY_PORT"; then
    "$SCRIPTS/relay" websockify start
    started=1
fi
trap '((started == 0)) || "$SCRIPTS/relay" websockify stop >/dev/null 2>&1 || true' EXIT
"$NODE_BIN/deno" run "--allow-net=127.0.0.1:$WEBSOCKIFY_PORT" --allow-read tests/smoke/deno.ts "ws://127.0.0.1:$WEBSOCKIFY_PORT"
