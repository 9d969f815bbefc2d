// A fault-injecting TCP proxy for warren's tests (Node.js, no dependencies): relays TCP from
// 127.0.0.1:LISTEN to the broker at 127.0.0.1:TARGET and lets a test break the path on demand
// through a small HTTP control API (CORS open, so a browser page can call it with fetch).
//
//   node tests/lib/fault-proxy.mjs --listen 5677 --target 5673 --control 5678
//
// Control API on 127.0.0.1:CONTROL (GET or POST; every answer is JSON):
//   /cut             destroy every relayed connection now (both sides); new ones are still accepted
//   /refuse?on=1|0   on: close new connections as soon as they are accepted (existing ones live)
//   /blackhole?on=1|0 on: stop forwarding bytes both ways (discarded); sockets stay open
//   /stats           {accepted, active, cuts, refused, refusing, blackhole, bytes_up, bytes_down}
//   /reset           refuse and blackhole off (connections are left alone)
// Started by scripts/faults (with the ports from scripts/lib.sh).

import net from "node:net";
import http from "node:http";

function arg(name, fallback) {
    const i = process.argv.indexOf(`--${name}`);
    const v = i >= 0 ? process.argv[i + 1] : fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0 || n > 65535) {
        console.error(`fault-proxy: --${name} needs a port number (got ${v})`);
        process.exit(2);
    }
    return n;
}

const LISTEN = arg("listen", 5677);
const TARGET = arg("target", 5673);
const CONTROL = arg("control", 5678);
const HOST = "127.0.0.1";

const state = { refusing: false, blackhole: false };
const stats = { accepted: 0, cuts: 0, refused: 0, bytes_up: 0, bytes_down: 0 };
/** Relayed pairs: [client socket, broker socket]. */
const pairs = new Set();

function log(...a) {
    console.log(new Date().toISOString(), ...a);
}

const proxy = net.createServer((client) => {
    stats.accepted += 1;
    if (state.refusing) {
        stats.refused += 1;
        client.destroy();
        return;
    }
    client.setNoDelay(true);
    const upstream = net.connect({ host: HOST, port: TARGET });
    upstream.setNoDelay(true);
    const pair = [client, upstream];
    pairs.add(pair);
    const end = () => {
        if (!pairs.delete(pair)) return;
        client.destroy();
        upstream.destroy();
    };
    // Manual forwarding (no pipe): a black hole must be able to drop bytes while the sockets stay up.
    client.on("data", (b) => {
        if (state.blackhole) return;
        stats.bytes_up += b.length;
        if (!upstream.write(b)) {
            client.pause();
            upstream.once("drain", () => client.resume());
        }
    });
    upstream.on("data", (b) => {
        if (state.blackhole) return;
        stats.bytes_down += b.length;
        if (!client.write(b)) {
            upstream.pause();
            client.once("drain", () => upstream.resume());
        }
    });
    for (const s of pair) {
        s.on("error", end);
        s.on("close", end);
        s.on("end", end);
    }
});
proxy.on("error", (e) => {
    console.error(`fault-proxy: ${e.message}`);
    process.exit(1);
});

function cut() {
    const n = pairs.size;
    for (const [a, b] of [...pairs]) {
        a.destroy();
        b.destroy();
    }
    pairs.clear();
    stats.cuts += 1;
    log(`cut ${n} connection(s)`);
    return n;
}

function flag(url) {
    const on = url.searchParams.get("on");
    if (on === "1" || on === "true") return true;
    if (on === "0" || on === "false") return false;
    return null;
}

function snapshot() {
    return { ...stats, active: pairs.size, refusing: state.refusing, blackhole: state.blackhole };
}

const control = http.createServer((req, res) => {
    const headers = {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
        "Access-Control-Allow-Headers": "*",
        "Access-Control-Max-Age": "600",
        "Cache-Control": "no-store",
    };
    const reply = (code, body) => {
        res.writeHead(code, { ...headers, "Content-Type": "application/json" });
        res.end(JSON.stringify(body));
    };
    if (req.method === "OPTIONS") {
        res.writeHead(204, headers);
        res.end();
        return;
    }
    req.resume(); // bodies are ignored
    if (req.method !== "GET" && req.method !== "POST") return reply(405, { error: "GET or POST" });
    const url = new URL(req.url, `http://${HOST}`);
    switch (url.pathname) {
        case "/cut":
            return reply(200, { cut: cut(), ...snapshot() });
        case "/refuse":
        case "/blackhole": {
            const on = flag(url);
            if (on === null) return reply(400, { error: "need ?on=1 or ?on=0" });
            const key = url.pathname === "/refuse" ? "refusing" : "blackhole";
            state[key] = on;
            log(`${key} ${on ? "on" : "off"}`);
            return reply(200, snapshot());
        }
        case "/reset":
            state.refusing = false;
            state.blackhole = false;
            return reply(200, snapshot());
        case "/stats":
            return reply(200, snapshot());
        default:
            return reply(404, { error: `unknown ${url.pathname}` });
    }
});
control.on("error", (e) => {
    console.error(`fault-proxy control: ${e.message}`);
    process.exit(1);
});

proxy.listen(LISTEN, HOST, () => {
    control.listen(CONTROL, HOST, () => {
        log(`fault proxy: tcp ${HOST}:${LISTEN} -> ${HOST}:${TARGET}, control http://${HOST}:${CONTROL}`);
    });
});

for (const sig of ["SIGTERM", "SIGINT"]) {
    process.on(sig, () => {
        for (const [a, b] of pairs) {
            a.destroy();
            b.destroy();
        }
        process.exit(0);
    });
}
