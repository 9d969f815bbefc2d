// Types of warren-amqp: everything warren.js exports except its init function (index.js has
// already instantiated the WebAssembly module when an import of this package resolves).
export * from "./warren.js";
