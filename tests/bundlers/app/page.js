// The page entry the bundlers build (esbuild, Rollup, webpack): the package by its bare name.
import { AMQPWebSocketClient } from "warren-amqp";
import { failure, roundTrip } from "./roundtrip.js";
import { report, wsUrl } from "./report.js";

const label = document.documentElement.dataset.label ?? "page";
roundTrip(AMQPWebSocketClient, wsUrl(), label).then(report, (e) => report(failure(label, e)));
