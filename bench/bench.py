#!/usr/bin/env python3
"""warren's benchmark suite: runs the measurements and writes BENCHMARKS.md (and a chart).

Run it through scripts/bench, which installs the npm tools, builds what is missing and starts
the broker and relay first. Sections (BENCH_ONLY picks some, comma-separated):

  size     warren's wasm + JS glue vs @cloudamqp/amqp-client's browser bundle (minified), gzip -9
  codec    criterion: encode/decode of basic.publish and a basic.deliver stream, vs amq-protocol
  native   tokio: warren vs lapin vs amqprs (bench/native), publish / consume+ack / consume no-ack
  browser  headless Chromium: warren-amqp vs amqp-client.js through the relay, five workloads
           (consume, no-ack: BENCH_NOACK_ROUNDS rounds, default 5)
  stomp    headless Chromium: warren through warren-relay vs @stomp/stompjs over RabbitMQ's Web
           STOMP plugin (publish, consume no-ack / + ack, confirmed publish vs receipts, RPC)
  session  headless Chromium: warren's AMQPSession vs its raw channel (publish, confirmed
           publish, consume + ack, consume no-ack)
  path     warren in headless Chromium (through warren-relay) vs warren native (bench/native,
           tokio over TCP): publish and consume + ack
           (browser, stomp, session and path run as one matrix of page loads: warren's raw
           channel pages serve every comparison of a round; see measure_chromium)
  memory   headless Chromium: wasm memory, JS heap and renderer USS per idle connection and per
           10,000 buffered deliveries, warren vs amqp-client.js
  tcpjs    Deno and Node over TCP, no relay: warren-amqp's AMQPClient in Deno vs amqp-client's
           AMQPClient in Node and in Deno (and warren in Node), four workloads (bench/tcpjs)
  relay    headless Chromium: warren-amqp through warren-relay vs websockify vs a Node ws relay
           (publish, consume + ack, RPC), and each relay's memory/CPU at 1,000 idle connections
           (bench/relay_bench.py). Run alone (BENCH_ONLY=relay, `scripts/bench relay`) it rewrites
           only its own section of BENCHMARKS.md and keeps its raw figures in results/relay.json.

Running a subset (BENCH_ONLY=tcpjs) into the real report keeps the other sections of the
previous run (bench/results/latest.json) and says which run each section comes from.

Every throughput figure is the median (min-max) over BENCH_ROUNDS rounds that alternate the
clients A B A B...; every ratio compares figures from this run only.

Environment: BENCH_N (100000), BENCH_ROUNDS (3), BENCH_RPC_PAIRS (2000), BENCH_ONLY
(size,codec,native,browser,stomp,session,path,memory,tcpjs,relay), BENCH_NOACK_ROUNDS (5),
BENCH_MEM_CONNECTIONS (50), BENCH_MEM_MESSAGES (10000), BENCH_WARMUP (browser warm-up messages, default min(N/10, 5000)),
BENCH_CODEC_SECS (criterion measurement time, 3), BENCH_OUT (BENCHMARKS.md; another path puts
the raw JSON and chart next to it instead of bench/results/), BENCH_WORKLOADS (a subset, for
iteration), BENCH_DIAG=1 (the page counts WebSocket sends; in the raw JSON), WARREN_AMQP_URL,
WARREN_RELAY_PORT, WARREN_STOMP_WS_PORT (the broker's Web STOMP listener, 15674).
"""

import datetime
import json
import os
import queue
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import relay_bench

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
NATIVE = os.path.join(BENCH, "native")
BROWSER = os.path.join(BENCH, "browser")
TARGET = os.path.join(ROOT, "target", "bench")
CHROMIUM = os.environ.get("BENCH_CHROMIUM", "/usr/bin/chromium")
STATE = os.path.join(ROOT, ".state", "bench")
# pkg/ is copied here at the start, so the size section and every browser measurement use one
# build even if pkg/ is rebuilt meanwhile; the collector serves it as /pkg/.
PKG = os.path.join(STATE, "pkg")


def env_int(name, default):
    v = os.environ.get(name, "")
    return int(v.replace("_", "")) if v.strip() else default


N = env_int("BENCH_N", 100_000)
ROUNDS = env_int("BENCH_ROUNDS", 3)
RPC_PAIRS = env_int("BENCH_RPC_PAIRS", 2000)
WARMUP = env_int("BENCH_WARMUP", min((N + 9) // 10, 5000))
CODEC_SECS = env_int("BENCH_CODEC_SECS", 3)
NOACK_ROUNDS = env_int("BENCH_NOACK_ROUNDS", 5)
MEM_CONNECTIONS = env_int("BENCH_MEM_CONNECTIONS", 50)
MEM_MESSAGES = env_int("BENCH_MEM_MESSAGES", 10_000)
SECTIONS = ["size", "codec", "native", "browser", "stomp", "session", "path", "memory", "tcpjs", "relay"]
# Sections measured together in one Chromium run (one matrix of page loads, see measure_chromium)
CHROMIUM_SECTIONS = ["browser", "stomp", "session", "path"]
ONLY = [s.strip() for s in os.environ.get("BENCH_ONLY", ",".join(SECTIONS)).split(",") if s.strip()]
OUT = os.path.abspath(os.environ.get("BENCH_OUT", os.path.join(ROOT, "BENCHMARKS.md")))
# Raw results and the chart: bench/results/ for the real report; next to BENCH_OUT otherwise.
if OUT == os.path.join(ROOT, "BENCHMARKS.md"):
    RESULTS_JSON = os.path.join(BENCH, "results", "latest.json")
    CHART_SVG = os.path.join(BENCH, "results", "ratios.svg")
else:
    RESULTS_JSON = os.path.splitext(OUT)[0] + ".json"
    CHART_SVG = os.path.splitext(OUT)[0] + ".svg"
AMQP_URL = os.environ.get("WARREN_AMQP_URL", f"amqp://guest:guest@127.0.0.1:{env_int('WARREN_BROKER_PORT', 5673)}/%2f")
RELAY_PORT = env_int("WARREN_RELAY_PORT", 15673)
WS_URL = f"ws://127.0.0.1:{RELAY_PORT}"
STOMP_WS_PORT = env_int("WARREN_STOMP_WS_PORT", 15674)
STOMP_URL = f"ws://127.0.0.1:{STOMP_WS_PORT}/ws"

BROWSER_CLIENTS = ["warren", "amqp-client"]
BROWSER_WORKLOADS = ["publish", "consume_ack", "consume_noack", "confirm", "rpc"]
NATIVE_CLIENTS = ["warren", "lapin", "amqprs"]
NATIVE_WORKLOADS = ["publish", "consume_ack", "consume_noack"]
# For quick iteration only (the report expects every client): BENCH_WORKLOADS=publish,rpc
_only_workloads = [w for w in os.environ.get("BENCH_WORKLOADS", "").split(",") if w]
BROWSER_RUN = [w for w in BROWSER_WORKLOADS if not _only_workloads or w in _only_workloads]
NATIVE_RUN = [w for w in NATIVE_WORKLOADS if not _only_workloads or w in _only_workloads]
# The rows of the Chromium sections: each compares a client with warren's raw channel (`warren`)
# on these workloads, in the same rounds (warren's page loads are shared by all of them).
STOMP_WORKLOADS = ["publish", "consume_noack", "consume_ack", "confirm", "rpc"]
SESSION_WORKLOADS = ["publish", "confirm", "consume_ack", "consume_noack"]
PATH_WORKLOADS = ["publish", "consume_ack"]
CHROMIUM_PLAN = {  # section: (competitor, workloads)
    "browser": ("amqp-client", BROWSER_WORKLOADS),
    "stomp": ("stomp", STOMP_WORKLOADS),
    "session": ("warren-session", SESSION_WORKLOADS),
    "path": ("warren-native", PATH_WORKLOADS),
}
MEMORY_WORKLOADS = ["memory_idle", "memory_buffered"]
MEMORY_CLIENTS = ["warren", "amqp-client"]
# (library, runtime) of the TCP section; the first is warren's entry, compared with the next two
TCP_CLIENTS = [("warren", "deno"), ("amqp-client", "node"), ("amqp-client", "deno"), ("warren", "node")]
TCP_WORKLOADS = ["publish", "consume_ack", "confirm", "rpc"]
TCP_RUN = [w for w in TCP_WORKLOADS if not _only_workloads or w in _only_workloads]
DENO = os.environ.get("BENCH_DENO", os.path.join(ROOT, "scripts", "node_modules", ".bin", "deno"))
NODE22 = os.environ.get("BENCH_NODE", os.path.join(ROOT, "tests", "bundlers", "node_modules", ".bin", "node"))

WORKLOAD_TITLES = {
    "publish": "publish (until queued)",
    "consume_ack": "consume + ack (prefetch 1000)",
    "consume_noack": "consume, no-ack",
    "confirm": "confirmed publish (≤ 1000 in flight)",
    "rpc": "RPC round trip",
}
CLIENT_TITLES = {
    "warren": "warren",
    "amqp-client": "amqp-client.js",
    "stomp": "stompjs (Web STOMP)",
    "warren-session": "warren session",
    "warren-native": "warren native (tokio)",
    "lapin": "lapin",
    "amqprs": "amqprs",
}


def say(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout


def try_run(cmd, **kw):
    try:
        return run(cmd, **kw).strip()
    except Exception:  # noqa: BLE001 — a missing tool only blanks a version field
        return ""


# --- statistics ---------------------------------------------------------------------------------


def summary(values):
    """median, min, max of a non-empty list."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def paired_ratios(a, b, higher_is_better=True):
    """Per-round ratios a[i]/b[i] (or b/a for lower-is-better), warren first."""
    out = []
    for x, y in zip(a, b):
        if x and y:
            out.append(x / y if higher_is_better else y / x)
    return out


# --- size ---------------------------------------------------------------------------------------


def gz9(path):
    return len(run_bytes(["gzip", "-9", "-n", "-c", path]))


def run_bytes(cmd):
    return subprocess.run(cmd, check=True, capture_output=True).stdout


def esbuild_minify(src, dst):
    esbuild = os.path.join(BROWSER, "node_modules", ".bin", "esbuild")
    # no --bundle: both files are already single modules (amqp-client's keeps a lazy import of
    # its Node TCP client, which browsers never load and dist/ does not ship)
    run([esbuild, src, "--minify", "--format=esm", "--platform=browser",
         "--log-level=warning", f"--outfile={dst}"])


def measure_size():
    """The package as an import loads it, from scripts/build-pkg's target/pkg-size.json (the
    wasm inlined, the minified JS glue, where the wasm's bytes go), next to amqp-client.js's
    browser bundle minified the same way."""
    say("size")
    with open(os.path.join(ROOT, "target", "pkg-size.json")) as f:
        built = json.load(f)
    tmp = tempfile.mkdtemp(prefix="warren-size-")
    try:
        amqp_dir = os.path.join(BROWSER, "node_modules", "@cloudamqp", "amqp-client", "dist")
        bundle = os.path.join(amqp_dir, "amqp-websocket-client.mjs")
        amqp_min = os.path.join(tmp, "amqp-websocket-client.min.mjs")
        esbuild_minify(bundle, amqp_min)
        amqp = {
            "raw_unminified": os.path.getsize(bundle),
            "gz_unminified": gz9(bundle),
            "raw": os.path.getsize(amqp_min),
            "gz": gz9(amqp_min),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"package": built, "warren_total": built["total"], "amqp_client": amqp}


# --- codec (criterion) ----------------------------------------------------------------------------


def measure_codec():
    say(f"codec: cargo bench (criterion, {CODEC_SECS} s per benchmark)")
    crit = os.path.join(TARGET, "criterion")
    shutil.rmtree(crit, ignore_errors=True)
    proc = subprocess.run(
        ["cargo", "bench", "--quiet", "--bench", "codec", "--", "--warm-up-time", "1",
         "--measurement-time", str(CODEC_SECS), "--noplot"],
        cwd=NATIVE, text=True, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"cargo bench failed:\n{proc.stderr[-3000:]}")
    results = {}
    for group in ("publish", "deliver"):
        for op in ("encode", "decode"):
            for lib in ("warren", "amq-protocol"):
                d = os.path.join(crit, group, f"{op}_{lib}", "new")
                with open(os.path.join(d, "sample.json")) as f:
                    s = json.load(f)
                with open(os.path.join(d, "benchmark.json")) as f:
                    b = json.load(f)
                per_iter = b["throughput"]["Elements"]
                # each criterion sample: total time / iterations, per message, in ns
                ns = [t / i / per_iter for t, i in zip(s["times"], s["iters"])]
                results[f"{group}/{op}/{lib}"] = summary(ns)
    return results


# --- native ---------------------------------------------------------------------------------------


def measure_native():
    exe = os.path.join(TARGET, "release", "warren-bench")
    samples = {w: {c: [] for c in NATIVE_CLIENTS} for w in NATIVE_WORKLOADS}
    errors = []
    for r in range(ROUNDS):
        for w in NATIVE_RUN:
            for c in NATIVE_CLIENTS:
                q = f"warren-bench-native-{w}-{c}-{os.getpid()}-{r}"
                env = dict(os.environ, WARREN_AMQP_URL=AMQP_URL)
                t0 = time.monotonic()
                proc = subprocess.run([exe, c, w, str(N), q], text=True, capture_output=True,
                                      env=env, timeout=60 + N // 200)
                if proc.returncode != 0:
                    msg = f"native {c} {w} round {r + 1}: {proc.stderr.strip()[-500:]}"
                    say("FAILED " + msg)
                    errors.append(msg)
                    continue
                res = json.loads(proc.stdout.strip().splitlines()[-1])
                rate = N / res["seconds"]
                samples[w][c].append(rate)
                say(f"native round {r + 1}/{ROUNDS} {w:<14} {c:<7} {rate:>12,.0f} msg/s"
                    f"  ({time.monotonic() - t0:.1f} s)")
    return {"samples": samples, "errors": errors}


# --- browser --------------------------------------------------------------------------------------


class Collector:
    """Serves the bench page (and pkg/) with cross-origin isolation, so performance.now() has
    fine resolution, and receives each page's result as a POST to /result."""

    ALLOWED = ("/bench/browser/", "/pkg/")

    def __init__(self):
        self.results = queue.Queue()
        self.pgid = None  # the process group of the Chromium being driven (for /probe)
        collector = self

        class Handler(SimpleHTTPRequestHandler):
            extensions_map = {
                **SimpleHTTPRequestHandler.extensions_map,
                ".wasm": "application/wasm",
                ".js": "text/javascript",
                ".mjs": "text/javascript",
                ".json": "application/json",
            }

            def translate_path(self, path):
                p = urllib.parse.urlsplit(path).path
                if p.startswith("/pkg/"):
                    return super().translate_path("/" + os.path.relpath(PKG, ROOT) + p[len("/pkg"):])
                return super().translate_path(path)

            def send_head(self):
                path = urllib.parse.urlsplit(self.path).path
                if not path.startswith(collector.ALLOWED) or any(p.startswith(".") for p in path.split("/")):
                    self.send_error(404)
                    return None
                return super().send_head()

            def end_headers(self):
                self.send_header("Cache-Control", "no-store")
                self.send_header("Cross-Origin-Opener-Policy", "same-origin")
                self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
                self.send_header("Cross-Origin-Resource-Policy", "same-origin")
                super().end_headers()

            def do_POST(self):  # noqa: N802
                path = urllib.parse.urlsplit(self.path).path
                if path == "/probe":
                    # the page has collected garbage and waits for this answer: sample the
                    # renderer(s) of the Chromium that loaded it now
                    self.rfile.read(min(int(self.headers.get("content-length", "0")), 1 << 16))
                    body = json.dumps({"renderer_private": renderer_private_bytes(collector.pgid)}).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if path != "/result":
                    self.send_error(404)
                    return
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(min(length, 1 << 20))
                try:
                    collector.results.put(json.loads(body))
                except ValueError:
                    collector.results.put({"ok": False, "error": "unparsable result"})
                self.send_response(204)
                self.end_headers()

            def log_message(self, fmt, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=ROOT))
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def drain(self):
        while not self.results.empty():
            self.results.get_nowait()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def renderer_private_bytes(pgid):
    """Private memory (Private_Clean + Private_Dirty of smaps_rollup, i.e. USS) summed over the
    renderer processes of a Chromium process group: the page's JS heap, its ArrayBuffers and wasm
    memory as far as touched, and the renderer's own allocations (the network service, which
    holds the sockets, is another process and not counted)."""
    if pgid is None:
        return None
    total = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            if os.getpgid(int(d)) != pgid:
                continue
            with open(f"/proc/{d}/cmdline", "rb") as f:
                if b"--type=renderer" not in f.read():
                    continue
            with open(f"/proc/{d}/smaps_rollup") as f:
                for line in f:
                    if line.startswith(("Private_Clean:", "Private_Dirty:")):
                        total += int(line.split()[1]) * 1024
        except (OSError, ValueError):
            continue
    return total


def chromium_once(collector, url, timeout_s, log_path, extra_args=()):
    """Launches Chromium (no remote debugging, no DevTools client) on `url`, waits for the page's
    POST (bounded) and kills the browser's process group."""
    profile = tempfile.mkdtemp(prefix="warren-bench-chromium-")
    cmd = [
        CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync",
        # keep timers and the renderer at full speed even though no window is visible
        "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
        f"--user-data-dir={profile}", *extra_args, url,
    ]
    collector.drain()
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    collector.pgid = proc.pid
    launched = time.monotonic()
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return {"ok": False, "error": f"no result within {timeout_s} s"}
            try:
                res = collector.results.get(timeout=min(left, 1.0))
                res["received_s"] = round(time.monotonic() - launched, 2)
                return res
            except queue.Empty:
                if proc.poll() is not None:
                    return {"ok": False, "error": f"chromium exited ({proc.returncode}) without a result"}
    finally:
        for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # the group may still hold helpers after the main process exits
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        collector.pgid = None
        shutil.rmtree(profile, ignore_errors=True)


def chromium_plan(sections):
    """{workload: [clients]} for the Chromium sections asked for, warren's raw channel first; every
    section compares its competitor with the same `warren` page loads."""
    plan = {}
    for sec in CHROMIUM_SECTIONS:
        if sec not in sections:
            continue
        comp, wls = CHROMIUM_PLAN[sec]
        for w in wls:
            if _only_workloads and w not in _only_workloads:
                continue
            clients = plan.setdefault(w, ["warren"])
            if comp not in clients:
                clients.append(comp)
    return {w: plan[w] for w in BROWSER_WORKLOADS if w in plan}


def rounds_for(w):
    """consume, no-ack runs at least BENCH_NOACK_ROUNDS (5) rounds: its ratio is the noisiest."""
    return max(ROUNDS, NOACK_ROUNDS) if w == "consume_noack" else ROUNDS


def native_once(w, r):
    """One warren (tokio) measurement of bench/native, as the native section runs it."""
    exe = os.path.join(TARGET, "release", "warren-bench")
    q = f"warren-bench-path-{w}-{os.getpid()}-{r}"
    try:
        proc = subprocess.run([exe, "warren", w, str(N), q], text=True, capture_output=True,
                              env=dict(os.environ, WARREN_AMQP_URL=AMQP_URL), timeout=60 + N // 200)
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"ok": False, "error": str(e)}
    if proc.returncode != 0:
        return {"ok": False, "error": proc.stderr.strip()[-500:]}
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"ok": True, **res}


def measure_chromium(sections):
    """The Chromium sections (browser, stomp, session, path) as one matrix of page loads: per round
    and workload, every client that one of the asked sections needs, in an order rotated per
    round (warren's raw-channel page loads serve every comparison of that round). Returns the
    measurements by round: by_round[workload][client] = [value or None per round]."""
    plan = chromium_plan(sections)
    collector = Collector()
    say(f"chromium ({', '.join(sections)}): collector on http://127.0.0.1:{collector.port}/, relay {WS_URL}"
        + (f", Web STOMP {STOMP_URL}" if "stomp" in sections else ""))
    log_path = os.path.join(STATE, "chromium.log")
    open(log_path, "w").close()
    by_round = {w: {c: [None] * rounds_for(w) for c in cl} for w, cl in plan.items()}
    p99 = {w: {c: [None] * rounds_for(w) for c in cl} for w, cl in plan.items() if w == "rpc"}
    isolated = {}
    user_agent = ""
    errors = []
    phases = []

    def page(c, w, n, warmup, run_id):
        qs = urllib.parse.urlencode({"client": c, "workload": w, "n": n, "warmup": warmup,
                                     "pairs": RPC_PAIRS, "ws": WS_URL, "stomp": STOMP_URL, "run": run_id,
                                     "diag": os.environ.get("BENCH_DIAG", "0")})
        url = f"http://127.0.0.1:{collector.port}/bench/browser/bench.html?{qs}"
        timeout_s = 60 + (n + warmup) * 3 // 1000 if w != "rpc" else 60 + RPC_PAIRS // 20
        return chromium_once(collector, url, timeout_s, log_path)

    try:
        # one untimed page first: the first page load of a run is slow whatever the client
        page("warren", "publish", min(N, 5000), 0, f"{os.getpid()}-chromium-warmup")
        for r in range(max(rounds_for(w) for w in plan) if plan else 0):
            for w, clients in plan.items():
                if r >= rounds_for(w):
                    continue
                order = clients[r % len(clients):] + clients[:r % len(clients)]
                for c in order:
                    t0 = time.monotonic()
                    if c == "warren-native":
                        res = native_once(w, r)
                    else:
                        res = page(c, w, N, WARMUP, f"{os.getpid()}-{r}-{c}")
                    took = time.monotonic() - t0
                    if not res.get("ok"):
                        msg = f"chromium {c} {w} round {r + 1}: {str(res.get('error', '?'))[:500]}"
                        say("FAILED " + msg)
                        errors.append({"client": c, "workload": w, "round": r + 1, "error": msg})
                        continue
                    if c != "warren-native":
                        isolated.setdefault(c, set()).add(bool(res.get("crossOriginIsolated")))
                        user_agent = res.get("userAgent", user_agent)
                    detail = {k: v for k, v in res.items() if k not in ("userAgent", "run", "ok")}
                    phases.append({"round": r + 1, "client": c, "wall_s": round(took, 2), **detail})
                    if w == "rpc":
                        by_round[w][c][r] = res["p50_ms"]
                        p99[w][c][r] = res["p99_ms"]
                        say(f"chromium round {r + 1}/{rounds_for(w)} {w:<14} {c:<14} p50 {res['p50_ms']:.3f} ms"
                            f"  p99 {res['p99_ms']:.3f} ms  ({took:.1f} s)")
                    else:
                        rate = res["n"] / res["seconds"]
                        by_round[w][c][r] = rate
                        say(f"chromium round {r + 1}/{rounds_for(w)} {w:<14} {c:<14} {rate:>10,.0f} msg/s  ({took:.1f} s)")
    finally:
        collector.close()
    return {"by_round": by_round, "rpc_p99_by_round": p99.get("rpc", {}),
            "cross_origin_isolated": {c: sorted(v) for c, v in isolated.items()},
            "user_agent": user_agent, "phases": phases, "errors": errors}


def chromium_section(m, sec):
    """One section's view of the matrix: warren and its competitor only."""
    comp, wls = CHROMIUM_PLAN[sec]
    clients = ["warren", comp]
    br = {w: {c: m["by_round"][w][c] for c in clients} for w in wls if w in m["by_round"]}
    out = {
        "competitor": comp,
        "by_round": br,
        "samples": {w: {c: [v for v in br.get(w, {}).get(c, []) if v is not None] for c in clients} for w in wls},
        "errors": [e["error"] for e in m["errors"] if e["client"] in clients and e["workload"] in wls],
        "phases": [p for p in m["phases"] if p["client"] in clients and (sec != "browser" or True)],
        "cross_origin_isolated": {c: m["cross_origin_isolated"].get(c, []) for c in clients if c != "warren-native"},
        "user_agent": m["user_agent"],
    }
    if "rpc" in wls:
        pr = {c: m["rpc_p99_by_round"].get(c, []) for c in clients}
        out["rpc_p99_by_round"] = pr
        out["rpc_p99"] = {c: [v for v in pr[c] if v is not None] for c in clients}
    if sec == "browser":
        out["noack_rounds"] = rounds_for("consume_noack")
    # how long the publish loop itself took (the rest of "until queued" is the broker catching up)
    out["publish_loop_ms"] = {c: [p["publish_loop_ms"] for p in m["phases"] if p["client"] == c and p.get("workload") == "publish"
                                  and p.get("publish_loop_ms") is not None] for c in clients}
    return out


def measure_memory():
    """Memory of idle connections and of buffered deliveries in Chromium (bench.js memory_*
    workloads), warren vs amqp-client.js, alternating per round. Chromium runs with
    --js-flags=--expose-gc (the page collects garbage before each probe) and
    --enable-precise-memory-info (performance.memory unrounded)."""
    collector = Collector()
    say(f"memory: collector on http://127.0.0.1:{collector.port}/, relay {WS_URL}")
    log_path = os.path.join(STATE, "chromium-memory.log")
    open(log_path, "w").close()
    flags = ["--js-flags=--expose-gc", "--enable-precise-memory-info"]
    metrics = ["wasm", "js_heap", "renderer_private"]
    samples = {w: {c: {k: [] for k in metrics} for c in MEMORY_CLIENTS} for w in MEMORY_WORKLOADS}
    raw = []
    errors = []
    try:
        for r in range(ROUNDS):
            for w in MEMORY_WORKLOADS:
                order = MEMORY_CLIENTS[r % 2:] + MEMORY_CLIENTS[:r % 2]
                for c in order:
                    n = MEM_CONNECTIONS if w == "memory_idle" else MEM_MESSAGES
                    qs = urllib.parse.urlencode({"client": c, "workload": w, "n": n, "warmup": 0, "ws": WS_URL,
                                                 "run": f"{os.getpid()}-mem-{r}-{c}"})
                    url = f"http://127.0.0.1:{collector.port}/bench/browser/bench.html?{qs}"
                    t0 = time.monotonic()
                    res = chromium_once(collector, url, 120 + n // 100, log_path, flags)
                    took = time.monotonic() - t0
                    if not res.get("ok"):
                        msg = f"memory {c} {w} round {r + 1}: {str(res.get('error', '?'))[:500]}"
                        say("FAILED " + msg)
                        errors.append(msg)
                        continue
                    b, a = res["before"], res["after"]
                    # per idle connection, or per 10,000 buffered messages
                    scale = 1 / n if w == "memory_idle" else 10_000 / n
                    got = {}
                    for k in metrics:
                        if a.get(k) is not None and b.get(k) is not None:
                            got[k] = (a[k] - b[k]) * scale
                            samples[w][c][k].append(got[k])
                    raw.append({"round": r + 1, "client": c, "workload": w, "n": n, "before": b, "after": a,
                                "read_ms": res.get("read_ms"), "gc": bool(a.get("gc")), "wall_s": round(took, 2)})
                    say(f"memory round {r + 1}/{ROUNDS} {w:<15} {c:<12} " + "  ".join(
                        f"{k} {v / 1024:,.1f} KiB" for k, v in got.items())
                        + (f"  (read {res['read_ms']:.0f} ms)" if res.get("read_ms") is not None else "")
                        + f"  ({took:.1f} s)")
    finally:
        collector.close()
    return {"samples": samples, "raw": raw, "errors": errors, "connections": MEM_CONNECTIONS, "messages": MEM_MESSAGES}


# --- Deno and Node over TCP -----------------------------------------------------------------------


def tcp_key(client, runtime):
    return f"{client}@{runtime}"


def measure_tcpjs():
    """Each measurement is a fresh process (bench/tcpjs/run.mjs) running one workload of
    bench/browser/workloads.js with one library's AMQPClient, straight to the broker."""
    runner = os.path.join(BENCH, "tcpjs", "run.mjs")
    keys = [tcp_key(c, rt) for c, rt in TCP_CLIENTS]
    samples = {w: {k: [] for k in keys} for w in TCP_WORKLOADS}
    p99 = {k: [] for k in keys}
    errors = []
    runtimes = {}
    for r in range(ROUNDS):
        for w in TCP_RUN:
            for client, rt in TCP_CLIENTS:
                k = tcp_key(client, rt)
                run_id = f"{os.getpid()}-{r}-{client}-{rt}"
                args = [runner, client, w, str(N), str(WARMUP), str(RPC_PAIRS), AMQP_URL, run_id]
                cmd = ([DENO, "run", "--allow-net", "--allow-read", "--allow-env", "--allow-sys"] if rt == "deno"
                       else [NODE22]) + args
                t0 = time.monotonic()
                try:
                    proc = subprocess.run(cmd, text=True, capture_output=True, cwd=ROOT,
                                          env=dict(os.environ, BENCH_PKG=PKG),
                                          timeout=60 + (N + WARMUP) * 3 // 1000 if w != "rpc" else 60 + RPC_PAIRS // 20)
                except subprocess.TimeoutExpired:
                    proc = None
                took = time.monotonic() - t0
                if proc is None or proc.returncode != 0:
                    why = "timed out" if proc is None else proc.stderr.strip()[-500:]
                    msg = f"tcp {client} ({rt}) {w} round {r + 1}: {why}"
                    say("FAILED " + msg)
                    errors.append(msg)
                    continue
                res = json.loads(proc.stdout.strip().splitlines()[-1])
                runtimes[rt] = res.get("runtime", rt)
                if w == "rpc":
                    samples[w][k].append(res["p50_ms"])
                    p99[k].append(res["p99_ms"])
                    say(f"tcp round {r + 1}/{ROUNDS} {w:<12} {k:<18} p50 {res['p50_ms']:.3f} ms"
                        f"  p99 {res['p99_ms']:.3f} ms  ({took:.1f} s)")
                else:
                    rate = res["n"] / res["seconds"]
                    samples[w][k].append(rate)
                    say(f"tcp round {r + 1}/{ROUNDS} {w:<12} {k:<18} {rate:>10,.0f} msg/s  ({took:.1f} s)")
    return {"samples": samples, "rpc_p99": p99, "runtimes": runtimes, "errors": errors}


# --- machine and versions -------------------------------------------------------------------------


def lock_version(lockfile, name):
    try:
        text = open(lockfile).read()
    except OSError:
        return ""
    m = re.search(r'name = "%s"\nversion = "([^"]+)"' % re.escape(name), text)
    return m.group(1) if m else ""


def npm_version(path):
    try:
        with open(os.path.join(path, "package.json")) as f:
            return json.load(f)["version"]
    except (OSError, ValueError, KeyError):
        return ""


def machine_info():
    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    load = ""
    try:
        load = " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "memory": mem,
        "kernel": try_run(["uname", "-sr"]),
        "os": try_run(["sh", "-c", '. /etc/os-release && echo "$PRETTY_NAME"']),
        "loadavg_at_start": load,
    }


def versions():
    lock = os.path.join(NATIVE, "Cargo.lock")
    nm = os.path.join(BROWSER, "node_modules")
    commit = try_run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    dirty = try_run(["git", "-C", ROOT, "status", "--porcelain", "--", "src", "Cargo.toml", "pkg-template"])
    wasm = os.path.join(PKG if os.path.isdir(PKG) else os.path.join(ROOT, "pkg"), "warren_bg.wasm")
    wasm_id = try_run(["sha256sum", wasm]).split(" ")[0][:12]
    return {
        "warren": f"{npm_version(PKG if os.path.isdir(PKG) else os.path.join(ROOT, 'pkg'))} (git {commit}{', with uncommitted changes' if dirty else ''}"
                  f"{f'; warren_bg.wasm sha256 {wasm_id}…' if wasm_id else ''})",
        "rustc": try_run(["rustc", "--version"]),
        "chromium": try_run([CHROMIUM, "--version"]).splitlines()[-1] if try_run([CHROMIUM, "--version"]) else "",
        "rabbitmq": try_run(["dpkg-query", "-W", "-f=${Version}", "rabbitmq-server"]),
        "erlang": try_run(["dpkg-query", "-W", "-f=${Version}", "erlang-base"]),
        "websockify": try_run(["dpkg-query", "-W", "-f=${Version}", "websockify"]),
        "node": try_run(["node", "--version"]),
        "node (TCP section)": try_run([NODE22, "--version"]),
        "deno (TCP section)": try_run([DENO, "--version"]).splitlines()[0] if try_run([DENO, "--version"]) else "",
        "python": sys.version.split()[0],
        "wasm-bindgen": lock_version(os.path.join(ROOT, "Cargo.lock"), "wasm-bindgen"),
        "binaryen (wasm-opt)": npm_version(os.path.join(ROOT, "scripts", "node_modules", "binaryen")),
        "@cloudamqp/amqp-client": npm_version(os.path.join(nm, "@cloudamqp", "amqp-client")),
        "@stomp/stompjs": npm_version(os.path.join(nm, "@stomp", "stompjs")),
        "esbuild": npm_version(os.path.join(nm, "esbuild")),
        "lapin": lock_version(lock, "lapin"),
        "amqprs": lock_version(lock, "amqprs"),
        "amq-protocol": lock_version(lock, "amq-protocol"),
        "criterion": lock_version(lock, "criterion"),
        "tokio": lock_version(lock, "tokio"),
    }


# --- report ---------------------------------------------------------------------------------------


def fmt_rate(v):
    return f"{v:,.0f}"


def fmt_ms(v):
    return f"{v:.3f}"


def fmt_ns(v):
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"


def fmt_x(v):
    return f"{v:.2f}×"


def cell(values, fmt):
    if not values:
        return "–"
    s = summary(values)
    if s["n"] == 1:
        return fmt(s["median"])
    return f"{fmt(s['median'])} ({fmt(s['min'])}–{fmt(s['max'])})"


def ratio_cell(ratios):
    if not ratios:
        return "–"
    s = summary(ratios)
    if s["n"] == 1:
        return f"**{fmt_x(s['median'])}**"
    return f"**{fmt_x(s['median'])}** ({fmt_x(s['min'])}–{fmt_x(s['max'])})"


def kb(n):
    return f"{n / 1024:.1f} KiB"


def redact(url):
    return re.sub(r"//[^@/]*@", "//", url)


def round_ratios(sec, w, a, b, higher_is_better=True):
    """Per-round ratios a/b (b/a for lower-is-better) of a section, pairing figures of the same
    round only (a round where either failed is left out); older results without by_round pair
    the sample lists in order."""
    br = sec.get("by_round", {}).get(w)
    if br and a in br and b in br:
        return [(x / y if higher_is_better else y / x) for x, y in zip(br[a], br[b]) if x and y]
    return paired_ratios(sec["samples"][w][a], sec["samples"][w][b], higher_is_better)


def p99_ratios(sec, a, b):
    br = sec.get("rpc_p99_by_round")
    if br and a in br and b in br:
        return [y / x for x, y in zip(br[a], br[b]) if x and y]
    return paired_ratios(sec["rpc_p99"][a], sec["rpc_p99"][b], higher_is_better=False)


def spread(values):
    """(max - min) / median, as a percentage."""
    if len(values) < 2:
        return "–"
    return f"{(max(values) - min(values)) / statistics.median(values) * 100:.0f} %"


def goal_cell(v, goal, higher_is_better=True):
    return "meets" if (v >= goal if higher_is_better else v <= goal) else ("below" if higher_is_better else "above")


def stomp_report(st, chart_rows, goal_rows):
    s = st["samples"]
    rows = ["| workload | warren through warren-relay | stompjs over Web STOMP | warren ÷ stompjs | goal | |",
            "|---|---:|---:|---:|---|---|"]
    for w in STOMP_WORKLOADS:
        if w == "rpc":
            continue
        r = round_ratios(st, w, "warren", "stomp")
        v = statistics.median(r) if r else None
        rows.append(f"| {WORKLOAD_TITLES[w]} (msg/s) | {cell(s[w]['warren'], fmt_rate)} | {cell(s[w]['stomp'], fmt_rate)} | "
                    f"{ratio_cell(r)} | ≥ 2.0× | {goal_cell(v, 2.0) if v else '–'} |")
        if v:
            chart_rows.append(("Chromium vs stompjs (Web STOMP)", WORKLOAD_TITLES[w], v, 2.0))
            goal_rows.append(f"| Chromium {WORKLOAD_TITLES[w]} vs stompjs | ≥ 2.0× stompjs over Web STOMP | {fmt_x(v)} | {goal_cell(v, 2.0)} |")
    r50 = round_ratios(st, "rpc", "warren", "stomp", higher_is_better=False)
    r99 = p99_ratios(st, "warren", "stomp")
    rows.append(f"| RPC round trip p50 (**ms, lower is better**) | {cell(s['rpc']['warren'], fmt_ms)} | {cell(s['rpc']['stomp'], fmt_ms)} | "
                f"{ratio_cell(r50)} | none set | |")
    p99 = st.get("rpc_p99", {"warren": [], "stomp": []})
    rows.append(f"| RPC round trip p99 (**ms, lower is better**) | {cell(p99['warren'], fmt_ms)} | {cell(p99['stomp'], fmt_ms)} | "
                f"{ratio_cell(r99)} | none set | |")
    if r50:
        chart_rows.append(("Chromium vs stompjs (Web STOMP)", "RPC p50 latency (inverse)", statistics.median(r50), None))
    out = ["## STOMP anchor: warren vs @stomp/stompjs over RabbitMQ Web STOMP, headless Chromium\n",
           "\n".join(rows) + "\n",
           f"Same Chromium, same broker, same run (the Chromium matrix, see the browser section); ratios > 1: warren "
           f"better (latency: stompjs ÷ warren). warren goes through warren-relay (`{WS_URL}`), stompjs "
           f"{npm_version(os.path.join(BROWSER, 'node_modules', '@stomp', 'stompjs'))} straight to the broker's "
           f"rabbitmq_web_stomp listener (`{STOMP_URL}`), which has no relay hop. Same queue kind (classic, "
           "transient, non-exclusive, x-expires 600000), same 16 B body and count, warm-up in the same page; "
           "publish: the last SEND carries a receipt (the adapter sends it once the broker confirmed that message), "
           "the AMQP side polls the queue depth; no-ack = `ack: auto`; ack = `ack: client-individual` + "
           "`prefetch-count: 1000`, one ACK per message; confirmed publish = a receipt on every SEND "
           "(publisher confirms inside the adapter) vs `confirm.select`, both ≤ 1000 outstanding; RPC: "
           "`reply-to: /temp-queue/…` vs an exclusive server-named queue. Details: `bench/README.md`.\n"]
    loops = st.get("publish_loop_ms", {})
    if loops.get("stomp"):
        out.append(f"stompjs's `publish()` returns at once (no backpressure): its {N:,} SENDs left the page in "
                   f"{statistics.median(loops['stomp']):,.0f} ms (median); the rest of its publish figure is the broker's "
                   "STOMP adapter working through them.\n")
    if st["errors"]:
        out.append("Failed measurements:\n\n" + "\n".join(f"- {e}" for e in st["errors"]) + "\n")
    return "\n".join(out)


def session_report(ss, chart_rows, goal_rows):
    s = ss["samples"]
    rows = ["| workload (msg/s) | raw channel | session API | session ÷ raw | cost | goal | |",
            "|---|---:|---:|---:|---:|---|---|"]
    for w in SESSION_WORKLOADS:
        r = round_ratios(ss, w, "warren-session", "warren")
        v = statistics.median(r) if r else None
        cost = f"{(1 - v) * 100:+.1f} %" if v else "–"
        rows.append(f"| {WORKLOAD_TITLES[w]} | {cell(s[w]['warren'], fmt_rate)} | {cell(s[w]['warren-session'], fmt_rate)} | "
                    f"{ratio_cell(r)} | {cost} | ≤ 5 % cost | {goal_cell(v, 0.95) if v else '–'} |")
        if v:
            chart_rows.append(("Chromium session ÷ raw channel", WORKLOAD_TITLES[w], v, 0.95))
            goal_rows.append(f"| Chromium session API, {WORKLOAD_TITLES[w]} | ≤ 5 % slower than the raw channel (≥ 0.95×) | "
                             f"{fmt_x(v)} | {goal_cell(v, 0.95)} |")
    out = ["## Session overhead: warren's AMQPSession vs the raw channel, headless Chromium\n",
           "\n".join(rows) + "\n",
           "Both through warren-relay in the same Chromium run and rounds (the matrix described in the browser section; "
           "the raw-channel figures are the same warren page loads as the browser section's warren column when both "
           "run). Cost = 1 − session ÷ raw (negative: the session "
           "was faster). The session does what the raw workload does: publish = `await queue.publish(body, "
           "{ confirm: false })` then the queue depth polled (on a raw connection of the same page; unconfirmed session publishes use a "
           "channel without confirm mode, like the raw one); confirmed "
           "publish = `queue.publish(body)` (awaits the confirm), ≤ 1000 in flight; consume + ack = "
           "`subscribe({ prefetch: 1000 }, cb)` (acked when the callback returns); no-ack = `subscribe({ noAck: true }, cb)`. "
           "Both publish rows pass `deliveryMode: 1` (transient; the session always sets the property, default 2, "
           "persistent), so its messages differ from the raw channel's by that one property byte only.\n"]
    loops = ss.get("publish_loop_ms", {})
    if loops.get("warren") and loops.get("warren-session"):
        lw, ls = statistics.median(loops["warren"]), statistics.median(loops["warren-session"])
        out.append(f"Where the publish time goes: the loop of {N:,} awaited publishes alone took {lw:,.0f} ms on the raw "
                   f"channel and {ls:,.0f} ms through the session (median; {ls * 1000 / N:.1f} vs {lw * 1000 / N:.1f} µs per "
                   "call), the rest of each figure is the wait until the queue holds them all.\n")
    if ss["errors"]:
        out.append("Failed measurements:\n\n" + "\n".join(f"- {e}" for e in ss["errors"]) + "\n")
    return "\n".join(out)


def path_report(ps, chart_rows, goal_rows):
    s = ps["samples"]
    rows = ["| workload (msg/s) | warren in Chromium (warren-relay) | warren native (tokio, TCP) | Chromium ÷ native | goal | |",
            "|---|---:|---:|---:|---|---|"]
    for w in PATH_WORKLOADS:
        r = round_ratios(ps, w, "warren", "warren-native")
        v = statistics.median(r) if r else None
        rows.append(f"| {WORKLOAD_TITLES[w]} | {cell(s[w]['warren'], fmt_rate)} | {cell(s[w]['warren-native'], fmt_rate)} | "
                    f"{ratio_cell(r)} | ≥ 0.8× | {goal_cell(v, 0.8) if v else '–'} |")
        if v:
            chart_rows.append(("Chromium ÷ native (warren)", WORKLOAD_TITLES[w], v, 0.8))
            goal_rows.append(f"| browser path: warren in Chromium ÷ native, {WORKLOAD_TITLES[w]} | ≥ 0.8× | {fmt_x(v)} | {goal_cell(v, 0.8)} |")
    out = ["## Browser path cost: warren in Chromium vs warren native\n",
           "\n".join(rows) + "\n",
           "The same workload, same broker, same rounds: the Chromium figures are the warren page loads of the "
           "Chromium matrix (the browser section's warren column; wasm in the page, WebSocket, warren-relay, TCP to the broker); the native ones a fresh "
           "`bench/native` process per round (`warren-bench warren WORKLOAD N`: tokio, multi-threaded runtime, TCP "
           "straight to the broker), run in the same matrix. The ratio is what the whole browser path costs "
           "(wasm + JS glue + WebSocket + relay hop), not the wasm alone.\n"]
    if ps["errors"]:
        out.append("Failed measurements:\n\n" + "\n".join(f"- {e}" for e in ps["errors"]) + "\n")
    return "\n".join(out)


def fmt_kib(v):
    return f"{v / 1024:,.1f}"


def memory_report(m):
    s = m["samples"]
    nconn, nmsg = m["connections"], m["messages"]
    titles = {"memory_idle": f"per idle connection (KiB; {nconn} opened)",
              "memory_buffered": f"per 10,000 buffered deliveries (KiB; {nmsg:,} × 16 B)"}
    rows = ["| | client | wasm memory | JS heap | wasm + JS heap | renderer private memory (USS) |",
            "|---|---|---:|---:|---:|---:|"]
    for w in MEMORY_WORKLOADS:
        for c in MEMORY_CLIENTS:
            x = s[w][c]
            both = [a + b for a, b in zip(x["wasm"], x["js_heap"])]
            wasm = cell(x["wasm"], fmt_kib) if c == "warren" else "–"
            rows.append(f"| {titles[w]} | {CLIENT_TITLES[c]} | {wasm} | {cell(x['js_heap'], fmt_kib)} | "
                        f"{cell(both, fmt_kib)} | {cell(x['renderer_private'], fmt_kib)} |")
    reads = {c: [r["read_ms"] for r in m["raw"] if r["workload"] == "memory_buffered" and r["client"] == c and r.get("read_ms") is not None]
             for c in MEMORY_CLIENTS}
    read_txt = "; ".join(f"{CLIENT_TITLES[c]} {cell(v, lambda x: f'{x:,.0f}')} ms" for c, v in reads.items() if v)
    out = ["## Memory: idle connections and buffered deliveries, headless Chromium\n",
           "\n".join(rows) + "\n",
           f"Median (min–max) over {ROUNDS} round(s), the two libraries alternating, one page load each, through "
           "warren-relay. Each figure is the difference between two probes of the same page, taken after "
           "`gc()` (Chromium with `--js-flags=--expose-gc`, three collections 50 ms apart): **wasm memory** = "
           "warren's `WebAssembly.Memory` `buffer.byteLength` (it grows in 64 KiB pages and never shrinks, so it "
           f"counts reserved pages, not live bytes: per idle connection its resolution is 64 KiB ÷ {nconn} = "
           f"{64 / nconn:.1f} KiB); **JS heap** = `performance.memory.usedJSHeapSize` "
           "(`--enable-precise-memory-info`; V8's heap only: ArrayBuffer contents such as amqp-client.js's frame "
           "buffers are outside it); **renderer private memory** = USS (Private_Clean + Private_Dirty of "
           "`/proc/PID/smaps_rollup`) of the page's renderer process(es), sampled by the collector while the page "
           "waits: everything the page touched, ArrayBuffers and wasm pages included (the WebSocket buffers of the "
           "network service process are not). Idle connections: one connection is opened first (one-time costs), "
           f"then the probe, {nconn} more connections (no channel), one second idle, the probe; ÷ {nconn}. Buffered "
           f"deliveries: a consumer without callback (the async iterator, not read) on a queue of {nmsg:,} messages, "
           "noAck, probed once the broker has sent them all (queue depth 0, then 0.5 s); a first batch consumed "
           "through the iterator beforehand warms the code paths; scaled to 10,000. Reading the buffered "
           f"messages afterwards took {read_txt or '–'} (short: they were in the page).\n"]
    if m["errors"]:
        out.append("Failed measurements:\n\n" + "\n".join(f"- {e}" for e in m["errors"]) + "\n")
    return "\n".join(out)


def build_report(res):
    goals = []  # (label, value, goal, goal_text, higher_is_better)
    md = []
    md.append("# warren benchmarks\n")
    md.append(
        "Generated by `scripts/bench` — do not edit by hand; rerun the script instead "
        f"(`BENCH_N`, `BENCH_ROUNDS`, `BENCH_ONLY=…` override the defaults). Raw numbers: "
        f"`{os.path.relpath(RESULTS_JSON, os.path.dirname(OUT))}`.\n")
    md.append(f"Run: {res['started']} → {res['finished']} ({res['duration_s'] / 60:.1f} min); "
              f"N = {N:,} messages × 16 B, {ROUNDS} round(s) (Chromium consume, no-ack: {rounds_for('consume_noack')}), "
              f"RPC {RPC_PAIRS:,} pairs.\n")
    if res.get("section_runs"):
        md.append("Sections from earlier runs (a `BENCH_ONLY` run keeps the rest of the report): " + "; ".join(
            f"{k}: {v}" for k, v in sorted(res["section_runs"].items())) + ".\n")
    md.append("Every figure is the **median (min–max)** over the rounds; clients ran alternately "
              "(A B A B …) within each round. Ratios are **warren ÷ competitor, oriented so that "
              "> 1 means warren is better** (for latency: competitor ÷ warren); each ratio is the "
              "median (min–max) of the per-round paired ratios of this run.\n")

    sections = []
    chart_rows = []
    goal_rows_early = []  # goals of the STOMP, session and path sections, listed after the browser's

    if "browser" in res:
        b = res["browser"]
        s = b["samples"]
        rows = ["| workload (msg/s, higher is better) | warren-amqp | amqp-client.js | warren ÷ amqp-client |", "|---|---:|---:|---:|"]
        for w in BROWSER_WORKLOADS:
            if w == "rpc":
                continue
            ratios = round_ratios(b, w, "warren", "amqp-client")
            rounds = f" ({len(ratios)} rounds)" if w == "consume_noack" and ratios else ""
            rows.append(f"| {WORKLOAD_TITLES[w]}{rounds} | {cell(s[w]['warren'], fmt_rate)} | "
                        f"{cell(s[w]['amqp-client'], fmt_rate)} | {ratio_cell(ratios)} |")
            if ratios:
                chart_rows.append(("Chromium vs amqp-client.js", WORKLOAD_TITLES[w], statistics.median(ratios),
                                   {"publish": 2.0, "consume_ack": 2.0, "confirm": 2.0, "consume_noack": 1.2}[w]))
        p50w, p50a = s["rpc"]["warren"], s["rpc"]["amqp-client"]
        p99w, p99a = b["rpc_p99"]["warren"], b["rpc_p99"]["amqp-client"]
        r50 = round_ratios(b, "rpc", "warren", "amqp-client", higher_is_better=False)
        r99 = p99_ratios(b, "warren", "amqp-client")
        rows.append(f"| RPC round trip p50 (**ms, lower is better**) | {cell(p50w, fmt_ms)} | {cell(p50a, fmt_ms)} | {ratio_cell(r50)} |")
        rows.append(f"| RPC round trip p99 (**ms, lower is better**) | {cell(p99w, fmt_ms)} | {cell(p99a, fmt_ms)} | {ratio_cell(r99)} |")
        lat = [1 / v for v in r50]  # warren latency / amqp-client latency
        lat_cell = "–" if not lat else f"{fmt_x(statistics.median(lat))} of amqp-client's p50 latency (lower is better)"
        if r50:
            chart_rows.append(("Chromium vs amqp-client.js", "RPC p50 latency (inverse)", statistics.median(r50), 1 / 0.8))
        iso_all = [v for c in BROWSER_CLIENTS for v in b["cross_origin_isolated"].get(c, [])]
        iso = "yes" if iso_all and all(iso_all) else "no"
        sections.append("## Browser: headless Chromium, through the WebSocket relay\n")
        sections.append("\n".join(rows) + "\n")
        sections.append(f"RPC p50 latency, warren ÷ amqp-client: **{lat_cell}**.\n")
        rn = round_ratios(b, "consume_noack", "warren", "amqp-client")
        if rn:
            sw, sa = s["consume_noack"]["warren"], s["consume_noack"]["amqp-client"]
            met = sum(1 for v in rn if v >= 1.2)
            sections.append(
                f"**consume, no-ack** ran {len(rn)} paired rounds (`BENCH_NOACK_ROUNDS`, default 5, the other "
                f"workloads {ROUNDS}): per-round ratios {', '.join(fmt_x(v) for v in rn)}; median "
                f"**{fmt_x(statistics.median(rn))}** (goal ≥ 1.20×: {'meets' if statistics.median(rn) >= 1.2 else 'below'}; "
                f"{met} of {len(rn)} rounds at or above it). Spread (max − min) ÷ median: warren {spread(sw)}, "
                f"amqp-client.js {spread(sa)}, ratio {spread(rn)}.\n")
        sections.append(
            "Both libraries run the same code (`bench/browser/bench.js`) in the same Chromium, over the "
            f"same relay (`{WS_URL}` → RabbitMQ), one workload per page load, with a warm-up of "
            f"{WARMUP:,} messages in the same page first. Chromium is a plain process without "
            "remote debugging; the page POSTs its result to the script's collector, which also serves "
            f"the page cross-origin isolated (timer resolution; isolated: {iso}). The clients of every "
            "Chromium section (this one, STOMP, session, browser path) run in one matrix: per round and "
            "workload each client once, in an order rotated per round; warren's raw-channel page loads are "
            "shared by all of them, and ratios pair the clients' figures of the same round.\n")
        goals += [
            ("Chromium publish", b, "publish", 2.0),
            ("Chromium consume + ack", b, "consume_ack", 2.0),
            ("Chromium confirmed publish", b, "confirm", 2.0),
            (f"Chromium no-ack consume ({len(rn)} rounds)", b, "consume_noack", 1.2),
        ]
        if b["errors"]:
            sections.append("Failed measurements:\n\n" + "\n".join(f"- {e}" for e in b["errors"]) + "\n")

    if "stomp" in res:
        sections.append(stomp_report(res["stomp"], chart_rows, goal_rows_early))
    if "session" in res:
        sections.append(session_report(res["session"], chart_rows, goal_rows_early))
    if "path" in res:
        sections.append(path_report(res["path"], chart_rows, goal_rows_early))
    if "memory" in res:
        sections.append(memory_report(res["memory"]))

    if "tcpjs" in res:
        t = res["tcpjs"]
        s = t["samples"]
        wd, an, ad, wn = (tcp_key(c, rt) for c, rt in TCP_CLIENTS)
        rt_names = t.get("runtimes", {})
        deno = rt_names.get("deno", "Deno")
        node = rt_names.get("node", "Node")
        rows = [f"| workload (msg/s, higher is better) | warren-amqp in {deno} | amqp-client in {node} | "
                f"amqp-client in {deno} | warren-amqp in {node} | warren (Deno) ÷ amqp-client (Node) | "
                "warren (Deno) ÷ amqp-client (Deno) |", "|---|---:|---:|---:|---:|---:|---:|"]
        for w in TCP_WORKLOADS:
            lower = w == "rpc"
            fmt = fmt_ms if lower else fmt_rate
            title = "RPC round trip p50 (**ms, lower is better**)" if lower else WORKLOAD_TITLES[w]
            sw = s[w]
            r_node = paired_ratios(sw[wd], sw[an], higher_is_better=not lower)
            r_deno = paired_ratios(sw[wd], sw[ad], higher_is_better=not lower)
            rows.append(f"| {title} | {cell(sw[wd], fmt)} | {cell(sw[an], fmt)} | {cell(sw[ad], fmt)} | "
                        f"{cell(sw[wn], fmt)} | {ratio_cell(r_node)} | {ratio_cell(r_deno)} |")
            if r_node:
                chart_rows.append(("Deno TCP vs amqp-client in Node", "RPC p50 latency (inverse)" if lower else WORKLOAD_TITLES[w],
                                   statistics.median(r_node), None))
        p = t["rpc_p99"]
        rows.append(f"| RPC round trip p99 (**ms, lower is better**) | {cell(p[wd], fmt_ms)} | {cell(p[an], fmt_ms)} | "
                    f"{cell(p[ad], fmt_ms)} | {cell(p[wn], fmt_ms)} | {ratio_cell(paired_ratios(p[wd], p[an], False))} | "
                    f"{ratio_cell(paired_ratios(p[wd], p[ad], False))} |")
        sections.append("## Deno and Node over TCP, no relay: `AMQPClient`\n")
        sections.append("\n".join(rows) + "\n")
        sections.append(
            "The same workloads as the browser section (`bench/browser/workloads.js`), each measurement a "
            "fresh process (`bench/tcpjs/run.mjs`) running one library's `AMQPClient` over TCP straight to the "
            f"broker (`{redact(AMQP_URL)}`), with a warm-up of {WARMUP:,} messages in the same process first. "
            "warren-amqp is the package's `deno` / `node` entry (the wasm engine over `Deno.connect` / "
            "`node:net`); amqp-client 4.1.1 is its own `AMQPClient` (`node:net`, in Deno through its Node "
            "compatibility). The four runs alternate within each round.\n")
        if t["errors"]:
            sections.append("Failed measurements:\n\n" + "\n".join(f"- {e}" for e in t["errors"]) + "\n")

    goal_rows = []
    for label, sec, w, goal in goals:
        r = round_ratios(sec, w, "warren", "amqp-client")
        if r:
            v = statistics.median(r)
            goal_rows.append(f"| {label} | ≥ {goal:.1f}× amqp-client.js | {fmt_x(v)} | {'meets' if v >= goal else 'below'} |")
    if "browser" in res:
        r = [1 / v for v in round_ratios(res["browser"], "rpc", "warren", "amqp-client", higher_is_better=False)]
        if r:  # warren latency / competitor latency
            v = statistics.median(r)
            goal_rows.append(f"| Chromium RPC p50 latency | ≤ 0.80× amqp-client.js's latency (lower is better) | "
                             f"{fmt_x(v)} | {'meets' if v <= 0.8 else 'above'} |")
    goal_rows += goal_rows_early

    if "relay" in res:
        goal_rows += relay_bench.goals(sys.modules[__name__], res["relay"])
        sections.append(relay_bench.report(sys.modules[__name__], res["relay"]))

    if "native" in res:
        s = res["native"]["samples"]
        rows = ["| workload (msg/s) | warren | lapin | amqprs | warren ÷ lapin | warren ÷ amqprs | warren ÷ better of the two |",
                "|---|---:|---:|---:|---:|---:|---:|"]
        for w in NATIVE_WORKLOADS:
            sw = s[w]
            rl = paired_ratios(sw["warren"], sw["lapin"])
            ra = paired_ratios(sw["warren"], sw["amqprs"])
            best = [min(x, y) for x, y in zip(rl, ra)] if rl and ra else (rl or ra)
            rows.append(f"| {WORKLOAD_TITLES[w]} | {cell(sw['warren'], fmt_rate)} | {cell(sw['lapin'], fmt_rate)} | "
                        f"{cell(sw['amqprs'], fmt_rate)} | {ratio_cell(rl)} | {ratio_cell(ra)} | {ratio_cell(best)} |")
            if best:
                v = statistics.median(best)
                chart_rows.append(("native vs better of lapin/amqprs", WORKLOAD_TITLES[w], v, 1.2 if w in ("publish", "consume_ack", "consume_noack") else None))
                goal_rows.append(f"| native {WORKLOAD_TITLES[w]} | ≥ 1.2× the better of lapin and amqprs | {fmt_x(v)} | {'meets' if v >= 1.2 else 'below'} |")
        sections.append("## Native: tokio, warren vs lapin vs amqprs\n")
        sections.append("\n".join(rows) + "\n")
        sections.append(
            "Each measurement is a fresh process (`bench/native`, `target/bench/release/warren-bench`) on a "
            "multi-threaded tokio runtime, connecting over TCP to the same broker; the \"better of the two\" "
            "column takes, per round, whichever competitor was faster.\n")
        if res["native"]["errors"]:
            sections.append("Failed measurements:\n\n" + "\n".join(f"- {e}" for e in res["native"]["errors"]) + "\n")

    if "codec" in res:
        c = res["codec"]
        rows = ["| per message (ns) | warren | amq-protocol | amq-protocol ÷ warren (> 1: warren faster) |",
                "|---|---:|---:|---:|"]
        titles = {"publish": "basic.publish + header + 16 B body", "deliver": "basic.deliver stream (1,000 messages)"}
        for group in ("publish", "deliver"):
            for op in ("encode", "decode"):
                w = c[f"{group}/{op}/warren"]
                a = c[f"{group}/{op}/amq-protocol"]
                v = a["median"] / w["median"]
                rows.append(f"| {op} {titles[group]} | {fmt_ns(w['median'])} ({fmt_ns(w['min'])}–{fmt_ns(w['max'])}) | "
                            f"{fmt_ns(a['median'])} ({fmt_ns(a['min'])}–{fmt_ns(a['max'])}) | **{fmt_x(v)}** |")
                # encode: issue #4's 3×; decode: issue #15's 2× (Bytes-backed strings, no per-field allocation)
                goal = 3.0 if op == "encode" else 2.0
                chart_rows.append(("codec vs amq-protocol", f"{op} {group}", v, goal))
                goal_rows.append(f"| codec {op} {group} | ≥ {goal:g}× amq-protocol per message | {fmt_x(v)} | {'meets' if v >= goal else 'below'} |")
        sections.append("## Codec: criterion, warren `protocol` vs amq-protocol\n")
        sections.append("\n".join(rows) + "\n")
        sections.append(
            "`bench/native/benches/codec.rs`: both libraries encode the same messages (byte-identical output, "
            "asserted) and decode the same bytes into typed frames. Encoding starts from exchange, routing key, "
            "properties and body (building the method value is part of the cost). Figures are per message: "
            f"median (min–max) over criterion's samples ({CODEC_SECS} s measurement per benchmark); the ratio "
            "compares medians.\n")

    if "size" in res:
        z = res["size"]
        pkg = z["package"]
        rows = ["| artifact | raw | gzip -9 |", "|---|---:|---:|"]
        rows.append(f"| warren_bg.wasm (the binary, not shipped on its own) | {pkg['wasm']['raw']:,} B | {pkg['wasm']['gz']:,} B |")
        rows.append(f"| warren_wasm.js (the wasm deflated + base64, inflated at import) | {pkg['wasm_inlined']['raw']:,} B | {pkg['wasm_inlined']['gz']:,} B |")
        rows.append(f"| JS glue (index, api, session, warren, wasm-bytes; minified) | {pkg['js_glue']['raw']:,} B | {pkg['js_glue']['gz']:,} B |")
        t = pkg["total"]
        rows.append(f"| **warren-amqp: what an import loads, sessions included** | **{t['raw']:,} B ({kb(t['raw'])})** | **{t['gz']:,} B ({kb(t['gz'])})** |")
        a = z["amqp_client"]
        rows.append(f"| amqp-client.js browser bundle (dist/amqp-websocket-client.mjs) | {a['raw_unminified']:,} B | {a['gz_unminified']:,} B |")
        rows.append(f"| **amqp-client.js bundle minified (esbuild)** | **{a['raw']:,} B ({kb(a['raw'])})** | **{a['gz']:,} B ({kb(a['gz'])})** |")
        ratio = a["gz"] / t["gz"]
        sections.append("## Size\n")
        sections.append("\n".join(rows) + "\n")
        sections.append(f"amqp-client.js minified gz ÷ warren gz: **{fmt_x(ratio)}** (> 1: warren smaller). "
                        "Figures from `scripts/build-pkg` (`target/pkg-size.json`); `scripts/size-budget` fails the "
                        "test run when the total grows past its budget.\n")
        bd = pkg.get("breakdown")
        if bd:
            layer_rows = ["| layer | bytes | share |", "|---|---:|---:|"]
            for l in bd["layers"]:
                layer_rows.append(f"| {l['layer']} | {l['bytes']:,} B | {100 * l['bytes'] / bd['total']:.1f} % |")
            top_rows = ["| item | bytes |", "|---|---:|"]
            for i in bd["largest"]:
                top_rows.append(f"| `{i['item'][:100]}` | {i['bytes']:,} B |")
            sections.append(f"### Where the wasm's {bd['total']:,} bytes go\n")
            sections.append("`scripts/wasm-breakdown` (twiggy over the optimised wasm with its name section kept), by layer; "
                            "the exports' shims include what wasm-opt inlined into them.\n")
            sections.append("\n".join(layer_rows) + "\n")
            sections.append("\n".join(top_rows) + "\n")
        goal_rows.append(f"| size: the package, gzip -9, sessions included | ≤ 45 KB (46,080 B; stretch 25 KB) | {t['gz']:,} B | {'meets' if t['gz'] <= 46080 else 'above'} |")

    if goal_rows:
        md.append("## Against the goals\n")
        md.append("Reported, not asserted.\n")
        md.append("| goal | target | this run (median) | |\n|---|---|---:|---|\n" + "\n".join(goal_rows) + "\n")
    if chart_rows:
        chart = os.path.relpath(CHART_SVG, os.path.dirname(OUT))
        md.append(f"![warren ÷ competitor per workload, with goals]({chart})\n")
    md.extend(sections)
    for section, err in res.get("failures", {}).items():
        md.append(f"## {section}: FAILED in this run\n")
        md.append("```\n" + err.strip() + "\n```\n")

    md.append("## Workloads\n")
    md.append(
        f"- **publish**: N × 16 B to a fresh transient queue through the default exchange, each publish awaited as "
        "an application would; timed from the first publish until a passive `queue.declare` on the same channel "
        "reports N messages.\n"
        "- **consume + ack**: the queue is filled with N messages first (untimed); `basic.qos` prefetch 1000, "
        "a consumer callback acks every message individually; timed from `basic.consume` to the N-th message.\n"
        "- **consume, no-ack**: the same with `noAck: true` (no prefetch limit).\n"
        "- **confirmed publish** (browser): `confirm.select`, a window of at most 1000 unconfirmed publishes; timed "
        "until the N-th confirm.\n"
        f"- **RPC** (browser): a server and a client connection of the same library in one page; the client publishes "
        f"a request with `replyTo` (an exclusive server-named queue) and `correlationId` and awaits the reply "
        f"before the next; {RPC_PAIRS:,} timed pairs after a short warm-up; per-pair latency p50/p99.\n"
        "- The STOMP, session and memory workloads are described in their sections (and in `bench/README.md`): "
        "each does what the workload of the same name does, with the means its API has.\n")

    m = res["machine"]
    v = res["versions"]
    md.append("## Machine and versions\n")
    rows = ["| | |", "|---|---|",
            f"| CPU | {m['cpu_model']} × {m['cpus']} |",
            f"| memory | {m['memory']} |",
            f"| OS | {m['os']}, {m['kernel']} |",
            f"| load average at start | {m['loadavg_at_start']} |"]
    for k, val in v.items():
        if val:
            rows.append(f"| {k} | {val} |")
    if res.get("browser", {}).get("user_agent"):
        rows.append(f"| page user agent | {res['browser']['user_agent']} |")
    md.append("\n".join(rows) + "\n")
    return "\n".join(md), chart_rows


def write_chart(rows, path):
    """Horizontal bars of warren ÷ competitor (log scale), a line at 1× and a tick at each goal."""
    if not rows:
        return
    import math

    lo, hi = 0.1, 10.0
    vals = [r[2] for r in rows] + [r[3] for r in rows if r[3]]
    lo = min(lo, min(vals) / 1.2)
    hi = max(hi, max(vals) * 1.2)
    left, width, bar_h, gap, top = 430, 430, 18, 8, 40
    height = top + len(rows) * (bar_h + gap) + 40

    def x(v):
        return left + width * (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 70}" height="{height}" '
           'font-family="sans-serif" font-size="12">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="10" y="20" font-size="14" font-weight="bold">warren ÷ competitor (&gt; 1: warren better; '
           'log scale; | = goal)</text>']
    for tick in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50):
        if lo <= tick <= hi:
            out.append(f'<line x1="{x(tick):.1f}" y1="{top - 6}" x2="{x(tick):.1f}" y2="{height - 30}" '
                       f'stroke="{"#444" if tick == 1 else "#ddd"}"/>')
            out.append(f'<text x="{x(tick):.1f}" y="{height - 14}" text-anchor="middle">{tick:g}×</text>')
    for i, (section, label, v, goal) in enumerate(rows):
        y = top + i * (bar_h + gap)
        color = "#2b7bb9" if goal is None or v >= goal else "#d9822b"
        x0, x1 = x(1), x(v)
        out.append(f'<text x="{left - 8}" y="{y + bar_h - 5}" text-anchor="end">{section}: {label}</text>')
        out.append(f'<rect x="{min(x0, x1):.1f}" y="{y}" width="{abs(x1 - x0):.1f}" height="{bar_h}" fill="{color}"/>')
        out.append(f'<text x="{max(x0, x1) + 4:.1f}" y="{y + bar_h - 5}">{v:.2f}×</text>')
        if goal:
            out.append(f'<line x1="{x(goal):.1f}" y1="{y - 2}" x2="{x(goal):.1f}" y2="{y + bar_h + 2}" '
                       'stroke="black" stroke-width="2"/>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def print_table(res):
    """A compact plain-text summary on stdout."""
    lines = []
    if "size" in res:
        z = res["size"]
        lines.append(f"size: warren-amqp as loaded {z['warren_total']['raw']:,} B raw, {z['warren_total']['gz']:,} B gz;"
                     f" amqp-client.js min {z['amqp_client']['raw']:,} B, {z['amqp_client']['gz']:,} B gz")
    if "codec" in res:
        c = res["codec"]
        for g in ("publish", "deliver"):
            for op in ("encode", "decode"):
                w, a = c[f"{g}/{op}/warren"]["median"], c[f"{g}/{op}/amq-protocol"]["median"]
                lines.append(f"codec {op:<6} {g:<8} warren {w:8.1f} ns/msg  amq-protocol {a:8.1f} ns/msg  {a / w:5.2f}x")
    if "native" in res:
        s = res["native"]["samples"]
        for w in NATIVE_WORKLOADS:
            parts = [f"{c} {statistics.median(s[w][c]):>10,.0f}" if s[w][c] else f"{c} {'–':>10}" for c in NATIVE_CLIENTS]
            lines.append(f"native  {w:<14} " + "  ".join(parts) + " msg/s")
    if "browser" in res:
        s = res["browser"]["samples"]
        for w in BROWSER_WORKLOADS:
            unit = "ms p50" if w == "rpc" else "msg/s"
            parts = []
            for c in BROWSER_CLIENTS:
                if s[w][c]:
                    m = statistics.median(s[w][c])
                    parts.append(f"{c} {m:>10.3f}" if w == "rpc" else f"{c} {m:>10,.0f}")
                else:
                    parts.append(f"{c} {'–':>10}")
            r = round_ratios(res["browser"], w, "warren", "amqp-client", higher_is_better=(w != "rpc"))
            ratio = f"  ratio {statistics.median(r):.2f}x (> 1: warren better)" if r else ""
            lines.append(f"chromium {w:<14} " + "  ".join(parts) + f" {unit}{ratio}")
    for sec in ("stomp", "session", "path"):
        if sec not in res:
            continue
        comp, wls = CHROMIUM_PLAN[sec]
        a, b = ("warren-session", "warren") if sec == "session" else ("warren", comp)
        for w in wls:
            s = res[sec]["samples"].get(w, {})
            if not s.get(a) or not s.get(b):
                continue
            lower = w == "rpc"
            r = round_ratios(res[sec], w, a, b, higher_is_better=not lower)
            f = (lambda v: f"{v:.3f} ms") if lower else (lambda v: f"{v:,.0f}")
            lines.append(f"{sec:<8} {w:<14} {a} {f(statistics.median(s[a]))}  {b} {f(statistics.median(s[b]))}"
                         + (f"  ratio {statistics.median(r):.2f}x" if r else ""))
    if "memory" in res:
        for w in MEMORY_WORKLOADS:
            for c in MEMORY_CLIENTS:
                x = res["memory"]["samples"][w][c]
                lines.append(f"memory {w:<15} {c:<12} " + "  ".join(
                    f"{k} {statistics.median(v) / 1024:,.1f} KiB" for k, v in x.items() if v))
    if "tcpjs" in res:
        s = res["tcpjs"]["samples"]
        for w in TCP_WORKLOADS:
            unit = "ms p50" if w == "rpc" else "msg/s"
            parts = []
            for c, rt in TCP_CLIENTS:
                v = s[w][tcp_key(c, rt)]
                m = statistics.median(v) if v else None
                parts.append(f"{c}@{rt} " + ("–" if m is None else f"{m:.3f}" if w == "rpc" else f"{m:,.0f}"))
            lines.append(f"tcp {w:<12} " + "  ".join(parts) + f" {unit}")
    print("\n".join(lines))


def snapshot_pkg():
    src = os.path.join(ROOT, "pkg")
    for attempt in range(6):  # pkg/ may be in the middle of a rebuild (scripts/build-pkg)
        shutil.rmtree(PKG, ignore_errors=True)
        try:
            shutil.copytree(src, PKG)
            if all(os.path.isfile(os.path.join(PKG, f)) for f in ("index.js", "warren.js", "warren_bg.wasm")):
                return
        except (OSError, shutil.Error):
            pass
        time.sleep(5)
    sys.exit("pkg/ is missing or incomplete: run scripts/build-pkg")


def relay_only():
    """BENCH_ONLY=relay: measure the relays and replace only that section of the report."""
    t0 = time.monotonic()
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    res = relay_bench.measure(sys.modules[__name__])
    res["started"] = started
    res["machine"] = machine_info()
    path = os.path.join(os.path.dirname(RESULTS_JSON), "relay.json")
    with open(path, "w") as f:
        json.dump(res, f, indent=1, default=list)
    relay_bench.splice(OUT, relay_bench.report(sys.modules[__name__], res))
    s = res["samples"]
    for w in relay_bench.WORKLOADS:
        print(f"relay {w:<12} " + "  ".join(
            f"{r} {statistics.median(s[w][r]):,.3f}" if s[w][r] else f"{r} –" for r in relay_bench.RELAYS))
    for name, i in res.get("idle", {}).items():
        print(f"relay idle {name}: {i['per_connection'] / 1024:.1f} KiB/connection, cpu {i['idle_cpu_s']:.2f} s")
    say(f"wrote the relay section of {OUT} and {path} in {(time.monotonic() - t0) / 60:.1f} min")
    sys.exit(1 if res["errors"] else 0)


def main():
    os.makedirs(os.path.dirname(RESULTS_JSON), exist_ok=True)
    unknown = set(ONLY) - set(SECTIONS)
    if unknown:
        sys.exit(f"unknown BENCH_ONLY section(s): {', '.join(sorted(unknown))}")
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.monotonic()
    os.makedirs(STATE, exist_ok=True)
    if set(ONLY) & {"size", "browser", "stomp", "session", "path", "memory", "tcpjs", "relay"}:
        snapshot_pkg()
    if ONLY == ["relay"]:
        relay_only()
        return
    res = {"settings": {"n": N, "rounds": ROUNDS, "rpc_pairs": RPC_PAIRS, "warmup": WARMUP, "only": ONLY},
           "machine": machine_info(), "versions": versions()}
    failed = False
    # A subset run into the real report keeps the sections it does not run from the last one.
    if OUT == os.path.join(ROOT, "BENCHMARKS.md") and set(ONLY) != set(SECTIONS) and os.path.exists(RESULTS_JSON):
        with open(RESULTS_JSON) as f:
            prev = json.load(f)
        runs = prev.get("section_runs", {})
        for section in SECTIONS:
            if section not in ONLY and section in prev:
                res[section] = prev[section]
                runs.setdefault(section, f"{prev.get('started', '?')} (N = {prev.get('settings', {}).get('n', '?'):,})"
                                if isinstance(prev.get('settings', {}).get('n'), int) else prev.get('started', '?'))
        # `scripts/bench relay` keeps its figures in results/relay.json (and splices only its own
        # section): when that is newer than the last report's, carry it instead of losing it
        relay_json = os.path.join(os.path.dirname(RESULTS_JSON), "relay.json")
        if "relay" not in ONLY and os.path.exists(relay_json):
            with open(relay_json) as f:
                rj = json.load(f)
            # "started" is "YYYY-MM-DD HH:MM UTC": compares as text
            if "relay" not in prev or rj.get("started", "") > prev.get("started", ""):
                res["relay"] = rj
                runs["relay"] = f"{rj.get('started', 'earlier')} (`scripts/bench relay`, results/relay.json)"
        for section in ONLY:
            runs.pop(section, None)
        if runs:
            res["section_runs"] = runs
    chromium = [sec for sec in CHROMIUM_SECTIONS if sec in ONLY]
    steps = [("size", measure_size), ("codec", measure_codec), ("native", measure_native),
             ("chromium", lambda: measure_chromium(chromium)), ("memory", measure_memory),
             ("tcpjs", measure_tcpjs), ("relay", lambda: relay_bench.measure(sys.modules[__name__]))]
    for step, fn in steps:
        names = chromium if step == "chromium" else [step] if step in ONLY else []
        if not names:
            continue
        try:
            out = fn()
            if step == "chromium":
                res["chromium_raw"] = {"phases": out["phases"]}
                for sec in names:
                    res[sec] = chromium_section(out, sec)
                    res[sec].pop("phases", None)
            else:
                res[step] = out
            failed |= any(bool(res[n].get("errors")) for n in names if isinstance(res[n], dict))
        except Exception as e:  # noqa: BLE001 — report the section as failed, go on with the rest
            import traceback
            say(f"FAILED {'/'.join(names)}: {e}\n{traceback.format_exc()}")
            for n in names:
                res.setdefault("failures", {})[n] = str(e)[-2000:]
            failed = True
    res["started"] = started.strftime("%Y-%m-%d %H:%M UTC")
    res["finished"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    res["duration_s"] = time.monotonic() - t0
    with open(RESULTS_JSON, "w") as f:
        json.dump(res, f, indent=1, default=list)
    report, chart_rows = build_report(res)
    write_chart(chart_rows, CHART_SVG)
    with open(OUT, "w") as f:
        f.write(report)
    print_table(res)
    say(f"wrote {OUT}, {RESULTS_JSON} and {CHART_SVG} in {res['duration_s'] / 60:.1f} min")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
