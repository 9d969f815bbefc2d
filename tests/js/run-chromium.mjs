// Runs the JS API suite (suite.js) in headless /usr/bin/chromium through playwright-core: opens
// tests/js/index.html from the static server, waits (bounded) for the page's results, prints one
// line per test and "N passed, M failed"; exits non-zero on any failure.
//   node tests/js/run-chromium.mjs [PAGE_URL]     (scripts/serve, scripts/relay, scripts/broker running)
// PAGE_URL defaults to http://127.0.0.1:8080/tests/js/index.html; append ?only=REGEX or ?ws=URL.
import { launchChromium, logPageEvents } from "../lib/chromium.mjs";

const pageUrl = process.argv[2] ?? "http://127.0.0.1:8080/tests/js/index.html";
const PER_TEST_MS = 20_000;
const N_TESTS_MAX = 50; // generous bound for the whole run: per-test limit × tests + slack
const RUN_TIMEOUT_MS = PER_TEST_MS * N_TESTS_MAX + 30_000;
const verbose = process.env.WARREN_SUITE_VERBOSE === "1";

// a last resort if the browser itself wedges
setTimeout(() => {
  console.error("js suite (chromium): FAILED (watchdog)");
  process.exit(2);
}, RUN_TIMEOUT_MS + 60_000).unref();

const t0 = Date.now();
const browser = await launchChromium({ headlessNew: true });
let results;
try {
  const page = await browser.newPage();
  logPageEvents(page, {
    console: (m) => {
      const text = m.text();
      // progress lines always; other console output (e.g. warren's own errors) when verbose or an error
      if (text.startsWith("[suite] ")) console.log(`  ${text.slice(8)}`);
      else if (verbose || m.type() === "error") console.log(`  [console.${m.type()}] ${text}`);
    },
  });
  await page.goto(pageUrl, { timeout: 30_000 });
  await page.waitForFunction(() => window.__results?.done === true, null, { timeout: RUN_TIMEOUT_MS, polling: 250 });
  results = await page.evaluate(() => window.__results.results);
} catch (e) {
  results = [{ name: "(runner)", ok: false, ms: Date.now() - t0, error: String(e?.message ?? e) }];
} finally {
  await browser.close().catch(() => {});
}

console.log("");
for (const r of results) {
  console.log(r.ok ? `PASS  ${r.name} (${r.ms} ms)` : `FAIL  ${r.name} (${r.ms} ms)\n      ${r.error}`);
}
const passed = results.filter((r) => r.ok).length;
const failed = results.length - passed;
// cargo's format too, so scripts/test's step --tests counts the individual tests
console.log(`test result: ${failed === 0 ? "ok" : "FAILED"}. ${passed} passed; ${failed} failed`);
console.log(`js suite (chromium): ${passed} passed, ${failed} failed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
