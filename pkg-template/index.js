/* @ts-self-types="./index.d.ts" */
// Entry point of warren-amqp. It instantiates the WebAssembly module synchronously while it is
// imported, from bytes inlined in the package (warren_wasm.js, see wasm-bytes.js), so:
//   - there is no init() to call and no top-level await: `require()` works (Node >= 22), and a
//     Worker / SharedWorker that imports the package registers its message/connect handlers
//     before the first event arrives;
//   - there is no .wasm asset for a bundler to find or copy: esbuild, Rollup, Vite (pages and
//     workers) and webpack bundle it without configuration, and Deno needs no --allow-read.
// Chromium compiles synchronously on a page's main thread up to 8 MiB of wasm (build-pkg checks
// the size); warren's is about 0.3 MiB. The API itself is api.js.
import { initSync } from "./warren.js";
import { wasmBytes } from "./wasm-bytes.js";

initSync({ module: wasmBytes() });

export * from "./api.js";
