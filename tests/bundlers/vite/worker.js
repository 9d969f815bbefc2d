import { AMQPWebSocketClient } from "warren-amqp";
import { answer } from "../app/worker-side.js";

self.onmessage = answer(AMQPWebSocketClient, self);
