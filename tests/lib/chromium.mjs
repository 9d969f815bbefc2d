// The one Chromium launcher of the browser test runners (tests/smoke/browser.mjs,
// tests/js/run-chromium.mjs, tests/examples/run-browser.mjs, tests/interop/chromium.mjs):
// headless /usr/bin/chromium through playwright-core from scripts/node_modules (scripts/setup;
// it never downloads a browser). bench/ has a launcher of its own.
import { createRequire } from "node:module";

const require = createRequire(new URL("../../scripts/package.json", import.meta.url));
const { chromium } = require("playwright-core");

export const CHROMIUM_PATH = "/usr/bin/chromium";

// no sandbox (containers, root), no GPU, /tmp instead of a small /dev/shm, no QUIC, and none of
// the background traffic (first-run, component updates, sync) a fresh profile would start
export const CHROMIUM_FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * Launches headless Chromium; resolves to playwright's Browser.
 *   headlessNew: pass --headless=new (before the other flags)
 *   args:        extra flags, after the common ones
 *   timeout:     launch timeout in ms (30 s)
 */
export function launchChromium({ headlessNew = false, args = [], timeout = 30_000 } = {}) {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    timeout,
    args: [...(headlessNew ? ["--headless=new"] : []), ...CHROMIUM_FLAGS, ...args],
  });
}

/**
 * Prints a page's console messages, uncaught errors and failed requests, one indented line each:
 *   [console.TYPE] TEXT / [pageerror] MESSAGE / [requestfailed] URL ERROR
 * console: true (print every message), false (none) or a handler of playwright's ConsoleMessage.
 */
export function logPageEvents(page, { console: onConsole = true, pageerror = true, requestfailed = true } = {}) {
  if (typeof onConsole === "function") page.on("console", onConsole);
  else if (onConsole) page.on("console", (m) => console.log(`  [console.${m.type()}] ${m.text()}`));
  if (pageerror) page.on("pageerror", (e) => console.log(`  [pageerror] ${e.message}`));
  if (requestfailed) {
    page.on("requestfailed", (r) => console.log(`  [requestfailed] ${r.url()} ${r.failure()?.errorText}`));
  }
}
