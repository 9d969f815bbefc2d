// The JS half of the pika interop test, shared by the Deno and Chromium runners.
// Reads the message pika_tool.py published to `inQueue` and checks every JS value exactly (the
// mapping in DESIGN.md), then publishes JS values to `outQueue` for `pika_tool.py check ... js`.

const within = (ms, p, what) =>
  Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`timeout: ${what}`)), ms))]);

function same(a, b) {
  if (a instanceof Date || b instanceof Date) return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  if (a instanceof Uint8Array || b instanceof Uint8Array)
    return a instanceof Uint8Array && b instanceof Uint8Array && a.length === b.length && a.every((x, i) => x === b[i]);
  if (Array.isArray(a) || Array.isArray(b))
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]));
  if (a && b && typeof a === "object" && typeof b === "object") {
    const ka = Object.keys(a).sort(), kb = Object.keys(b).sort();
    return same(ka, kb) && ka.every((k) => same(a[k], b[k]));
  }
  return typeof a === typeof b && Object.is(a, b);
}

const show = (v) => JSON.stringify(v, (_, x) => (typeof x === "bigint" ? `${x}n` : x instanceof Uint8Array ? `bytes[${[...x]}]` : x));

export async function interop(lib, url, inQueue, outQueue) {
  const problems = [];
  const check = (what, got, want) => { if (!same(got, want)) problems.push(`${what}: got ${show(got)} want ${show(want)}`); };
  const client = new lib.AMQPWebSocketClient({ url, username: "guest", password: "guest", name: "interop" });
  const conn = await within(20000, client.connect(), "connect");
  try {
    const ch = await within(20000, conn.channel(), "channel");
    const msg = await within(20000, ch.basicGet(inQueue), "basicGet");
    if (!msg) throw new Error("pika's message is not in the queue");
    await ch.queueDelete(inQueue);
    check("body", msg.body, new Uint8Array([...new TextEncoder().encode("from pika "), 0, 255]));
    const p = msg.properties;
    const want = {
      contentType: "application/json", contentEncoding: "identity", deliveryMode: 2, priority: 0,
      correlationId: "corr-42", replyTo: "reply.queue", expiration: "60000", messageId: "msg-7",
      timestamp: new Date(1700000000 * 1000), type: "interop.kind", userId: "guest", appId: "pika-interop",
      clusterId: "cluster-9",
    };
    for (const [k, v] of Object.entries(want)) check(`properties.${k}`, p[k], v);
    const h = p.headers;
    const wantHeaders = {
      str: "h\u00e9llo \u{1f600}", not_utf8: new Uint8Array([0xff, 0xfe]), bytes: new Uint8Array([0, 1, 0xfe]),
      yes: true, no: false, i8: -5, u8: 200, i16: -300, u16: 60000, i32: -70000, u32: 4000000000,
      i64: 2 ** 40, i64_big: 2n ** 60n, i64_min: -(2n ** 63n), f32: 1.5, f64: -2.25,
      dec: { scale: 2, value: -12345 }, ts: new Date(1700000000 * 1000), void: null,
      arr: [1, "two", [true]], tbl: { k: "v", inner: { deep: 2 ** 33 } },
    };
    check("header keys", Object.keys(h).sort(), Object.keys(wantHeaders).sort());
    for (const [k, v] of Object.entries(wantHeaders)) check(`headers.${k}`, h[k], v);

    await ch.queueDeclare(outQueue, { durable: false, autoDelete: false, exclusive: false });
    await ch.confirmSelect();
    await within(20000, ch.basicPublish("", outQueue, "from warren", {
      contentType: "text/plain", deliveryMode: 2, priority: 0, correlationId: "c-1", replyTo: "r",
      expiration: "600000", messageId: "m-1", timestamp: new Date(1700000000 * 1000), type: "t", userId: "guest",
      appId: "warren", clusterId: "cl",
      headers: {
        str: "h\u00e9llo", yes: true, no: false, int: -7, int_max: 2147483647, beyond_i32: 2 ** 40,
        bigint: 2n ** 60n, bigint_min: -(2n ** 63n), float: 1.5, date: new Date(1700000000 * 1000),
        bytes: new Uint8Array([0, 255]), nil: null, arr: [1, "two", [true]], obj: { k: "v", n: 0.5 },
      },
    }), "confirmed publish");
  } finally {
    await within(20000, conn.close(), "close").catch(() => {});
  }
  if (problems.length) throw new Error(problems.join("\n"));
  return { ok: true };
}
