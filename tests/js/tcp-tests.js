// Tests only AMQPClient has (run by run-tcp.mjs after suite.js): a refused port, a handshake that
// times out, read backpressure, TLS verification on by default, SASL EXTERNAL with a client
// certificate. `lib.ctx` is the runner's
// { url, secure, read(file) (from the test CA dir), tlsOptions, runtime, listenSilent() }.
import { checkReadBackpressure, helpers } from "./suite.js";

const { within, assert, rejects, show, unique, live } = helpers;

/** The runner's URL with another path/query (credentials kept as given). */
function withQuery(url, query) {
  const u = new URL(url);
  return `${u.protocol}//${u.username ? `${u.username}:${u.password}@` : ""}${u.host}/%2f${query}`;
}

async function roundTrip(client, what) {
  const ch = await within(client.channel(), `${what}: channel`);
  const q = await within(ch.queueDeclare(unique("tcp"), { exclusive: true }), `${what}: declare`);
  await within(ch.basicPublish("", q.name, "over the socket"), `${what}: publish`);
  const m = await within(ch.basicGet(q.name, { noAck: true }), `${what}: get`);
  assert(m?.bodyToString() === "over the socket", `${what}: got the message back, got ${show(m?.bodyToString())}`);
}

async function refusedPortRejects(lib) {
  const { protocol } = new URL(lib.ctx.url);
  // port 1 on loopback: nothing listens there
  const c = new lib.AMQPClient(`${protocol}//guest:guest@127.0.0.1:1/%2f?connectionTimeout=5000`, lib.ctx.tlsOptions);
  const e = await rejects(() => c.connect(), "connect to a closed port");
  assert(e.name === "AMQPError" && /refused/i.test(e.message), `an AMQPError saying refused, got ${show(e)}`);
  assert(c.closed, "still closed");
}

async function handshakeTimeout(lib) {
  // a peer that accepts the TCP connection and then says nothing: connectionTimeout bounds the
  // whole connect (socket, TLS, AMQP handshake), the client ends up closed and drops the socket
  const silent = await lib.ctx.listenSilent();
  try {
    const { protocol } = new URL(lib.ctx.url);
    const c = new lib.AMQPClient(`${protocol}//guest:guest@127.0.0.1:${silent.port}/%2f?connectionTimeout=600`, lib.ctx.tlsOptions);
    const t0 = Date.now();
    const e = await rejects(() => c.connect(), "connect to a silent peer");
    const ms = Date.now() - t0;
    assert(e.name === "AMQPError" && /time/i.test(e.message), `an AMQPError about the timeout, got ${show(e)}`);
    assert(ms >= 500 && ms < 5000, `rejected after the 600 ms bound, took ${ms} ms`);
    assert(silent.accepted() === 1, `the peer saw one connection, saw ${silent.accepted()}`);
    assert(c.closed, "closed");
    // and the socket is not left behind (over TLS it was still in the handshake). Deno 2.9 does
    // not close a TLS connection whose handshake never completed (TlsConn.close() cancels the
    // handshake but leaves the TCP socket open; checked with startTls and connectTls alone), so
    // there only plain TCP is checked.
    if (!(lib.ctx.runtime.startsWith("deno") && lib.ctx.secure)) {
      await within(silent.hungUp(), "the client closes its socket", 5_000);
    }
  } finally {
    silent.close();
  }
}

async function constructorMembers(lib) {
  const c = new lib.AMQPClient(lib.ctx.url, lib.ctx.tlsOptions, null);
  assert(c instanceof lib.AMQPClient && c instanceof lib.AMQPWebSocketClient, "an AMQPClient (and the shared client class)");
  const u = new URL(lib.ctx.url);
  assert(c.tls === lib.ctx.secure, `tls ${lib.ctx.secure}, got ${c.tls}`);
  assert(c.host === u.hostname && c.port === Number(u.port), `host/port from the URL, got ${c.host}:${c.port}`);
  assert(c.tlsOptions === lib.ctx.tlsOptions, "tlsOptions as given");
  assert(c.logger === undefined, `logger null means none, got ${show(c.logger)}`);
  let threw;
  try { new lib.AMQPClient("ws://127.0.0.1:15673"); } catch (e) { threw = e; }
  assert(threw instanceof TypeError, `ws:// is a TypeError for AMQPClient, got ${show(threw)}`);
  try { threw = undefined; new lib.AMQPClient(lib.ctx.url, "not options"); } catch (e) { threw = e; }
  assert(threw instanceof TypeError, `tlsOptions must be an object, got ${show(threw)}`);
}

async function tlsVerifiesTheBroker(lib) {
  // no CA: the test CA is not among the runtime's roots, so the handshake must fail
  const c = new lib.AMQPClient(withQuery(lib.ctx.url, "?connectionTimeout=10000"));
  const e = await rejects(() => c.connect(), "amqps:// without the test CA");
  assert(e.name === "AMQPError" && /TLS/.test(e.message), `an AMQPError naming TLS, got ${show(e)}`);
  // with it, the same URL works
  const ok = new lib.AMQPClient(withQuery(lib.ctx.url, ""), { ca: lib.ctx.read("ca.pem") });
  live.add(ok);
  await within(ok.connect(), "connect trusting the test CA");
  await roundTrip(ok, "verified TLS");
  await within(ok.close(), "close");
}

async function externalWithClientCertificate(lib) {
  const tls = { ca: lib.ctx.read("ca.pem"), cert: lib.ctx.read("client.pem"), key: lib.ctx.read("client.key") };
  // no user or password: the broker logs in the certificate's CN (guest)
  const u = new URL(lib.ctx.url);
  const url = `amqps://${u.host}/%2f?authMechanism=EXTERNAL`;
  const c = new lib.AMQPClient(url, tls);
  live.add(c);
  await within(c.connect(), "connect with EXTERNAL");
  await roundTrip(c, "EXTERNAL");
  await within(c.close(), "close");
  // EXTERNAL without a certificate: the broker refuses the login
  const bare = new lib.AMQPClient(url, { ca: tls.ca });
  const e = await rejects(() => bare.connect(), "EXTERNAL without a client certificate");
  assert(e.name === "AMQPError", `an AMQPError, got ${show(e)}`);
}

async function readBackpressure(lib) {
  // A 256 KiB read budget: the engine stops reading, the glue stops the socket (Node: pause; Deno:
  // no read), the broker's TCP window closes and most messages stay queued. Without that, the
  // broker would push all 32 MiB into the client.
  const u = new URL(lib.ctx.url);
  const base = `${u.protocol}//guest:guest@${u.host}/%2f`;
  const open = async (url, what) => {
    const c = new lib.AMQPClient(url, lib.ctx.tlsOptions);
    live.add(c);
    await within(c.connect(), what);
    return c;
  };
  const pub = await open(base, "publisher connect");
  await checkReadBackpressure(pub, () => open(`${base}?readBudget=262144`, "reader connect"), "backpressure");
}

export const tcpTests = [refusedPortRejects, handshakeTimeout, constructorMembers, readBackpressure];
export const tlsTests = [tlsVerifiesTheBroker, externalWithClientCertificate];
