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
const ctx = { url, secure, read, tlsOptions, runtime };
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
