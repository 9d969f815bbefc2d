// The bytes of warren's WebAssembly module, for index.js to instantiate synchronously.
// scripts/build-pkg stores them in warren_wasm.js deflate-compressed (raw DEFLATE, RFC 1951) and
// base64-encoded: base64 alone would make the package a third larger even after HTTP
// compression, because it breaks up the byte patterns gzip and brotli find in the wasm. Browsers
// have no synchronous inflate (DecompressionStream is async), hence the small one below.
import { deflated, size } from "./warren_wasm.js";

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

// Length and distance codes 257..285 and 0..29: base values and extra bits (RFC 1951 3.2.5).
const LENGTH_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
  163, 195, 227, 258];
const LENGTH_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049,
  3073, 4097, 6145, 8193, 12289, 16385, 24577];
const DIST_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
// the order in which a dynamic block lists the code lengths of the code-length alphabet
const CLEN_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/**
 * A canonical Huffman code as a lookup table indexed by the next `bits` input bits (the first bit
 * of a code is the lowest): each entry is symbol << 4 | code length, 0 where no code matches.
 */
function huffman(lengths) {
  let bits = 0;
  const count = new Uint16Array(16);
  for (const len of lengths) {
    count[len]++;
    if (len > bits) bits = len;
  }
  count[0] = 0;
  const next = new Uint16Array(16);
  for (let len = 1, code = 0; len < 16; len++) {
    code = (code + count[len - 1]) << 1;
    next[len] = code;
  }
  const table = new Uint16Array(1 << bits);
  for (let sym = 0; sym < lengths.length; sym++) {
    const len = lengths[sym];
    if (len === 0) continue;
    let code = next[len]++;
    let reversed = 0;
    for (let i = 0; i < len; i++, code >>= 1) reversed = (reversed << 1) | (code & 1);
    for (let i = reversed; i < table.length; i += 1 << len) table[i] = (sym << 4) | len;
  }
  return { table, bits };
}

let fixed;
function fixedCodes() {
  if (!fixed) {
    const lit = new Uint8Array(288);
    lit.fill(8, 0, 144).fill(9, 144, 256).fill(7, 256, 280).fill(8, 280, 288);
    fixed = [huffman(lit), huffman(new Uint8Array(30).fill(5))];
  }
  return fixed;
}

/** Inflates raw DEFLATE data into exactly `size` bytes; throws on malformed or short input. */
export function inflateRaw(input, size) {
  const out = new Uint8Array(size);
  let at = 0; // next input byte
  let buf = 0; // bits read but not used, least significant first
  let have = 0; // how many
  let pos = 0; // output length so far
  const fail = (what) => {
    throw new Error(`warren-amqp: the inlined WebAssembly is corrupt (${what})`);
  };
  // at least n bits in buf; past the end of the input they are zeros, which a valid stream never
  // uses (the output length check catches a truncated one)
  const need = (n) => {
    while (have < n) {
      if (at > input.length + 4) fail("truncated");
      buf |= (at < input.length ? input[at] : 0) << have;
      at++;
      have += 8;
    }
  };
  const bits = (n) => {
    need(n);
    const v = buf & ((1 << n) - 1);
    buf >>>= n;
    have -= n;
    return v;
  };
  const decode = ({ table, bits: width }) => {
    need(width);
    const entry = table[buf & ((1 << width) - 1)];
    const len = entry & 15;
    if (len === 0) fail("bad code");
    buf >>>= len;
    have -= len;
    return entry >> 4;
  };
  let last;
  do {
    last = bits(1);
    const type = bits(2);
    if (type === 0) {
      // stored: to the next byte boundary (whole bytes still in buf are read again)
      at -= have >> 3;
      buf = 0;
      have = 0;
      if (at + 4 > input.length) fail("truncated");
      const len = input[at] | (input[at + 1] << 8);
      if ((len ^ 0xffff) !== (input[at + 2] | (input[at + 3] << 8))) fail("stored length");
      at += 4;
      if (at + len > input.length || pos + len > size) fail("stored block");
      out.set(input.subarray(at, at + len), pos);
      at += len;
      pos += len;
      continue;
    }
    let lit, dist;
    if (type === 1) {
      [lit, dist] = fixedCodes();
    } else if (type === 2) {
      const nlit = bits(5) + 257;
      const ndist = bits(5) + 1;
      const nclen = bits(4) + 4;
      const clen = new Uint8Array(19);
      for (let i = 0; i < nclen; i++) clen[CLEN_ORDER[i]] = bits(3);
      const lencode = huffman(clen);
      const lengths = new Uint8Array(nlit + ndist);
      for (let i = 0; i < nlit + ndist; ) {
        const sym = decode(lencode);
        if (sym < 16) {
          lengths[i++] = sym;
          continue;
        }
        let value = 0;
        let repeat;
        if (sym === 16) {
          if (i === 0) fail("repeat with no length");
          value = lengths[i - 1];
          repeat = 3 + bits(2);
        } else if (sym === 17) {
          repeat = 3 + bits(3);
        } else {
          repeat = 11 + bits(7);
        }
        if (i + repeat > nlit + ndist) fail("too many lengths");
        lengths.fill(value, i, i + repeat);
        i += repeat;
      }
      if (lengths[256] === 0) fail("no end-of-block code");
      lit = huffman(lengths.subarray(0, nlit));
      dist = huffman(lengths.subarray(nlit));
    } else {
      fail("block type 3");
    }
    // the hot loop, with decode() and bits() written out
    const litTable = lit.table;
    const litMask = (1 << lit.bits) - 1;
    const litWidth = lit.bits;
    for (;;) {
      while (have < litWidth) {
        if (at >= input.length && at > input.length + 4) fail("truncated");
        buf |= (at < input.length ? input[at] : 0) << have;
        at++;
        have += 8;
      }
      const entry = litTable[buf & litMask];
      const codeLen = entry & 15;
      if (codeLen === 0) fail("bad code");
      buf >>>= codeLen;
      have -= codeLen;
      let sym = entry >> 4;
      if (sym < 256) {
        if (pos >= size) fail("too long");
        out[pos++] = sym;
      } else if (sym === 256) {
        break;
      } else {
        sym -= 257;
        if (sym >= 29) fail("bad length code");
        const len = LENGTH_BASE[sym] + bits(LENGTH_EXTRA[sym]);
        const dsym = decode(dist);
        if (dsym >= 30) fail("bad distance code");
        const back = DIST_BASE[dsym] + bits(DIST_EXTRA[dsym]);
        if (back > pos) fail("distance too far");
        if (pos + len > size) fail("too long");
        if (back >= len) {
          out.copyWithin(pos, pos - back, pos - back + len);
          pos += len;
        } else {
          for (let i = 0; i < len; i++, pos++) out[pos] = out[pos - back];
        }
      }
    }
  } while (!last);
  if (pos !== size) fail("too short");
  return out;
}
