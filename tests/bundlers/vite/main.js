// Vite: the round trip in the page and, at the same time, in a module worker Vite bundles itself
// (its default worker format is iife, where a top-level await cannot be built).
import { AMQPWebSocketClient } from "warren-amqp";
import { failure, roundTrip } from "../app/roundtrip.js";
import { combine, inWorker, report, wsUrl } from "../app/report.js";

const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
Promise.all([
  roundTrip(AMQPWebSocketClient, wsUrl(), "vite page").catch((e) => failure("vite page", e)),
  inWorker(worker, "vite worker", wsUrl()),
]).then((results) => report(combine(results)));
