// Node >= 22: `require()` of warren-amqp (an ES module without top-level await, so require(esm)
// loads it synchronously), then the round trip.   node tests/bundlers/node.cjs WS_URL
const { AMQPWebSocketClient } = require("warren-amqp");
const { roundTrip } = require("./app/roundtrip.js");

roundTrip(AMQPWebSocketClient, process.argv[2], `node ${process.version} require`).then(
  (result) => console.log(JSON.stringify(result)),
  (e) => {
    console.error(e);
    process.exitCode = 1;
  },
);
