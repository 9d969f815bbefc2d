// Shared plumbing for the tutorial pages: loads warren (../../pkg/index.js), connects clients to
// the WebSocket relay, shows progress on the page, bounds every wait, and publishes the verdict
// as document.body.dataset.result / window.__result ("pass" or "fail: reason").
//
// Optional query parameter: ?ws=ws://host:port (default ws://127.0.0.1:15673, user guest).

export const WS_URL = new URLSearchParams(location.search).get("ws") ?? "ws://127.0.0.1:15673";
const SCENARIO_TIMEOUT_MS = 25_000;

const STYLE = `
  body { font-family: system-ui, sans-serif; max-width: 56rem; margin: 1.5rem auto; padding: 0 1rem; color: #1d2430; }
  h1 { font-size: 1.3rem; margin-bottom: 0.25rem; }
  p.about { color: #475467; margin-top: 0.25rem; }
  #status { font-weight: 600; padding: 0.4rem 0.6rem; border-radius: 6px; background: #eef2f6; }
  #status.pass { background: #dcfce7; color: #166534; }
  #status.fail { background: #fee2e2; color: #991b1b; }
  #log { font: 0.85rem/1.45 ui-monospace, monospace; background: #f8fafc; border: 1px solid #d9dde3;
         border-radius: 6px; padding: 0.5rem 0.75rem; white-space: pre-wrap; }
  #log .who { display: inline-block; min-width: 7.5rem; color: #2563eb; }
  a { color: #2563eb; }
`;

function element(tag, attrs = {}, text = "") {
  const e = document.createElement(tag);
  Object.assign(e, attrs);
  if (text) e.textContent = text;
  return e;
}

/** Appends one line to the page's log, tagged with the role that wrote it. */
export function log(who, text) {
  const line = element("div");
  line.append(element("span", { className: "who" }, `[${who}]`), ` ${text}`);
  document.getElementById("log").append(line);
  console.log(`[${who}] ${text}`);
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves like `promise`, or rejects naming `what` if it takes longer than `ms`. */
export function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing happened within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Throws (failing the page) unless `condition` holds. */
export function check(condition, reason) {
  if (!condition) throw new Error(reason);
}

/** A name no other run uses. */
export function unique(what) {
  return `warren-web-${what}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Messages pushed by a consumer callback, taken one at a time with a bounded wait. */
export class Inbox {
  #items = [];
  #waiters = [];

  push = (msg) => {
    const waiter = this.#waiters.shift();
    if (waiter) waiter(msg);
    else this.#items.push(msg);
  };

  next(ms, what) {
    if (this.#items.length > 0) return Promise.resolve(this.#items.shift());
    return within(ms, what, new Promise((resolve) => this.#waiters.push(resolve)));
  }
}

function describe(err) {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Sets up the page (title, description, status, log), loads warren and runs
 * `scenario({ connect, warren })`. `connect(name)` opens a client to WS_URL; every client still
 * open at the end is closed before the verdict is published.
 */
export async function runTutorial(title, about, scenario) {
  document.head.append(element("style", {}, STYLE));
  document.title = `warren tutorial: ${title}`;
  const nav = element("p");
  nav.append(element("a", { href: "./" }, "← all tutorials"));
  document.body.append(
    nav,
    element("h1", {}, title),
    element("p", { className: "about" }, about),
    element("p", { id: "status" }, `running against ${WS_URL} …`),
    element("div", { id: "log" }),
  );

  const clients = [];
  let verdict;
  try {
    // dynamic, so that a package that fails to load is reported like any other failure
    const warren = await within(10_000, "loading ../../pkg/index.js", import("../../pkg/index.js"));
    const connect = async (name) => {
      const client = new warren.AMQPWebSocketClient({
        url: WS_URL,
        vhost: "/",
        username: "guest",
        password: "guest",
        name: `${document.title} (${name})`,
      });
      clients.push(client);
      await within(10_000, `${name}: connect`, client.connect());
      return client;
    };
    await within(SCENARIO_TIMEOUT_MS, "the whole tutorial", scenario({ connect, warren }));
    verdict = "pass";
  } catch (err) {
    console.error(err);
    verdict = `fail: ${describe(err)}`;
  }
  for (const client of clients) {
    if (!client.closed) await within(3_000, "closing", client.close()).catch(() => {});
  }
  const status = document.getElementById("status");
  status.textContent = verdict;
  status.className = verdict === "pass" ? "pass" : "fail";
  window.__result = verdict;
  document.body.dataset.result = verdict;
}
