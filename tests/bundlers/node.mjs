// Node >= 22 (global WebSocket): `import` of warren-amqp from node_modules, then the round trip.
//   node tests/bundlers/node.mjs WS_URL
import { AMQPWebSocketClient } from "warren-amqp";
import { roundTrip } from "./app/roundtrip.js";

const result = await roundTrip(AMQPWebSocketClient, process.argv[2], `node ${process.version} import`);
console.log(JSON.stringify(result));
