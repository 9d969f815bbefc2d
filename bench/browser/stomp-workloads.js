// The STOMP anchor's workloads: @stomp/stompjs over RabbitMQ's Web STOMP plugin
// (rabbitmq_web_stomp, ws://127.0.0.1:15674/ws), doing what workloads.js does over AMQP, as
// closely as STOMP allows. Driven by bench.js (?client=stomp), one workload per page load.
//
// What is the same as the AMQP side (and how):
// - the queue: a fresh classic queue per run and workload, non-durable, not auto-delete, not
//   exclusive, x-expires 600000 — declared once through a `/queue/NAME` SUBSCRIBE carrying those
//   headers (then UNSUBSCRIBEd); every SEND and SUBSCRIBE after that names `/amq/queue/NAME`, which
//   declares nothing, so no frame carries declaration headers (the plugin would copy them into
//   every message's headers);
// - the message: the same 16 bytes, as a text body (stompjs's usual path), transient (no
//   `persistent` header), to the default exchange with the queue's name as routing key (what a
//   `/amq/queue/` SEND is);
// - publish (until queued): N SENDs, the last one with a `receipt` header; RabbitMQ's STOMP
//   adapter answers a SEND's receipt once the broker has confirmed that message (publisher
//   confirms inside the adapter), and the queue takes one channel's messages in order, so the
//   receipt says "all N are queued" (the AMQP side polls the queue depth for that);
// - consume, no-ack: `ack: auto` (the adapter's no-ack consumer, no prefetch limit);
// - consume + ack: `ack: client-individual`, `prefetch-count: 1000`, one ACK frame per message
//   (as basic.ack without `multiple` per message);
// - confirmed publish: every SEND with a `receipt` header (= a publisher confirm, see above),
//   at most 1000 without their receipt;
// - RPC: a server connection consuming the request queue (`ack: auto`) and SENDing each request
//   back to its `reply-to`; the client SENDs with `reply-to: /temp-queue/rpc` (an exclusive,
//   auto-delete, server-named reply queue, as the AMQP side's) and `correlation-id`, awaiting
//   each reply before the next.
// Queues are deleted after the measured run (cleanup(), through warren's raw client: STOMP has no
// queue.delete), so publish leaves its messages there until then, as the AMQP side's until its
// queue.delete. stompjs runs without heart-beats (0,0) and never reconnects (reconnectDelay 0).

const PREFETCH = 1000;
const CONFIRM_WINDOW = 1000;
const BODY = "0123456789abcdef"; // 16 B
const QUEUE_HEADERS = { durable: "false", "auto-delete": "false", exclusive: "false", "x-expires": "600000" };

export function makeStompWorkloads({ Client, url, workload, run: RUN }) {
  const declared = []; // queue names, for cleanup()

  function connect() {
    return new Promise((resolve, reject) => {
      const c = new Client({
        brokerURL: url,
        connectHeaders: { login: "guest", passcode: "guest", host: "/" },
        heartbeatIncoming: 0,
        heartbeatOutgoing: 0,
        reconnectDelay: 0,
        onConnect: () => resolve(c),
        onStompError: (f) => {
          const e = new Error(`STOMP ERROR: ${f.headers.message} ${f.body}`);
          c.failed = e;
          reject(e);
        },
        onWebSocketClose: (ev) => {
          const e = new Error(`STOMP WebSocket closed (${ev.code})`);
          if (!c.failed && !c.closing) c.failed = e;
          reject(e);
        },
      });
      c.activate();
    });
  }

  /** Resolves when the broker answers a frame's receipt; rejects if the connection fails first. */
  function receipt(c, id) {
    return new Promise((resolve, reject) => {
      const check = setInterval(() => {
        if (c.failed) {
          clearInterval(check);
          reject(c.failed);
        }
      }, 100);
      c.watchForReceipt(id, () => {
        clearInterval(check);
        resolve();
      });
    });
  }

  async function close(c) {
    c.closing = true;
    await c.deactivate();
  }

  /** Declares a fresh queue (see the top of this file) and returns its `/amq/queue/` name. */
  async function freshQueue(c, suffix) {
    const name = `warren-bench-stomp-${workload}-${suffix}-${RUN}`;
    declared.push(name);
    const done = receipt(c, `declare-${name}`);
    const sub = c.subscribe(`/queue/${name}`, () => {}, { ...QUEUE_HEADERS, receipt: `declare-${name}` });
    await done;
    sub.unsubscribe();
    return `/amq/queue/${name}`;
  }

  /** N SENDs, the last with a receipt: resolves when all N are queued. */
  async function publishAll(c, dest, n) {
    const t0 = performance.now();
    for (let i = 0; i < n - 1; i++) c.publish({ destination: dest, body: BODY });
    const done = receipt(c, `last-${dest}`);
    c.publish({ destination: dest, body: BODY, headers: { receipt: `last-${dest}` } });
    const loop = performance.now() - t0;
    await done;
    return loop;
  }

  /** Consumes n messages; resolves with the seconds from SUBSCRIBE to the n-th message. */
  function consumeN(c, dest, n, ack) {
    return new Promise((resolve, reject) => {
      let got = 0;
      const headers = ack ? { ack: "client-individual", "prefetch-count": String(PREFETCH) } : { ack: "auto" };
      const check = setInterval(() => c.failed && (clearInterval(check), reject(c.failed)), 100);
      const t0 = performance.now();
      const sub = c.subscribe(dest, (m) => {
        if (ack) m.ack();
        if (++got === n) {
          const secs = (performance.now() - t0) / 1000;
          clearInterval(check);
          sub.unsubscribe();
          resolve(secs);
        }
      }, headers);
    });
  }

  const WORKLOADS = {
    async publish(n) {
      const c = await connect();
      const q = await freshQueue(c, n);
      const t0 = performance.now();
      const loopMs = await publishAll(c, q, n);
      const secs = (performance.now() - t0) / 1000;
      await close(c);
      return { seconds: secs, publish_loop_ms: loopMs };
    },

    async consume_ack(n) {
      return consume(n, true);
    },

    async consume_noack(n) {
      return consume(n, false);
    },

    async confirm(n) {
      const c = await connect();
      const q = await freshQueue(c, n);
      let inflight = 0;
      let confirmed = 0;
      let wake = null;
      const settle = () => {
        inflight--;
        confirmed++;
        if (wake) {
          const w = wake;
          wake = null;
          w();
        }
      };
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        while (inflight >= CONFIRM_WINDOW) await new Promise((r) => (wake = r));
        if (c.failed) throw c.failed;
        inflight++;
        const id = `c${i}`;
        c.watchForReceipt(id, settle);
        c.publish({ destination: q, body: BODY, headers: { receipt: id } });
      }
      while (confirmed < n) {
        if (c.failed) throw c.failed;
        await new Promise((r) => {
          wake = r;
          setTimeout(r, 100);
        });
      }
      const secs = (performance.now() - t0) / 1000;
      await close(c);
      return { seconds: secs };
    },

    async rpc(pairs) {
      const server = await connect();
      const rpcQueue = await freshQueue(server, "requests");
      server.subscribe(rpcQueue, (m) => {
        server.publish({ destination: m.headers["reply-to"], body: m.body,
                         headers: { "correlation-id": m.headers["correlation-id"] } });
      }, { ack: "auto" });

      const client = await connect();
      let pending = null;
      // replies to /temp-queue/rpc arrive with `subscription: /temp-queue/rpc`, which no
      // SUBSCRIBE of ours has: stompjs hands them to onUnhandledMessage
      client.onUnhandledMessage = (m) => {
        if (pending && m.headers["correlation-id"] === pending.id) {
          const p = pending;
          pending = null;
          p.resolve();
        }
      };
      const call = (id) =>
        new Promise((resolve) => {
          pending = { id, resolve };
          client.publish({ destination: rpcQueue, body: BODY,
                           headers: { "reply-to": "/temp-queue/rpc", "correlation-id": id } });
        });

      const warm = Math.min(200, Math.ceil(pairs / 10));
      for (let i = 0; i < warm; i++) await call(`w${i}`);
      const lat = new Float64Array(pairs);
      const t0 = performance.now();
      for (let i = 0; i < pairs; i++) {
        const s = performance.now();
        await call(String(i));
        lat[i] = performance.now() - s;
      }
      const total = (performance.now() - t0) / 1000;
      lat.sort();
      const pct = (p) => lat[Math.min(pairs - 1, Math.floor((p / 100) * pairs))];
      await close(client);
      await close(server);
      return { seconds: total, p50_ms: pct(50), p99_ms: pct(99), mean_ms: (total * 1000) / pairs };
    },
  };

  async function consume(n, ack) {
    const c = await connect();
    const q = await freshQueue(c, n);
    await publishAll(c, q, n); // untimed fill
    const secs = await consumeN(c, q, n, ack);
    await close(c);
    return { seconds: secs };
  }

  /** After the measured run (bench.js calls it last): STOMP cannot delete a queue, so the page
   * deletes the ones it declared through warren's raw client, imported only now. */
  WORKLOADS.cleanup = async (lib, wsUrl) => {
    const c = new lib.AMQPWebSocketClient(wsUrl, "/", "guest", "guest");
    await c.connect();
    const ch = await c.channel();
    for (const q of declared) await ch.queueDelete(q);
    await c.close();
  };

  return WORKLOADS;
}
