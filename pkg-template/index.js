/* @ts-self-types="./index.d.ts" */
// Entry point of warren-amqp. It instantiates the WebAssembly module once, with top-level await,
// so importers use the classes right away and never call an init function.
import init, { AMQPWebSocketClient } from "./warren.js";

const wasmUrl = new URL("./warren_bg.wasm", import.meta.url);
// Browsers and Deno fetch the module (Deno also from file: URLs). Node's fetch cannot read
// file: URLs, so there (Node >= 22 has a global WebSocket) the bytes are read from disk.
const nodeFs =
  wasmUrl.protocol === "file:" && typeof Deno === "undefined"
    ? globalThis.process?.getBuiltinModule?.("node:fs")
    : undefined;
await init({ module_or_path: nodeFs ? nodeFs.readFileSync(wasmUrl) : wasmUrl });

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
