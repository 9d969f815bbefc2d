// Node >= 22: `require()` of warren-amqp (an ES module without top-level await, so require(esm)
// loads it synchronously; the "node" export condition: node.js), then the round trip over the
// relay and, given an amqp:// URL, over TCP with AMQPClient.
//   node tests/bundlers/node.cjs WS_URL [AMQP_URL]
const { AMQPClient, AMQPWebSocketClient } = require("warren-amqp");
const { roundTrip } = require("./app/roundtrip.js");

const label = `node ${process.version} require`;
(async () => {
  console.log(JSON.stringify(await roundTrip(AMQPWebSocketClient, process.argv[2], label)));
  if (process.argv[3]) console.log(JSON.stringify(await roundTrip(AMQPClient, process.argv[3], `${label} tcp`)));
})().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
