// Chromium half of the smoke test: opens tests/smoke/smoke.html (served by scripts/serve) in
// headless /usr/bin/chromium via playwright-core, waits (bounded) for the page's verdict and
// exits non-zero unless it passed.   usage: node tests/smoke/browser.mjs [PAGE_URL]
import { launchChromium, logPageEvents } from "../lib/chromium.mjs";

const pageUrl = process.argv[2] ?? "http://127.0.0.1:8080/tests/smoke/smoke.html";
const RESULT_TIMEOUT_MS = 60_000;

// a last resort if the browser itself wedges
setTimeout(() => {
  console.error("chromium smoke: FAILED (watchdog: no verdict after 120 s)");
  process.exit(2);
}, 120_000).unref();

const browser = await launchChromium();
let result;
try {
  const page = await browser.newPage();
  logPageEvents(page);
  await page.goto(pageUrl, { timeout: 30_000 });
  await page.waitForFunction(() => window.__smoke !== undefined, null, { timeout: RESULT_TIMEOUT_MS });
  result = await page.evaluate(() => window.__smoke);
} catch (e) {
  result = { ok: false, error: String(e?.message ?? e) };
} finally {
  await browser.close().catch(() => {});
}
if (result.ok) {
  console.log(`chromium smoke: ok ${JSON.stringify(result)}`);
} else {
  console.error(`chromium smoke: FAILED ${result.error}`);
  process.exit(1);
}
