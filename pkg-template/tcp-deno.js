// AMQPClient for Deno: the socket comes from Deno.connect (+ Deno.startTls, or Deno.connectTls
// when there is a client certificate), everything else is the wasm engine. This file only moves
// bytes: reads are pulled when the engine asks (nothing is read from the socket while its read
// budget is full), writes report backpressure past a high-water mark.
import { streamError, tcpClientClass } from "./tcp.js";

/** Bytes handed to the socket and not yet written before write() asks the engine to wait. */
const HIGH_WATER = 1 << 20;
const READ_CHUNK = 64 << 10;

const pem = (v, what) => {
  if (typeof v === "string") return v;
  if (v instanceof Uint8Array) return new TextDecoder().decode(v);
  throw new TypeError(`tlsOptions.${what} must be PEM text (a string or bytes) in Deno`);
};

async function open({ host, port, tls, serverName, signal, tlsOptions = {} }) {
  if (tlsOptions.pfx !== undefined || tlsOptions.passphrase !== undefined) {
    throw new TypeError("Deno cannot use tlsOptions.pfx / passphrase: give cert and key as PEM");
  }
  if (serverName !== undefined && serverName !== host) {
    throw new TypeError("Deno checks the certificate against the host it connects to: server_name_indication is not supported");
  }
  const caCerts = tlsOptions.ca === undefined ? undefined : [tlsOptions.ca].flat().map((c) => pem(c, "ca"));
  const clientCert = tlsOptions.cert !== undefined || tlsOptions.key !== undefined;
  let conn;
  // the deadline passed (or the caller gave up) while the handshake still runs: drop the socket
  const abort = () => { try { conn?.close(); } catch { /* closed already */ } };
  signal.addEventListener("abort", abort, { once: true });
  try {
    if (tls && clientCert) {
      // Deno.startTls takes no client certificate, so connectTls (its TlsConn has no setNoDelay)
      conn = await Deno.connectTls({
        hostname: host,
        port,
        caCerts,
        cert: pem(tlsOptions.cert, "cert"),
        key: pem(tlsOptions.key, "key"),
      });
    } else {
      conn = await Deno.connect({ hostname: host, port, signal });
      conn.setNoDelay(true);
      if (tls) conn = await Deno.startTls(conn, { hostname: host, caCerts });
    }
    if (tls) await conn.handshake();
  } catch (err) {
    signal.removeEventListener("abort", abort);
    try { conn?.close(); } catch { /* closed already */ }
    if (signal.aborted) throw streamError("timeout", err);
    throw streamError(tls && conn ? "tls" : tls && /cert|tls|handshake/i.test(err.message) ? "tls" : "refused", err);
  }
  signal.removeEventListener("abort", abort);
  if (signal.aborted) {
    try { conn.close(); } catch { /* closed already */ }
    throw streamError("timeout", new Error("connect aborted"));
  }
  return duplex(conn);
}

function duplex(conn) {
  // one buffer for every read: the engine copies a chunk out before it asks for the next one
  const buf = new Uint8Array(READ_CHUNK);
  const writer = conn.writable.getWriter();
  let buffered = 0;
  let last = Promise.resolve(); // the newest write (writes complete in order)
  let failure;
  let closed = false;
  const drainers = new Set();
  const settle = () => {
    for (const d of drainers) failure ? d.reject(failure) : d.resolve();
    drainers.clear();
  };
  return {
    async read() {
      try {
        const n = await conn.read(buf);
        return n === null ? null : buf.subarray(0, n);
      } catch (err) {
        if (closed) return null;
        throw streamError("reset", err);
      }
    },
    write(bytes) {
      if (failure) return true; // the read side reports it
      buffered += bytes.length;
      last = writer.write(bytes).then(() => {
        buffered -= bytes.length;
        if (buffered <= HIGH_WATER / 2) settle();
      }, (err) => {
        failure ??= streamError("reset", err);
        settle();
      });
      return buffered < HIGH_WATER;
    },
    drain() {
      if (failure) return Promise.reject(failure);
      if (buffered <= HIGH_WATER / 2) return Promise.resolve();
      return new Promise((resolve, reject) => drainers.add({ resolve, reject }));
    },
    close() {
      if (closed) return;
      closed = true;
      // after what is queued has been written
      last.finally(() => {
        try { conn.close(); } catch { /* closed already */ }
      });
    },
  };
}

/** amqp-client's TCP client: `new AMQPClient("amqp://user:pass@host:5672/vhost", tlsOptions?, logger?)`. */
export const AMQPClient = tcpClientClass(open);
