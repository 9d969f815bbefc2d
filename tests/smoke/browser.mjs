// Chromium half of the smoke test: opens tests/smoke/smoke.html (served by scripts/serve) in
// headless /usr/bin/chromium via playwright-core, waits (bounded) for the page's verdict and
// exits non-zero unless it passed.   usage: node tests/smoke/browser.mjs [PAGE_URL]
import { createRequire } from "node:module";

const require = createRequire(new URL("../../scripts/package.json", import.meta.url));
const { chromium } = require("playwright-core");

const pageUrl = process.argv[2] ?? "http://127.0.0.1:8080/tests/smoke/smoke.html";
const RESULT_TIMEOUT_MS = 60_000;

// a last resort if the browser itself wedges
setTimeout(() => {
  console.error("chromium smoke: FAILED (watchdog: no verdict after 120 s)");
  process.exit(2);
}, 120_000).unref();

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  timeout: 30_000,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
let result;
try {
  const page = await browser.newPage();
  page.on("console", (m) => console.log(`  [console.${m.type()}] ${m.text()}`));
  page.on("pageerror", (e) => console.log(`  [pageerror] ${e.message}`));
  page.on("requestfailed", (r) => console.log(`  [requestfailed] ${r.url()} ${r.failure()?.errorText}`));
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
