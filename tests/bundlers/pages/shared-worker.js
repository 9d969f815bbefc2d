// A plain (unbundled) module SharedWorker: its connect handler must be in place when the first
// page connects, i.e. right after the import of warren-amqp has evaluated.
import { AMQPWebSocketClient } from "../node_modules/warren-amqp/index.js";
import { answer } from "../app/worker-side.js";

self.onconnect = (e) => {
  const port = e.ports[0];
  port.onmessage = answer(AMQPWebSocketClient, port);
};
