// Heartbeats in a hidden tab (issue #13): Chromium throttles the timers of hidden pages (one
// wake-up per second, then once a minute after 5 minutes: "intensive throttling"), while
// WebSocket message events still arrive. Warren must keep sending heartbeats anyway, or the
// broker drops the connection after two missed intervals.
//
// The test imitates intensive throttling in any runtime: while it idles, every setTimeout the
// page (warren included) starts waits at least a minute. A build whose heartbeats ride on
// setTimeout alone sends nothing for that minute and RabbitMQ (heartbeat 5 s) closes the
// connection after ~10-15 s: the test then fails. Warren runs the engine's due deadlines whenever
// the driver wakes, and the broker's own heartbeats (every 2.5 s) wake it.

const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;

/** While `fn` runs, setTimeout delays are at least `minMs` (the test's own waits use the real one). */
async function throttled(minMs, fn) {
  globalThis.setTimeout = (cb, ms, ...args) => realSetTimeout(cb, Math.max(Number(ms) || 0, minMs), ...args);
  try {
    return await fn();
  } finally {
    globalThis.setTimeout = realSetTimeout;
  }
}

function bounded(p, what, ms = 10_000) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = realSetTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([p, t]).finally(() => realClearTimeout(timer));
}

const IDLE_MS = 25_000;

async function heartbeatsWhileTimersAreThrottled(lib, url) {
  const client = new lib.AMQPWebSocketClient({ url, vhost: "/", username: "guest", password: "guest", heartbeat: 5, name: "warren hidden tab" });
  try {
    await bounded(client.connect(), "connect");
    if (client.heartbeat !== 5) throw new Error(`negotiated heartbeat ${client.heartbeat}, wanted 5`);
    let error;
    client.onerror = (e) => { error = e; };
    const ch = await bounded(client.channel(), "channel");
    const t0 = Date.now();
    await throttled(60_000, async () => {
      // idle on purpose (the point of the test), with warren's timers throttled to a minute;
      // polled on the real timer so a drop fails fast
      while (Date.now() - t0 < IDLE_MS && error === undefined && !client.closed) {
        await new Promise((resolve) => realSetTimeout(resolve, 500));
      }
    });
    const ms = Date.now() - t0;
    if (error !== undefined || client.closed) {
      throw new Error(`connection lost after ${ms} ms with throttled timers: ${error?.message ?? "closed"}`);
    }
    const q = await bounded(ch.queueDeclare("", { exclusive: true }), "declare after idling");
    await bounded(ch.basicPublish("", q.name, "alive"), "publish after idling");
    const m = await bounded(ch.basicGet(q.name), "get after idling");
    if (m?.bodyString() !== "alive") throw new Error(`round trip after idling: ${m?.bodyString()}`);
  } finally {
    await bounded(Promise.resolve().then(() => client.close()), "close", 5_000).catch(() => {});
  }
}
heartbeatsWhileTimersAreThrottled.limitMs = IDLE_MS + 30_000;

export const hiddenTabTests = [heartbeatsWhileTimersAreThrottled];
