// Runs the session suite (suite.js) in headless Chromium: opens tests/js-session/index.html from
// the static server, waits (bounded) for the page's results, prints one line per test, the
// recovery figures, and cargo's "test result:" line; exits non-zero on any failure.
//   node tests/js-session/run-chromium.mjs PAGE_URL [--restarts]
// --restarts: the page may ask for broker restarts (rabbitmqctl stop_app / start_app through
// scripts/broker ctl), so run it on its own: it disturbs everything else on the broker.
import { execFile } from "node:child_process";
import net from "node:net";
import { launchChromium, logPageEvents } from "../lib/chromium.mjs";

const args = process.argv.slice(2);
const restarts = args.includes("--restarts");
let pageUrl = args.find((a) => !a.startsWith("--")) ?? "http://127.0.0.1:8080/tests/js-session/index.html";
if (restarts) pageUrl += `${pageUrl.includes("?") ? "&" : "?"}restarts=1`;
const RUN_TIMEOUT_MS = 30 * 40_000 + 30_000;

setTimeout(() => {
  console.error("session suite (chromium): FAILED (watchdog)");
  process.exit(2);
}, RUN_TIMEOUT_MS + 60_000).unref();

const root = new URL("../../", import.meta.url).pathname;
const ctl = (what) =>
  new Promise((resolve, reject) => {
    const args = Array.isArray(what) ? what : [what];
    execFile(`${root}scripts/broker`, ["ctl", ...args], { timeout: 60_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`broker ctl ${args.join(" ")}: ${err.message} ${stderr}`)) : resolve(stdout));
  });
const portOpen = (port) =>
  new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1", () => { s.destroy(); resolve(true); });
    s.on("error", () => resolve(false));
  });
async function restartBroker() {
  const port = Number(process.env.WARREN_BROKER_PORT ?? 5673);
  await ctl("stop_app");
  const stoppedAt = Date.now();
  await ctl("start_app");
  const startedAt = Date.now();
  const t0 = Date.now();
  while (!(await portOpen(port))) {
    if (Date.now() - t0 > 30_000) throw new Error("broker port did not open within 30 s of start_app");
    await new Promise((r) => setTimeout(r, 100));
  }
  return { stoppedAt, startedAt };
}

const t0 = Date.now();
const browser = await launchChromium({ headlessNew: true });
let results;
let figures = [];
try {
  const page = await browser.newPage();
  logPageEvents(page, {
    console: (m) => {
      const text = m.text();
      if (text.startsWith("[suite] ")) console.log(`  ${text.slice(8)}`);
      else if (process.env.WARREN_SUITE_VERBOSE === "1" || m.type() === "error") console.log(`  [console.${m.type()}] ${text}`);
    },
  });
  if (restarts) {
    await page.exposeFunction("__restartBroker", restartBroker);
    // a resource alarm on demand: the broker blocks publishing connections (0 = every byte
    // is over the watermark), and lifts it again
    await page.exposeFunction("__memoryAlarm", async (on) => {
      await ctl(["set_vm_memory_high_watermark", on ? "0.0000001" : "0.4"]);
    });
  }
  await page.goto(pageUrl, { timeout: 30_000 });
  await page.waitForFunction(() => window.__results?.done === true, null, { timeout: RUN_TIMEOUT_MS, polling: 250 });
  ({ results, figures } = await page.evaluate(() => window.__results));
} catch (e) {
  results = [{ name: "(runner)", ok: false, ms: Date.now() - t0, error: String(e?.message ?? e) }];
} finally {
  await browser.close().catch(() => {});
}

console.log("");
for (const r of results) console.log(r.ok ? `PASS  ${r.name} (${r.ms} ms)` : `FAIL  ${r.name} (${r.ms} ms)\n      ${r.error}`);
if (figures?.length) {
  console.log("\nrecovery figures (Chromium):");
  for (const f of figures) console.log(`  ${f.name}: ${f.value}`);
}
const passed = results.filter((r) => r.ok).length;
const failed = results.length - passed;
console.log(`test result: ${failed === 0 ? "ok" : "FAILED"}. ${passed} passed; ${failed} failed`);
console.log(`session suite (chromium): ${passed} passed, ${failed} failed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
