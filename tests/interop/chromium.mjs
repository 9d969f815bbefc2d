// usage: node tests/interop/chromium.mjs WS_URL IN_QUEUE OUT_QUEUE  (page served by scripts/serve)
import { launchChromium, logPageEvents } from "../lib/chromium.mjs";

const [url, inQueue, outQueue] = process.argv.slice(2);
// scripts/lib.sh's HTTP_PORT (WARREN_HTTP_PORT overrides it for a second checkout)
const http = `http://127.0.0.1:${process.env.WARREN_HTTP_PORT ?? 8080}`;
const page_url = `${http}/tests/interop/index.html?url=${encodeURIComponent(url)}&in=${inQueue}&out=${outQueue}`;

const browser = await launchChromium();
let result;
try {
  const page = await browser.newPage();
  logPageEvents(page, { console: false, requestfailed: false });
  await page.goto(page_url, { timeout: 30_000 });
  await page.waitForFunction(() => window.__result !== undefined, null, { timeout: 60_000 });
  result = await page.evaluate(() => window.__result);
} catch (e) {
  result = { ok: false, error: String(e?.message ?? e) };
} finally {
  await browser.close().catch(() => {});
}
if (!result.ok) {
  console.error(`chromium interop: FAILED ${result.error}`);
  process.exit(1);
}
console.log("chromium interop: ok");
