// The small app every bundler, runtime and worker kind runs: connect through the WebSocket relay,
// declare a server-named queue, consume with a callback, publish one message, wait for it, close.
// It takes the client class as an argument, so each entry imports warren-amqp its own way (bare
// specifier through a bundler or an import map, require(), a path inside a worker). Every wait is
// bounded: a hang fails with the name of the step that hung.

const STEP_TIMEOUT_MS = 15_000;

function within(promise, what, ms = STEP_TIMEOUT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([Promise.resolve(promise), timeout]).finally(() => clearTimeout(timer));
}

/**
 * @param {Function} AMQPWebSocketClient the class exported by warren-amqp
 * @param {string} url WebSocket URL of the relay
 * @param {string} label who runs it (goes into the message body and the connection name)
 * @returns {Promise<{ok: true, label: string, queue: string, ms: number}>}
 */
export async function roundTrip(AMQPWebSocketClient, url, label) {
  if (typeof AMQPWebSocketClient !== "function") throw new Error("warren-amqp exported no AMQPWebSocketClient");
  const started = Date.now();
  const client = new AMQPWebSocketClient({ url, vhost: "/", username: "guest", password: "guest", name: label });
  let closed = false;
  try {
    const conn = await within(client.connect(), "connect");
    const ch = await within(conn.channel(), "channel");
    const q = await within(ch.queueDeclare("", { exclusive: true }), "queueDeclare");
    let delivered;
    const delivery = new Promise((resolve) => (delivered = resolve));
    await within(ch.basicConsume(q.name, { noAck: true }, (msg) => delivered(msg.bodyString())), "basicConsume");
    const body = `hello from ${label}`;
    await within(ch.basicPublish("", q.name, body, { contentType: "text/plain" }), "basicPublish");
    const got = await within(delivery, "the delivery");
    if (got !== body) throw new Error(`received ${JSON.stringify(got)}, published ${JSON.stringify(body)}`);
    await within(client.close(), "close");
    closed = true;
    return { ok: true, label, queue: q.name, ms: Date.now() - started };
  } finally {
    if (!closed) await within(Promise.resolve().then(() => client.close()), "close after failure", 3_000).catch(() => {});
  }
}

/** A failure as plain data (it crosses postMessage and page.evaluate). */
export function failure(label, error) {
  return { ok: false, label, error: String(error?.stack ?? error) };
}
