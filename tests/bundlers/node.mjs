// Node >= 22 (global WebSocket): `import` of warren-amqp from node_modules (the "node" export
// condition: node.js), then the round trip over the relay and, given an amqp:// URL, over TCP
// with AMQPClient (no relay).
//   node tests/bundlers/node.mjs WS_URL [AMQP_URL]
import { AMQPClient, AMQPWebSocketClient } from "warren-amqp";
import { roundTrip } from "./app/roundtrip.js";

const label = `node ${process.version} import`;
console.log(JSON.stringify(await roundTrip(AMQPWebSocketClient, process.argv[2], label)));
if (process.argv[3]) console.log(JSON.stringify(await roundTrip(AMQPClient, process.argv[3], `${label} tcp`)));
