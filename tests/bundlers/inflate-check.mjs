// The package's synchronous inflater (wasm-bytes.js running scripts/inflate-wasm) against
// node:zlib, on inputs that make every DEFLATE block kind (stored, fixed and dynamic Huffman) and
// long and overlapping matches; corrupt input must throw, not hang or return garbage.
//   node tests/bundlers/inflate-check.mjs
import { deflateRawSync, constants } from "node:zlib";
import { inflateRaw } from "./node_modules/warren-amqp/wasm-bytes.js"; // not exported: internal

let seed = 42;
const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
function sample(n, kind) {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) {
    if (kind === "random") out[i] = random();
    else if (kind === "runs") out[i] = (i >> 9) & 1 ? 0 : 7;
    else out[i] = i % 11 === 0 ? random() : "warren speaks AMQP "[i % 19].charCodeAt(0);
  }
  return out;
}

let checked = 0;
for (const level of [0, 1, 6, 9]) {
  for (const strategy of [constants.Z_DEFAULT_STRATEGY, constants.Z_FIXED, constants.Z_HUFFMAN_ONLY, constants.Z_RLE]) {
    for (const n of [0, 1, 300, 70_000, 300_000]) {
      for (const kind of ["text", "random", "runs"]) {
        const src = sample(n, kind);
        const got = inflateRaw(deflateRawSync(src, { level, strategy }), n);
        if (!Buffer.from(got).equals(src)) throw new Error(`mismatch: level ${level} strategy ${strategy} ${n} B ${kind}`);
        checked++;
      }
    }
  }
}
const src = sample(100_000, "text");
const good = deflateRawSync(src);
const corrupt = [
  ["truncated", good.subarray(0, good.length - 50)],
  ["flipped byte", Buffer.from(good).fill(0xff, 200, 201)],
  ["block type 3", Buffer.from([0x07, 0, 0, 0])],
];
for (const [what, input] of corrupt) {
  let threw = false;
  try {
    inflateRaw(input, src.length);
  } catch {
    threw = true;
  }
  if (!threw) throw new Error(`inflateRaw accepted ${what} input`);
  checked++;
}
console.log(`inflate: ${checked} checks ok`);
