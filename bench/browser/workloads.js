// The benchmark workloads, written once for every runner: the browser page (bench.js, over
// WebSocket) and the Deno/Node runner (../tcpjs/run.mjs, over TCP). `makeWorkloads` takes how to
// open a connection of the library under test (`connect(Client)` resolves to a connected client)
// and names queues after `workload` and `run`. Only the API both libraries share is used.
// The memory workloads (browser only) also take `probe(label)`: it collects garbage and resolves
// to the page's memory figures at that point (bench.js).

const PREFETCH = 1000;
const CONFIRM_WINDOW = 1000;
const BODY = new TextEncoder().encode("0123456789abcdef"); // 16 B

// `rpcCalls` (optional, diagnostics): an array the RPC workload appends [start, end] of each timed call to.
export function makeWorkloads({ connect, workload, run: RUN, probe, rpcCalls }) {
  /** A fresh, empty, transient, non-exclusive queue named for this run and workload. Deleted at the
   * end of the workload; x-expires removes it from the broker if the page dies before that. */
  async function freshQueue(ch, suffix) {
    const q = `warren-bench-${workload}-${suffix}-${RUN}`;
    await ch.queueDelete(q);
    await ch.queueDeclare(q, { durable: false, autoDelete: false, exclusive: false }, { "x-expires": 600000 });
    return q;
  }

  /** Polls the queue depth (passive declare) until it holds at least n messages. */
  async function untilQueued(ch, q, n) {
    for (;;) {
      const ok = await ch.queueDeclare(q, { passive: true });
      if (ok.messageCount >= n) return;
    }
  }

  /** Publishes n messages, awaiting each publish as an application would, then waits until all
   * are queued. Returns how long the publish loop itself took (ms), for diagnostics. */
  async function publishAll(ch, q, n) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      await ch.basicPublish("", q, BODY);
    }
    const loop = performance.now() - t0;
    await untilQueued(ch, q, n);
    return loop;
  }

  // --- workloads: each returns seconds for n messages ---------------------------------------------

  const WORKLOADS = {
    async publish(Client, n) {
      const c = await connect(Client);
      const ch = await c.channel();
      const q = await freshQueue(ch, n);
      const t0 = performance.now();
      const loopMs = await publishAll(ch, q, n);
      const secs = (performance.now() - t0) / 1000;
      await ch.queueDelete(q);
      await c.close();
      return { seconds: secs, publish_loop_ms: loopMs };
    },

    async consume_ack(Client, n) {
      return consume(Client, n, false);
    },

    async consume_noack(Client, n) {
      return consume(Client, n, true);
    },

    async confirm(Client, n) {
      const c = await connect(Client);
      const ch = await c.channel();
      const q = await freshQueue(ch, n);
      await ch.confirmSelect();
      let inflight = 0;
      let confirmed = 0;
      let wake = null;
      let failed = null;
      const settle = () => {
        inflight--;
        confirmed++;
        if (wake) {
          const w = wake;
          wake = null;
          w();
        }
      };
      const fail = (e) => {
        failed = e;
        settle();
      };
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        while (inflight >= CONFIRM_WINDOW) await new Promise((r) => (wake = r));
        if (failed) throw failed;
        inflight++;
        ch.basicPublish("", q, BODY).then(settle, fail);
      }
      while (confirmed < n) await new Promise((r) => (wake = r));
      const secs = (performance.now() - t0) / 1000;
      if (failed) throw failed;
      await ch.queueDelete(q);
      await c.close();
      return { seconds: secs };
    },

    async rpc(Client, pairs) {
      // Server and client on connections of their own, both from the library under test.
      const server = await connect(Client);
      const sch = await server.channel();
      const rpcQueue = await freshQueue(sch, "requests");
      await sch.basicConsume(rpcQueue, { noAck: true }, (msg) => {
        const p = msg.properties;
        sch.basicPublish("", p.replyTo, msg.body, { correlationId: p.correlationId });
      });

      const client = await connect(Client);
      const cch = await client.channel();
      const { name: replyQueue } = await cch.queueDeclare("", { exclusive: true, autoDelete: true });
      let pending = null;
      await cch.basicConsume(replyQueue, { noAck: true }, (msg) => {
        if (pending && msg.properties.correlationId === pending.id) {
          const p = pending;
          pending = null;
          p.resolve();
        }
      });
      const call = (id) =>
        new Promise((resolve) => {
          pending = { id, resolve };
          cch.basicPublish("", rpcQueue, BODY, { replyTo: replyQueue, correlationId: id });
        });

      const warm = Math.min(200, Math.ceil(pairs / 10));
      for (let i = 0; i < warm; i++) await call(`w${i}`);
      const lat = new Float64Array(pairs);
      const t0 = performance.now();
      for (let i = 0; i < pairs; i++) {
        const s = performance.now();
        await call(String(i));
        const e = performance.now();
        lat[i] = e - s;
        rpcCalls?.push([s, e]);
      }
      const total = (performance.now() - t0) / 1000;
      lat.sort();
      const pct = (p) => lat[Math.min(pairs - 1, Math.floor((p / 100) * pairs))];
      await sch.queueDelete(rpcQueue);
      await client.close();
      await server.close();
      return { seconds: total, p50_ms: pct(50), p99_ms: pct(99), mean_ms: (total * 1000) / pairs };
    },
  };

  /** Memory per idle connection: one connection opened (and kept) first so that one-time costs
   * are not counted, a probe, then `n` more connections opened and left idle (no channel), a
   * second probe a second later. Returns both probes; bench.py divides the difference by n. */
  async function memoryIdle(Client, n) {
    const first = await connect(Client);
    const before = await probe("before");
    const conns = [];
    for (let i = 0; i < n; i++) conns.push(await connect(Client));
    await new Promise((r) => setTimeout(r, 1000));
    const after = await probe("after");
    for (const c of conns) await c.close();
    await first.close();
    return { seconds: 0, count: n, before, after };
  }

  /** Memory per buffered message: a consumer without a callback (an async iterator nobody reads
   * yet) on a queue of `n` messages. A first batch of n is consumed through the iterator
   * (warming the code paths), then the queue is filled again (untimed), probed, consumed with
   * noAck until the broker has sent everything (queue depth 0) plus half a second, probed again,
   * and only then read: how long reading the n messages takes shows they were all buffered. */
  async function memoryBuffered(Client, n) {
    const c = await connect(Client);
    const ch = await c.channel();
    const q = await freshQueue(ch, n);
    const drain = async (consumer) => {
      let got = 0;
      for await (const _msg of consumer.messages) {
        if (++got === n) break;
      }
    };
    await publishAll(ch, q, n);
    const warm = await ch.basicConsume(q, { noAck: true });
    await drain(warm);
    await warm.cancel().catch(() => {});
    const ch2 = await c.channel();
    await publishAll(ch2, q, n);
    const before = await probe("before");
    const consumer = await ch2.basicConsume(q, { noAck: true });
    for (;;) {
      const ok = await ch.queueDeclare(q, { passive: true });
      if (ok.messageCount === 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 500));
    const after = await probe("after");
    const t0 = performance.now();
    await drain(consumer);
    const readMs = performance.now() - t0;
    await consumer.cancel().catch(() => {});
    await ch.queueDelete(q);
    await c.close();
    return { seconds: 0, count: n, before, after, read_ms: readMs };
  }

  if (probe) {
    WORKLOADS.memory_idle = memoryIdle;
    WORKLOADS.memory_buffered = memoryBuffered;
  }

  async function consume(Client, n, noAck) {
    const c = await connect(Client);
    const ch = await c.channel();
    const q = await freshQueue(ch, n);
    await publishAll(ch, q, n); // untimed fill
    if (!noAck) await ch.prefetch(PREFETCH);
    let done;
    const finished = new Promise((r) => (done = r));
    let got = 0;
    const t0 = performance.now();
    const consumer = await ch.basicConsume(q, { noAck }, (msg) => {
      if (!noAck) msg.ack();
      if (++got === n) done();
    });
    await finished;
    const secs = (performance.now() - t0) / 1000;
    await consumer.cancel();
    await ch.queueDelete(q);
    await c.close();
    return { seconds: secs };
  }


  return WORKLOADS;
}
