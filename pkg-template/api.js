// The JavaScript surface of warren-amqp: the classes wasm-bindgen generates (warren.js) plus the
// few JS-side pieces that cannot live in the wasm module. No protocol logic here: that is Rust.
import { AMQPChannel, AMQPConsumer, AMQPMessage, AMQPWebSocketClient } from "./warren.js";

export { AMQPChannel, AMQPConsumer, AMQPMessage, AMQPWebSocketClient };
/** amqp-client's names for what warren has one class each for. */
export { AMQPConsumer as AMQPGeneratorConsumer, AMQPWebSocketClient as AMQPBaseClient };

/**
 * Errors from the broker or the connection are `Error`s named "AMQPError" carrying the client as
 * `connection` and, where there is one, the AMQP reply `code`, `replyText`, `classId` and
 * `methodId`. They are made inside the WebAssembly module, so this class recognises them by
 * name: `err instanceof AMQPError` works.
 */
export class AMQPError extends Error {
  constructor(message, connection) {
    super(message);
    this.name = "AMQPError";
    this.connection = connection;
  }
  static [Symbol.hasInstance](value) {
    return value instanceof Error && value.name === "AMQPError";
  }
}

// connect() resolves to the client itself (the wasm side is handed its own JS object, so
// `ch.connection` and `err.connection` are this same object).
const connect = AMQPWebSocketClient.prototype.connect;
AMQPWebSocketClient.prototype.connect = function (options) {
  return connect.call(this, this, options);
};
