// Browser driver of the session suite: runs every test and publishes window.__results
// ({ done, results, figures }) for run-chromium.mjs. The runner exposes window.__restartBroker
// for the restart run (?restarts=1).
import { runAll } from "./suite.js";

const out = document.getElementById("out");
const print = (line) => {
  out.textContent += `${line}\n`;
  console.log(`[suite] ${line}`);
};
const params = new URLSearchParams(location.search);
const figures = [];
const env = {
  url: params.get("ws") ?? "ws://127.0.0.1:15673",
  faultUrl: params.get("fault") ?? "ws://127.0.0.1:15677",
  control: params.get("control") ?? "http://127.0.0.1:5678",
  restartBroker: params.get("restarts") === "1" ? () => window.__restartBroker() : undefined,
  memoryAlarm: params.get("restarts") === "1" ? (on) => window.__memoryAlarm(on) : undefined,
  figures: (name, value) => {
    figures.push({ name, value });
    print(`figure: ${name}: ${value}`);
  },
};
const only = params.get("only") ? new RegExp(params.get("only")) : undefined;

window.__results = { done: false, results: [], figures };
try {
  const lib = await import("../../pkg/index.js");
  const results = await runAll(lib, env, { log: print, only });
  window.__results = { done: true, results, figures };
} catch (e) {
  print(`FAIL  (suite) ${e?.stack ?? e}`);
  window.__results = { done: true, results: [{ name: "(load)", ok: false, ms: 0, error: String(e?.stack ?? e) }], figures };
}
