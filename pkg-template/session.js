/* @ts-self-types="./session.d.ts" */
// The JS-side pieces of warren-amqp's session API: the codec registry (parsers by content-type,
// coders by content-encoding) and the hand-over of it to AMQPSession.connect. Everything else
// (reconnecting, recovery, the outbox, acking, RPC) is the Rust session inside the wasm module.
import { AMQPExchange, AMQPGeneratorSubscription, AMQPQueue, AMQPSession, AMQPSubscription } from "./warren.js";

export { AMQPExchange, AMQPGeneratorSubscription, AMQPQueue, AMQPSession, AMQPSubscription };
export { AMQPRPCClient, AMQPRPCServer } from "./warren.js";

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

function isPlainBody(body) {
  return body === null || body === undefined || typeof body === "string" ||
    body instanceof Uint8Array || body instanceof ArrayBuffer || ArrayBuffer.isView(body);
}

function toBytes(body) {
  if (body === null || body === undefined) return new Uint8Array(0);
  if (typeof body === "string") return utf8.encode(body);
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
}

/** `text/plain` and `application/json`. */
export const builtinParsers = Object.freeze({
  "text/plain": Object.freeze({
    serialize: (body) => utf8.encode(String(body)),
    parse: (bytes) => fromUtf8.decode(bytes),
  }),
  "application/json": Object.freeze({
    serialize: (body) => utf8.encode(JSON.stringify(body)),
    parse: (bytes) => JSON.parse(fromUtf8.decode(bytes)),
  }),
});

/** Runs bytes through a CompressionStream / DecompressionStream of `format`. */
async function pipe(Stream, format, bytes) {
  const out = new Blob([bytes]).stream().pipeThrough(new Stream(format));
  return new Uint8Array(await new Response(out).arrayBuffer());
}

function streamCoder(format) {
  return Object.freeze({
    encode: (body) => pipe(CompressionStream, format, body),
    decode: (body) => pipe(DecompressionStream, format, body),
  });
}

/** `gzip` and `deflate` (zlib, RFC 1950) through the platform's CompressionStream. */
export const builtinCoders = Object.freeze({ gzip: streamCoder("gzip"), deflate: streamCoder("deflate") });

/** Raw DEFLATE (RFC 1951, no zlib header); not registered by default. */
export const deflateRawCoder = streamCoder("deflate-raw");

/** Serializes by content-type, then encodes by content-encoding (a Promise when it encodes). */
export function serializeAndEncode(parsers, coders, body, properties, defaults) {
  const props = { ...properties };
  if (defaults?.contentType && !props.contentType) props.contentType = defaults.contentType;
  if (defaults?.contentEncoding && !props.contentEncoding) props.contentEncoding = defaults.contentEncoding;
  const parser = props.contentType ? parsers[props.contentType] : undefined;
  let bytes;
  if (parser) bytes = parser.serialize(body, props);
  else if (isPlainBody(body)) bytes = toBytes(body);
  else if (props.contentType) {
    throw new TypeError(`No parser registered for content-type "${props.contentType}" and body is not a string/Uint8Array.`);
  } else {
    throw new TypeError("Cannot serialize body: no contentType and body is not a string/Uint8Array (set contentType or defaultContentType).");
  }
  if (!props.contentEncoding) return { body: bytes, properties: props };
  const coder = coders[props.contentEncoding];
  if (!coder) throw new TypeError(`No coder registered for content-encoding "${props.contentEncoding}".`);
  return coder.encode(bytes, props).then((encoded) => ({ body: encoded, properties: props }));
}

/** Decodes by content-encoding, then parses by content-type (unknown types stay bytes). */
export function decodeAndParse(parsers, coders, body, properties) {
  const parse = (bytes) => {
    const parser = properties.contentType ? parsers[properties.contentType] : undefined;
    return parser ? parser.parse(bytes, properties) : bytes;
  };
  if (!properties.contentEncoding) return parse(body);
  const coder = coders[properties.contentEncoding];
  if (!coder) throw new Error(`No coder registered for content-encoding "${properties.contentEncoding}".`);
  return coder.decode(body, properties).then(parse);
}

/** Replaces `msg.body` with its decoded, parsed value. */
export async function decodeMessage(msg, parsers, coders) {
  const raw = msg.body;
  if (raw === null || raw === undefined) return;
  const value = await decodeAndParse(parsers, coders, raw, msg.properties);
  Object.defineProperty(msg, "body", { value, writable: true, configurable: true, enumerable: true });
}

// AMQPSession.connect: hand the codecs to the Rust session as two functions it calls.
const connect = AMQPSession.connect;
AMQPSession.connect = function (url, options = {}) {
  const { parsers, coders, defaultContentType, defaultContentEncoding } = options ?? {};
  if (!parsers && !coders) return connect.call(this, url, options);
  const p = parsers ?? {};
  const c = coders ?? {};
  const defaults = { contentType: defaultContentType, contentEncoding: defaultContentEncoding };
  const __codec = {
    encode: (body, properties) => serializeAndEncode(p, c, body, properties, defaults),
    decode: (msg) => decodeMessage(msg, p, c),
  };
  return connect.call(this, url, { ...options, __codec });
};

// A generator subscription is a subscription (`instanceof AMQPSubscription`), as in amqp-client.
Object.setPrototypeOf(AMQPGeneratorSubscription.prototype, AMQPSubscription.prototype);

// publish / bind / unbind resolve to the handle itself (`(await q.bind(x)) === q`), as in
// amqp-client: the wasm side can only hand back a new wrapper of the same handle, so publish is
// given the handle to resolve with (no `.then` hop per publish); bind and unbind get one.
for (const Handle of [AMQPQueue, AMQPExchange]) {
  const publish = Handle.prototype.publish;
  Handle.prototype.publish = function (body, options) {
    try {
      return publish.call(this, body, options, this);
    } catch (e) {
      return Promise.reject(e);
    }
  };
  for (const name of ["bind", "unbind"]) {
    const method = Handle.prototype[name];
    Handle.prototype[name] = function (...args) {
      try {
        return method.apply(this, args).then(() => this);
      } catch (e) {
        return Promise.reject(e);
      }
    };
  }
}
