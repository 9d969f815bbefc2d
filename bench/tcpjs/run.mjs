// One TCP benchmark measurement in Deno or Node: a workload of bench/browser/workloads.js run by
// one library's AMQPClient straight to the broker (no relay), printed as one JSON line.
//   deno run --allow-net --allow-read --allow-env --allow-sys bench/tcpjs/run.mjs CLIENT WORKLOAD N WARMUP PAIRS AMQP_URL RUN
//   node bench/tcpjs/run.mjs ...
// CLIENT: warren (pkg/deno.js or pkg/node.js, as bench.py snapshots it under .state/bench/pkg) or
// amqp-client (@cloudamqp/amqp-client 4.1.1 from bench/browser/node_modules). Driven by bench.py.
import { makeWorkloads } from "../browser/workloads.js";

const isDeno = typeof Deno !== "undefined";
const [clientName, workload, n, warmup, pairs, url, run] = isDeno ? Deno.args : process.argv.slice(2);
const root = new URL("../../", import.meta.url);
const pkgDir = (isDeno ? Deno.env.get("BENCH_PKG") : process.env.BENCH_PKG) ?? new URL(".state/bench/pkg/", root).pathname;
const LIBS = {
  warren: `${pkgDir.replace(/\/?$/, "/")}${isDeno ? "deno.js" : "node.js"}`,
  "amqp-client": new URL("bench/browser/node_modules/@cloudamqp/amqp-client/lib/mjs/index.js", root).pathname,
};

const lib = await import(LIBS[clientName]);
const connect = async (Client) => {
  const c = new Client(url);
  await c.connect();
  return c;
};
const WORKLOADS = makeWorkloads({ connect, workload, run });
const measure = WORKLOADS[workload];
if (!measure) throw new Error(`unknown workload ${workload}`);
if (workload !== "rpc" && Number(warmup) > 0) await measure(lib.AMQPClient, Number(warmup));
const r = await measure(lib.AMQPClient, workload === "rpc" ? Number(pairs) : Number(n));
const runtime = isDeno ? `Deno ${Deno.version.deno}` : `Node ${process.version}`;
console.log(JSON.stringify({ ok: true, n: workload === "rpc" ? Number(pairs) : Number(n), runtime, ...r }));
