// Opens each bundler test page in headless Chromium (one fresh context per page, so no
// SharedWorker or cache is shared), waits (bounded) for its window.__result and prints one line
// per page; exits non-zero unless every page passed.
//   node tests/bundlers/run-chromium.mjs BASE_URL WS_URL PAGE...
//   (PAGE relative to BASE_URL, e.g. pages/esbuild.html)
import { launchChromium, logPageEvents } from "../lib/chromium.mjs";

const [base, ws, ...pages] = process.argv.slice(2);
if (!base || !ws || pages.length === 0) {
  console.error("usage: node run-chromium.mjs BASE_URL WS_URL PAGE...");
  process.exit(2);
}
const RESULT_TIMEOUT_MS = 60_000;
setTimeout(() => {
  console.error("bundlers chromium: FAILED (watchdog: no verdict after 300 s)");
  process.exit(2);
}, 300_000).unref();

const browser = await launchChromium();
let passed = 0;
let failed = 0;
try {
  for (const path of pages) {
    const url = new URL(path, base);
    url.searchParams.set("ws", ws);
    const context = await browser.newContext();
    let result;
    try {
      const page = await context.newPage();
      logPageEvents(page, { console: (m) => m.type() === "error" && console.log(`  [console.error] ${m.text()}`) });
      await page.goto(url.href, { timeout: 30_000 });
      await page.waitForFunction(() => globalThis.__result !== undefined, null, { timeout: RESULT_TIMEOUT_MS });
      result = await page.evaluate(() => globalThis.__result);
    } catch (e) {
      result = { ok: false, error: String(e?.message ?? e) };
    } finally {
      await context.close().catch(() => {});
    }
    if (result.ok) {
      passed++;
      const runs = result.runs ?? [result];
      console.log(`  ok    ${path}  ${runs.map((r) => `${r.label} ${r.ms} ms`).join(", ")}`);
    } else {
      failed++;
      console.log(`  FAIL  ${path}  ${JSON.stringify(result)}`);
    }
  }
} finally {
  await browser.close().catch(() => {});
}
console.log(`chromium: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
