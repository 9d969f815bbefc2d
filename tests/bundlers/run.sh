#!/usr/bin/env bash
# Packaging test (scripts/test step `bundlers`): warren-amqp installed from an `npm pack` tarball
# of pkg/ (so its "files" list and exports map are what resolves), then one small app
# (app/roundtrip.js: connect through the relay, declare a queue, consume, publish, receive, close)
#   - built with zero configuration by esbuild, Rollup (+ node-resolve), webpack and Vite
#     (page + module worker), and run in headless Chromium together with a plain import-map page,
#     a dedicated module Worker and a module SharedWorker (run-chromium.mjs);
#   - run by Node 22 (npm package `node`, pinned) through `import` and through `require()`;
#   - run by Deno, in the main module and in a module Worker;
# and the package's synchronous inflater against node:zlib (inflate-check.mjs).
# Prints each bundle's size and a closing "test result:" line; exits non-zero if a check failed.
# Needs pkg/ (scripts/build-pkg) and the relay + static server (scripts/relay, scripts/serve).
#
#   tests/bundlers/run.sh           run everything
#   tests/bundlers/run.sh install   only install the pinned tools (npm ci; a no-op when current)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
DIR="$ROOT/tests/bundlers"
BIN="$DIR/node_modules/.bin"
cd "$DIR"

# The tools pinned in package.json + package-lock.json, installed again only when the lockfile
# changed. --prefer-offline: tarballs already in npm's cache are not fetched again.
install_tools() {
    local hash stamp="$DIR/node_modules/.warren-lock-sha256"
    hash=$(sha256sum "$DIR/package-lock.json" | cut -d' ' -f1)
    [[ -f $stamp && $(<"$stamp") == "$hash" && -x $BIN/node ]] && return 0
    log "npm ci in tests/bundlers/ (bundlers and Node 22 from package-lock.json)"
    npm ci --prefer-offline --no-audit --no-fund --loglevel=error
    echo "$hash" >"$stamp"
}

if [[ ${1:-} == install ]]; then
    install_tools
    exit 0
fi

passed=0
failed=0
check() { # NAME CMD...: run CMD, count and print its outcome (its output goes to the log)
    local name=$1 t=$SECONDS
    shift
    if "$@"; then
        passed=$((passed + 1))
        printf '  ok    %-24s %3ss\n' "$name" $((SECONDS - t))
    else
        failed=$((failed + 1))
        printf '  FAIL  %-24s %3ss\n' "$name" $((SECONDS - t))
    fi
}

T0=$SECONDS
install_tools
[[ -f $ROOT/pkg/package.json ]] || die "no pkg/: run scripts/build-pkg first"

# --- install the package as a user's npm would: the packed tarball, unpacked into node_modules
echo "== warren-amqp from npm pack"
pack_dir="$STATE/bundlers"
rm -rf "$pack_dir" "$DIR/node_modules/warren-amqp" "$DIR/dist"
mkdir -p "$pack_dir" "$DIR/node_modules/warren-amqp"
tarball=$(cd "$ROOT/pkg" && npm pack --pack-destination "$pack_dir" --loglevel=error | tail -1)
tar -xzf "$pack_dir/$tarball" -C "$DIR/node_modules/warren-amqp" --strip-components=1
echo "  $tarball: $(stat -c %s "$pack_dir/$tarball") B, $(tar -tzf "$pack_dir/$tarball" | wc -l) files"

# --- zero-configuration builds (command-line flags only, no config files)
echo "== builds"
check "esbuild" "$BIN/esbuild" app/page.js --bundle --minify --outfile=dist/esbuild/page.js --log-level=warning
check "rollup" "$BIN/rollup" app/page.js -p node-resolve -o dist/rollup/page.js --silent
# the size hints (bundle over 244 KiB) are expected: the wasm is inside
check "webpack" "$BIN/webpack" --mode production ./app/page.js -o dist/webpack --no-stats
check "vite (page + worker)" "$BIN/vite" build vite --base ./ --outDir ../dist/vite --emptyOutDir --logLevel warn

echo "== bundle sizes (JavaScript with the wasm inside; raw, gzip -9)"
size_line() { # LABEL FILE...
    local label=$1 raw gz
    shift
    raw=$(cat "$@" | wc -c)
    gz=$(cat "$@" | gzip -9c | wc -c)
    printf '  | %-40s | %9s B | %9s B |\n' "$label" "$raw" "$gz"
}
printf '  | %-40s | %11s | %11s |\n' bundle raw "gzip -9"
[[ -f dist/esbuild/page.js ]] && size_line "esbuild --bundle --minify" dist/esbuild/page.js
[[ -f dist/rollup/page.js ]] && size_line "rollup (node-resolve, no minify)" dist/rollup/page.js
[[ -f dist/webpack/main.js ]] && size_line "webpack --mode production" dist/webpack/main.js
if [[ -d dist/vite/assets ]]; then
    for f in dist/vite/assets/*.js; do
        case $(basename "$f") in
        worker-*) size_line "vite build: module worker" "$f" ;;
        *) size_line "vite build: page" "$f" ;;
        esac
    done
fi
pkg_files=("$DIR/node_modules/warren-amqp/"{index.js,api.js,warren.js,wasm-bytes.js,warren_wasm.js})
size_line "unbundled: the 5 .js files of the package" "${pkg_files[@]}"

WS="ws://127.0.0.1:$RELAY_PORT"
echo "== headless Chromium (relay $WS, pages from http://127.0.0.1:$HTTP_PORT/)"
pages=(pages/esbuild.html pages/rollup.html pages/webpack.html dist/vite/index.html
    pages/importmap.html pages/worker.html pages/sharedworker.html)
chromium_out="$pack_dir/chromium.log"
rc=0
timeout -k 10 300 node run-chromium.mjs "http://127.0.0.1:$HTTP_PORT/tests/bundlers/" "$WS" "${pages[@]}" \
    >"$chromium_out" 2>&1 || rc=$?
cat "$chromium_out"
p=$(grep -c '^  ok ' "$chromium_out" || true)
f=$((${#pages[@]} - p))
passed=$((passed + p))
failed=$((failed + f))
((rc == 0 || f > 0)) || failed=$((failed + 1))

echo "== Node $("$BIN/node" --version) and Deno"
check "inflate (wasm-bytes.js)" timeout -k 5 60 "$BIN/node" inflate-check.mjs
AMQP="amqp://127.0.0.1:$BROKER_PORT"
check "node import (+ tcp)" timeout -k 5 60 "$BIN/node" node.mjs "$WS" "$AMQP"
check "node require (+ tcp)" timeout -k 5 60 "$BIN/node" node.cjs "$WS" "$AMQP"
check "deno (main, worker, tcp)" timeout -k 5 60 "$NODE_BIN/deno" run --no-lock \
    --allow-net="127.0.0.1:$RELAY_PORT,127.0.0.1:$BROKER_PORT" --allow-read="$DIR" deno.ts "$WS" "$AMQP"
# the TCP glue stays out of browser bundles (the exports map gives browsers index.js only)
no_tcp_glue() {
    local f hits=()
    for f in dist/esbuild/page.js dist/rollup/page.js dist/webpack/main.js dist/vite/assets/*.js; do
        [[ -f $f ]] || continue
        grep -qE 'node:net|Deno\.connect|tcpClientClass' "$f" && hits+=("$f")
    done
    ((${#hits[@]} == 0)) || { echo "TCP glue in: ${hits[*]}" >&2; return 1; }
}
check "no TCP glue in bundles" no_tcp_glue

echo "bundlers: $((SECONDS - T0))s"
echo "test result: $( ((failed == 0)) && echo ok || echo FAILED). $passed passed; $failed failed"
((failed == 0))
