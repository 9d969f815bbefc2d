// The runtime-neutral half of AMQPClient (amqp-client 4.1.1's TCP client): the class, and the
// registration of a runtime's `open(endpoint)` (tcp-deno.js, tcp-node.js) with the wasm, which
// then opens every amqp[s]:// connection through it. The client and channels are
// AMQPWebSocketClient's own (the wasm engine); only the socket differs. No protocol here.
// index.js, not api.js: importing it instantiates the wasm (for the "./tcp" subpath too)
import { AMQPWebSocketClient } from "./index.js";
import { __setTcpDial, __tcpClient } from "./warren.js";

const TLS_KEYS = ["ca", "cert", "key", "pfx", "passphrase"];

/**
 * Registers `open(endpoint)`, which resolves to the duplex src/transport/jsstream.rs describes,
 * and returns the AMQPClient class.
 */
export function tcpClientClass(open) {
  __setTcpDial(open);
  return class AMQPClient extends AMQPWebSocketClient {
    /**
     * @param url amqp://user:pass@host:5672/vhost?heartbeat=..&frameMax=..&channelMax=..&name=..
     *   (amqps:// for TLS; authMechanism=EXTERNAL logs in with the client certificate)
     * @param tlsOptions { ca, cert, key, pfx, passphrase } (PEM); the broker's certificate is
     *   always verified, against `ca` when given, else the runtime's roots
     * @param logger { debug, info, warn, error }, or null / undefined for none
     */
    constructor(url, tlsOptions, logger) {
      // warren: or one options object, AMQPWebSocketClient's plus `tlsOptions`
      const init = url !== null && typeof url === "object" ? url : undefined;
      if (init) tlsOptions = init.tlsOptions;
      if (tlsOptions !== undefined && tlsOptions !== null && typeof tlsOptions !== "object") {
        throw new TypeError("tlsOptions must be an object ({ ca, cert, key, pfx, passphrase })");
      }
      const tls = {};
      for (const k of TLS_KEYS) if (tlsOptions?.[k] !== undefined) tls[k] = tlsOptions[k];
      const client = __tcpClient(init ?? url, tls, logger ?? undefined);
      Object.setPrototypeOf(client, new.target.prototype);
      const u = new URL(init ? init.url : url);
      const secure = u.protocol === "amqps:";
      Object.defineProperties(client, {
        tls: { value: secure, enumerable: true },
        host: { value: u.hostname.replace(/^\[(.*)\]$/, "$1") || "localhost", enumerable: true },
        port: { value: Number(u.port) || (secure ? 5671 : 5672), enumerable: true },
        tlsOptions: { value: tlsOptions ?? undefined, enumerable: true },
      });
      return client;
    }
  };
}

/** An Error the wasm side maps to a transport error kind ("refused", "tls", "timeout"). */
export function streamError(kind, cause) {
  const e = new Error(cause?.message ?? String(cause), { cause });
  e.kind = kind;
  return e;
}
