// The Node `ws` relay of the relay comparison (scripts/bench, section "relay"): the plain
// WebSocket -> TCP forwarder a Node user would write (one `ws` server, `net` sockets, each
// message written as it arrives, each TCP chunk sent as one binary message, no limits).
//   node bench/browser/ws-relay.mjs --listen PORT --target PORT
import net from "node:net";
import { WebSocketServer } from "ws";

const arg = (name) => {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0 || !process.argv[i + 1]) throw new Error(`missing --${name}`);
  return Number(process.argv[i + 1]);
};
const listen = arg("listen");
const target = arg("target");

const wss = new WebSocketServer({ host: "127.0.0.1", port: listen, perMessageDeflate: false });
wss.on("connection", (ws) => {
  const tcp = net.connect({ host: "127.0.0.1", port: target });
  tcp.setNoDelay(true);
  const pending = [];
  tcp.on("connect", () => {
    for (const m of pending.splice(0)) tcp.write(m);
  });
  ws.on("message", (data) => (tcp.connecting ? pending.push(data) : tcp.write(data)));
  tcp.on("data", (chunk) => ws.send(chunk, { binary: true }));
  tcp.on("close", () => ws.close(1000));
  tcp.on("error", () => ws.close(1011));
  ws.on("close", () => tcp.end());
  ws.on("error", () => tcp.destroy());
});
wss.on("listening", () => console.log(`ws relay: ws://127.0.0.1:${listen} -> 127.0.0.1:${target}`));
process.on("SIGTERM", () => process.exit(0));
