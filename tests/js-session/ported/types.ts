// Compile-time checks of the session typings (deno check; never run): the generic parser/coder
// threading of AMQPSession<P, C, KP, KC>, as in amqp-client 4.1.1. Every @ts-expect-error line
// must fail to type-check, every other line must pass.
import {
  AMQPSession,
  builtinCoders,
  builtinParsers,
  type AMQPParser,
  type AMQPQueueLike,
  type AMQPSessionMessage,
} from "../../../pkg/index.js";

export async function typed(url: string): Promise<void> {
  // no codecs: bodies are bytes or strings
  const plain = await AMQPSession.connect(url);
  const pq = await plain.queue("q");
  await pq.publish("text");
  await pq.publish(new Uint8Array([1]));
  await pq.publish(null);
  // @ts-expect-error without parsers an object is not a body
  await pq.publish({ a: 1 });
  const m = await pq.get();
  const bytes: Uint8Array | null | undefined = m?.body;
  void bytes;

  // JSON by default
  const s = await AMQPSession.connect(url, {
    parsers: builtinParsers,
    coders: builtinCoders,
    defaultContentType: "application/json",
    defaultContentEncoding: "gzip",
  });
  const q = await s.queue("q");
  await q.publish({ any: ["json", 1, true, null] });
  await q.publish("plain", { contentType: "text/plain" });
  // @ts-expect-error text/plain takes a string
  await q.publish(42, { contentType: "text/plain" });
  // @ts-expect-error a content type without a parser
  await q.publish("x", { contentType: "text/csv" });
  // @ts-expect-error Date is not JSON-serializable
  await q.publish(new Date());
  const sub = await q.subscribe({ prefetch: 10 }, (msg: AMQPSessionMessage<typeof builtinParsers>) => {
    const body: unknown = msg.body;
    void body;
  });
  await sub.cancel();
  for await (const msg of await q.subscribe()) {
    void msg.body;
    break;
  }
  const x = await s.topicExchange("t");
  await x.publish({ k: 1 }, { routingKey: "a.b" });
  const reply = await s.rpcCall("rpc", { n: 1 }, { timeout: 1000 });
  void reply.body;
  await s.rpcServer("rpc", (req) => ({ echoed: String(req.body) }));
  // @ts-expect-error the default coder name must be a registered one
  await AMQPSession.connect(url, { coders: builtinCoders, defaultContentEncoding: "br" });

  // a custom parser's input type flows into publish
  const csv: AMQPParser<string[][], string[][]> = {
    serialize: (rows) => new TextEncoder().encode(rows.map((r) => r.join(",")).join("\n")),
    parse: (b) => new TextDecoder().decode(b).split("\n").map((l) => l.split(",")),
  };
  const c = await AMQPSession.connect(url, { parsers: { "text/csv": csv }, defaultContentType: "text/csv" });
  const cq = await c.queue("csv");
  await cq.publish([["a", "b"]]);
  // @ts-expect-error rows, not a string
  await cq.publish("a,b");
  const like: AMQPQueueLike = cq;
  void like;
}
