/* @ts-self-types="./index.d.ts" */
// Entry point of warren-amqp: instantiates the WebAssembly module once, with top-level await,
// so importers use the classes right away and never call an init function. The API itself is
// api.js.
import init from "./warren.js";

const wasmUrl = new URL("./warren_bg.wasm", import.meta.url);
// Browsers and Deno fetch the module (Deno also from file: URLs). Node's fetch cannot read
// file: URLs, so there (Node >= 22 has a global WebSocket) the bytes are read from disk.
const nodeFs =
  wasmUrl.protocol === "file:" && typeof Deno === "undefined"
    ? globalThis.process?.getBuiltinModule?.("node:fs")
    : undefined;
await init({ module_or_path: nodeFs ? nodeFs.readFileSync(wasmUrl) : wasmUrl });

export * from "./api.js";
