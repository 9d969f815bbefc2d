// The bytes of warren's WebAssembly module, for index.js to instantiate synchronously.
// scripts/build-pkg stores them in warren_wasm.js raw-DEFLATE compressed and base64-encoded:
// plain base64 would make the package a third larger even after HTTP compression, since it hides
// the byte patterns gzip and brotli find in the wasm. Browsers have no synchronous inflate
// (DecompressionStream is async), and one written in JavaScript runs for tens of milliseconds in
// V8's interpreter before it is optimised, so the inflater is a 5 KB wasm module of its own
// (scripts/inflate-wasm), compiled and thrown away here.
import { deflated, inflater, size } from "./warren_wasm.js";

/** The wasm module's bytes (decoded and inflated on each call). */
export function wasmBytes() {
  return inflateRaw(decodeBase64(deflated), size);
}

function decodeBase64(text) {
  if (typeof Uint8Array.fromBase64 === "function") return Uint8Array.fromBase64(text);
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

// the error codes of scripts/inflate-wasm/src/lib.rs
const ERRORS = [
  undefined,
  "truncated",
  "bad code",
  "stored block length",
  "block type 3",
  "bad code lengths",
  "distance too far back",
  "longer than expected",
  "shorter than expected",
];

/** Inflates raw DEFLATE data into exactly `size` bytes; throws on malformed input. */
export function inflateRaw(input, size) {
  const { memory, scratch, inflate } = new WebAssembly.Instance(new WebAssembly.Module(decodeBase64(inflater))).exports;
  const at = scratch(input.length + size);
  if (at === 0) throw new RangeError(`warren-amqp: no memory to inflate ${size} bytes`);
  new Uint8Array(memory.buffer, at, input.length).set(input);
  const rc = inflate(at, input.length, at + input.length, size);
  if (rc !== 0) throw new Error(`warren-amqp: the inlined WebAssembly is corrupt (${ERRORS[rc] ?? rc})`);
  return new Uint8Array(memory.buffer, at + input.length, size).slice();
}
