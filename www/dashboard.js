// warren dashboard: watches exchanges and queues live over one AMQPSession (the package's
// public session API, as in @cloudamqp/amqp-client 4.1.1). The session reconnects by itself
// and recovers the watches' queues, bindings and consumers; the page only shows what happens.
// Deliveries are queued per watch by the consumer callback and drawn once per animation frame.

import { AMQPSession } from "../pkg/index.js";
import { drawRateChart, RateSeries } from "./dashboard/chart.js";
import { FilteredView, Log, VirtualList } from "./dashboard/list.js";
import {
  amqpType, bodyPreview, clockTime, defaultView, formatBytes, formatCount, headerRows, parseTypedJson,
  PROPERTY_TYPES, renderBody, showValue, toJsonValue,
} from "./dashboard/values.js";

const $ = (id) => document.getElementById(id);
const STORE_KEY = "warren.dashboard.connection";
/** Messages each watch keeps for the list and the inspector; older ones are dropped. */
const RETAIN = 100_000;
/** A watch's server-named queue holds at most this many while the watch is paused. */
const PAUSED_BACKLOG = 100_000;
/** What the session is asked for (its backoff is what "next retry" estimates from). */
const BACKOFF = { reconnectInterval: 1000, maxReconnectInterval: 15000, backoffMultiplier: 2 };
const REQUESTED_HEARTBEAT = 20;

// ----- state -----------------------------------------------------------------------------------

const app = {
  session: null,
  generation: 0, // bumps with every Connect, so callbacks of an old session are ignored
  state: "idle",
  detail: "",
  error: "",
  blocked: "",
  offline: false,
  attempt: 0,
  attemptAt: 0,
  disconnectedAt: 0,
  connectedAt: 0,
  reconnects: 0,
  config: null,
  watches: [],
  selected: null,
  exchanges: new Map(),
  rpcClient: null,
  fps: 0,
};
window.__dashboard = app; // for the browser test and the curious

// ----- connection form -------------------------------------------------------------------------

function defaultUrl() {
  const q = new URLSearchParams(location.search).get("ws");
  if (q) return q;
  return `ws://${location.hostname || "127.0.0.1"}:15673`;
}

function loadForm() {
  let saved = {};
  try {
    saved = JSON.parse(localStorage.getItem(STORE_KEY) || "{}");
  } catch {
    saved = {};
  }
  const q = new URLSearchParams(location.search).get("ws");
  $("conn-url").value = q || saved.url || defaultUrl();
  $("conn-vhost").value = saved.vhost ?? "/";
  $("conn-user").value = saved.user ?? "guest";
  $("conn-name").value = saved.name ?? "warren dashboard";
  $("conn-password").value = saved.user && saved.user !== "guest" ? "" : "guest";
}

function saveForm(c) {
  try {
    localStorage.setItem(STORE_KEY, JSON.stringify({ url: c.url, vhost: c.vhost, user: c.user, name: c.name }));
  } catch {
    /* private mode: nothing remembered */
  }
}

function readForm() {
  return {
    url: $("conn-url").value.trim(),
    vhost: $("conn-vhost").value,
    user: $("conn-user").value,
    password: $("conn-password").value,
    name: $("conn-name").value.trim(),
  };
}

/** ws://user:password@host/path from the form (the package reads credentials from the URL). */
function sessionUrl(c) {
  const u = new URL(c.url);
  if (u.protocol !== "ws:" && u.protocol !== "wss:") throw new TypeError("the URL must start with ws:// or wss://");
  u.username = encodeURIComponent(c.user);
  u.password = encodeURIComponent(c.password);
  return u.toString();
}

// ----- status ----------------------------------------------------------------------------------

function setState(state, detail = "") {
  app.state = state;
  app.detail = detail;
  renderStatus();
}

/** The wait before attempt `n` as configured (the session adds jitter: an estimate). */
function expectedDelay(n) {
  const d = BACKOFF.reconnectInterval * BACKOFF.backoffMultiplier ** Math.max(0, n - 1);
  return Math.min(BACKOFF.maxReconnectInterval, d);
}

function renderStatus() {
  const el = $("status");
  let state = app.state;
  if (state === "connected" && app.blocked) state = "blocked";
  if (app.offline && state !== "failed" && state !== "idle") state = "offline";
  el.dataset.state = state;
  let text = state;
  let detail = app.detail;
  const now = Date.now();
  switch (state) {
    case "idle": text = "not connected"; break;
    case "connecting": text = "connecting…"; break;
    case "connected": {
      const c = negotiated();
      text = "connected";
      detail = c ? `heartbeat ${c.heartbeat} s · frame max ${formatCount(c.frameMax)} B`
        : `heartbeat ${REQUESTED_HEARTBEAT} s requested`;
      break;
    }
    case "blocked": text = "blocked"; detail = `by the broker: ${app.blocked}`; break;
    case "offline": text = "offline"; detail = "the browser reports no network; retrying when it is back"; break;
    case "reconnecting": {
      // attempt k has started: wait for it; before attempt 1 (or between): count down
      // (the session calls beforeConnect as each attempt starts; the wait before the next one
      // is the configured backoff, give or take the session's jitter)
      const trying = app.attempt > 0 && now - app.attemptAt < 1500;
      if (trying) {
        text = `reconnecting (attempt ${app.attempt})`;
        detail = "connecting…";
      } else {
        const next = app.attempt + 1;
        const base = app.attempt ? app.attemptAt : app.disconnectedAt;
        const left = Math.max(0, Math.ceil((base + expectedDelay(next) - now) / 1000));
        text = `reconnecting (attempt ${next})`;
        detail = `next retry in ≈${left} s`;
      }
      if (app.error) detail += ` · ${app.error}`;
      break;
    }
    case "failed": text = "failed"; detail = app.error; break;
  }
  // only changes are written (the status is aria-live; a rewrite would be announced again)
  setText($("status-text"), text);
  setText($("status-detail"), detail);
  $("status-detail").title = detail;
  $("retry-now").hidden = state !== "reconnecting";
  const live = app.session && state !== "failed";
  $("add-watch").disabled = !live;
  $("publish").disabled = !live;
  $("rpc-call").disabled = !live;
  $("connect").disabled = app.state === "connecting";
  $("disconnect").disabled = !app.session;
  $("connect-form").hidden = !!app.session && state !== "failed";
  renderFacts();
}

/** Negotiated heartbeat and frame size, read off the connection of a live channel. */
function negotiated() {
  for (const w of app.watches) {
    const conn = w.sub?.channel?.connection;
    if (conn && typeof conn.frameMax === "number" && conn.frameMax > 0) {
      return { heartbeat: conn.heartbeat, frameMax: conn.frameMax, channelMax: conn.channelMax };
    }
  }
  return app.lastNegotiated || null;
}

function renderFacts() {
  const dl = $("conn-facts");
  if (!app.config) {
    dl.hidden = true;
    return;
  }
  const c = negotiated();
  if (c) app.lastNegotiated = c;
  const rows = [
    ["relay", app.config.url],
    ["vhost", app.config.vhost],
    ["user", app.config.user],
    ["name", app.config.name || "—"],
    ["heartbeat", c ? `${c.heartbeat} s (negotiated)` : `${REQUESTED_HEARTBEAT} s (requested)`],
    // (read off subscription.channel.connection, which this package version may not have yet)
    ["frame max", c ? `${formatCount(c.frameMax)} B` : "not exposed by this package version"],
    ["up since", app.connectedAt ? clockTime(app.connectedAt) : "—"],
    ["reconnects", String(app.reconnects)],
    ["pending publishes", app.session ? String(app.session.pendingPublishes ?? 0) : "—"],
  ];
  if (app.error && app.state !== "failed") rows.push(["last error", app.error]);
  const html = rows.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join("");
  if (dl.innerHTML !== html) dl.innerHTML = html;
  dl.hidden = false;
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function esc(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}

function errText(e) {
  if (!e) return "";
  const code = e.code ? ` (${e.code})` : "";
  return `${e.message || String(e)}${code}`;
}

// ----- connect / disconnect --------------------------------------------------------------------

async function connect(e) {
  e?.preventDefault();
  const c = readForm();
  let url;
  try {
    url = sessionUrl(c);
  } catch (err) {
    app.error = errText(err);
    setState("failed");
    return;
  }
  saveForm(c);
  if (app.session) {
    // a failed session: let it go before the new one
    const old = app.session;
    app.session = null;
    old.stop().catch(() => {});
    for (const w of app.watches) w.q = w.sub = null;
  }
  app.exchanges.clear();
  app.rpcClient = null;
  app.config = c;
  app.error = "";
  app.blocked = "";
  app.attempt = 0;
  app.reconnects = 0;
  const gen = ++app.generation;
  const mine = (f) => (...args) => {
    if (gen === app.generation) f(...args);
  };
  setState("connecting");
  try {
    const session = await AMQPSession.connect(url, {
      vhost: c.vhost,
      name: c.name || undefined,
      heartbeat: REQUESTED_HEARTBEAT,
      ...BACKOFF,
      beforeConnect: mine(() => {
        app.attempt += 1;
        app.attemptAt = Date.now();
        renderStatus();
      }),
      onconnect: mine(() => {
        if (app.state === "reconnecting") app.reconnects += 1;
        app.attempt = 0;
        app.connectedAt = Date.now();
        if (app.session) setState("connected");
      }),
      ondisconnect: mine((err) => {
        app.error = errText(err) || "connection lost";
        app.attempt = 0;
        app.disconnectedAt = Date.now();
        app.lastNegotiated = null;
        setState("reconnecting");
      }),
      onfailed: mine((err) => {
        app.error = errText(err) || "gave up reconnecting";
        setState("failed");
      }),
      onrecoverfailed: mine((what, err) => {
        const w = app.watches.find((x) => x.queueName() === what || x.queue === what);
        if (w) w.error = `not recovered: ${errText(err)}`;
      }),
      onblocked: mine((reason) => {
        app.blocked = reason || "resource alarm";
        renderStatus();
      }),
      onunblocked: mine(() => {
        app.blocked = "";
        renderStatus();
      }),
      onreturn: mine((msg) => onReturned(msg)),
      ononline: mine(() => {
        app.offline = false;
        renderStatus();
      }),
      onoffline: mine(() => {
        app.offline = true;
        renderStatus();
      }),
    });
    if (gen !== app.generation) {
      await session.stop();
      return;
    }
    app.session = session;
    app.connectedAt = Date.now();
    setState("connected");

    if (app.watches.length) for (const w of app.watches) startWatch(w);
    else if (!app.restored) {
      app.restored = true;
      restoreWatches();
    }
  } catch (err) {
    if (gen !== app.generation) return;
    app.error = errText(err);
    app.session = null;
    setState("failed");
  }
}

async function disconnect() {
  const s = app.session;
  app.generation++;
  app.session = null;
  app.exchanges.clear();
  app.rpcClient = null;
  for (const w of app.watches) {
    w.sub = null;
    w.q = null;
    w.status = "stopped (disconnected)";
  }
  app.config = null;
  setState("idle");
  renderWatchList(true);
  if (s) await s.stop().catch(() => {});
}

// ----- watches ---------------------------------------------------------------------------------

let watchIds = 0;

class Watch {
  constructor(spec) {
    this.id = ++watchIds;
    this.spec = { ...spec };
    Object.assign(this, spec);
    this.label = spec.kind === "exchange" ? `${spec.exchange || "(default)"} ▸ ${spec.pattern}` : `queue ${spec.queue}`;
    this.log = new Log(RETAIN);
    this.view = this.log;
    this.filter = "";
    this.pending = [];
    this.series = new RateSeries();
    this.seq = 0;
    this.total = 0;
    this.bytes = 0;
    this.redelivered = 0;
    this.paused = false;
    this.q = null;
    this.sub = null;
    this.status = "starting";
    this.error = "";
    this.since = Date.now();
    this.onmessage = (msg) => this.take(msg);
  }

  queueName() {
    return this.q?.name ?? "";
  }

  /** The consumer callback: copy what the page needs, queue it for the next frame. */
  take(msg) {
    const props = msg.properties;
    this.pending.push({
      seq: ++this.seq,
      t: Date.now(),
      exchange: msg.exchange,
      routingKey: msg.routingKey,
      deliveryTag: msg.deliveryTag,
      redelivered: msg.redelivered,
      consumerTag: msg.consumerTag,
      props,
      body: msg.body ?? new Uint8Array(0),
      watch: this,
      hay: null,
    });
  }

  /** Moves the queued deliveries into the log (once per frame). */
  flush() {
    const batch = this.pending;
    if (batch.length === 0) return 0;
    this.pending = [];
    for (const r of batch) {
      this.log.push(r);
      this.bytes += r.body.length;
      if (r.redelivered) this.redelivered++;
    }
    this.total += batch.length;
    this.series.add(batch.length);
    if (this.view !== this.log) this.view.add(batch);
    return batch.length;
  }

  clear() {
    this.pending = [];
    this.log.clear();
    this.total = 0;
    this.bytes = 0;
    this.redelivered = 0;
    this.series.clear();
    this.since = Date.now();
    this.setFilter(this.filter);
  }

  setFilter(text) {
    this.filter = text;
    const needle = text.trim().toLowerCase();
    this.view = needle ? new FilteredView(this.log, (r) => haystack(r).includes(needle)) : this.log;
  }
}

/** What the filter searches: routing key, headers and body (lower case, made once). */
function haystack(r) {
  if (r.hay === null) {
    const h = r.props?.headers ? flatText(r.props.headers, "") : "";
    r.hay = `${r.routingKey}\n${h}\n${bodyPreview(r.body, 4096)}`.toLowerCase();
  }
  return r.hay;
}

/** Header keys and values as "key=value" text, nested ones too. */
function flatText(v, out) {
  if (v === null || typeof v !== "object" || v instanceof Date || v instanceof Uint8Array) {
    return out + (v instanceof Date ? v.toISOString() : v instanceof Uint8Array ? "" : String(v));
  }
  if (Array.isArray(v)) {
    for (const x of v) out = flatText(x, out) + " ";
    return out;
  }
  for (const k in v) out = flatText(v[k], `${out}${k}=`) + " ";
  return out;
}

const WATCHES_KEY = "warren.dashboard.watches";

/** The watches' specs, remembered so a reload (or a later visit) brings them back. */
function saveWatches() {
  const specs = app.watches.map((w) => w.spec);
  try {
    localStorage.setItem(WATCHES_KEY, JSON.stringify(specs));
  } catch {
    /* nothing remembered */
  }
}

function savedWatches() {
  try {
    const v = JSON.parse(localStorage.getItem(WATCHES_KEY) || "[]");
    return Array.isArray(v) ? v.filter((x) => x && (x.kind === "exchange" || x.kind === "queue")) : [];
  } catch {
    return [];
  }
}

/** After the first connect of a visit: the watches of the last one. */
async function restoreWatches() {
  const specs = savedWatches();
  for (const spec of specs) {
    const w = new Watch(spec);
    app.watches.push(w);
    await startWatch(w);
  }
  if (specs.length && !app.selected) select(app.watches[0]);
}

async function addWatch(e) {
  e.preventDefault();
  const form = $("watch-form");
  const kind = form.elements.kind.value;
  const spec = kind === "exchange"
    ? { kind, exchange: $("watch-exchange").value.trim(), pattern: $("watch-pattern").value.trim() || "#" }
    : {
      kind,
      queue: $("watch-queue").value.trim(),
      prefetch: Number($("watch-prefetch").value) || 0,
      noAck: $("watch-noack").checked,
      offset: $("watch-offset").value.trim(),
    };
  if (kind === "queue" && !spec.queue) return showWatchError("name the queue to watch");
  const w = new Watch(spec);
  $("watch-error").hidden = true;
  $("add-watch").disabled = true;
  try {
    await startWatch(w, true);
    app.watches.push(w);
    saveWatches();
    select(w);
  } catch (err) {
    showWatchError(`${w.label}: ${errText(err)}`);
  } finally {
    renderStatus();
  }
}

function showWatchError(text) {
  const el = $("watch-error");
  el.textContent = text;
  el.hidden = false;
}

/** Declares (or passively checks) the watch's queue, binds it and subscribes. */
async function startWatch(w, throwing = false) {
  const s = app.session;
  if (!s) return;
  try {
    w.error = "";
    w.status = "subscribing";
    if (w.kind === "exchange") {
      if (!w.q) {
        // exclusive (gone with the connection; the session declares it anew after a reconnect)
        // but not auto-delete: pausing cancels the consumer, and the queue must outlive that
        w.q = await s.queue("", { exclusive: true, autoDelete: false, arguments: { "x-max-length": PAUSED_BACKLOG } });
        await w.q.bind(w.exchange, w.pattern);
      }
      if (!w.paused) w.sub = await w.q.subscribe({ noAck: true }, w.onmessage);
    } else {
      if (!w.q) w.q = await s.queue(w.queue, { passive: true });
      const args = {};
      if (w.offset) args["x-stream-offset"] = /^-?\d+$/.test(w.offset) ? Number(w.offset) : w.offset;
      if (!w.paused) {
        w.sub = await w.q.subscribe({ noAck: w.noAck, prefetch: w.prefetch, args }, w.onmessage);
      }
    }
    w.status = w.paused ? "paused" : "live";
  } catch (err) {
    w.status = "error";
    w.error = errText(err);
    // declared again by the next start (a resume, a reconnect by hand)
    if (w.kind === "exchange" && w.q) w.q.delete().catch(() => {});
    w.q = null;
    if (throwing) throw err;
  }
  renderWatchList(true);
}

async function pauseWatch(w) {
  if (w.paused) {
    w.paused = false;
    await startWatch(w);
  } else {
    w.paused = true;
    w.status = "paused";
    const sub = w.sub;
    w.sub = null;
    if (sub) await sub.cancel().catch((err) => (w.error = errText(err)));
  }
  renderWatchList(true);
  renderWatchHead();
}

async function removeWatch(w) {
  app.watches = app.watches.filter((x) => x !== w);
  saveWatches();
  if (app.selected === w) select(app.watches[app.watches.length - 1] || null);
  renderWatchList(true);
  const { sub, q } = w;
  w.sub = null;
  w.q = null;
  if (sub) await sub.cancel().catch(() => {});
  if (q && w.kind === "exchange") await q.delete().catch(() => {});
}

// ----- the watch view --------------------------------------------------------------------------

const list = new VirtualList($("list"), $("list-spacer"), {
  rowHeight: 24,
  render(row, r) {
    const [t, k, n, b] = row.children;
    t.textContent = clockTime(r.t);
    k.textContent = r.routingKey || "(no key)";
    k.title = `${r.exchange || "(default)"} ▸ ${r.routingKey}`;
    n.textContent = formatBytes(r.body.length);
    b.textContent = bodyPreview(r.body, 200);
    row.classList.toggle("redelivered", !!r.redelivered);
  },
  onpick: (r) => inspect(r),
});

function select(w) {
  app.selected = w;
  $("watch-empty").hidden = !!w;
  $("watch-live").hidden = !w;
  if (w) {
    $("filter").value = w.filter;
    list.setSource(w.view);
    renderWatchHead();
    lastCounters = lastChart = -Infinity;
    renderCounters(performance.now());
    renderChart(performance.now());
  }
  renderWatchList(true);
}

function renderWatchHead() {
  const w = app.selected;
  if (!w) return;
  const qn = w.queueName();
  $("watch-title").textContent = w.label + (w.kind === "exchange" && qn ? `  (${qn})` : "");
  $("watch-pause").textContent = w.paused ? "Resume" : "Pause";
}

let lastListRender = 0;
function renderWatchList(force = false) {
  const now = performance.now();
  if (!force && now - lastListRender < 500) return;
  lastListRender = now;
  const ul = $("watch-list");
  $("no-watches").hidden = app.watches.length > 0;
  const items = app.watches.map((w) => {
    const cls = [w === app.selected ? "on" : "", w.paused ? "paused" : "", w.error ? "error" : ""].join(" ");
    const rate = w.paused ? "paused" : `${formatCount(w.series.current())}/s`;
    const sub = w.error || `${w.status} · ${formatCount(w.total)} msgs`;
    return `<li data-id="${w.id}" class="${cls}"><span class="name">${esc(w.label)}</span>` +
      `<span class="rate">${esc(rate)}</span><span class="sub">${esc(sub)}</span></li>`;
  }).join("");
  if (ul.innerHTML !== items) ul.innerHTML = items;
}

let lastCounters = 0;
function renderCounters(now) {
  const w = app.selected;
  if (!w || now - lastCounters < 200) return;
  lastCounters = now;
  const shown = w.view.length;
  const secs = Math.max(1, (Date.now() - w.since) / 1000);
  const c = [
    ["received", formatCount(w.total)],
    ["rate", `${formatCount(w.series.current())}/s`],
    ["avg", `${(w.total / secs).toFixed(1)}/s`],
    ["bytes", formatBytes(w.bytes)],
    ["redelivered", formatCount(w.redelivered)],
    ["shown", formatCount(shown)],
    ["render", `${app.fps} fps`],
  ];
  const html = c.map(([k, v]) => `<span class="c-${k}">${k} <b>${esc(v)}</b></span>`).join("");
  const el = $("counters");
  if (el.innerHTML !== html) el.innerHTML = html;
  const dropped = w.total - w.log.length;
  $("retained").textContent = w.view.scanning
    ? `filtering… ${formatCount(w.view.scanned)} of ${formatCount(w.log.length)} searched`
    : dropped > 0
    ? `keeping the newest ${formatCount(RETAIN)} of ${formatCount(w.total)} (older ones dropped to bound memory)`
    : `keeps the newest ${formatCount(RETAIN)} messages`;
}

let lastChart = 0;
function renderChart(now) {
  const w = app.selected;
  if (!w || now - lastChart < 500) return;
  lastChart = now;
  drawRateChart($("rate-chart"), w.series, { paused: w.paused, hoverX: app.chartHover ?? null });
}

// ----- the frame loop --------------------------------------------------------------------------

let frames = 0;
let fpsSince = performance.now();
let lastStatus = 0;
function frame(now) {
  for (const w of app.watches) w.flush();
  const view = app.selected?.view;
  if (view?.scanning && view.scan(6)) list.dirty = true;
  if (app.selected) list.update(now);
  renderCounters(now);
  renderChart(now);
  renderWatchList();
  if (now - lastStatus > 250) {
    lastStatus = now;
    renderStatus();
    renderWatchHead();
  }
  frames++;
  if (now - fpsSince >= 1000) {
    app.fps = Math.round((frames * 1000) / (now - fpsSince));
    frames = 0;
    fpsSince = now;
  }
  requestAnimationFrame(frame);
}

// ----- inspector -------------------------------------------------------------------------------

let inspected = null;
let inspectedView = null;

function inspect(r, view) {
  inspected = r;
  inspectedView = view || defaultView(r.props?.contentType, r.body);
  showTab("inspector");
  $("inspector-empty").hidden = true;
  $("inspector").hidden = false;
  $("insp-title").textContent = `#${r.seq} ${r.routingKey || "(no key)"}`;
  $("insp-copied").textContent = "";
  const delivery = [
    ["exchange", r.exchange || "(default)"],
    ["routing key", r.routingKey],
    ["delivery tag", String(r.deliveryTag)],
    ["redelivered", String(!!r.redelivered)],
    ["consumer tag", r.consumerTag || "—"],
    ["received", `${clockTime(r.t)} (${new Date(r.t).toISOString()})`],
    ["watch", r.watch.label],
  ];
  $("insp-delivery").innerHTML = delivery.map(([k, v]) =>
    `<tr><td>${esc(k)}</td><td class="v" data-field="${esc(k)}">${esc(v)}</td></tr>`).join("");
  renderInspectorBody();
  const props = Object.entries(r.props || {}).filter(([k]) => k !== "headers");
  $("insp-props").innerHTML = props.length
    ? props.map(([k, v]) =>
      `<tr data-prop="${esc(k)}"><td>${esc(k)}</td><td class="ty">${esc(PROPERTY_TYPES[k] || amqpType(v))}</td>` +
      `<td class="v">${esc(showValue(v))}</td></tr>`).join("")
    : `<tr><td class="muted">none</td></tr>`;
  const rows = headerRows(r.props?.headers);
  $("insp-headers").innerHTML = rows.length
    ? rows.map((h) =>
      `<tr data-header="${esc(h.key)}" data-type="${esc(h.type)}"><td style="padding-left:${4 + h.depth * 14}px">${esc(h.key)}</td>` +
      `<td class="ty">${esc(h.type)}</td><td class="v">${esc(h.value)}</td></tr>`).join("")
    : `<tr><td class="muted">none</td></tr>`;
}

function renderInspectorBody() {
  const r = inspected;
  const out = renderBody(r.body, inspectedView);
  $("insp-size").textContent = `${formatBytes(r.body.length)} · ${r.props?.contentType || "no content type"}` +
    (out.note ? ` · ${out.note}` : "");
  $("insp-body").textContent = out.text;
  for (const b of $("insp-views").children) b.classList.toggle("on", b.dataset.view === out.view);
}

function messageJson(r) {
  let body;
  const text = renderBody(r.body, "json");
  if (text.view === "json") body = JSON.parse(text.text);
  else if (text.view === "text") body = text.text;
  else body = { $type: "bytes", value: Array.from(r.body, (b) => b.toString(16).padStart(2, "0")).join("") };
  return {
    exchange: r.exchange,
    routingKey: r.routingKey,
    deliveryTag: r.deliveryTag,
    redelivered: r.redelivered,
    consumerTag: r.consumerTag,
    receivedAt: new Date(r.t).toISOString(),
    properties: toJsonValue(r.props || {}),
    headerTypes: Object.fromEntries(headerRows(r.props?.headers).filter((h) => h.depth === 0).map((h) => [h.key, h.type])),
    body,
  };
}

async function copyInspected() {
  if (!inspected) return;
  const text = JSON.stringify(messageJson(inspected), null, 2);
  let ok = false;
  try {
    await navigator.clipboard.writeText(text);
    ok = true;
  } catch {
    const ta = document.createElement("textarea");
    ta.value = text;
    document.body.append(ta);
    ta.select();
    ok = document.execCommand("copy");
    ta.remove();
  }
  app.lastCopied = text;
  $("insp-copied").textContent = ok ? "copied" : "copy failed (see console)";
  if (!ok) console.log(text);
}

// ----- publish ---------------------------------------------------------------------------------

async function exchangeHandle(name) {
  let h = app.exchanges.get(name);
  if (!h) {
    // passive: publish to what exists, declare nothing
    h = app.session.exchange(name, "topic", { passive: true });
    app.exchanges.set(name, h);
    h.catch(() => app.exchanges.delete(name));
  }
  return h;
}

function logLine(ul, cls, text) {
  const li = document.createElement("li");
  li.className = cls;
  li.textContent = `${clockTime(Date.now())} ${text}`;
  ul.prepend(li);
  while (ul.children.length > 200) ul.lastChild.remove();
  return li;
}

function optional(id) {
  const v = $(id).value.trim();
  return v === "" ? undefined : v;
}

async function publish(e) {
  e.preventDefault();
  const err = $("pub-error");
  err.hidden = true;
  const exchange = $("pub-exchange").value.trim();
  const routingKey = $("pub-key").value;
  let headers;
  try {
    headers = parseTypedJson($("pub-headers").value);
  } catch (x) {
    err.textContent = `headers: ${x.message}`;
    err.hidden = false;
    return;
  }
  const contentType = $("pub-ctype").value;
  const body = $("pub-body").value;
  if (contentType === "application/json") {
    try {
      JSON.parse(body);
    } catch (x) {
      err.textContent = `body is not JSON (${x.message}); choose text/plain to send it as it is`;
      err.hidden = false;
      return;
    }
  }
  const priority = optional("pub-priority");
  const dmode = optional("pub-dmode");
  const confirm = $("pub-confirm").checked;
  const mandatory = $("pub-mandatory").checked;
  const options = {
    routingKey,
    contentType,
    headers,
    priority: priority === undefined ? undefined : Number(priority),
    deliveryMode: dmode === undefined ? undefined : Number(dmode),
    correlationId: optional("pub-corr"),
    messageId: optional("pub-msgid") ?? `dash-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`,
    type: optional("pub-type"),
    appId: optional("pub-appid"),
    expiration: optional("pub-expiration"),
    replyTo: optional("pub-replyto"),
    timestamp: $("pub-timestamp").checked ? new Date() : undefined,
    confirm,
    mandatory,
  };
  for (const k of Object.keys(options)) if (options[k] === undefined) delete options[k];
  const what = `${exchange || "(default)"} ▸ ${routingKey}`;
  const t0 = performance.now();
  try {
    const ex = await exchangeHandle(exchange);
    await ex.publish(body, options);
    const ms = (performance.now() - t0).toFixed(1);
    logLine($("pub-log"), "ok", `${what}: ${confirm ? `confirmed in ${ms} ms` : `sent (${ms} ms)`} · ${options.messageId}`);
  } catch (x) {
    logLine($("pub-log"), "bad", `${what}: ${x?.scope === "publish" || /nack|rejected/i.test(x?.message) ? "nacked" : "failed"}: ${errText(x)}`);
  }
}

function onReturned(msg) {
  const id = msg.properties?.messageId ? ` · ${msg.properties.messageId}` : "";
  logLine($("pub-log"), "warn",
    `returned ${msg.replyCode} ${msg.replyText}: ${msg.exchange || "(default)"} ▸ ${msg.routingKey}${id}`);
  showTab("publish");
}

// ----- RPC -------------------------------------------------------------------------------------

async function rpcCall(e) {
  e.preventDefault();
  const queue = $("rpc-queue").value.trim();
  const body = $("rpc-body").value;
  const contentType = $("rpc-ctype").value;
  const timeout = Number($("rpc-timeout").value) || 5000;
  $("rpc-error").hidden = true;
  $("rpc-call").disabled = true;
  try {
    if (!app.rpcClient) app.rpcClient = await app.session.rpcClient();
    const t0 = performance.now();
    const reply = await app.rpcClient.call(queue, body, { contentType, timeout });
    const rtt = performance.now() - t0;
    const bytes = reply.body ?? new Uint8Array(0);
    const out = renderBody(bytes, defaultView(reply.properties?.contentType, bytes));
    $("rpc-result").hidden = false;
    $("rpc-rtt").textContent = `round trip ${rtt.toFixed(1)} ms · ${formatBytes(bytes.length)} · ` +
      `correlation ${reply.properties?.correlationId ?? "—"}`;
    $("rpc-reply").textContent = out.text;
    logLine($("rpc-log"), "ok", `${queue}: reply in ${rtt.toFixed(1)} ms`);
  } catch (x) {
    $("rpc-error").textContent = errText(x);
    $("rpc-error").hidden = false;
    logLine($("rpc-log"), "bad", `${queue}: ${errText(x)}`);
  } finally {
    renderStatus();
  }
}

// ----- tabs and wiring -------------------------------------------------------------------------

function showTab(name) {
  for (const b of document.querySelectorAll(".tabs button")) b.classList.toggle("on", b.dataset.tab === name);
  for (const t of ["inspector", "publish", "rpc"]) $(`tab-${t}`).hidden = t !== name;
}

function wire() {
  loadForm();
  $("connect-form").addEventListener("submit", connect);
  $("disconnect").addEventListener("click", disconnect);
  $("retry-now").addEventListener("click", () => app.session?.retryNow?.());
  $("watch-form").addEventListener("submit", addWatch);
  $("watch-form").addEventListener("change", (e) => {
    if (e.target.name !== "kind") return;
    for (const el of document.querySelectorAll("#watch-form [data-kind]")) el.hidden = el.dataset.kind !== e.target.value;
  });
  $("watch-list").addEventListener("click", (e) => {
    const li = e.target.closest("li[data-id]");
    const w = li && app.watches.find((x) => x.id === Number(li.dataset.id));
    if (w) select(w);
  });
  $("watch-pause").addEventListener("click", () => app.selected && pauseWatch(app.selected));
  $("watch-clear").addEventListener("click", () => {
    if (!app.selected) return;
    app.selected.clear();
    list.setSource(app.selected.view);
  });
  $("watch-remove").addEventListener("click", () => app.selected && removeWatch(app.selected));
  let filterTimer = 0;
  $("filter").addEventListener("input", () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(() => {
      const w = app.selected;
      if (!w) return;
      w.setFilter($("filter").value);
      list.setSource(w.view);
    }, 120);
  });
  $("insp-views").addEventListener("click", (e) => {
    const v = e.target.dataset.view;
    if (v && inspected) {
      inspectedView = v;
      renderInspectorBody();
    }
  });
  $("insp-copy").addEventListener("click", copyInspected);
  $("publish-form").addEventListener("submit", publish);
  $("rpc-form").addEventListener("submit", rpcCall);
  for (const b of document.querySelectorAll(".tabs button")) b.addEventListener("click", () => showTab(b.dataset.tab));
  const chart = $("rate-chart");
  chart.addEventListener("mousemove", (e) => {
    app.chartHover = e.clientX - chart.getBoundingClientRect().left;
    lastChart = -Infinity;
  });
  chart.addEventListener("mouseleave", () => {
    app.chartHover = null;
    lastChart = -Infinity;
  });
  window.addEventListener("resize", () => {
    list.dirty = true;
    lastChart = 0;
  });
  renderStatus();
  requestAnimationFrame(frame);
}

wire();
