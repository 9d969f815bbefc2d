// AMQPClient for Node (>= 22): the socket comes from node:net / node:tls, everything else is the
// wasm engine. This file only moves bytes: reads are handed over one at a time when the engine
// asks (the socket is paused while a chunk waits, so a full read budget pushes back on the
// broker), writes report Node's backpressure (write() false until "drain").
import net from "node:net";
import tls from "node:tls";
import { streamError, tcpClientClass } from "./tcp.js";

/** Bytes Node may hold unsent before write() says to wait ("drain"): room for a few of the
 * engine's write batches (its default of 16 KiB, 64 KiB with TLS, would stall every batch). */
const HIGH_WATER = 1 << 20;

function open({ host, port, tls: secure, serverName, signal, tlsOptions = {} }) {
  return new Promise((resolve, reject) => {
    let connected = false;
    const sock = secure
      ? tls.connect({
        host,
        port,
        // SNI for names, none for IP literals (the certificate is still checked against the IP)
        servername: serverName ?? (net.isIP(host) ? undefined : host),
        ...tlsOptions,
        rejectUnauthorized: true,
        highWaterMark: HIGH_WATER, // TLS sockets take only this one (it sets the read side too)
      })
      : net.connect({ host, port, writableHighWaterMark: HIGH_WATER });
    sock.setNoDelay(true);
    sock.once("connect", () => (connected = true));
    const fail = (err) => {
      signal.removeEventListener("abort", abort);
      const tlsError = secure && (connected || /cert|ssl|tls|alert|handshake/i.test(`${err.code} ${err.message}`));
      reject(streamError(tlsError ? "tls" : "refused", err));
    };
    const abort = () => sock.destroy(streamError("timeout", new Error("connect aborted")));
    signal.addEventListener("abort", abort, { once: true });
    sock.once("error", fail);
    sock.once(secure ? "secureConnect" : "connect", () => {
      signal.removeEventListener("abort", abort);
      sock.off("error", fail);
      resolve(duplex(sock));
    });
  });
}

function duplex(sock) {
  const queued = []; // chunks read while nobody asked (the socket is paused then)
  let waiter; // { resolve, reject } of the pending read()
  let ended = false;
  let failure;
  const drainers = new Set();
  sock.on("data", (chunk) => {
    if (waiter) {
      const w = waiter;
      waiter = undefined;
      w.resolve(chunk);
    } else {
      queued.push(chunk);
      sock.pause();
    }
  });
  const finish = (err) => {
    if (err && !failure) failure = streamError("reset", err);
    ended = true;
    const w = waiter;
    waiter = undefined;
    if (w) failure ? w.reject(failure) : w.resolve(null);
    for (const d of drainers) failure ? d.reject(failure) : d.resolve();
    drainers.clear();
  };
  sock.on("error", finish);
  sock.on("end", () => finish());
  sock.on("close", () => finish());
  sock.on("drain", () => {
    for (const d of drainers) d.resolve();
    drainers.clear();
  });
  return {
    read() {
      if (queued.length) {
        const chunk = queued.length === 1 ? queued[0] : Buffer.concat(queued);
        queued.length = 0;
        return Promise.resolve(chunk);
      }
      if (failure) return Promise.reject(failure);
      if (ended) return Promise.resolve(null);
      sock.resume();
      return new Promise((resolve, reject) => (waiter = { resolve, reject }));
    },
    write(bytes) {
      return sock.write(bytes);
    },
    drain() {
      if (failure) return Promise.reject(failure);
      if (!sock.writableNeedDrain || ended) return Promise.resolve();
      return new Promise((resolve, reject) => drainers.add({ resolve, reject }));
    },
    close() {
      // FIN after what is written, then let go of the socket
      if (!sock.destroyed) sock.end(() => sock.destroy());
    },
  };
}

/** amqp-client's TCP client: `new AMQPClient("amqp://user:pass@host:5672/vhost", tlsOptions?, logger?)`. */
export const AMQPClient = tcpClientClass(open);
