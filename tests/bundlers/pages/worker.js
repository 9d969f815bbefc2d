// A plain (unbundled) module worker. Its message handler is registered after the import of
// warren-amqp has evaluated: with a top-level await in the package the page's first message
// would arrive before it and be lost.
import { AMQPWebSocketClient } from "../node_modules/warren-amqp/index.js";
import { answer } from "../app/worker-side.js";

self.onmessage = answer(AMQPWebSocketClient, self);
