// One browser benchmark measurement: a workload run by one client library in this page, then its
// result POSTed as JSON to /result on the server that served the page (the collector in
// bench/bench.py).
// No DevTools client is attached while this runs; scripts/bench only launches Chromium, waits
// for the POST and kills it.
//
// Clients (?client=): warren and amqp-client expose the same API (warren-amqp mirrors
// @cloudamqp/amqp-client 4.x), so their workloads (workloads.js, shared with the Deno/Node runner
// ../tcpjs/run.mjs) are written once and handed the library's AMQPWebSocketClient class;
// warren-session runs the same workloads through warren's AMQPSession (session-workloads.js);
// stomp is @stomp/stompjs over RabbitMQ's Web STOMP plugin (?stomp=ws://…/ws, stomp-workloads.js).
import { makeWorkloads } from "./workloads.js";
import { makeSessionWorkloads } from "./session-workloads.js";
import { makeStompWorkloads } from "./stomp-workloads.js";

const params = new URLSearchParams(location.search);
const clientName = params.get("client") ?? "warren";
const workload = params.get("workload") ?? "publish";
const N = Number(params.get("n") ?? 100000);
const WARMUP = Number(params.get("warmup") ?? Math.min(Math.ceil(N / 10), 5000));
const RPC_PAIRS = Number(params.get("pairs") ?? 2000);
const WS_URL = params.get("ws") ?? "ws://127.0.0.1:15673";
const RUN = params.get("run") ?? String(Date.now());

const STOMP_URL = params.get("stomp") ?? "ws://127.0.0.1:15674/ws";

const PKG = "../../pkg/index.js";
const LIBS = {
  warren: PKG,
  "amqp-client": "./node_modules/@cloudamqp/amqp-client/dist/amqp-websocket-client.mjs",
  "warren-session": PKG,
  stomp: "./node_modules/@stomp/stompjs/esm6/index.js",
};
// Memory workloads (BENCH_ONLY=memory): the page collects garbage (Chromium runs them with
// --js-flags=--expose-gc and --enable-precise-memory-info) and asks the collector for the
// renderer's private memory at each probe.
const MEMORY_WORKLOADS = ["memory_idle", "memory_buffered"];

// ?diag=1 (BENCH_DIAG=1): count WebSocket sends and bytes, to see how a library batches frames.
// It also stamps every send and received message with performance.now() and the socket's
// number (in opening order), so the RPC workload can say where a round trip's time goes.
const wsStats = { sends: 0, sendBytes: 0 };
const DIAG = params.get("diag") === "1";
/** [time, socket number, 0 = send | 1 = receive] per event, in order. */
const wsEvents = [];
if (DIAG) {
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    wsStats.sends++;
    wsStats.sendBytes += data?.byteLength ?? data?.length ?? 0;
    wsEvents.push([performance.now(), this.__diagId, 0]);
    return send.call(this, data);
  };
  let sockets = 0;
  const Base = WebSocket;
  // A listener added here runs before the library's own onmessage/listener.
  globalThis.WebSocket = class extends Base {
    constructor(...args) {
      super(...args);
      this.__diagId = sockets++;
      this.addEventListener("message", () => wsEvents.push([performance.now(), this.__diagId, 1]));
    }
  };
}

/** The RPC round trip cut at the WebSocket events inside it (medians, ms): the client's publish
 *  until its send, the way to the server's socket (relay, broker, relay, browser), the server's
 *  handling until its reply is sent, the way back, and the client's handling until the awaiting
 *  code resumes. Calls whose events are not exactly the expected four are skipped. */
function rpcSegments(calls) {
  const med = (a) => {
    const s = Float64Array.from(a).sort();
    return s.length ? s[Math.floor(s.length / 2)] : null;
  };
  const seg = { to_send: [], there: [], server: [], back: [], to_resume: [] };
  let i = 0;
  let skipped = 0;
  for (const [s, e] of calls) {
    while (i < wsEvents.length && wsEvents[i][0] < s) i++;
    const ev = [];
    while (i < wsEvents.length && wsEvents[i][0] <= e) ev.push(wsEvents[i++]);
    const kinds = ev.map(([, id, k]) => `${id}${k}`).join(",");
    if (kinds !== "10,01,00,11") {
      skipped++;
      continue;
    }
    seg.to_send.push(ev[0][0] - s);
    seg.there.push(ev[1][0] - ev[0][0]);
    seg.server.push(ev[2][0] - ev[1][0]);
    seg.back.push(ev[3][0] - ev[2][0]);
    seg.to_resume.push(e - ev[3][0]);
  }
  return { ...Object.fromEntries(Object.entries(seg).map(([k, v]) => [k, med(v)])), calls: calls.length, skipped };
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

// --- the workloads, over this page's WebSocket ---------------------------------------------------

async function connect(Client) {
  const c = new Client(WS_URL, "/", "guest", "guest");
  await c.connect();
  return c;
}

/** warren's wasm linear memory (0 for the other libraries): warren.js's initSync returns the
 *  instance's exports once index.js has instantiated the module. */
let wasmMemory = null;
/** [start, end] of every timed RPC call (diag only). */
const rpcCalls = [];

async function probe(label) {
  for (let i = 0; i < 3; i++) {
    globalThis.gc?.();
    await new Promise((r) => setTimeout(r, 50));
  }
  const res = await fetch("/probe", { method: "POST", body: JSON.stringify({ run: RUN, label }) });
  const host = await res.json();
  return {
    label,
    js_heap: performance.memory?.usedJSHeapSize ?? null,
    js_heap_total: performance.memory?.totalJSHeapSize ?? null,
    wasm: wasmMemory ? wasmMemory.buffer.byteLength : 0,
    renderer_private: host.renderer_private ?? null,
    gc: typeof globalThis.gc === "function",
  };
}

/** Resolves to { name: (n) => result } for the client under test. */
async function workloadsFor(lib) {
  if (clientName === "stomp") {
    return makeStompWorkloads({ Client: lib.Client, url: STOMP_URL, workload, run: RUN });
  }
  if (clientName === "warren-session") {
    return makeSessionWorkloads({ lib, url: WS_URL, workload, run: RUN });
  }
  if (clientName === "warren") {
    wasmMemory = (await import("../../pkg/warren.js")).initSync().memory;
  }
  const wl = makeWorkloads({
    connect,
    workload,
    run: RUN,
    probe: MEMORY_WORKLOADS.includes(workload) ? probe : undefined,
    rpcCalls: DIAG ? rpcCalls : undefined,
  });
  const Client = lib.AMQPWebSocketClient;
  return Object.fromEntries(Object.entries(wl).map(([k, f]) => [k, (n) => f(Client, n)]));
}

// --- main ----------------------------------------------------------------------------------------

// Wall-clock phases of this page (ms since navigation start), for diagnosing slow runs.
const phases = {};
const mark = (name) => (phases[name] = Math.round(performance.now()));

try {
  if (!(clientName in LIBS)) throw new Error(`unknown client ${clientName}`);
  mark("start");
  const lib = await import(LIBS[clientName]);
  const WORKLOADS = await workloadsFor(lib);
  if (!(workload in WORKLOADS)) throw new Error(`unknown workload ${workload} for ${clientName}`);
  mark("imported");
  const run = WORKLOADS[workload];
  const n = workload === "rpc" ? RPC_PAIRS : N;
  if (workload !== "rpc" && !MEMORY_WORKLOADS.includes(workload) && WARMUP > 0) {
    log(`warm-up: ${WARMUP}`);
    await run(WARMUP);
    mark("warmed_up");
  }
  log(`measuring ${clientName} ${workload} n=${n}`);
  const r = await run(n);
  mark("measured");
  if (WORKLOADS.cleanup) {
    await WORKLOADS.cleanup(await import(PKG), WS_URL); // untimed, after the measurement
    mark("cleaned_up");
  }
  log(JSON.stringify(r));
  await report({
    ok: true,
    n,
    ...r,
    phases,
    ...(DIAG ? { ws: { ...wsStats, ...(rpcCalls.length ? { rpc: rpcSegments(rpcCalls) } : {}) } } : {}),
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    userAgent: navigator.userAgent,
  });
  document.title = "done";
} catch (e) {
  log(`FAILED ${e?.stack ?? e}`);
  await report({ ok: false, error: String(e?.stack ?? e), phases });
  document.title = "failed";
}
