// A small order-processing program written against @cloudamqp/amqp-client 4.1.1 and ported to
// warren by changing only the import below (tests/port/check.sh derives the 4.1.1 original from
// this file by swapping the specifier back and type-checks it against 4.1.1's own types).
//
// It declares a topic exchange with a queue bound to it, publishes orders with publisher
// confirms, processes them in a callback consumer that acks, answers an RPC request through a
// reply-to queue read with `for await`, polls with basicGet, handles a channel error and a
// returned message, and closes everything. Any deviation throws.
import {
  AMQPChannel,
  AMQPConsumer,
  AMQPError,
  AMQPGeneratorConsumer,
  AMQPMessage,
  AMQPWebSocketClient,
} from "warren-amqp";
import type {
  AMQPBaseClient,
  AMQPProperties,
  AMQPWebSocketInit,
  ConsumeParams,
  ExchangeParams,
  Field,
  Logger,
  MessageCount,
  QueueOk,
  QueueParams,
} from "warren-amqp";

type Order = { id: string; amount: number };

const STEP_MS = 10_000;

function check(condition: boolean, what: string): asserts condition {
  if (!condition) throw new Error(`port app: ${what}`);
}

/** `promise`, or a rejection after STEP_MS naming the step. */
function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`port app: timed out: ${what}`)), STEP_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function parseOrder(msg: AMQPMessage): Order {
  const text = msg.bodyToString();
  check(text !== null, "an order has a body");
  return JSON.parse(text) as Order;
}

async function declareTopology(ch: AMQPChannel, exchange: string): Promise<QueueOk> {
  const exParams: ExchangeParams = { durable: false, autoDelete: true };
  await ch.exchangeDeclare(exchange, "topic", exParams);
  // not auto-delete: the queue (and so the exchange) must outlive the consumer
  const qParams: QueueParams = { exclusive: true, autoDelete: false };
  const args: Record<string, Field> = { "x-message-ttl": 60_000 };
  const q = await ch.queueDeclare("", qParams, args);
  await ch.queueBind(q.name, exchange, "order.*");
  return q;
}

async function processOrders(conn: AMQPBaseClient, log: (line: string) => void): Promise<number> {
  const ch = await conn.channel();
  await ch.prefetch(10);
  const exchange = `port.orders.${Date.now().toString(36)}`;
  const q = await declareTopology(ch, exchange);

  const seen: Order[] = [];
  let allIn: () => void = () => {};
  const done = new Promise<void>((resolve) => (allIn = resolve));
  const params: ConsumeParams = { noAck: false, tag: `orders-${q.name}` };
  const consumer: AMQPConsumer = await ch.basicConsume(q.name, params, async (msg: AMQPMessage) => {
    seen.push(parseOrder(msg));
    check(msg.properties.contentType === "application/json", "content type survives");
    check(msg.properties.headers?.["source"] === "port-app", "headers survive");
    await msg.ack();
    if (seen.length === 5) allIn();
  });
  check(consumer.tag === params.tag, "our consumer tag is used");

  const pub = await conn.channel();
  await pub.confirmSelect();
  const props: AMQPProperties = {
    contentType: "application/json",
    deliveryMode: 2,
    headers: { source: "port-app", attempt: 1 },
    timestamp: new Date(),
  };
  let lastSeq = 0;
  for (let i = 0; i < 5; i++) {
    const order: Order = { id: `o${i}`, amount: 10 * i };
    lastSeq = await pub.basicPublish(exchange, "order.created", JSON.stringify(order), props);
  }
  check(lastSeq === 5, `confirm sequence numbers count publishes (got ${lastSeq})`);
  await within(done, "all five orders processed");
  check(seen.map((o) => o.id).join() === "o0,o1,o2,o3,o4", "orders in publish order");
  await within(consumer.cancel(), "cancel the order consumer");
  await within(consumer.wait(), "the cancelled consumer's wait()");

  // a message that matches no binding comes back to onReturn when published mandatory
  let returned: AMQPMessage | undefined;
  pub.onReturn = (msg: AMQPMessage) => (returned = msg);
  await pub.basicPublish(exchange, "invoice.created", "unroutable", {}, true);
  check(returned?.replyCode === 312, "the unroutable message was returned before its confirm");

  await pub.close();
  await ch.close();
  log(`processed ${seen.length} orders`);
  return seen.reduce((sum, o) => sum + o.amount, 0);
}

async function rpcRoundTrip(conn: AMQPBaseClient): Promise<string> {
  const ch = await conn.channel();
  const requests = await ch.queueDeclare("", { exclusive: true });
  const server = await ch.basicConsume(requests.name, { noAck: true }, (req: AMQPMessage) => {
    const replyTo = req.properties.replyTo ?? "";
    void ch.basicPublish("", replyTo, `pong:${req.bodyString()}`, { correlationId: req.properties.correlationId });
  });
  const replies = await ch.queueDeclare("", { exclusive: true });
  const replyConsumer: AMQPGeneratorConsumer = await ch.basicConsume(replies.name, { noAck: true });
  await ch.basicPublish("", requests.name, "ping", { replyTo: replies.name, correlationId: "rpc-1" });
  let answer = "";
  const read = async () => {
    for await (const reply of replyConsumer.messages) {
      check(reply.properties.correlationId === "rpc-1", "the reply carries our correlation id");
      answer = reply.bodyString() ?? "";
      break;
    }
  };
  await within(read(), "the RPC reply");
  await server.cancel();
  await ch.close();
  return answer;
}

async function pollAndErrors(conn: AMQPBaseClient): Promise<MessageCount> {
  const ch = await conn.channel();
  const q = await ch.queueDeclare("", { exclusive: true });
  await ch.basicPublish("", q.name, "first");
  await ch.basicPublish("", q.name, "second");
  const msg = await ch.basicGet(q.name, { noAck: false });
  check(msg !== null && msg.bodyString() === "first", "basicGet returns the first message");
  check(msg.messageCount === 1, "one left behind it");
  await msg.ack();
  const failing = await conn.channel();
  let caught: unknown;
  try {
    await failing.queueDeclare(`port-missing-${Date.now()}`, { passive: true });
  } catch (e) {
    caught = e;
  }
  check(caught instanceof AMQPError, "a missing queue is an AMQPError");
  check(failing.closed, "the failed channel is closed");
  const purged = await ch.queuePurge(q.name);
  await ch.close();
  return purged;
}

/** The whole program; `log` receives progress lines. Resolves when everything checked out. */
export async function runApp(url: string, log: (line: string) => void): Promise<void> {
  const logger: Logger = {
    debug: () => {},
    info: (...args: unknown[]) => log(`info: ${args.join(" ")}`),
    warn: (...args: unknown[]) => log(`warn: ${args.join(" ")}`),
    error: (...args: unknown[]) => log(`error: ${args.join(" ")}`),
  };
  const init: AMQPWebSocketInit = { url, vhost: "/", username: "guest", password: "guest", name: "port app", logger };
  const client = new AMQPWebSocketClient(init);
  const errors: AMQPError[] = [];
  client.onerror = (err: AMQPError) => errors.push(err);
  const conn = await within(client.connect(), "connect");
  check(!conn.closed && conn.vhost === "/", "connected to /");

  const total = await processOrders(conn, log);
  check(total === 100, `order amounts add up (got ${total})`);
  const answer = await rpcRoundTrip(conn);
  check(answer === "pong:ping", `RPC answer (got ${answer})`);
  const purged = await pollAndErrors(conn);
  check(purged.messageCount === 1, "purge counted the message left");

  await conn.close();
  check(client.closed, "closed at the end");
  check(errors.every((e) => e.message.includes("closed")), "only channel-close errors reached onerror");
  log("port app: ok");
}
