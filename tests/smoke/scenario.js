// The smoke scenario shared by the Chromium run (smoke.html + smoke.js) and the Deno run
// (deno.ts): connect through the WebSocket relay, declare a server-named queue, publish with
// headers (one of them a BigInt), consume and ack, check the queue is empty, close.
// Every wait is bounded, so a hang fails instead of blocking.

const STEP_TIMEOUT_MS = 20_000;

function within(promise, what, ms = STEP_TIMEOUT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([Promise.resolve(promise), timeout]).finally(() => clearTimeout(timer));
}

function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${what}`);
}

const show = (v) => (typeof v === "bigint" ? `${v}n` : JSON.stringify(v));

/**
 * Runs the scenario; resolves to a summary object, rejects with a descriptive Error.
 * @param {Function} AMQPWebSocketClient the class exported by warren-amqp
 * @param {string} url WebSocket URL of the broker (relay)
 * @param {(line: string) => void} log progress output
 */
export async function smoke(AMQPWebSocketClient, url = "ws://127.0.0.1:15673", log = () => {}) {
  const started = Date.now();
  const client = new AMQPWebSocketClient({
    url,
    vhost: "/",
    username: "guest",
    password: "guest",
    name: "smoke",
  });
  let closed = false;
  try {
    const conn = await within(client.connect(), "connect");
    log(`connected to ${url}`);
    const ch = await within(conn.channel(), "open channel");
    // autoDelete: false, because leaving the for-await loop may cancel the consumer (as in
    // @cloudamqp/amqp-client), which would delete an auto-delete queue before basicGet.
    // Exclusive: it goes away with the connection.
    const q = await within(ch.queueDeclare("", { exclusive: true, autoDelete: false }), "queueDeclare");
    check(typeof q.name === "string" && q.name.length > 0, `server-named queue, got ${show(q.name)}`);
    check(q.messageCount === 0, `new queue is empty, got messageCount ${show(q.messageCount)}`);
    log(`declared ${q.name}`);

    const big = 2n ** 60n;
    await within(
      ch.basicPublish("", q.name, "hello", { contentType: "text/plain", headers: { n: 1, big } }),
      "basicPublish",
    );
    log("published");

    const consumer = await within(ch.basicConsume(q.name, { noAck: false }), "basicConsume");
    const delivery = await within(
      (async () => {
        for await (const msg of consumer) {
          check(msg.bodyString() === "hello", `body "hello", got ${show(msg.bodyString())}`);
          check(msg.body instanceof Uint8Array && msg.body.length === 5, "body is a 5-byte Uint8Array");
          check(msg.exchange === "", `exchange "", got ${show(msg.exchange)}`);
          check(msg.routingKey === q.name, `routingKey ${q.name}, got ${show(msg.routingKey)}`);
          const p = msg.properties;
          check(p.contentType === "text/plain", `contentType text/plain, got ${show(p.contentType)}`);
          check(p.headers?.n === 1, `headers.n === 1, got ${show(p.headers?.n)}`);
          check(p.headers?.big === big, `headers.big === 2n**60n, got ${show(p.headers?.big)}`);
          await within(msg.ack(), "ack");
          return { deliveryTag: String(msg.deliveryTag), headers: Object.keys(p.headers).sort() };
        }
        throw new Error("consumer ended before the first delivery");
      })(),
      "first delivery",
    );
    log(`consumed and acked delivery ${delivery.deliveryTag}`);

    const left = await within(ch.basicGet(q.name, { noAck: true }), "basicGet");
    check(left === null, `basicGet after ack returns null, got ${show(left?.bodyString?.())}`);

    await within(client.close(), "close");
    closed = true;
    log("closed");
    return { ok: true, queue: q.name, ...delivery, ms: Date.now() - started };
  } finally {
    if (!closed) {
      await within(Promise.resolve().then(() => client.close()), "close after failure", 5_000).catch(() => {});
    }
  }
}
