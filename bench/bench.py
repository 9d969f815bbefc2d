#!/usr/bin/env python3
"""warren's benchmark suite: runs the measurements and writes BENCHMARKS.md (and a chart).

Run it through scripts/bench, which installs the npm tools, builds what is missing and starts
the broker and relay first. Sections (BENCH_ONLY picks some, comma-separated):

  size     warren's wasm + JS glue vs @cloudamqp/amqp-client's browser bundle (minified), gzip -9
  codec    criterion: encode/decode of basic.publish and a basic.deliver stream, vs amq-protocol
  native   tokio: warren vs lapin vs amqprs (bench/native), publish / consume+ack / consume no-ack
  browser  headless Chromium: warren-amqp vs amqp-client.js through the relay, five workloads
  relay    headless Chromium: warren-amqp through warren-relay vs websockify vs a Node ws relay
           (publish, consume + ack, RPC), and each relay's memory/CPU at 1,000 idle connections
           (bench/relay_bench.py). Run alone (BENCH_ONLY=relay, `scripts/bench relay`) it rewrites
           only its own section of BENCHMARKS.md and keeps its raw figures in results/relay.json.

Every throughput figure is the median (min-max) over BENCH_ROUNDS rounds that alternate the
clients A B A B...; every ratio compares figures from this run only.

Environment: BENCH_N (100000), BENCH_ROUNDS (3), BENCH_RPC_PAIRS (2000), BENCH_ONLY
(size,codec,native,browser,relay), BENCH_WARMUP (browser warm-up messages, default min(N/10, 5000)),
BENCH_CODEC_SECS (criterion measurement time, 3), BENCH_OUT (BENCHMARKS.md; another path puts
the raw JSON and chart next to it instead of bench/results/), BENCH_WORKLOADS (a subset, for
iteration), BENCH_DIAG=1 (the page counts WebSocket sends; in the raw JSON), WARREN_AMQP_URL,
WARREN_RELAY_PORT.
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
ONLY = [s.strip() for s in os.environ.get("BENCH_ONLY", "size,codec,native,browser,relay").split(",") if s.strip()]
OUT = os.path.abspath(os.environ.get("BENCH_OUT", os.path.join(ROOT, "BENCHMARKS.md")))
# Raw results and the chart: bench/results/ for the real report; next to BENCH_OUT otherwise.
if OUT == os.path.join(ROOT, "BENCHMARKS.md"):
    RESULTS_JSON = os.path.join(BENCH, "results", "latest.json")
    CHART_SVG = os.path.join(BENCH, "results", "ratios.svg")
else:
    RESULTS_JSON = os.path.splitext(OUT)[0] + ".json"
    CHART_SVG = os.path.splitext(OUT)[0] + ".svg"
AMQP_URL = os.environ.get("WARREN_AMQP_URL", "amqp://guest:guest@127.0.0.1:5673/%2f")
RELAY_PORT = env_int("WARREN_RELAY_PORT", 15673)
WS_URL = f"ws://127.0.0.1:{RELAY_PORT}"

BROWSER_CLIENTS = ["warren", "amqp-client"]
BROWSER_WORKLOADS = ["publish", "consume_ack", "consume_noack", "confirm", "rpc"]
NATIVE_CLIENTS = ["warren", "lapin", "amqprs"]
NATIVE_WORKLOADS = ["publish", "consume_ack", "consume_noack"]
# For quick iteration only (the report expects every client): BENCH_WORKLOADS=publish,rpc
_only_workloads = [w for w in os.environ.get("BENCH_WORKLOADS", "").split(",") if w]
BROWSER_RUN = [w for w in BROWSER_WORKLOADS if not _only_workloads or w in _only_workloads]
NATIVE_RUN = [w for w in NATIVE_WORKLOADS if not _only_workloads or w in _only_workloads]

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
    say("size")
    pkg = PKG
    files = {"warren_bg.wasm": "wasm", "warren.js": "glue", "index.js": "glue"}
    rows = []
    for f in files:
        p = os.path.join(pkg, f)
        rows.append({"artifact": f"pkg/{f}", "raw": os.path.getsize(p), "gz": gz9(p)})
    tmp = tempfile.mkdtemp(prefix="warren-size-")
    try:
        # warren's glue minified the same way, for a like-for-like view of the JS part
        glue_min = os.path.join(tmp, "warren.min.js")
        esbuild_minify(os.path.join(pkg, "warren.js"), glue_min)
        warren_min = {"raw": os.path.getsize(glue_min), "gz": gz9(glue_min)}
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
    total = {"raw": sum(r["raw"] for r in rows), "gz": sum(r["gz"] for r in rows)}
    wasm = rows[0]
    total_min = {
        "raw": wasm["raw"] + warren_min["raw"] + rows[2]["raw"],
        "gz": wasm["gz"] + warren_min["gz"] + rows[2]["gz"],
    }
    return {"warren_files": rows, "warren_total": total, "warren_glue_min": warren_min,
            "warren_total_min": total_min, "amqp_client": amqp}


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
                if urllib.parse.urlsplit(self.path).path != "/result":
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


def chromium_once(collector, url, timeout_s, log_path):
    """Launches Chromium (no remote debugging, no DevTools client) on `url`, waits for the page's
    POST (bounded) and kills the browser's process group."""
    profile = tempfile.mkdtemp(prefix="warren-bench-chromium-")
    cmd = [
        CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync",
        # keep timers and the renderer at full speed even though no window is visible
        "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
        f"--user-data-dir={profile}", url,
    ]
    collector.drain()
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
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
        shutil.rmtree(profile, ignore_errors=True)


def measure_browser():
    collector = Collector()
    say(f"browser: collector on http://127.0.0.1:{collector.port}/, relay {WS_URL}")
    log_path = os.path.join(STATE, "chromium.log")
    open(log_path, "w").close()
    samples = {w: {c: [] for c in BROWSER_CLIENTS} for w in BROWSER_WORKLOADS}
    extra = {c: {"p99": [], "isolated": set()} for c in BROWSER_CLIENTS}
    errors = []
    phases = []
    try:
        for r in range(ROUNDS):
            for w in BROWSER_RUN:
                for c in BROWSER_CLIENTS:
                    run_id = f"{os.getpid()}-{r}-{c}"
                    qs = urllib.parse.urlencode({"client": c, "workload": w, "n": N, "warmup": WARMUP,
                                                 "pairs": RPC_PAIRS, "ws": WS_URL, "run": run_id,
                                                 "diag": os.environ.get("BENCH_DIAG", "0")})
                    url = f"http://127.0.0.1:{collector.port}/bench/browser/bench.html?{qs}"
                    timeout_s = 60 + (N + WARMUP) * 3 // 1000 if w != "rpc" else 60 + RPC_PAIRS // 20
                    t0 = time.monotonic()
                    res = chromium_once(collector, url, timeout_s, log_path)
                    took = time.monotonic() - t0
                    if not res.get("ok"):
                        msg = f"browser {c} {w} round {r + 1}: {res.get('error', '?')[:500]}"
                        say("FAILED " + msg)
                        errors.append(msg)
                        continue
                    extra[c]["isolated"].add(bool(res.get("crossOriginIsolated")))
                    detail = {k: v for k, v in res.items() if k not in ("userAgent", "run", "ok")}
                    phases.append({"round": r + 1, "wall_s": round(took, 2), **detail})
                    extra[c]["userAgent"] = res.get("userAgent", "")
                    if w == "rpc":
                        samples[w][c].append(res["p50_ms"])
                        extra[c]["p99"].append(res["p99_ms"])
                        say(f"browser round {r + 1}/{ROUNDS} {w:<14} {c:<12} p50 {res['p50_ms']:.3f} ms"
                            f"  p99 {res['p99_ms']:.3f} ms  ({took:.1f} s)")
                    else:
                        rate = res["n"] / res["seconds"]
                        samples[w][c].append(rate)
                        say(f"browser round {r + 1}/{ROUNDS} {w:<14} {c:<12} {rate:>10,.0f} msg/s  ({took:.1f} s)")
    finally:
        collector.close()
    for c in extra:
        extra[c]["isolated"] = sorted(extra[c]["isolated"])
    return {"samples": samples, "rpc_p99": {c: extra[c]["p99"] for c in BROWSER_CLIENTS},
            "cross_origin_isolated": {c: extra[c]["isolated"] for c in BROWSER_CLIENTS},
            "user_agent": extra["warren"].get("userAgent", ""), "phases": phases, "errors": errors}


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
        "python": sys.version.split()[0],
        "wasm-bindgen": lock_version(os.path.join(ROOT, "Cargo.lock"), "wasm-bindgen"),
        "binaryen (wasm-opt)": npm_version(os.path.join(ROOT, "scripts", "node_modules", "binaryen")),
        "@cloudamqp/amqp-client": npm_version(os.path.join(nm, "@cloudamqp", "amqp-client")),
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


def build_report(res):
    goals = []  # (label, value, goal, goal_text, higher_is_better)
    md = []
    md.append("# warren benchmarks\n")
    md.append(
        "Generated by `scripts/bench` — do not edit by hand; rerun the script instead "
        f"(`BENCH_N`, `BENCH_ROUNDS`, `BENCH_ONLY=…` override the defaults). Raw numbers: "
        f"`{os.path.relpath(RESULTS_JSON, os.path.dirname(OUT))}`.\n")
    md.append(f"Run: {res['started']} → {res['finished']} ({res['duration_s'] / 60:.1f} min); "
              f"N = {N:,} messages × 16 B, {ROUNDS} round(s), RPC {RPC_PAIRS:,} pairs.\n")
    md.append("Every figure is the **median (min–max)** over the rounds; clients ran alternately "
              "(A B A B …) within each round. Ratios are **warren ÷ competitor, oriented so that "
              "> 1 means warren is better** (for latency: competitor ÷ warren); each ratio is the "
              "median (min–max) of the per-round paired ratios of this run.\n")

    sections = []
    chart_rows = []

    if "browser" in res:
        b = res["browser"]
        s = b["samples"]
        rows = ["| workload (msg/s, higher is better) | warren-amqp | amqp-client.js | warren ÷ amqp-client |", "|---|---:|---:|---:|"]
        for w in BROWSER_WORKLOADS:
            if w == "rpc":
                continue
            ratios = paired_ratios(s[w]["warren"], s[w]["amqp-client"])
            rows.append(f"| {WORKLOAD_TITLES[w]} | {cell(s[w]['warren'], fmt_rate)} | "
                        f"{cell(s[w]['amqp-client'], fmt_rate)} | {ratio_cell(ratios)} |")
            if ratios:
                chart_rows.append(("Chromium vs amqp-client.js", WORKLOAD_TITLES[w], statistics.median(ratios),
                                   {"publish": 2.0, "consume_ack": 2.0, "confirm": 2.0, "consume_noack": 1.2}[w]))
        p50w, p50a = s["rpc"]["warren"], s["rpc"]["amqp-client"]
        p99w, p99a = b["rpc_p99"]["warren"], b["rpc_p99"]["amqp-client"]
        r50 = paired_ratios(p50w, p50a, higher_is_better=False)
        r99 = paired_ratios(p99w, p99a, higher_is_better=False)
        rows.append(f"| RPC round trip p50 (**ms, lower is better**) | {cell(p50w, fmt_ms)} | {cell(p50a, fmt_ms)} | {ratio_cell(r50)} |")
        rows.append(f"| RPC round trip p99 (**ms, lower is better**) | {cell(p99w, fmt_ms)} | {cell(p99a, fmt_ms)} | {ratio_cell(r99)} |")
        lat = paired_ratios(p50w, p50a)  # warren latency / amqp-client latency
        lat_cell = "–" if not lat else f"{fmt_x(statistics.median(lat))} of amqp-client's p50 latency (lower is better)"
        if r50:
            chart_rows.append(("Chromium vs amqp-client.js", "RPC p50 latency (inverse)", statistics.median(r50), 1 / 0.8))
        iso_all = [v for c in BROWSER_CLIENTS for v in b["cross_origin_isolated"][c]]
        iso = "yes" if iso_all and all(iso_all) else "no"
        sections.append("## Browser: headless Chromium, through the WebSocket relay\n")
        sections.append("\n".join(rows) + "\n")
        sections.append(f"RPC p50 latency, warren ÷ amqp-client: **{lat_cell}**.\n")
        sections.append(
            "Both libraries run the same code (`bench/browser/bench.js`) in the same Chromium, over the "
            f"same relay (`{WS_URL}` → RabbitMQ), one workload per page load, with a warm-up of "
            f"{WARMUP:,} messages in the same page first. Chromium is a plain process without "
            "remote debugging; the page POSTs its result to the script's collector, which also serves "
            f"the page cross-origin isolated (timer resolution; isolated: {iso}).\n")
        goals += [
            ("Chromium publish", s["publish"], 2.0),
            ("Chromium consume + ack", s["consume_ack"], 2.0),
            ("Chromium confirmed publish", s["confirm"], 2.0),
            ("Chromium no-ack consume", s["consume_noack"], 1.2),
        ]
        if b["errors"]:
            sections.append("Failed measurements:\n\n" + "\n".join(f"- {e}" for e in b["errors"]) + "\n")

    goal_rows = []
    for label, ws, goal in goals:
        r = paired_ratios(ws["warren"], ws["amqp-client"])
        if r:
            v = statistics.median(r)
            goal_rows.append(f"| {label} | ≥ {goal:.1f}× amqp-client.js | {fmt_x(v)} | {'meets' if v >= goal else 'below'} |")
    if "browser" in res:
        b = res["browser"]["samples"]["rpc"]
        r = paired_ratios(b["warren"], b["amqp-client"])  # warren latency / competitor latency
        if r:
            v = statistics.median(r)
            goal_rows.append(f"| Chromium RPC p50 latency | ≤ 0.80× amqp-client.js's latency (lower is better) | "
                             f"{fmt_x(v)} | {'meets' if v <= 0.8 else 'above'} |")

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
                chart_rows.append(("codec vs amq-protocol", f"{op} {group}", v, 3.0))
                goal_rows.append(f"| codec {op} {group} | ≥ 3× amq-protocol per message | {fmt_x(v)} | {'meets' if v >= 3 else 'below'} |")
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
        rows = ["| artifact | raw | gzip -9 |", "|---|---:|---:|"]
        for r in z["warren_files"]:
            rows.append(f"| warren {r['artifact']} | {r['raw']:,} B | {r['gz']:,} B |")
        t = z["warren_total"]
        rows.append(f"| **warren wasm + glue, as shipped** | **{t['raw']:,} B ({kb(t['raw'])})** | **{t['gz']:,} B ({kb(t['gz'])})** |")
        tm = z["warren_total_min"]
        rows.append(f"| warren wasm + glue with warren.js minified (esbuild) | {tm['raw']:,} B | {tm['gz']:,} B |")
        a = z["amqp_client"]
        rows.append(f"| amqp-client.js browser bundle (dist/amqp-websocket-client.mjs) | {a['raw_unminified']:,} B | {a['gz_unminified']:,} B |")
        rows.append(f"| **amqp-client.js bundle minified (esbuild)** | **{a['raw']:,} B ({kb(a['raw'])})** | **{a['gz']:,} B ({kb(a['gz'])})** |")
        ratio = a["gz"] / t["gz"]
        sections.append("## Size\n")
        sections.append("\n".join(rows) + "\n")
        sections.append(f"amqp-client.js minified gz ÷ warren shipped gz: **{fmt_x(ratio)}** (> 1: warren smaller).\n")
        goal_rows.append(f"| size: wasm + glue, gzip -9 | ≤ 25 KB (taken as 25,600 B) | {t['gz']:,} B | {'meets' if t['gz'] <= 25600 else 'above'} |")

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
        f"before the next; {RPC_PAIRS:,} timed pairs after a short warm-up; per-pair latency p50/p99.\n")

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
        lines.append(f"size: warren wasm+glue {z['warren_total']['raw']:,} B raw, {z['warren_total']['gz']:,} B gz;"
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
            r = paired_ratios(s[w]["warren"], s[w]["amqp-client"], higher_is_better=(w != "rpc"))
            ratio = f"  ratio {statistics.median(r):.2f}x (> 1: warren better)" if r else ""
            lines.append(f"chromium {w:<14} " + "  ".join(parts) + f" {unit}{ratio}")
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
    res = relay_bench.measure(sys.modules[__name__])
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
    unknown = set(ONLY) - {"size", "codec", "native", "browser", "relay"}
    if unknown:
        sys.exit(f"unknown BENCH_ONLY section(s): {', '.join(sorted(unknown))}")
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.monotonic()
    os.makedirs(STATE, exist_ok=True)
    if "size" in ONLY or "browser" in ONLY or "relay" in ONLY:
        snapshot_pkg()
    if ONLY == ["relay"]:
        relay_only()
        return
    res = {"settings": {"n": N, "rounds": ROUNDS, "rpc_pairs": RPC_PAIRS, "warmup": WARMUP, "only": ONLY},
           "machine": machine_info(), "versions": versions()}
    failed = False
    for section, fn in (("size", measure_size), ("codec", measure_codec),
                        ("native", measure_native), ("browser", measure_browser),
                        ("relay", lambda: relay_bench.measure(sys.modules[__name__]))):
        if section not in ONLY:
            continue
        try:
            res[section] = fn()
            failed |= bool(res[section].get("errors")) if isinstance(res[section], dict) else False
        except Exception as e:  # noqa: BLE001 — report the section as failed, go on with the rest
            say(f"FAILED {section}: {e}")
            res.setdefault("failures", {})[section] = str(e)[-2000:]
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
