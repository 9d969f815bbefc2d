// Presenting message values: AMQP type names of decoded header values, body views (JSON /
// text / hex) and the typed-JSON notation of the publish form. Pure functions, no AMQP here:
// the package decodes and encodes; this only reads and builds plain JS values.

const utf8 = new TextDecoder("utf-8", { fatal: false });
const utf8Strict = new TextDecoder("utf-8", { fatal: true });
const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/** The AMQP field type a decoded header value has (and is sent back as). */
export function amqpType(v) {
  if (v === null || v === undefined) return "void";
  switch (typeof v) {
    case "string": return "long string";
    case "boolean": return "boolean";
    case "bigint": return "int64";
    case "number":
      if (!Number.isInteger(v)) return "double";
      return v >= INT32_MIN && v <= INT32_MAX ? "int32" : "int64";
  }
  if (v instanceof Date) return "timestamp";
  if (v instanceof Uint8Array) return "byte array";
  if (Array.isArray(v)) return "array";
  if (isDecimal(v)) return "decimal";
  if (typeof v === "object") return "table";
  return typeof v;
}

/** warren hands a decimal to JS as { scale, value } (value × 10^-scale). */
function isDecimal(v) {
  const keys = Object.keys(v);
  return keys.length === 2 && Number.isInteger(v.scale) && Number.isInteger(v.value) &&
    keys.includes("scale") && keys.includes("value");
}

/** The AMQP type of each basic property (fixed by the protocol). */
export const PROPERTY_TYPES = {
  contentType: "shortstr",
  contentEncoding: "shortstr",
  headers: "table",
  deliveryMode: "octet",
  priority: "octet",
  correlationId: "shortstr",
  replyTo: "shortstr",
  expiration: "shortstr",
  messageId: "shortstr",
  timestamp: "timestamp",
  type: "shortstr",
  userId: "shortstr",
  appId: "shortstr",
  clusterId: "shortstr",
};

/** A short human text of a header/property value. */
export function showValue(v) {
  if (v === null || v === undefined) return "null";
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "bigint") return `${v}n`;
  if (v instanceof Date) return isNaN(v) ? "Invalid Date" : v.toISOString();
  if (v instanceof Uint8Array) return `<${v.length} bytes> ${hexBytes(v, 32)}`;
  if (Array.isArray(v)) return `[${v.map(showValue).join(", ")}]`;
  if (isDecimal(v)) return `${(v.value / 10 ** v.scale).toFixed(v.scale)} (scale ${v.scale})`;
  if (typeof v === "object") return `{${Object.keys(v).length} fields}`;
  return String(v);
}

function hexBytes(b, max) {
  let s = "";
  const n = Math.min(b.length, max);
  for (let i = 0; i < n; i++) s += (i ? " " : "") + b[i].toString(16).padStart(2, "0");
  return b.length > max ? s + " …" : s;
}

/**
 * Flattens headers into rows { depth, key, type, value } (tables and arrays open up into
 * their members, one level deeper).
 */
export function headerRows(headers, depth = 0, out = []) {
  if (!headers) return out;
  for (const [key, v] of Object.entries(headers)) fieldRows(key, v, depth, out);
  return out;
}

function fieldRows(key, v, depth, out) {
  const type = amqpType(v);
  if (type === "table") {
    out.push({ depth, key, type, value: `{${Object.keys(v).length} fields}` });
    headerRows(v, depth + 1, out);
  } else if (type === "array") {
    out.push({ depth, key, type, value: `[${v.length} items]` });
    v.forEach((item, i) => fieldRows(`[${i}]`, item, depth + 1, out));
  } else {
    out.push({ depth, key, type, value: showValue(v) });
  }
}

/** JSON-safe copy of a decoded value, types kept where JSON has none. */
export function toJsonValue(v) {
  if (v === null || v === undefined) return null;
  if (typeof v === "bigint") return { $type: "int64", value: v.toString() };
  if (v instanceof Date) return { $type: "timestamp", value: isNaN(v) ? null : v.toISOString() };
  if (v instanceof Uint8Array) return { $type: "bytes", value: hexBytes(v, Infinity).replaceAll(" ", "") };
  if (Array.isArray(v)) return v.map(toJsonValue);
  if (typeof v === "object") {
    const o = {};
    for (const [k, x] of Object.entries(v)) o[k] = toJsonValue(x);
    return o;
  }
  return v;
}

/** Body as text when it is valid UTF-8, else null. */
export function bodyText(bytes) {
  if (!bytes) return "";
  try {
    return utf8Strict.decode(bytes);
  } catch {
    return null;
  }
}

/** Lenient text (for previews and the filter). */
export function bodyPreview(bytes, max = 240) {
  if (!bytes || bytes.length === 0) return "";
  const b = bytes.length > max ? bytes.subarray(0, max) : bytes;
  return utf8.decode(b);
}

/** The view a content type calls for: "json", "text" or "hex". */
export function defaultView(contentType, bytes) {
  const ct = (contentType || "").toLowerCase();
  if (ct.includes("json")) return "json";
  if (ct.startsWith("text/") || ct.includes("xml") || ct.includes("javascript")) return "text";
  if (!ct) {
    const t = bodyText(bytes);
    if (t === null) return "hex";
    const s = t.trimStart();
    return s.startsWith("{") || s.startsWith("[") ? "json" : "text";
  }
  return "hex";
}

/** Renders the body in a view; falls back (JSON → text → hex) when it does not fit. */
export function renderBody(bytes, view) {
  if (view === "json") {
    const t = bodyText(bytes);
    if (t !== null) {
      try {
        return { view: "json", text: JSON.stringify(JSON.parse(t), null, 2) };
      } catch {
        return { view: "text", text: t, note: "not valid JSON: shown as text" };
      }
    }
    view = "hex";
  }
  if (view === "text") {
    const t = bodyText(bytes);
    if (t !== null) return { view: "text", text: t };
    return { view: "hex", text: hexDump(bytes), note: "not UTF-8: shown as hex" };
  }
  return { view: "hex", text: hexDump(bytes) };
}

/** Classic hex dump: offset, 16 bytes, ASCII. Capped at 64 KiB. */
export function hexDump(bytes, cap = 65536) {
  const n = Math.min(bytes.length, cap);
  const lines = [];
  for (let off = 0; off < n; off += 16) {
    let hex = "";
    let asc = "";
    for (let i = 0; i < 16; i++) {
      if (off + i < n) {
        const b = bytes[off + i];
        hex += b.toString(16).padStart(2, "0") + (i === 7 ? "  " : " ");
        asc += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".";
      } else {
        hex += i === 7 ? "    " : "   ";
      }
    }
    lines.push(`${off.toString(16).padStart(8, "0")}  ${hex} |${asc}|`);
  }
  if (bytes.length > n) lines.push(`… ${bytes.length - n} more bytes`);
  return lines.join("\n");
}

/**
 * Headers from the publish form's JSON: plain JSON values as they are (string → long string,
 * integer → int32/int64, fraction → double, object → table, array → array, null → void) and
 * {"$type": T, "value": V} for what JSON cannot say: timestamp (ISO text, seconds, or "now"),
 * int64 (decimal text), bytes (hex text).
 */
export function parseTypedJson(text) {
  const t = text.trim();
  if (!t) return undefined;
  const v = JSON.parse(t);
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new TypeError("headers must be a JSON object");
  return typed(v, "headers");
}

function typed(v, path) {
  if (Array.isArray(v)) return v.map((x, i) => typed(x, `${path}[${i}]`));
  if (v === null || typeof v !== "object") return v;
  const keys = Object.keys(v);
  if (keys.includes("$type")) {
    if (!keys.every((k) => k === "$type" || k === "value")) {
      throw new TypeError(`${path}: a typed value has only "$type" and "value"`);
    }
    return typedValue(v.$type, v.value, path);
  }
  const o = {};
  for (const k of keys) o[k] = typed(v[k], `${path}.${k}`);
  return o;
}

function typedValue(type, value, path) {
  switch (type) {
    case "timestamp": {
      const d = value === "now" || value === undefined ? new Date()
        : typeof value === "number" ? new Date(value * 1000) : new Date(value);
      if (isNaN(d)) throw new TypeError(`${path}: not a time: ${JSON.stringify(value)}`);
      return d;
    }
    case "int64":
      try {
        return BigInt(value);
      } catch {
        throw new TypeError(`${path}: not an integer: ${JSON.stringify(value)}`);
      }
    case "bytes": {
      const hex = String(value ?? "").replace(/\s+/g, "");
      if (!/^([0-9a-fA-F]{2})*$/.test(hex)) throw new TypeError(`${path}: bytes are given as hex`);
      const out = new Uint8Array(hex.length / 2);
      for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
      return out;
    }
    default:
      throw new TypeError(`${path}: unknown $type ${JSON.stringify(type)} (timestamp, int64, bytes)`);
  }
}

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

export function formatCount(n) {
  return n.toLocaleString("en-US");
}

export function clockTime(ms) {
  const d = new Date(ms);
  const p = (x, w = 2) => String(x).padStart(w, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}
