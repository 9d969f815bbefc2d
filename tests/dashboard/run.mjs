// The dashboard (www/) driven in headless Chromium the way a person uses it: connect, see the
// generator's traffic, watch a topic pattern, inspect a message's header types, publish, make an
// RPC call, see the broker block it (a memory alarm), lose the connection (the fault proxy cuts it)
// and see the page recover, then measure
// the frame rate while 5,000 msg/s arrive. Screenshots go to .state/dashboard-*.png.
//
//   node tests/dashboard/run.mjs
//
// Needs the broker, relay, static server and fault proxy (scripts/test starts them) and the
// traffic generator built (target/debug/examples/demo_traffic, or $WARREN_DEMO_TRAFFIC). Env:
// WARREN_HTTP_PORT, WARREN_FAULT_WS_URL, WARREN_FAULT_CONTROL_URL, WARREN_AMQP_URL.
// Every wait is bounded and waits for something on the page, never for a fixed time.

import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { launchChromium, logPageEvents } from "../lib/chromium.mjs";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const STATE = `${ROOT}.state`;
const HTTP_PORT = process.env.WARREN_HTTP_PORT || "8080";
const WS_URL = process.env.WARREN_FAULT_WS_URL || `ws://127.0.0.1:${process.env.WARREN_FAULT_RELAY_PORT || 15677}`;
const CONTROL = process.env.WARREN_FAULT_CONTROL_URL ||
  `http://127.0.0.1:${process.env.WARREN_FAULT_CONTROL_PORT || 5678}`;
const AMQP_URL = process.env.WARREN_AMQP_URL ||
  `amqp://guest:guest@127.0.0.1:${process.env.WARREN_BROKER_PORT || 5673}/%2f`;
const GENERATOR = process.env.WARREN_DEMO_TRAFFIC || `${ROOT}target/debug/examples/demo_traffic`;
const LOAD_RATE = 5000;
const PAGE = `http://127.0.0.1:${HTTP_PORT}/www/`;

mkdirSync(STATE, { recursive: true });
const children = [];
let browser;
let failures = 0;
const t0 = Date.now();

function log(s) {
  console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${s}`);
}

function pass(s) {
  log(`PASS ${s}`);
}

function generator(args, name) {
  if (!existsSync(GENERATOR)) throw new Error(`no traffic generator at ${GENERATOR} (cargo build --example demo_traffic --features tokio)`);
  const child = spawn(GENERATOR, [...args, "--url", AMQP_URL], { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.on("data", (d) => process.stdout.write(`  [${name}] ${d}`));
  child.stderr.on("data", (d) => process.stdout.write(`  [${name}] ${d}`));
  children.push(child);
  return child;
}

/** A fault proxy control call (/cut, /refuse?on=1, ...); resolves to its JSON text. */
async function control(path) {
  const r = await fetch(`${CONTROL}${path}`, { method: "POST", signal: AbortSignal.timeout(10000) });
  if (!r.ok) throw new Error(`fault proxy ${path}: HTTP ${r.status}`);
  return (await r.text()).trim();
}

/** rabbitmqctl against the test broker (scripts/broker ctl). */
function broker(args) {
  execFileSync(`${ROOT}scripts/broker`, ["ctl", ...args], { stdio: "ignore", timeout: 30000 });
}

function stopChildren() {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGTERM");
}

async function shot(page, name) {
  const path = `${STATE}/dashboard-${name}.png`;
  await page.screenshot({ path });
  log(`screenshot ${path}`);
}

/** What the status in the header says (state and detail). */
async function statusText(page) {
  return page.evaluate(() =>
    `${document.getElementById("status-text").textContent} · ${document.getElementById("status-detail").textContent}`);
}

/** Counters of the selected watch, as numbers. */
async function received(page) {
  const t = await page.locator(".c-received b").textContent({ timeout: 5000 });
  return Number(t.replaceAll(",", ""));
}

async function selectWatch(page, label) {
  await page.locator("#watch-list li", { hasText: label }).first().click({ timeout: 5000 });
  await page.waitForFunction((l) => document.getElementById("watch-title").textContent.includes(l), label,
    { timeout: 5000 });
}

async function addExchangeWatch(page, exchange, pattern) {
  await page.locator('#watch-form input[name="kind"][value="exchange"]').check();
  await page.fill("#watch-exchange", exchange);
  await page.fill("#watch-pattern", pattern);
  await page.click("#add-watch");
  await page.waitForFunction((p) => document.getElementById("watch-title").textContent.includes(`▸ ${p}`), pattern,
    { timeout: 15000 });
}

/** Waits for `n` visible rows that show the selected watch's messages (right after a selection
 * the list still holds the previous watch's rows until the next frame repaints it). */
async function waitRows(page, n, timeout = 20000) {
  await page.waitForFunction((n) => {
    const selected = window.__dashboard.selected;
    const rows = [...document.querySelectorAll("#list .msg")].filter((r) => !r.hidden && r.record?.watch === selected);
    return rows.length >= n;
  }, n, { timeout });
}

/** Clicks the newest row and waits for the inspector; on a timeout, says what the page showed. */
async function inspectNewestRow(page) {
  await page.locator("#list .msg:not([hidden])").first().click({ timeout: 5000 });
  try {
    await page.waitForSelector("#inspector:not([hidden])", { timeout: 5000 });
  } catch (e) {
    const state = await page.evaluate(() => ({
      selected: window.__dashboard.selected?.label,
      rows: [...document.querySelectorAll("#list .msg")].map((r) => ({ hidden: r.hidden, watch: r.record?.watch?.label })),
      tab: [...document.querySelectorAll(".tabs button.on")].map((b) => b.dataset.tab),
    }));
    throw new Error(`the inspector did not open: ${JSON.stringify(state)}`);
  }
}

async function visibleKeys(page) {
  return page.$$eval("#list .msg", (rows) => rows.filter((r) => !r.hidden).map((r) => r.querySelector(".k").textContent));
}

async function main() {
  generator(["--rate", "300", "--burst-every", "12", "--burst-secs", "3", "--orders", "10", "--quiet"], "traffic");

  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  logPageEvents(page, { console: (m) => m.type() === "error" && console.log(`  [console.error] ${m.text()}`) });
  await page.goto(PAGE, { timeout: 30000 });

  // --- connect, like a person: fill the form (a wrong password first) ------------------------
  await page.fill("#conn-url", WS_URL);
  await page.fill("#conn-vhost", "/");
  await page.fill("#conn-user", "guest");
  await page.fill("#conn-password", "not-the-password");
  await page.fill("#conn-name", "dashboard test");
  await page.click("#connect");
  await page.waitForSelector('#status[data-state="failed"]', { timeout: 30000 });
  pass(`wrong password: "${(await statusText(page)).slice(0, 120)}"`);
  await page.fill("#conn-password", "guest");
  await page.fill("#conn-name", "dashboard test");
  await page.click("#connect");
  await page.waitForSelector('#status[data-state="connected"]', { timeout: 30000 });
  const connectedText = await statusText(page);
  if (!/heartbeat \d+ s/.test(connectedText)) throw new Error(`status shows no heartbeat: ${connectedText}`);
  pass(`connected: "${connectedText}"`);
  const saved = await page.evaluate(() => localStorage.getItem("warren.dashboard.connection"));
  if (!saved || saved.includes("guest\",\"password") || JSON.parse(saved).password !== undefined) {
    throw new Error(`connection form not remembered as it should be: ${saved}`);
  }
  pass("form remembered without the password");

  // --- the generator's traffic arrives -------------------------------------------------------
  await addExchangeWatch(page, "demo.telemetry", "#");
  await page.waitForFunction(() => Number(document.querySelector(".c-received b")?.textContent.replaceAll(",", "")) >= 200,
    null, { timeout: 30000 });
  pass(`all telemetry (#): ${await received(page)} messages so far`);

  // --- a topic pattern shows only matching keys ----------------------------------------------
  await addExchangeWatch(page, "demo.telemetry", "sensor.*.temperature");
  await waitRows(page, 15);
  const keys = await visibleKeys(page);
  const wrong = keys.filter((k) => !/^sensor\.[^.]+\.temperature$/.test(k));
  if (wrong.length) throw new Error(`sensor.*.temperature shows other keys: ${wrong.slice(0, 5).join(", ")}`);
  pass(`sensor.*.temperature: ${keys.length} rows, all matching (${[...new Set(keys)].join(", ")})`);

  // the text filter
  await page.fill("#filter", "sensor.ams");
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll("#list .msg")].filter((r) => !r.hidden);
    return rows.length > 0 && rows.every((r) => r.querySelector(".k").textContent === "sensor.ams.temperature");
  }, null, { timeout: 15000 });
  pass("filter 'sensor.ams' narrows the list to sensor.ams.temperature");
  await page.fill("#filter", "");

  // pause, resume, clear
  await page.click("#watch-pause");
  await page.waitForFunction(() => document.querySelector("#watch-list li.on")?.classList.contains("paused") &&
    document.getElementById("watch-pause").textContent === "Resume", null, { timeout: 10000 });
  const pausedAt = await received(page);
  await page.click("#watch-pause");
  await page.waitForFunction((n) => Number(document.querySelector(".c-received b").textContent.replaceAll(",", "")) > n + 10,
    pausedAt, { timeout: 20000 });
  await page.click("#watch-clear");
  await page.waitForFunction(() => window.__dashboard.selected.log.length < 50, null, { timeout: 5000 });
  await waitRows(page, 5);
  pass(`pause (consumer cancelled at ${pausedAt}), resume (the backlog and new messages arrive), clear`);

  // a watch added and removed
  await addExchangeWatch(page, "demo.telemetry", "sensor.syd.*");
  await page.click("#watch-remove");
  await page.waitForFunction(() => ![...document.querySelectorAll("#watch-list li")].some((li) => li.textContent.includes("sensor.syd.*")),
    null, { timeout: 10000 });
  pass("a watch removed (its queue deleted)");
  await selectWatch(page, "sensor.*.temperature");

  // --- the orders stream: inspector and header types -----------------------------------------
  await page.locator('#watch-form input[name="kind"][value="queue"]').check();
  await page.fill("#watch-queue", "demo.orders.stream");
  await page.fill("#watch-prefetch", "200");
  await page.fill("#watch-offset", "first");
  await page.click("#add-watch");
  await page.waitForFunction(() => document.getElementById("watch-title").textContent.includes("demo.orders.stream"),
    null, { timeout: 15000 });
  await waitRows(page, 3);
  pass(`existing queue demo.orders.stream (stream, passive declare, offset first): ` +
    `${await page.evaluate(() => window.__dashboard.selected.total)} events so far`);
  // Streams keep only flat headers (RabbitMQ stores them as AMQP 1.0 application properties);
  // the nested tables and arrays come through a classic queue: watch the exchange.
  await addExchangeWatch(page, "demo.orders", "order.#");
  await waitRows(page, 2);
  await inspectNewestRow(page);
  const types = await page.$$eval("#insp-headers tr[data-header]", (rows) =>
    Object.fromEntries(rows.map((r) => [r.dataset.header, r.dataset.type])));
  const expect = {
    customer: "table", "placed-at": "timestamp", items: "array", signature: "byte array", "trace-id": "int64",
    amount: "double", "amount-cents": "int32", express: "boolean", currency: "long string", since: "timestamp",
  };
  for (const [k, t] of Object.entries(expect)) {
    if (types[k] !== t) throw new Error(`header ${k}: expected type ${t}, inspector shows ${types[k]} (${JSON.stringify(types)})`);
  }
  const props = await page.$$eval("#insp-props tr[data-prop]", (rows) =>
    Object.fromEntries(rows.map((r) => [r.dataset.prop, r.children[1].textContent])));
  for (const [k, t] of Object.entries({ priority: "octet", correlationId: "shortstr", timestamp: "timestamp" })) {
    if (props[k] !== t) throw new Error(`property ${k}: expected ${t}, got ${props[k]} (${JSON.stringify(props)})`);
  }
  const tag = await page.textContent('#insp-delivery td[data-field="delivery tag"]');
  const redelivered = await page.textContent('#insp-delivery td[data-field="redelivered"]');
  const bodyText = await page.textContent("#insp-body");
  if (!/"order": "ORD-/.test(bodyText)) throw new Error(`inspector body is not pretty JSON: ${bodyText.slice(0, 80)}`);
  await page.click('#insp-views button[data-view="hex"]');
  await page.waitForFunction(() => /^00000000 {2}7b/.test(document.getElementById("insp-body").textContent), null,
    { timeout: 5000 });
  await page.click('#insp-views button[data-view="json"]');
  await page.click("#insp-copy");
  await page.waitForFunction(() => window.__dashboard.lastCopied, null, { timeout: 5000 });
  const copied = JSON.parse(await page.evaluate(() => window.__dashboard.lastCopied));
  if (copied.headerTypes?.customer !== "table" || !copied.properties?.headers) throw new Error("copy as JSON lacks headers");
  pass(`inspector: header types ${Object.keys(expect).length}/${Object.keys(expect).length}, property types, ` +
    `delivery tag ${tag}, redelivered ${redelivered}, JSON/hex body, copy as JSON`);
  await shot(page, "inspector");

  // --- publish and see it --------------------------------------------------------------------
  await selectWatch(page, "sensor.*.temperature");
  const marker = `by-hand-${Date.now()}`;
  await page.click('.tabs button[data-tab="publish"]');
  await page.fill("#pub-exchange", "demo.telemetry");
  await page.fill("#pub-key", "sensor.test.temperature");
  await page.fill("#pub-body", JSON.stringify({ site: "test", kind: "temperature", value: 99.5, marker }));
  await page.fill("#pub-headers", JSON.stringify({ source: "test", big: { $type: "int64", value: "9007199254740993" },
    at: { $type: "timestamp", value: "now" } }));
  await page.check("#pub-confirm");
  await page.click("#publish");
  await page.waitForFunction(() => /confirmed in/.test(document.querySelector("#pub-log li")?.textContent || ""), null,
    { timeout: 15000 });
  await page.fill("#filter", marker);
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll("#list .msg")].filter((r) => !r.hidden);
    return rows.length === 1 && rows[0].querySelector(".k").textContent === "sensor.test.temperature";
  }, null, { timeout: 15000 });
  await page.locator("#list .msg:not([hidden])").first().click();
  await page.waitForFunction(() => document.querySelector('#insp-headers tr[data-header="big"]')?.dataset.type === "int64",
    null, { timeout: 5000 });
  pass("published (confirmed) and seen in the watch, int64 header kept");
  await page.fill("#filter", "");

  // an unroutable mandatory publish comes back
  await page.click('.tabs button[data-tab="publish"]');
  await page.fill("#pub-exchange", "amq.direct");
  await page.fill("#pub-key", `nobody-listens-${Date.now()}`);
  await page.check("#pub-mandatory");
  await page.click("#publish");
  await page.waitForFunction(() => [...document.querySelectorAll("#pub-log li")].some((li) => /returned 312/.test(li.textContent)),
    null, { timeout: 15000 });
  pass("a mandatory publish without a route is shown as returned (312 NO_ROUTE)");

  // a queue that refuses: the broker nacks, the page says so (the queue is test setup, made
  // through the page's own session; the publish goes through the form)
  const full = `dashboard-full-${Date.now()}`;
  await page.evaluate((name) => window.__dashboard.session.queue(name, {
    durable: false, autoDelete: false, exclusive: true,
    arguments: { "x-max-length": 0, "x-overflow": "reject-publish" },
  }), full);
  await page.fill("#pub-exchange", "");
  await page.fill("#pub-key", full);
  await page.check("#pub-confirm");
  await page.click("#publish");
  await page.waitForFunction(() => /nacked/.test(document.querySelector("#pub-log li")?.textContent || ""), null,
    { timeout: 15000 });
  pass(`a publish the broker refuses is shown as nacked: "${(await page.textContent("#pub-log li")).slice(13, 110)}"`);

  // --- RPC -----------------------------------------------------------------------------------
  await page.click('.tabs button[data-tab="rpc"]');
  await page.fill("#rpc-queue", "demo.rpc");
  await page.click("#rpc-call");
  await page.waitForFunction(() => /"serverTime"/.test(document.getElementById("rpc-reply").textContent), null,
    { timeout: 15000 });
  const rtt = await page.textContent("#rpc-rtt");
  const reply = await page.textContent("#rpc-reply");
  if (!/"load"/.test(reply)) throw new Error(`RPC reply has no load: ${reply}`);
  pass(`RPC demo.rpc: ${rtt.trim()}`);
  await shot(page, "rpc");

  // --- a memory alarm: the broker blocks publishers, the status says so -----------------------
  await page.click('.tabs button[data-tab="publish"]');
  await page.fill("#pub-exchange", "demo.telemetry");
  await page.fill("#pub-key", "sensor.test.temperature");
  await page.check("#pub-confirm");
  const logged = await page.locator("#pub-log li").count();
  broker(["set_vm_memory_high_watermark", "0"]);
  try {
    await page.click("#publish");
    await page.waitForSelector('#status[data-state="blocked"]', { timeout: 20000 });
    const blockedText = await statusText(page);
    await shot(page, "blocked");
    broker(["set_vm_memory_high_watermark", "0.4"]);
    await page.waitForSelector('#status[data-state="connected"]', { timeout: 20000 });
    await page.waitForFunction((n) => document.querySelectorAll("#pub-log li").length > n &&
      /confirmed in/.test(document.querySelector("#pub-log li").textContent), logged, { timeout: 20000 });
    pass(`memory alarm: "${blockedText}", then unblocked and the waiting publish confirmed`);
  } finally {
    broker(["set_vm_memory_high_watermark", "0.4"]);
  }

  // --- the relay's connections are cut: reconnecting, then live again ------------------------
  await selectWatch(page, "demo.telemetry ▸ #");
  const before = await received(page);
  log(`cut: ${await control("/cut")}`);
  await page.waitForSelector('#status[data-state="reconnecting"]', { timeout: 15000 });
  const during = await statusText(page);
  await shot(page, "reconnecting");
  const cutAt = Date.now();
  await page.waitForSelector('#status[data-state="connected"]', { timeout: 60000 });
  const after0 = await received(page);
  await page.waitForFunction((n) => Number(document.querySelector(".c-received b").textContent.replaceAll(",", "")) >= n + 100,
    after0, { timeout: 30000 });
  pass(`cut: saw "${during}", connected again after ${((Date.now() - cutAt) / 1000).toFixed(1)} s, ` +
    `traffic flowing (${before} → ${await received(page)})`);

  // --- a longer outage: the relay's upstream refuses; attempts count up, "Retry now" ends it ---
  await control("/refuse?on=1");
  try {
    await control("/cut");
    await page.waitForFunction(() => /reconnecting \(attempt [3-9]/.test(document.getElementById("status").textContent),
      null, { timeout: 30000 });
    await page.waitForFunction(() => /next retry in ≈[1-9]\d* s/.test(document.getElementById("status").textContent),
      null, { timeout: 30000 });
    const waiting = await statusText(page);
    await shot(page, "outage");
    await control("/refuse?on=0");
    const retryAt = Date.now();
    await page.click("#retry-now");
    await page.waitForSelector('#status[data-state="connected"]', { timeout: 10000 });
    pass(`outage: "${waiting}"; Retry now reconnected in ${((Date.now() - retryAt) / 1000).toFixed(1)} s`);
  } finally {
    await control("/refuse?on=0").catch(() => {});
  }
  const back = await received(page);
  await page.waitForFunction((n) => Number(document.querySelector(".c-received b").textContent.replaceAll(",", "")) >= n + 100,
    back, { timeout: 30000 });
  pass("traffic flowing again after the outage");

  // --- 5,000 msg/s into one watch: frame rate -------------------------------------------------
  const load = generator(["--rate", String(LOAD_RATE), "--burst-every", "0", "--orders", "0", "--no-rpc", "--quiet",
    "--duration", "60"], "load");
  await page.waitForFunction((r) => window.__dashboard.selected.series.current() >= r * 0.8, LOAD_RATE,
    { timeout: 30000, polling: 250 });
  const m = await page.evaluate(async () => {
    const w = window.__dashboard.selected;
    const n0 = w.total;
    const start = performance.now();
    let frames = 0;
    let worst = 0;
    let last = start;
    await new Promise((done) => {
      function tick(now) {
        frames++;
        worst = Math.max(worst, now - last);
        last = now;
        if (now - start < 5000) requestAnimationFrame(tick);
        else done();
      }
      requestAnimationFrame(tick);
    });
    const secs = (performance.now() - start) / 1000;
    return { fps: frames / secs, worstFrameMs: worst, rate: (w.total - n0) / secs, retained: w.log.length };
  });
  // the retention cap: past 100,000 the oldest go, and the page says so
  await page.waitForFunction(() => {
    const w = window.__dashboard.selected;
    return w.total > w.log.cap && w.log.length === w.log.cap;
  }, null, { timeout: 60000, polling: 500 });
  await page.waitForFunction(() => /keeping the newest 100,000 of/.test(document.getElementById("retained").textContent),
    null, { timeout: 5000 });
  const capped = (await page.textContent("#retained")).trim();
  // still responsive with 100,000 retained: the filter answers while the load runs
  const ft = Date.now();
  await page.fill("#filter", "sensor.syd.power");
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll("#list .msg")].filter((r) => !r.hidden);
    return rows.length > 0 && rows.every((r) => r.querySelector(".k").textContent === "sensor.syd.power");
  }, null, { timeout: 15000 });
  const filterMs = Date.now() - ft;
  await page.fill("#filter", "");
  await shot(page, "load");
  console.log(`FRAME RATE under load: ${m.fps.toFixed(1)} fps (worst frame ${m.worstFrameMs.toFixed(0)} ms) while ` +
    `${Math.round(m.rate)} msg/s arrived in one watch; then "${capped}", and the filter answered over them in ` +
    `${filterMs} ms`);
  if (m.rate < LOAD_RATE * 0.8) throw new Error(`only ${Math.round(m.rate)} msg/s arrived (wanted ${LOAD_RATE})`);
  if (m.fps < 20) throw new Error(`the page does not keep up: ${m.fps.toFixed(1)} fps`);
  pass(`keeps up with ${LOAD_RATE} msg/s: ${m.fps.toFixed(1)} fps`);
  load.kill("SIGTERM");

  // --- the screenshot for the README: an order in the inspector, traffic live ------------------
  await selectWatch(page, "sensor.*.temperature");
  await page.waitForFunction(() => window.__dashboard.selected.series.current() > 0, null, { timeout: 15000 });
  await selectWatch(page, "demo.orders ▸ order.#");
  await page.locator("#list .msg:not([hidden])").nth(1).click();
  await selectWatch(page, "demo.telemetry ▸ #");
  await page.click('.tabs button[data-tab="inspector"]');
  // (for the picture: once the page has settled after the load; not a check)
  await page.waitForFunction(() => window.__dashboard.fps >= 50, null, { timeout: 15000, polling: 250 }).catch(() => {});
  await shot(page, "overview");

  // --- a reload: the form (without the password) and the watches come back --------------------
  const watchNames = await page.$$eval("#watch-list li .name", (els) => els.map((e) => e.textContent));
  await page.reload({ timeout: 30000 });
  if (await page.inputValue("#conn-url") !== WS_URL) throw new Error("the relay URL was not remembered");
  if (await page.inputValue("#conn-name") !== "dashboard test") throw new Error("the connection name was not remembered");
  await page.fill("#conn-password", "guest");
  await page.click("#connect");
  await page.waitForSelector('#status[data-state="connected"]', { timeout: 30000 });
  await page.waitForFunction((n) => document.querySelectorAll("#watch-list li").length === n &&
    [...document.querySelectorAll("#watch-list li .sub")].every((e) => e.textContent.startsWith("live")), watchNames.length,
    { timeout: 30000 });
  const after = await page.$$eval("#watch-list li .name", (els) => els.map((e) => e.textContent));
  if (JSON.stringify(after) !== JSON.stringify(watchNames)) {
    throw new Error(`watches after a reload: ${after} (were ${watchNames})`);
  }
  await page.waitForFunction(() => window.__dashboard.watches.every((w) => w.total > 0), null, { timeout: 30000 });
  pass(`reload: form and ${after.length} watches restored, all receiving`);
}

const deadline = setTimeout(() => {
  console.log("FAIL dashboard: overall time limit (300 s)");
  stopChildren();
  process.exit(1);
}, 300_000);

try {
  await main();
} catch (e) {
  failures++;
  console.log(`FAIL dashboard: ${e.stack || e}`);
  if (browser) {
    const pages = browser.contexts().flatMap((c) => c.pages());
    if (pages[0]) await shot(pages[0], "failure").catch(() => {});
  }
} finally {
  stopChildren();
  await browser?.close().catch(() => {});
  clearTimeout(deadline);
}
console.log(failures ? "dashboard: FAILED" : `dashboard: all checks passed in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
process.exit(failures ? 1 : 0);
