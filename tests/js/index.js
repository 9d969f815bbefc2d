// Browser driver of the JS API suite: loads the package and suite.js, runs every test and
// publishes the outcome as window.__results ({ done, results: [{ name, ok, ms, error? }] }),
// read by run-chromium.mjs. Progress goes to the page and to the console.
import { runAll } from "./suite.js";

const out = document.getElementById("out");
const print = (line) => {
  out.textContent += `${line}\n`;
  console.log(`[suite] ${line}`);
};
const params = new URLSearchParams(location.search);
const url = params.get("ws") ?? "ws://127.0.0.1:15673";
const only = params.get("only") ? new RegExp(params.get("only")) : undefined;
const timeoutMs = Number(params.get("timeout") ?? 20_000);

window.__results = { done: false, results: [] };
try {
  // a dynamic import, so a package that fails to load is reported as a failure too
  const lib = await import("../../pkg/index.js");
  const results = await runAll(lib, url, { timeoutMs, log: print, only });
  window.__results = { done: true, results };
} catch (e) {
  print(`FAIL  (suite) ${e?.stack ?? e}`);
  window.__results = { done: true, results: [{ name: "(load)", ok: false, ms: 0, error: String(e?.stack ?? e) }] };
}
const failed = window.__results.results.filter((r) => !r.ok).length;
document.title = failed ? `suite: ${failed} FAILED` : "suite: pass";
