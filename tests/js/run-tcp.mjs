// Runs the JS API suite (suite.js) over TCP or TLS with AMQPClient, in Node or in Deno, without
// a relay; then the TCP-only tests (tcp-tests.js: TLS verification, EXTERNAL with a client
// certificate, read backpressure). Prints one line per test and cargo's result line; exits
// non-zero on any failure.
//   node tests/js/run-tcp.mjs amqp://127.0.0.1:5673 [ONLY_REGEX]
//   deno run --allow-net=127.0.0.1,localhost --allow-read --allow-env tests/js/run-tcp.mjs amqps://localhost:5674
// amqps:// trusts the test CA of scripts/broker (.state/tls/ca.pem, or $WARREN_TLS_DIR/ca.pem).
//
// The suite constructs `lib.AMQPWebSocketClient` with its options object or positional
// arguments; here that name is a subclass of AMQPClient that takes the same arguments (and adds
// the TLS options), so every suite test runs unchanged over the socket.
import { runAll, tests } from "./suite.js";
import { tcpTests, tlsTests } from "./tcp-tests.js";

const isDeno = typeof Deno !== "undefined";
const args = isDeno ? Deno.args : process.argv.slice(2);
const env = (k) => (isDeno ? Deno.env.get(k) : process.env[k]);
const exit = (code) => (isDeno ? Deno.exit(code) : process.exit(code));
const readText = isDeno ? (p) => Deno.readTextFileSync(p) : (await import("node:fs")).readFileSync;
const runtime = isDeno ? `deno ${Deno.version.deno}` : `node ${process.version}`;

const pkg = await import(isDeno ? "../../pkg/deno.js" : "../../pkg/node.js");
const url = args[0] ?? "amqp://127.0.0.1:5673";
const only = args[1] ? new RegExp(args[1]) : undefined;
const PER_TEST_MS = 20_000;

const tlsDir = env("WARREN_TLS_DIR") ?? new URL("../../.state/tls/", import.meta.url).pathname;
const read = (f) => readText(`${tlsDir.replace(/\/?$/, "/")}${f}`, "utf8");
const secure = url.startsWith("amqps:");
const tlsOptions = secure ? { ca: read("ca.pem") } : undefined;

class AMQPClientAsWebSocketClient extends pkg.AMQPClient {
  constructor(urlOrOptions, vhost, username, password, name, frameMax, heartbeat, logger) {
    if (typeof urlOrOptions === "string") {
      const init = { url: urlOrOptions, vhost, username, password, name, frameMax, heartbeat, logger, tlsOptions };
      for (const k of Object.keys(init)) if (init[k] === undefined) delete init[k];
      super(init);
    } else if (urlOrOptions !== null && typeof urlOrOptions === "object") {
      super({ tlsOptions, ...urlOrOptions });
    } else {
      super(urlOrOptions);
    }
  }
}
const lib = { ...pkg, AMQPWebSocketClient: AMQPClientAsWebSocketClient };
// sessions the suite opens (bad-input rows) trust the test CA the same way, through
// AMQPSession's own tlsOptions
if (tlsOptions) {
  const connect = pkg.AMQPSession.connect;
  pkg.AMQPSession.connect = (u, o) => connect.call(pkg.AMQPSession, u, { tlsOptions, ...o });
}

const all = tests.length + tcpTests.length + tlsTests.length;
const watchdog = setTimeout(() => {
  console.error(`js suite over tcp (${runtime}): FAILED (watchdog)`);
  exit(2);
}, PER_TEST_MS * all + 60_000);
if (isDeno) Deno.unrefTimer(watchdog);
else watchdog.unref();

const t0 = Date.now();
const log = (line) => console.log(`  ${line}`);
const results = await runAll(lib, url, { timeoutMs: PER_TEST_MS, only, log });
/** A loopback TCP server that accepts and never answers (a broker that hangs in the handshake);
 * `hungUp()` resolves once the client has closed the connection. */
async function listenSilent() {
  if (isDeno) {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const conns = [];
    let ended;
    const hungUp = new Promise((resolve) => (ended = resolve));
    (async () => {
      for await (const c of listener) {
        conns.push(c);
        (async () => { const b = new Uint8Array(4096); while ((await c.read(b)) !== null) { /* discard */ } })()
          .catch(() => {}).finally(ended);
      }
    })().catch(() => {});
    return {
      port: listener.addr.port,
      accepted: () => conns.length,
      hungUp: () => hungUp,
      close: () => { for (const c of conns) try { c.close(); } catch { /* closed */ } listener.close(); },
    };
  }
  const net = await import("node:net");
  const socks = [];
  let ended;
  const hungUp = new Promise((resolve) => (ended = resolve));
  const server = net.createServer((s) => {
    socks.push(s);
    s.on("data", () => {}).on("close", ended).on("error", () => {});
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: server.address().port,
    accepted: () => socks.length,
    hungUp: () => hungUp,
    close: () => { for (const s of socks) s.destroy(); server.close(); },
  };
}
const ctx = { url, secure, read, tlsOptions, runtime, listenSilent };
const own = secure ? [...tcpTests, ...tlsTests] : tcpTests;
results.push(...(await runAll({ ...pkg, ctx }, url, { timeoutMs: PER_TEST_MS, only, log, tests: own })));
console.log("");
for (const r of results) {
  console.log(r.ok ? `PASS  ${r.name} (${r.ms} ms)` : `FAIL  ${r.name} (${r.ms} ms)\n      ${r.error}`);
}
const passed = results.filter((r) => r.ok).length;
const failed = results.length - passed;
// cargo's format too, so scripts/test's step --tests counts the individual tests
console.log(`test result: ${failed === 0 ? "ok" : "FAILED"}. ${passed} passed; ${failed} failed`);
console.log(`js suite over ${url} (${runtime}): ${passed} passed, ${failed} failed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
exit(failed === 0 && passed > 0 ? 0 : 1);
