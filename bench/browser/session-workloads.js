// warren's session API (AMQPSession, AMQPQueue, subscriptions) running the workloads that
// workloads.js runs on the raw channel, for the session-overhead rows. Driven by bench.js
// (?client=warren-session), one workload per page load, over the same relay.
//
// Each workload does what its raw-channel twin does, through the session:
// - publish (until queued): `await queue.publish(body, { confirm: false })` N times (an unconfirmed
//   publish goes over the session's channel without confirm mode, as on the raw channel), then the queue depth is polled (passive
//   queue.declare, back to back) until it reports N — on a raw connection of the same page opened
//   beforehand, since a session handle has no passive declare;
// - confirmed publish: `queue.publish(body)` (the default: resolves on the broker's confirm),
//   at most 1000 unresolved;
// - consume + ack: `queue.subscribe({ prefetch: 1000 }, callback)` (acked when the callback
//   returns: the session's own ack, one basic.ack per message);
// - consume, no-ack: `queue.subscribe({ noAck: true }, callback)`.
// Publishes pass deliveryMode 1 (transient; the session always sets that property, by default 2,
// persistent), so its messages differ from the raw workload's by that one property byte only.
// The queue is the same kind (transient, non-exclusive, x-expires 600000), declared through
// `session.queue()` and deleted at the end; fills are untimed (on the raw connection).

const PREFETCH = 1000;
const CONFIRM_WINDOW = 1000;
const BODY = new TextEncoder().encode("0123456789abcdef"); // 16 B

export function makeSessionWorkloads({ lib, url, workload, run: RUN }) {
  async function open() {
    const session = await lib.AMQPSession.connect(url);
    const raw = new lib.AMQPWebSocketClient(url, "/", "guest", "guest");
    await raw.connect();
    const ch = await raw.channel();
    return { session, raw, ch };
  }

  async function freshQueue(o, suffix) {
    const name = `warren-bench-session-${workload}-${suffix}-${RUN}`;
    await o.ch.queueDelete(name);
    return o.session.queue(name, { durable: false, autoDelete: false, exclusive: false, arguments: { "x-expires": 600000 } });
  }

  async function untilQueued(ch, name, n) {
    for (;;) {
      const ok = await ch.queueDeclare(name, { passive: true });
      if (ok.messageCount >= n) return;
    }
  }

  async function finish(o, q) {
    await q.delete();
    await o.session.stop();
    await o.raw.close();
  }

  const WORKLOADS = {
    async publish(n) {
      const o = await open();
      const q = await freshQueue(o, n);
      const t0 = performance.now();
      for (let i = 0; i < n; i++) await q.publish(BODY, { confirm: false, deliveryMode: 1 });
      const loopMs = performance.now() - t0;
      await untilQueued(o.ch, q.name, n);
      const secs = (performance.now() - t0) / 1000;
      await finish(o, q);
      return { seconds: secs, publish_loop_ms: loopMs };
    },

    async confirm(n) {
      const o = await open();
      const q = await freshQueue(o, n);
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
        q.publish(BODY, { deliveryMode: 1 }).then(settle, fail);
      }
      while (confirmed < n) await new Promise((r) => (wake = r));
      const secs = (performance.now() - t0) / 1000;
      if (failed) throw failed;
      await finish(o, q);
      return { seconds: secs };
    },

    async consume_ack(n) {
      return consume(n, false);
    },

    async consume_noack(n) {
      return consume(n, true);
    },
  };

  async function consume(n, noAck) {
    const o = await open();
    const q = await freshQueue(o, n);
    for (let i = 0; i < n; i++) await o.ch.basicPublish("", q.name, BODY); // untimed fill
    await untilQueued(o.ch, q.name, n);
    let done;
    const finished = new Promise((r) => (done = r));
    let got = 0;
    const t0 = performance.now();
    const sub = await q.subscribe(noAck ? { noAck: true } : { prefetch: PREFETCH }, () => {
      if (++got === n) done();
    });
    await finished;
    const secs = (performance.now() - t0) / 1000;
    await sub.cancel();
    await finish(o, q);
    return { seconds: secs };
  }

  return WORKLOADS;
}
