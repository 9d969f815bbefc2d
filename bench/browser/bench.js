// One browser benchmark measurement: a workload run by one client library in this page, then its
// result POSTed as JSON to /result on the server that served the page (the collector in
// bench/bench.py).
// No DevTools client is attached while this runs; scripts/bench only launches Chromium, waits
// for the POST and kills it.
//
// Both libraries expose the same API (warren-amqp mirrors @cloudamqp/amqp-client 4.x), so every
// workload (workloads.js, shared with the Deno/Node runner ../tcpjs/run.mjs) is written once and
// handed the library's AMQPWebSocketClient class.
import { makeWorkloads } from "./workloads.js";

const params = new URLSearchParams(location.search);
const clientName = params.get("client") ?? "warren";
const workload = params.get("workload") ?? "publish";
const N = Number(params.get("n") ?? 100000);
const WARMUP = Number(params.get("warmup") ?? Math.min(Math.ceil(N / 10), 5000));
const RPC_PAIRS = Number(params.get("pairs") ?? 2000);
const WS_URL = params.get("ws") ?? "ws://127.0.0.1:15673";
const RUN = params.get("run") ?? String(Date.now());

const LIBS = {
  warren: "../../pkg/index.js",
  "amqp-client": "./node_modules/@cloudamqp/amqp-client/dist/amqp-websocket-client.mjs",
};

// ?diag=1 (BENCH_DIAG=1): count WebSocket sends and bytes, to see how a library batches frames.
const wsStats = { sends: 0, sendBytes: 0 };
if (params.get("diag") === "1") {
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    wsStats.sends++;
    wsStats.sendBytes += data?.byteLength ?? data?.length ?? 0;
    return send.call(this, data);
  };
}

const logEl = document.getElementById("log");
const log = (line) => {
  logEl.textContent += `${line}\n`;
};

async function report(result) {
  const body = JSON.stringify({ run: RUN, client: clientName, workload, ...result });
  for (let i = 0; i < 3; i++) {
    try {
      await fetch("/result", { method: "POST", body, headers: { "content-type": "application/json" } });
      return;
    } catch (e) {
      log(`report failed: ${e}`);
    }
  }
}

window.addEventListener("unhandledrejection", (ev) => {
  report({ ok: false, error: `unhandled rejection: ${ev.reason?.stack ?? ev.reason}` });
});
window.addEventListener("error", (ev) => {
  report({ ok: false, error: `error: ${ev.message}` });
});

// --- the workloads (workloads.js), over this page's WebSocket --------------------------------------

async function connect(Client) {
  const c = new Client(WS_URL, "/", "guest", "guest");
  await c.connect();
  return c;
}

const WORKLOADS = makeWorkloads({ connect, workload, run: RUN });

// --- main ----------------------------------------------------------------------------------------

// Wall-clock phases of this page (ms since navigation start), for diagnosing slow runs.
const phases = {};
const mark = (name) => (phases[name] = Math.round(performance.now()));

try {
  if (!(clientName in LIBS)) throw new Error(`unknown client ${clientName}`);
  if (!(workload in WORKLOADS)) throw new Error(`unknown workload ${workload}`);
  mark("start");
  const lib = await import(LIBS[clientName]);
  const Client = lib.AMQPWebSocketClient;
  mark("imported");
  const run = WORKLOADS[workload];
  const n = workload === "rpc" ? RPC_PAIRS : N;
  if (workload !== "rpc" && WARMUP > 0) {
    log(`warm-up: ${WARMUP}`);
    await run(Client, WARMUP);
    mark("warmed_up");
  }
  log(`measuring ${clientName} ${workload} n=${n}`);
  const r = await run(Client, n);
  mark("measured");
  log(JSON.stringify(r));
  await report({
    ok: true,
    n,
    ...r,
    phases,
    ...(params.get("diag") === "1" ? { ws: wsStats } : {}),
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    userAgent: navigator.userAgent,
  });
  document.title = "done";
} catch (e) {
  log(`FAILED ${e?.stack ?? e}`);
  await report({ ok: false, error: String(e?.stack ?? e), phases });
  document.title = "failed";
}
