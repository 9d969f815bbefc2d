// Deno: warren-amqp by its bare name from tests/bundlers/node_modules (the package.json beside
// this file makes Deno resolve it there, with the "deno" export condition); the round trip in the
// main module, then in a module Worker that must not lose the first message.
//   deno run --allow-net=HOST:PORT --allow-read=tests/bundlers tests/bundlers/deno.ts WS_URL [AMQP_URL]
import { AMQPClient, AMQPWebSocketClient } from "warren-amqp";
import { failure, roundTrip } from "./app/roundtrip.js";

const ws = Deno.args[0];
const label = `deno ${Deno.version.deno}`;
const main = await roundTrip(AMQPWebSocketClient, ws, label).catch((e) => failure(label, e));
console.log(JSON.stringify(main));

const worker = new Worker(new URL("./deno-worker.js", import.meta.url), { type: "module" });
const inWorker = await new Promise((resolve) => {
  const timer = setTimeout(
    () => resolve(failure("deno worker", "no answer after 30 s (first message lost?)")),
    30_000,
  );
  worker.onmessage = (e) => {
    clearTimeout(timer);
    resolve(e.data);
  };
  worker.onerror = (e) => {
    e.preventDefault();
    clearTimeout(timer);
    resolve(failure("deno worker", e.message));
  };
  worker.postMessage({ ws, label: "deno worker" });
});
worker.terminate();
console.log(JSON.stringify(inWorker));
// given an amqp:// URL: AMQPClient over TCP (the "deno" export condition: deno.js), no relay
const tcp = Deno.args[1] ? await roundTrip(AMQPClient, Deno.args[1], `${label} tcp`).catch((e) => failure(`${label} tcp`, e)) : { ok: true };
if (Deno.args[1]) console.log(JSON.stringify(tcp));
Deno.exit(main.ok && inWorker.ok && tcp.ok ? 0 : 1);
