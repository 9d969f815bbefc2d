// The Deno Worker half of deno.ts. Deno delivers a message posted right after `new Worker()` as
// soon as the module's synchronous evaluation ends: with a top-level await in warren-amqp, this
// handler would come too late and the message would be lost.
import { AMQPWebSocketClient } from "warren-amqp";
import { answer } from "./app/worker-side.js";

self.onmessage = answer(AMQPWebSocketClient, self);
