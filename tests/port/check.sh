#!/usr/bin/env bash
# types-check: the ported program (tests/port/app.ts) type-checks against @cloudamqp/amqp-client
# 4.1.1's own types with its original import, and, with only that import changed, against
# warren's (tsc --strict, and deno check); the package root's surface has no `any` and no wasm
# internals (tests/port/surface.ts). Emits the JS the Chromium run uses into target/port/.
# Needs pkg/ (scripts/build-pkg) and the npm tools (scripts/setup).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
cd "$ROOT"
TSC="$SCRIPTS/node_modules/.bin/tsc"
[[ -f pkg/index.d.ts ]] || die "no pkg/: run scripts/build-pkg first"

orig=target/port-amqp-client
mkdir -p "$orig"
sed 's#from "warren-amqp"#from "@cloudamqp/amqp-client"#' tests/port/app.ts >"$orig/app.ts"
# the port changed nothing but the module specifier
changed=$(diff tests/port/app.ts "$orig/app.ts" | grep -c '^[<>]' || true)
imports=$(grep -c 'from "warren-amqp"' tests/port/app.ts)
((changed == 2 * imports)) || die "app.ts and its 4.1.1 original differ in more than the import"
echo "== tsc --strict: the original against @cloudamqp/amqp-client 4.1.1"
"$TSC" -p tests/port/tsconfig.amqp-client.json
echo "== tsc --strict: the port (+ extras, surface) against warren-amqp"
"$TSC" -p tests/port/tsconfig.json
echo "== no 'any' in pkg/index.d.ts"
if grep -nwE 'any' pkg/index.d.ts; then die "'any' in the public types"; fi
echo "== deno check"
"$NODE_BIN/deno" check --config tests/port/deno.json tests/port/deno.ts tests/port/surface.ts
echo "test result: ok. 1 passed; 0 failed"
