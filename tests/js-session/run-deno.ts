// Runs the session suite (suite.js) under Deno against ../../pkg/index.js:
//   deno run --allow-net=127.0.0.1 --allow-read tests/js-session/run-deno.ts WS_URL FAULT_WS_URL CONTROL_URL [ONLY_REGEX]
import * as lib from "../../pkg/index.js";
// @ts-ignore: plain JS module without types
import { runAll, tests } from "./suite.js";

const [url = "ws://127.0.0.1:15673", faultUrl = "ws://127.0.0.1:15677", control = "http://127.0.0.1:5678", onlyArg] = Deno.args;
const only = onlyArg ? new RegExp(onlyArg) : undefined;
const PER_TEST_MS = 40_000;

const watchdog = setTimeout(() => {
  console.error("session suite (deno): FAILED (watchdog)");
  Deno.exit(2);
}, PER_TEST_MS * tests.length + 60_000);
Deno.unrefTimer(watchdog);

const t0 = Date.now();
const env = { url, faultUrl, control, figures: (name: string, value: string) => console.log(`  figure: ${name}: ${value}`) };
const results: { name: string; ok: boolean; ms: number; error?: string }[] = await runAll(lib, env, {
  timeoutMs: PER_TEST_MS,
  only,
  log: (line: string) => console.log(`  ${line}`),
});
console.log("");
for (const r of results) console.log(r.ok ? `PASS  ${r.name} (${r.ms} ms)` : `FAIL  ${r.name} (${r.ms} ms)\n      ${r.error}`);
const passed = results.filter((r) => r.ok).length;
const failed = results.length - passed;
console.log(`test result: ${failed === 0 ? "ok" : "FAILED"}. ${passed} passed; ${failed} failed`);
console.log(`session suite (deno): ${passed} passed, ${failed} failed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
Deno.exit(failed === 0 && passed > 0 ? 0 : 1);
