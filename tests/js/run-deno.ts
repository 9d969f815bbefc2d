// Runs the JS API suite (suite.js) under Deno against ../../pkg/index.js (loaded from disk):
// prints one line per test and "N passed, M failed"; exits non-zero on any failure.
//   scripts/node_modules/.bin/deno run --allow-net=127.0.0.1:15673 --allow-read tests/js/run-deno.ts [WS_URL] [ONLY_REGEX]
import * as lib from "../../pkg/index.js";
// @ts-ignore: plain JS module without types
import { runAll, tests } from "./suite.js";

const url = Deno.args[0] ?? "ws://127.0.0.1:15673";
const only = Deno.args[1] ? new RegExp(Deno.args[1]) : undefined;
const PER_TEST_MS = 20_000;

// a last resort if something wedges outside the per-test bounds
const watchdog = setTimeout(() => {
  console.error("js suite (deno): FAILED (watchdog)");
  Deno.exit(2);
}, PER_TEST_MS * tests.length + 60_000);
Deno.unrefTimer(watchdog);

const t0 = Date.now();
const results: { name: string; ok: boolean; ms: number; error?: string }[] = await runAll(lib, url, {
  timeoutMs: PER_TEST_MS,
  only,
  log: (line: string) => console.log(`  ${line}`),
});
console.log("");
for (const r of results) {
  console.log(r.ok ? `PASS  ${r.name} (${r.ms} ms)` : `FAIL  ${r.name} (${r.ms} ms)\n      ${r.error}`);
}
const passed = results.filter((r) => r.ok).length;
const failed = results.length - passed;
// cargo's format too, so scripts/test's step --tests counts the individual tests
console.log(`test result: ${failed === 0 ? "ok" : "FAILED"}. ${passed} passed; ${failed} failed`);
console.log(`js suite (deno): ${passed} passed, ${failed} failed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
Deno.exit(failed === 0 && passed > 0 ? 0 : 1);
