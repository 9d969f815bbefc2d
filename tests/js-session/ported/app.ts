// A small order-processing service written against @cloudamqp/amqp-client 4.1.1's session API,
// ported to warren-amqp by changing the import only. Type-checked (deno check) and run by
// run-ported.ts: it declares its topology, serves a pricing RPC, consumes orders as JSON with
// gzip compression, and reports what it did.
import {
  AMQPSession,
  builtinCoders,
  builtinParsers,
  type AMQPSessionLike,
} from "../../../pkg/index.js";

export type Order = {
  id: number;
  item: string;
  qty: number;
};

export async function runApp(url: string): Promise<{ processed: number[]; quotes: number[] }> {
  const session = await AMQPSession.connect(url, {
    reconnectInterval: 200,
    maxReconnectInterval: 2_000,
    parsers: builtinParsers,
    coders: builtinCoders,
    defaultContentType: "application/json",
    logger: null,
    ondisconnect: (err) => console.log(`disconnected: ${err?.message}`),
    onconnect: (s) => console.log(`connected (closed=${s.closed})`),
  });
  const mockable: AMQPSessionLike = session; // the ...Like interfaces accept the real thing
  void mockable;

  const orders = await session.topicExchange(`ported.orders.${Date.now()}`, { durable: false, autoDelete: true });
  const queue = await session.queue("", { exclusive: true });
  await queue.bind(orders, "order.#");

  const pricing = `ported.pricing.${Date.now()}`;
  const server = await session.rpcServer(pricing, (msg) => {
    const order = msg.body as Order;
    return { price: order.qty * 10 };
  });

  const processed: number[] = [];
  let done: () => void = () => {};
  const allDone = new Promise<void>((r) => (done = r));
  const quotes: number[] = [];
  const sub = await queue.subscribe({ prefetch: 5 }, async (msg) => {
    const order = msg.body as Order;
    const quote = await session.rpcCall(pricing, order, { timeout: 5_000 });
    quotes.push((quote.body as { price: number }).price);
    processed.push(order.id);
    if (processed.length === 3) done();
  });

  for (const [id, item, qty] of [[1, "apple", 3], [2, "pear", 1], [3, "plum", 7]] as const) {
    const order: Order = { id, item, qty };
    await orders.publish(order, { routingKey: `order.${item}`, contentEncoding: "gzip" });
  }
  await allDone;
  await sub.cancel();
  await server.close();
  await session.stop();
  return { processed, quotes };
}
