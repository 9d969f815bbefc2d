// Runs the six tutorial pages (www/examples/tutorialN.html) in headless Chromium and reports
// each page's verdict (document.body.dataset.result: "pass" or "fail: reason").
//
//   node tests/examples/run-browser.mjs [BASE_URL] [PAGE...]
//
// Needs: scripts/serve (static files on :8080), scripts/relay (ws://127.0.0.1:15673),
// scripts/broker, a built pkg/ (scripts/build-pkg), and playwright-core in scripts/node_modules.
// Exits 0 when every page passed, 1 otherwise.
import { launchChromium } from "../lib/chromium.mjs";

const base = process.argv[2] ?? "http://127.0.0.1:8080/www/examples/";
const pages = process.argv.length > 3 ? process.argv.slice(3) : [...[1, 2, 3, 4, 5, 6].map((n) => `tutorial${n}.html`), "tutorial6-session.html"];
const PAGE_TIMEOUT_MS = 30_000;

// a last resort if the browser itself wedges
setTimeout(() => {
  console.error("run-browser: watchdog fired (browser unresponsive), giving up");
  process.exit(2);
}, (pages.length + 2) * (PAGE_TIMEOUT_MS + 5_000)).unref();

const browser = await launchChromium({ headlessNew: true });

/** Visits one page; resolves to { verdict, ms, notes } and never throws. */
async function visit(name) {
  const started = Date.now();
  const notes = []; // page errors, console errors and failed requests, shown for failures
  const page = await browser.newPage();
  page.on("console", (m) => {
    if (m.type() === "error") notes.push(`console.error: ${m.text()}`);
  });
  page.on("pageerror", (e) => notes.push(`pageerror: ${e.message}`));
  page.on("requestfailed", (r) => notes.push(`requestfailed: ${r.url()} ${r.failure()?.errorText}`));
  let verdict;
  try {
    await page.goto(new URL(name, base).href, { timeout: PAGE_TIMEOUT_MS });
    const left = PAGE_TIMEOUT_MS - (Date.now() - started);
    await page.waitForFunction(() => document.body?.dataset.result, null, { timeout: Math.max(left, 1) });
    verdict = await page.evaluate(() => document.body.dataset.result);
  } catch (e) {
    verdict = `fail: no verdict (${String(e?.message ?? e).split("\n")[0]})`;
    const progress = await page
      .evaluate(() => document.getElementById("log")?.innerText ?? "")
      .catch(() => "");
    if (progress) notes.push(`page log so far:\n${progress}`);
  }
  await page.close().catch(() => {});
  return { verdict, ms: Date.now() - started, notes };
}

let passed = 0;
let failed = 0;
try {
  for (const name of pages) {
    const { verdict, ms, notes } = await visit(name);
    const seconds = (ms / 1000).toFixed(1);
    if (verdict === "pass") {
      passed += 1;
      console.log(`PASS ${name} (${seconds} s)`);
    } else {
      failed += 1;
      console.log(`FAIL ${name} (${seconds} s): ${verdict.replace(/^fail: /, "")}`);
      for (const n of notes) console.log(`    ${n.replaceAll("\n", "\n    ")}`);
    }
  }
} finally {
  await browser.close().catch(() => {});
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
