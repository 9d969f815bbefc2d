// Bad input from JavaScript (issue #13): every exported class member, connection level and
// session level, called with hostile arguments. Each call must throw or reject with a TypeError,
// a RangeError or an AMQPError (or amqp-client's "Short string too long" Error) within a bound,
// never trap (WebAssembly.RuntimeError), never hang and never accept the value. After each row a
// fresh connection does a round trip, since a trap can poison the module for the page.
//
// The table is keyed "Class.member"; `coverage` enumerates the prototypes (and statics), so a
// new member without a row fails the test. Rows are split into a few tests (runAll's per-test
// limit).

const BOUND_MS = 5_000;
const SHORT = "s".repeat(256); // one byte over a short string
const HUGE = "h".repeat(4 << 20); // 4 MB
const cyclic = () => {
  const o = { a: 1 };
  o.self = o;
  return o;
};
const deepArray = () => {
  let a = [];
  for (let i = 0; i < 100_000; i++) a = [a];
  return a;
};
function detach(b) {
  if (typeof b.transfer === "function") b.transfer();
  else structuredClone(b, { transfer: [b] });
  return b;
}
const detached = () => detach(new ArrayBuffer(16));
function detachedView() {
  const b = new ArrayBuffer(16);
  const v = new Uint8Array(b, 4, 8);
  detach(b);
  return v;
}

/** Integers every u16/u32/u64 parameter must refuse. */
const BAD_INTS = () => [-1, 1.5, NaN, Infinity, -Infinity, 2 ** 64, 2 ** 53 + 2, "1", {}, 1n, Symbol("n")];
/** Values no string parameter may take. */
const BAD_STRS = () => [Symbol("s"), 42, {}, SHORT, HUGE];
/** Headers / arguments tables with values RabbitMQ would kill the connection over, or none can encode. */
const BAD_TABLES = () => [
  { n: NaN }, { n: Infinity }, { n: [1, -Infinity] }, { deep: { n: NaN } }, cyclic(), { a: deepArray() },
  { b: 2n ** 64n }, { f() {} }, { s: Symbol("x") }, { d: new Date(NaN) }, { buf: detached() },
  { view: detachedView() }, { huge: HUGE }, "not a table", 42, [1, 2], new Map(), { [SHORT]: 1 },
];
const BAD_PROPS = () => [
  ...BAD_TABLES().map((headers) => ({ headers })),
  { priority: 256 }, { priority: -1 }, { priority: 1.5 }, { deliveryMode: NaN }, { timestamp: "today" },
  { timestamp: new Date(NaN) }, { contentType: SHORT }, { messageId: {} }, "props", 7,
];
const BAD_BODIES = () => [{}, 42, Symbol("b"), detached(), detachedView(), [1, 2]];
const BAD_OPTS = () => [{ signal: "no" }, { signal: {} }, { signal: 1 }];
const BAD_FNS = () => ["f", 1, {}, Symbol("f")];

let counter = 0;
const unique = (p) => `warren-bad-${p}-${Date.now().toString(36)}-${(counter++).toString(36)}`;

function show(v) {
  try {
    if (typeof v === "symbol") return v.toString();
    if (typeof v === "bigint") return `${v}n`;
    if (typeof v === "string") return v.length > 40 ? `"${v.slice(0, 8)}…"(${v.length})` : JSON.stringify(v);
    if (v instanceof ArrayBuffer) return `ArrayBuffer(${v.byteLength}${v.detached ? ", detached" : ""})`;
    if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${v.byteLength})`;
    if (Array.isArray(v)) return `[${v.slice(0, 4).map(show).join(", ")}${v.length > 4 ? ", …" : ""}]`;
    if (v instanceof Error) return `${v.name}: ${v.message}`;
    if (v && typeof v === "object") {
      return `{${Object.keys(v).slice(0, 3).map((k) => `${k.length > 20 ? `${k.slice(0, 4)}…` : k}: ${v[k] === v ? "<cycle>" : show(v[k])}`).join(", ")}}`;
    }
    return String(v);
  } catch {
    return "<?>";
  }
}

function bounded(p, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`hung for ${BOUND_MS} ms: ${what}`), { hung: true })), BOUND_MS);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Whether `e` is an acceptable refusal. */
function acceptable(e) {
  if (e instanceof TypeError || e instanceof RangeError) return true;
  if (e instanceof Error && e.name === "AMQPError") return true;
  return e instanceof Error && /^Short string too long/.test(e.message);
}

/**
 * Calls `fn()` and requires a refusal: a synchronous throw or a rejected promise with an
 * acceptable error. Returns a description of the failure, or undefined.
 */
async function refuses(fn, what) {
  let r;
  try {
    r = fn();
  } catch (e) {
    if (e instanceof WebAssembly.RuntimeError) return `${what}: wasm trap ${e.message}`;
    return acceptable(e) ? undefined : `${what}: threw ${show(e)} (${e?.constructor?.name})`;
  }
  if (!(r instanceof Promise)) return `${what}: accepted, returned ${show(r)}`;
  try {
    const v = await bounded(r, what);
    return `${what}: accepted, resolved to ${show(v)}`;
  } catch (e) {
    if (e?.hung) return e.message;
    if (e instanceof WebAssembly.RuntimeError) return `${what}: wasm trap ${e.message}`;
    return acceptable(e) ? undefined : `${what}: rejected with ${show(e)} (${e?.constructor?.name})`;
  }
}

/** Like `refuses`, but settling either way is fine: only traps, hangs and odd errors fail. */
async function settles(fn, what) {
  let r;
  try {
    r = fn();
  } catch (e) {
    if (e instanceof WebAssembly.RuntimeError) return `${what}: wasm trap ${e.message}`;
    return acceptable(e) ? undefined : `${what}: threw ${show(e)} (${e?.constructor?.name})`;
  }
  if (!(r instanceof Promise)) return undefined;
  try {
    await bounded(r, what);
  } catch (e) {
    if (e?.hung) return e.message;
    if (e instanceof WebAssembly.RuntimeError) return `${what}: wasm trap ${e.message}`;
    if (!acceptable(e)) return `${what}: rejected with ${show(e)} (${e?.constructor?.name})`;
  }
  return undefined;
}

/** A fresh connection's round trip: the module still works. */
async function roundTrip(lib, url, after) {
  const c = new lib.AMQPWebSocketClient({ url, vhost: "/", username: "guest", password: "guest" });
  try {
    await bounded(c.connect(), `connect after ${after}`);
    const ch = await bounded(c.channel(), `channel after ${after}`);
    const q = await bounded(ch.queueDeclare("", { exclusive: true }), `declare after ${after}`);
    await bounded(ch.basicPublish("", q.name, "ok"), `publish after ${after}`);
    const m = await bounded(ch.basicGet(q.name), `get after ${after}`);
    if (m?.bodyString() !== "ok") throw new Error(`round trip after ${after}: got ${show(m?.bodyString())}`);
  } catch (e) {
    throw new Error(`the module no longer works after ${after}: ${show(e)}`);
  } finally {
    await bounded(Promise.resolve().then(() => c.close()), "round-trip close").catch(() => {});
  }
}

/** The objects rows call members on (opened lazily, once per test). */
async function fixtures(lib, url) {
  const client = new lib.AMQPWebSocketClient({ url, vhost: "/", username: "guest", password: "guest", name: "warren bad input" });
  await bounded(client.connect(), "fixture connect");
  const ch = await bounded(client.channel(), "fixture channel");
  const q = (await bounded(ch.queueDeclare("", { exclusive: true }), "fixture queue")).name;
  for (let i = 0; i < 3; i++) await bounded(ch.basicPublish("", q, `m${i}`), "fixture publish");
  const msg = await bounded(ch.basicGet(q, { noAck: false }), "fixture get");
  const msg2 = await bounded(ch.basicGet(q, { noAck: false }), "fixture get 2");
  const msg3 = await bounded(ch.basicGet(q, { noAck: false }), "fixture get 3");
  const consumer = await bounded(ch.basicConsume(q, { noAck: false }, () => {}), "fixture consume");
  return { client, ch, q, msg, msg2, msg3, consumer };
}

async function sessionFixtures(lib, url) {
  const session = await bounded(lib.AMQPSession.connect(url), "session connect");
  const queue = await bounded(session.queue(unique("q"), { autoDelete: true }), "session queue");
  const exchange = await bounded(session.directExchange("amq.direct"), "session exchange");
  const subscription = await bounded(queue.subscribe({ noAck: true }, () => {}), "session subscribe");
  const q2 = await bounded(session.queue(unique("g"), { autoDelete: true }), "session queue 2");
  const generator = await bounded(q2.subscribe({ noAck: true }), "session generator");
  const rpcClient = await bounded(session.rpcClient(), "rpc client");
  const rpcServer = await bounded(session.rpcServer(unique("rpc"), () => "pong"), "rpc server");
  return { session, queue, exchange, subscription, generator, rpcClient, rpcServer };
}

// ---------------------------------------------------------------------------------------------
// the table: "Class.member" → (fixtures) → list of [description, call]. Setters are "Class.set x".

const each = (values, f) => values.map((v) => [show(v), () => f(v)]);

const connectionRows = {
  "AMQPWebSocketClient.constructor": (f, lib) => [
    ...each([undefined, null, 42, {}, { url: 42 }, "http://x", "ws://", Symbol("u")], (v) => new lib.AMQPWebSocketClient(v)),
    ...each(BAD_INTS(), (v) => new lib.AMQPWebSocketClient({ url: "ws://127.0.0.1:1", heartbeat: v })),
    ...each(BAD_INTS(), (v) => new lib.AMQPWebSocketClient({ url: "ws://127.0.0.1:1", channelMax: v })),
    ...each([...BAD_INTS(), 100], (v) => new lib.AMQPWebSocketClient({ url: "ws://127.0.0.1:1", frameMax: v })),
    ...each([-1, NaN, Infinity, "5"], (v) => new lib.AMQPWebSocketClient({ url: "ws://127.0.0.1:1", connectionTimeout: v })),
    ...each([42, {}, Symbol("v")], (v) => new lib.AMQPWebSocketClient({ url: "ws://127.0.0.1:1", vhost: v })),
    ...each([42, [1], {}], (v) => new lib.AMQPWebSocketClient({ url: "ws://127.0.0.1:1", protocols: v })),
    ...each(["SCRAM", 1], (v) => new lib.AMQPWebSocketClient({ url: "ws://127.0.0.1:1", authMechanism: v })),
    ...each([1, "log"], (v) => new lib.AMQPWebSocketClient({ url: "ws://127.0.0.1:1", logger: v })),
    ...each(BAD_INTS(), (v) => new lib.AMQPWebSocketClient("ws://127.0.0.1:1", "/", "guest", "guest", "n", v)),
  ],
  "AMQPWebSocketClient.connect": (f) => each(BAD_OPTS(), (o) => f.fresh().connect(o)),
  "AMQPWebSocketClient.channel": (f) => [
    ...each(BAD_INTS(), (id) => f.client.channel(id)),
    ...each(BAD_OPTS(), (o) => f.client.channel(undefined, o)),
  ],
  "AMQPWebSocketClient.close": (f) => [
    ...each(BAD_INTS(), (code) => f.client.close("bye", code)),
    ...each(BAD_STRS(), (r) => f.client.close(r)),
    ...each(BAD_OPTS(), (o) => f.client.close("bye", 200, o)),
  ],
  "AMQPWebSocketClient.updateSecret": (f) => [
    ...each(BAD_STRS().slice(0, 1), (s) => f.client.updateSecret(s)),
    ...each(BAD_OPTS(), (o) => f.client.updateSecret("x", "r", o)),
  ],
  "AMQPWebSocketClient.[Symbol.asyncDispose]": (f) => [["on a never-connected client", () => f.fresh()[Symbol.asyncDispose]().then(() => { throw new TypeError("(resolved: fine)"); })]],
  "AMQPWebSocketClient.set onerror": (f) => each(BAD_FNS(), (v) => { f.client.onerror = v; }),
  "AMQPWebSocketClient.set onblocked": (f) => each(BAD_FNS(), (v) => { f.client.onblocked = v; }),
  "AMQPWebSocketClient.set onunblocked": (f) => each(BAD_FNS(), (v) => { f.client.onunblocked = v; }),
  "AMQPWebSocketClient.set logger": (f) => each([1, "x", Symbol("l")], (v) => { f.client.logger = v; }),

  "AMQPChannel.exchangeDeclare": (f) => [
    ...each(BAD_STRS(), (n) => f.ch.exchangeDeclare(n, "direct")),
    ...each([42, {}, "no-such-type", SHORT, Symbol("k")], (k) => f.ch.exchangeDeclare(unique("x"), k)),
    ...each([{ durable: "yes" }, { passive: 1 }, "params"], (p) => f.ch.exchangeDeclare(unique("x"), "direct", p)),
    ...each(BAD_TABLES(), (a) => f.ch.exchangeDeclare(unique("x"), "direct", {}, a)),
  ],
  "AMQPChannel.exchangeDelete": (f) => [
    ...each(BAD_STRS(), (n) => f.ch.exchangeDelete(n)),
    ...each([{ ifUnused: "yes" }, 5], (p) => f.ch.exchangeDelete("x", p)),
  ],
  "AMQPChannel.exchangeBind": (f) => [
    ...each(BAD_STRS(), (s) => f.ch.exchangeBind(s, "amq.direct")),
    ...each(BAD_STRS(), (s) => f.ch.exchangeBind("amq.topic", "amq.direct", s)),
    ...each(BAD_TABLES(), (a) => f.ch.exchangeBind("amq.topic", "amq.direct", "k", a)),
  ],
  "AMQPChannel.exchangeUnbind": (f) => [
    ...each(BAD_STRS(), (s) => f.ch.exchangeUnbind("amq.topic", s)),
    ...each(BAD_TABLES(), (a) => f.ch.exchangeUnbind("amq.topic", "amq.direct", "k", a)),
  ],
  "AMQPChannel.queueDeclare": (f) => [
    ...each(BAD_STRS(), (n) => f.ch.queueDeclare(n)),
    ...each([{ durable: "yes" }, { exclusive: 1 }, "params"], (p) => f.ch.queueDeclare("", p)),
    ...each(BAD_TABLES(), (a) => f.ch.queueDeclare("", {}, a)),
  ],
  "AMQPChannel.queueDelete": (f) => [
    ...each(BAD_STRS(), (n) => f.ch.queueDelete(n)),
    ...each([{ ifEmpty: "yes" }, 5], (p) => f.ch.queueDelete("x", p)),
  ],
  "AMQPChannel.queueBind": (f) => [
    ...each(BAD_STRS(), (s) => f.ch.queueBind(s, "amq.direct")),
    ...each(BAD_STRS(), (s) => f.ch.queueBind(f.q, "amq.direct", s)),
    ...each(BAD_TABLES(), (a) => f.ch.queueBind(f.q, "amq.direct", "k", a)),
  ],
  "AMQPChannel.queueUnbind": (f) => [
    ...each(BAD_STRS(), (s) => f.ch.queueUnbind(f.q, s)),
    ...each(BAD_TABLES(), (a) => f.ch.queueUnbind(f.q, "amq.direct", "k", a)),
  ],
  "AMQPChannel.queuePurge": (f) => each(BAD_STRS(), (n) => f.ch.queuePurge(n)),
  "AMQPChannel.basicQos": (f) => [
    ...each(BAD_INTS(), (n) => f.ch.basicQos(n)),
    ...each([...BAD_INTS(), 2 ** 32], (n) => f.ch.basicQos(1, n)),
  ],
  "AMQPChannel.prefetch": (f) => each(BAD_INTS(), (n) => f.ch.prefetch(n)),
  "AMQPChannel.basicPublish": (f) => [
    ...each(BAD_STRS(), (s) => f.ch.basicPublish(s, f.q, "x")),
    ...each(BAD_STRS(), (s) => f.ch.basicPublish("", s, "x")),
    ...each(BAD_BODIES(), (b) => f.ch.basicPublish("", f.q, b)),
    ...each(BAD_PROPS(), (p) => f.ch.basicPublish("", f.q, "x", p)),
    ["64 kB of headers (over frameMax)", () => f.ch.basicPublish("", f.q, "x", { headers: { big: "h".repeat(65536) } })],
    ...each(BAD_OPTS(), (o) => f.ch.basicPublish("", f.q, "x", {}, false, false, o)),
  ],
  "AMQPChannel.basicConsume": (f) => [
    ...each(BAD_STRS(), (s) => f.ch.basicConsume(s, {}, () => {})),
    ...each([{ tag: SHORT }, { tag: 42 }, { noAck: "no" }, { args: cyclic() }, { args: { n: NaN } }, "params"], (p) => f.ch.basicConsume(f.q, p, () => {})),
    ...each(BAD_FNS(), (cb) => f.ch.basicConsume(f.q, {}, cb)),
  ],
  "AMQPChannel.basicGet": (f) => [
    ...each(BAD_STRS(), (s) => f.ch.basicGet(s)),
    ...each([{ noAck: "x" }], (p) => f.ch.basicGet(f.q, p)),
  ],
  "AMQPChannel.basicAck": (f) => each([0, ...BAD_INTS()], (t) => f.ch.basicAck(t)),
  "AMQPChannel.basicNack": (f) => each([0, ...BAD_INTS()], (t) => f.ch.basicNack(t)),
  "AMQPChannel.basicReject": (f) => each([0, ...BAD_INTS()], (t) => f.ch.basicReject(t)),
  "AMQPChannel.basicCancel": (f) => each(BAD_STRS(), (t) => f.ch.basicCancel(t)),
  "AMQPChannel.basicRecover": (f) => each(BAD_OPTS(), (o) => f.ch.basicRecover(true, o)),
  "AMQPChannel.basicFlow": (f) => each(BAD_OPTS(), (o) => f.ch.basicFlow(true, o)),
  "AMQPChannel.confirmSelect": (f) => each(BAD_OPTS(), (o) => f.ch.confirmSelect(o)),
  "AMQPChannel.txSelect": (f) => each(BAD_OPTS(), (o) => f.ch.txSelect(o)),
  "AMQPChannel.txCommit": (f) => each(BAD_OPTS(), (o) => f.ch.txCommit(o)),
  "AMQPChannel.txRollback": (f) => each(BAD_OPTS(), (o) => f.ch.txRollback(o)),
  "AMQPChannel.close": (f) => [
    ...each(BAD_INTS(), (code) => f.ch.close("bye", code)),
    ...each(BAD_STRS(), (r) => f.ch.close(r)),
  ],
  "AMQPChannel.[Symbol.asyncDispose]": (f) => [["twice, concurrently", () => Promise.all([f.ch2[Symbol.asyncDispose](), f.ch2[Symbol.asyncDispose](), f.ch2.close()])]],
  "AMQPChannel.set onerror": (f) => each(BAD_FNS(), (v) => { f.ch.onerror = v; }),
  "AMQPChannel.set onReturn": (f) => each(BAD_FNS(), (v) => { f.ch.onReturn = v; }),

  "AMQPConsumer.wait": (f) => each(BAD_OPTS(), (o) => f.consumer.wait(1, o)),
  "AMQPConsumer.cancel": (f) => each(BAD_OPTS(), (o) => f.consumer.cancel(o)),
  "AMQPConsumer.next": (f) => [["on a callback consumer", () => f.consumer.next()]],
  "AMQPConsumer.return": null, // settles: see `settleRows`
  "AMQPConsumer.throw": (f) => each([new TypeError("mine")], (e) => f.consumer.throw(e)),
  "AMQPConsumer.[Symbol.asyncIterator]": null,
  "AMQPConsumer.[Symbol.asyncDispose]": null,

  // settling twice is a no-op, as in amqp-client (suite.js ackTwiceIsANoop): see settleRows
  "AMQPMessage.ack": null,
  "AMQPMessage.nack": null,
  "AMQPMessage.reject": null,
  "AMQPMessage.cancelConsumer": (f) => each(BAD_OPTS(), (o) => f.msg.cancelConsumer(o)),
  "AMQPMessage.bodyString": null,
  "AMQPMessage.bodyToString": null,
};

const sessionRows = {
  "AMQPSession.connect": (f, lib) => [
    ...each([undefined, 42, {}, "http://x", Symbol("u"), [1]], (u) => lib.AMQPSession.connect(u)),
    ...each([{ heartbeat: -1 }, { heartbeat: 70000 }, { channelMax: 1.5 }, { frameMax: NaN }, { reconnectInterval: -1 },
      { maxRetries: "x" }, { onconnect: 1 }, { logger: 2 }, "opts", { vhost: 5 }], (o) => lib.AMQPSession.connect("ws://127.0.0.1:1", o)),
  ],
  "AMQPSession.queue": (f) => [
    ...each(BAD_STRS(), (n) => f.session.queue(n)),
    ...each([{ durable: "y" }, { arguments: cyclic() }, { arguments: { n: NaN } }, "o", 4], (o) => f.session.queue("", o)),
  ],
  "AMQPSession.exchange": (f) => [
    ...each(BAD_STRS(), (n) => f.session.exchange(n, "direct")),
    ...each([42, "nope", SHORT], (t) => f.session.exchange(unique("x"), t)),
    ...each([{ arguments: cyclic() }, { durable: 3 }], (o) => f.session.exchange(unique("x"), "direct", o)),
  ],
  "AMQPSession.directExchange": (f) => each(BAD_STRS(), (n) => f.session.directExchange(n)),
  "AMQPSession.fanoutExchange": (f) => each(BAD_STRS(), (n) => f.session.fanoutExchange(n)),
  "AMQPSession.topicExchange": (f) => each(BAD_STRS(), (n) => f.session.topicExchange(n)),
  "AMQPSession.headersExchange": (f) => each(BAD_STRS(), (n) => f.session.headersExchange(n)),
  "AMQPSession.rpcCall": (f) => [
    ...each(BAD_STRS(), (q) => f.session.rpcCall(q, "x")),
    ...each(BAD_BODIES(), (b) => f.session.rpcCall("q", b)),
    ...each([{ timeout: -1 }, { timeout: NaN }, { headers: cyclic(), timeout: 1000 }, "o"], (o) => f.session.rpcCall("q", "x", o)),
  ],
  "AMQPSession.rpcServer": (f) => [
    ...each(BAD_STRS(), (q) => f.session.rpcServer(q, () => {})),
    ...each(BAD_FNS(), (h) => f.session.rpcServer(unique("r"), h)),
    ...each(BAD_INTS(), (n) => f.session.rpcServer(unique("r"), () => {}, n)),
  ],
  "AMQPSession.rpcClient": null,
  "AMQPSession.retryNow": null,
  "AMQPSession.stop": null,

  "AMQPQueue.publish": (f) => [
    ...each(BAD_BODIES(), (b) => f.queue.publish(b)),
    ...each(BAD_PROPS(), (p) => f.queue.publish("x", p)),
    ...each([{ confirm: "y" }, "o", 5], (o) => f.queue.publish("x", o)),
  ],
  "AMQPQueue.subscribe": (f) => [
    ...each([{ noAck: "n" }, { prefetch: -1 }, { prefetch: 70000 }, { prefetch: NaN }, { args: cyclic() }, { tag: SHORT }, 5], (p) => f.queue.subscribe(p, () => {})),
    ...each(BAD_FNS(), (cb) => f.queue.subscribe({}, cb)),
  ],
  "AMQPQueue.consumeOne": (f) => each([{ timeout: -1 }, { timeout: NaN }, { timeout: "1" }, { signal: 3 }, 9], (o) => f.queue.consumeOne(o)),
  "AMQPQueue.get": (f) => each([{ noAck: "x" }, 3], (p) => f.queue.get(p)),
  "AMQPQueue.bind": (f) => [
    ...each([...BAD_STRS(), 42, {}], (x) => f.queue.bind(x)),
    ...each(BAD_STRS(), (k) => f.queue.bind("amq.direct", k)),
    ...each(BAD_TABLES(), (a) => f.queue.bind("amq.direct", "k", a)),
  ],
  "AMQPQueue.unbind": (f) => [
    ...each([...BAD_STRS(), 42, {}], (x) => f.queue.unbind(x)),
    ...each(BAD_TABLES().slice(0, 6), (a) => f.queue.unbind("amq.direct", "k", a)),
  ],
  "AMQPQueue.delete": (f) => each([{ ifEmpty: "y" }, 4], (p) => f.queue.delete(p)),
  "AMQPQueue.purge": null,

  "AMQPExchange.publish": (f) => [
    ...each(BAD_BODIES(), (b) => f.exchange.publish(b)),
    ...each(BAD_PROPS().slice(0, 10).map((p) => ({ ...p, routingKey: "k" })), (o) => f.exchange.publish("x", o)),
    ...each([{ routingKey: SHORT }, { routingKey: 5 }, { mandatory: "y" }], (o) => f.exchange.publish("x", o)),
  ],
  "AMQPExchange.bind": (f) => [
    ...each([...BAD_STRS(), 42, {}], (x) => f.exchange.bind(x)),
    ...each(BAD_TABLES().slice(0, 6), (a) => f.exchange.bind("amq.topic", "k", a)),
  ],
  "AMQPExchange.unbind": (f) => each([...BAD_STRS(), 42, {}], (x) => f.exchange.unbind(x)),
  "AMQPExchange.delete": (f) => each([{ ifUnused: "y" }, 4], (p) => f.exchange.delete(p)),

  "AMQPSubscription.cancel": null,
  "AMQPGeneratorSubscription.cancel": null,
  "AMQPGeneratorSubscription.next": null,
  "AMQPGeneratorSubscription.return": null,
  "AMQPGeneratorSubscription.[Symbol.asyncIterator]": null,
  "AMQPRPCClient.call": (f) => [
    ...each(BAD_STRS(), (q) => f.rpcClient.call(q, "x")),
    ...each(BAD_BODIES(), (b) => f.rpcClient.call("q", b)),
    ...each([{ timeout: -1 }, { timeout: NaN }, { timeout: Infinity, signal: 1 }], (o) => f.rpcClient.call("q", "x", o)),
  ],
  "AMQPRPCClient.close": null,
  "AMQPRPCServer.close": null,
};

/** Members whose only misuse is calling them at the wrong time: they must settle, not trap or hang. */
const settleRows = {
  "AMQPConsumer.return": (f) => [["twice, concurrently", () => Promise.all([f.consumer2.return(), f.consumer2.return()])]],
  "AMQPConsumer.[Symbol.asyncIterator]": (f) => [["sync", () => f.consumer[Symbol.asyncIterator]()]],
  "AMQPConsumer.[Symbol.asyncDispose]": (f) => [["twice", () => Promise.all([f.consumer2[Symbol.asyncDispose](), f.consumer2[Symbol.asyncDispose]()])]],
  "AMQPMessage.ack": (f) => [["twice, concurrently", () => Promise.all([f.msg.ack(), f.msg.ack()])]],
  "AMQPMessage.nack": (f) => [["after ack", () => f.msg.nack()]],
  "AMQPMessage.reject": (f) => [["after ack", () => f.msg.reject()]],
  "AMQPMessage.bodyString": (f) => [["", () => f.msg.bodyString()]],
  "AMQPMessage.bodyToString": (f) => [["", () => f.msg.bodyToString()]],
  "AMQPSession.rpcClient": (f) => [["", () => f.session.rpcClient().then((c) => c.close())]],
  "AMQPSession.retryNow": (f) => [["while connected", () => f.session.retryNow()]],
  "AMQPSession.stop": (f) => each([42, {}, Symbol("r")], (r) => f.session2.stop(r)),
  "AMQPQueue.purge": (f) => [["concurrently", () => Promise.all([f.queue.purge(), f.queue.purge()])]],
  "AMQPSubscription.cancel": (f) => [["twice, concurrently", () => Promise.all([f.subscription.cancel(), f.subscription.cancel()])]],
  "AMQPGeneratorSubscription.cancel": (f) => [["twice", () => Promise.all([f.generator.cancel(), f.generator.cancel()])]],
  "AMQPGeneratorSubscription.next": (f) => [["after cancel", () => f.generator.next()]],
  "AMQPGeneratorSubscription.return": (f) => [["after cancel", () => f.generator.return()]],
  "AMQPGeneratorSubscription.[Symbol.asyncIterator]": (f) => [["", () => f.generator[Symbol.asyncIterator]()]],
  "AMQPRPCClient.close": (f) => [["twice, concurrently", () => Promise.all([f.rpcClient2.close(), f.rpcClient2.close()])]],
  "AMQPRPCServer.close": (f) => [["twice, concurrently", () => Promise.all([f.rpcServer.close(), f.rpcServer.close()])]],
};

/** Calls after close: every member of a closed client/channel/consumer/message. */
async function afterCloseRows(f) {
  const calls = [
    ["client.channel", () => f.client.channel()],
    ["client.close", () => f.client.close()],
    ["client.updateSecret", () => f.client.updateSecret("s")],
    ["ch.queueDeclare", () => f.ch.queueDeclare("")],
    ["ch.exchangeDeclare", () => f.ch.exchangeDeclare("x", "direct")],
    ["ch.basicPublish", () => f.ch.basicPublish("", "q", "x")],
    ["ch.basicGet", () => f.ch.basicGet("q")],
    ["ch.basicConsume", () => f.ch.basicConsume("q", {}, () => {})],
    ["ch.basicAck", () => f.ch.basicAck(1)],
    ["ch.basicQos", () => f.ch.basicQos(1)],
    ["ch.confirmSelect", () => f.ch.confirmSelect()],
    ["ch.close", () => f.ch.close()],
    ["msg.ack (unsettled)", () => f.msg.ack()],
    ["msg.nack (unsettled)", () => f.msg2.nack()],
    ["msg.reject (unsettled)", () => f.msg3.reject()],
    ["consumer.wait (ended: settles)", () => f.consumer.wait().then(() => { throw new TypeError("(resolved: fine)"); })],
  ];
  return calls;
}

// free / [Symbol.dispose] are wasm-bindgen's (they release the Rust object; a later call throws
// wasm-bindgen's "null pointer passed to rust"), not part of the amqp-client API
const SKIP = new Set(["constructor", "free", "__destroy_into_raw", "[Symbol.dispose]"]);

/** Every public member of the exported classes: methods, setters, statics. */
function surface(lib, classes) {
  const names = [];
  for (const cls of classes) {
    const C = lib[cls];
    if (typeof C !== "function") throw new Error(`the package does not export ${cls}`);
    names.push(`${cls}.constructor`);
    for (const key of Reflect.ownKeys(C.prototype)) {
      // well-known symbols by identity (Node names Symbol.dispose "nodejs.dispose")
      const name = key === Symbol.dispose ? "[Symbol.dispose]"
        : key === Symbol.asyncDispose ? "[Symbol.asyncDispose]"
        : typeof key === "symbol" ? `[${key.description}]` : key;
      if (SKIP.has(name)) continue;
      const d = Object.getOwnPropertyDescriptor(C.prototype, key);
      if (typeof d.value === "function") names.push(`${cls}.${name}`);
      if (d.set) names.push(`${cls}.set ${name}`);
    }
    for (const key of Object.getOwnPropertyNames(C)) {
      if (["length", "name", "prototype", "__wrap"].includes(key)) continue;
      if (typeof C[key] === "function") names.push(`${cls}.${key}`);
    }
  }
  return names;
}

const CONNECTION_CLASSES = ["AMQPWebSocketClient", "AMQPChannel", "AMQPConsumer", "AMQPMessage"];
const SESSION_CLASSES = ["AMQPSession", "AMQPQueue", "AMQPExchange", "AMQPSubscription", "AMQPGeneratorSubscription", "AMQPRPCClient", "AMQPRPCServer"];
/** Classes only the library makes (`new` on them is not public API): their constructor needs no row. */
const NO_PUBLIC_CTOR = new Set([...CONNECTION_CLASSES.slice(1), ...SESSION_CLASSES]);

async function badInputCoverage(lib) {
  const all = { ...connectionRows, ...sessionRows };
  const missing = surface(lib, [...CONNECTION_CLASSES, ...SESSION_CLASSES])
    .filter((n) => !(n in all) && !(n.endsWith(".constructor") && NO_PUBLIC_CTOR.has(n.split(".")[0])));
  if (missing.length) throw new Error(`members without a bad-input row: ${missing.join(", ")}`);
  // every null row (no hostile arguments) has a settle row
  const unsettled = Object.entries(all).filter(([k, v]) => v === null && !(k in settleRows)).map(([k]) => k);
  if (unsettled.length) throw new Error(`rows without calls: ${unsettled.join(", ")}`);
}

/** Runs rows `keys` of `table` against fresh fixtures; collects every failure. */
async function runRows(lib, url, table, keys, makeFixtures) {
  const failures = [];
  let calls = 0;
  const f = await makeFixtures();
  for (const key of keys) {
    const rows = table[key] ? table[key](f, lib) : settleRows[key](f, lib);
    const check = table[key] ? refuses : settles;
    for (const [what, call] of rows) {
      calls++;
      const fail = await check(call, `${key}(${what})`);
      if (fail) failures.push(fail);
    }
    // a fresh connection's round trip after each row: a trap poisons the module
    try {
      await roundTrip(lib, url, key);
    } catch (e) {
      failures.push(e.message);
      break;
    }
  }
  console.log(`  bad input: ${keys.length} rows, ${calls} calls, ${failures.length} failures`);
  if (failures.length) throw new Error(`${failures.length} bad-input failures:\n  ${failures.join("\n  ")}`);
  return f;
}

function connFixtures(lib, url) {
  return async () => {
    const f = await fixtures(lib, url);
    f.ch2 = await bounded(f.client.channel(), "second channel");
    f.consumer2 = await bounded(f.ch.basicConsume(f.q, { noAck: true }), "iterator consumer");
    f.fresh = () => new lib.AMQPWebSocketClient({ url, vhost: "/", username: "guest", password: "guest" });
    return f;
  };
}

const connKeys = Object.keys(connectionRows);
const half = connKeys.indexOf("AMQPChannel.basicQos");

async function badInputClientAndChannel(lib, url) {
  const f = await runRows(lib, url, connectionRows, connKeys.slice(0, half), connFixtures(lib, url));
  await bounded(f.client.close(), "fixture close").catch(() => {});
}

async function badInputPublishConsumeMessage(lib, url) {
  const keys = [...connKeys.slice(half), ...Object.keys(settleRows).filter((k) => k.startsWith("AMQPConsumer") || k.startsWith("AMQPMessage"))]
    .filter((k, i, a) => a.indexOf(k) === i);
  const table = { ...connectionRows };
  for (const k of keys) if (table[k] === null) delete table[k];
  const f = await runRows(lib, url, table, keys, connFixtures(lib, url));
  await bounded(f.client.close(), "fixture close").catch(() => {});
}

async function badInputSession(lib, url) {
  const keys = Object.keys(sessionRows);
  const table = { ...sessionRows };
  for (const k of keys) if (table[k] === null) delete table[k];
  const make = async () => {
    const f = await sessionFixtures(lib, url);
    f.rpcClient2 = await bounded(f.session.rpcClient(), "rpc client 2");
    f.session2 = await bounded(lib.AMQPSession.connect(url), "session 2");
    return f;
  };
  const f = await runRows(lib, url, table, keys, make);
  await bounded(f.session.stop(), "session stop").catch(() => {});
}

/** Calls after close and a close racing other calls. */
async function badInputAfterAndDuringClose(lib, url) {
  const f = await connFixtures(lib, url)();
  // concurrent close: a close racing another close and a publish
  const racing = [f.client.close(), f.client.close(), f.ch.basicPublish("", f.q, "x"), f.ch.queueDeclare("")];
  const failures = [];
  for (const [i, p] of racing.entries()) {
    const fail = await settles(() => p, `concurrent close, call ${i}`);
    if (fail) failures.push(fail);
  }
  for (const [what, call] of await afterCloseRows(f)) {
    const fail = await refuses(call, `after close: ${what}`);
    if (fail) failures.push(fail);
  }
  await roundTrip(lib, url, "calls after close");
  if (failures.length) throw new Error(`${failures.length} failures:\n  ${failures.join("\n  ")}`);
}

badInputSession.limitMs = 60_000;

export const badInputTests = [
  badInputCoverage,
  badInputClientAndChannel,
  badInputPublishConsumeMessage,
  badInputAfterAndDuringClose,
  badInputSession,
];
