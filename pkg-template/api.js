// The JavaScript surface of warren-amqp: the classes wasm-bindgen generates (warren.js) plus the
// few JS-side pieces that cannot live in the wasm module. No protocol logic here: that is Rust.
import { AMQPWebSocketClient } from "./warren.js";

export * from "./warren.js";

/**
 * Errors from the broker or the connection are `Error`s named "AMQPError" carrying the AMQP reply
 * `code`, `replyText`, `classId` and `methodId` where there is one. They are made inside the
 * WebAssembly module, so this class recognises them by name: `err instanceof AMQPError` works.
 */
export class AMQPError extends Error {
  constructor(message, code) {
    super(message);
    this.name = "AMQPError";
    if (code !== undefined) this.code = code;
  }
  static [Symbol.hasInstance](value) {
    return value instanceof Error && value.name === "AMQPError";
  }
}

// amqp-client's connect() resolves to the client itself; the wasm side can only hand back a new
// wrapper of the same connection, so resolve to `this` here to keep `(await c.connect()) === c`.
const connect = AMQPWebSocketClient.prototype.connect;
AMQPWebSocketClient.prototype.connect = async function () {
  await connect.call(this);
  return this;
};

// --- session API (issue #10): codecs and the AMQPSession.connect hand-over ---
export * from "./session.js";
