// warren's additions a 4.1.1 program does not have (so they are not in app.ts): `await using`
// closes the client, and `{ signal }` aborts a wait. Type-checked and run like app.ts.
import { AMQPWebSocketClient } from "warren-amqp";
import type { AMQPChannel } from "warren-amqp";

function check(condition: boolean, what: string): asserts condition {
  if (!condition) throw new Error(`extras: ${what}`);
}

export async function disposeAndAbort(url: string, log: (line: string) => void): Promise<void> {
  let kept: AMQPWebSocketClient | undefined;
  let channel: AMQPChannel | undefined;
  {
    await using client = await new AMQPWebSocketClient({ url, name: "port extras" }).connect();
    kept = client;
    channel = await client.channel();
    const q = await channel.queueDeclare("", { exclusive: true });
    const consumer = await channel.basicConsume(q.name, { noAck: true }, () => {});
    const ac = new AbortController();
    const waiting = consumer.wait(undefined, { signal: ac.signal });
    ac.abort();
    let aborted = false;
    try {
      await waiting;
    } catch (e) {
      aborted = e instanceof Error && e.name === "AbortError";
    }
    check(aborted, "an aborted wait() rejects with an AbortError");
    await using _cancelOnExit = consumer;
    check(!client.closed, "open inside the block");
  }
  check(kept.closed === true, "`await using` closed the connection");
  check(channel.closed === true, "and its channels");
  log("extras: ok");
}
