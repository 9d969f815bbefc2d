// Messages per second over the last minutes: a ring of one-second buckets and a hand-drawn
// canvas chart of it (area + line, nice y ticks, minute marks), no chart library.

export const WINDOW_S = 300;

export class RateSeries {
  constructor(seconds = WINDOW_S) {
    this.n = seconds;
    this.buckets = new Float64Array(seconds);
    this.second = Math.floor(Date.now() / 1000); // the second buckets[second % n] counts
    this.peak = 0;
  }

  /** Moves the window to `nowS`, zeroing the seconds nothing arrived in. */
  advance(nowS) {
    if (nowS <= this.second) return;
    const gap = Math.min(nowS - this.second, this.n);
    for (let i = 1; i <= gap; i++) this.buckets[(this.second + i) % this.n] = 0;
    this.second = nowS;
  }

  add(count, nowMs = Date.now()) {
    const s = Math.floor(nowMs / 1000);
    this.advance(s);
    this.buckets[s % this.n] += count;
  }

  /** The count of `ago` seconds before the current one (0 = the second in progress). */
  at(ago) {
    if (ago < 0 || ago >= this.n) return 0;
    return this.buckets[(this.second - ago + this.n * 2) % this.n];
  }

  /** The last complete second's rate. */
  current() {
    this.advance(Math.floor(Date.now() / 1000));
    return this.at(1);
  }

  clear() {
    this.buckets.fill(0);
    this.peak = 0;
  }
}

function niceStep(max, ticks) {
  const raw = max / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

function shortNum(v) {
  if (v >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (v >= 1e4) return `${+(v / 1e3).toFixed(0)}k`;
  if (v >= 1e3) return `${+(v / 1e3).toFixed(1)}k`;
  return `${+v.toFixed(v < 10 && v % 1 ? 1 : 0)}`;
}

/**
 * Draws `series` into `canvas` (sized to its CSS box at the device pixel ratio). The second in
 * progress is left out so the right edge does not dip.
 */
export function drawRateChart(canvas, series, { paused = false, hoverX = null } = {}) {
  const dpr = window.devicePixelRatio || 1;
  const cssW = canvas.clientWidth || 600;
  const cssH = canvas.clientHeight || 150;
  if (canvas.width !== Math.round(cssW * dpr) || canvas.height !== Math.round(cssH * dpr)) {
    canvas.width = Math.round(cssW * dpr);
    canvas.height = Math.round(cssH * dpr);
  }
  const g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, cssW, cssH);

  series.advance(Math.floor(Date.now() / 1000));
  const n = series.n - 1;
  let max = 0;
  for (let ago = 1; ago <= n; ago++) max = Math.max(max, series.at(ago));
  series.peak = Math.max(series.peak, max);
  const step = niceStep(Math.max(max, 5), 4);
  const top = Math.ceil(Math.max(max, 5) / step) * step;

  const left = 44, right = 8, topPad = 10, bottom = 20;
  const w = cssW - left - right;
  const h = cssH - topPad - bottom;
  const x = (ago) => left + w * (1 - (ago - 1) / (n - 1));
  const y = (v) => topPad + h * (1 - v / top);

  g.font = "11px ui-monospace, Menlo, Consolas, monospace";
  g.textBaseline = "middle";
  g.strokeStyle = "#eaecf0";
  g.fillStyle = "#667085";
  g.lineWidth = 1;
  g.textAlign = "right";
  for (let v = 0; v <= top + 1e-9; v += step) {
    const yy = Math.round(y(v)) + 0.5;
    g.beginPath();
    g.moveTo(left, yy);
    g.lineTo(left + w, yy);
    g.stroke();
    g.fillText(shortNum(v), left - 6, yy);
  }
  g.textAlign = "center";
  g.textBaseline = "top";
  for (let m = 0; m <= Math.floor(n / 60); m++) {
    const ago = Math.max(1, m * 60);
    const xx = Math.round(x(ago)) + 0.5;
    g.beginPath();
    g.moveTo(xx, topPad);
    g.lineTo(xx, topPad + h);
    g.stroke();
    g.fillText(m === 0 ? "now" : `-${m}m`, Math.min(Math.max(xx, left + 12), left + w - 12), topPad + h + 5);
  }

  // area and line, newest at the right
  g.beginPath();
  g.moveTo(x(n), y(0));
  for (let ago = n; ago >= 1; ago--) g.lineTo(x(ago), y(series.at(ago)));
  g.lineTo(x(1), y(0));
  g.closePath();
  g.fillStyle = paused ? "rgba(181, 71, 8, 0.12)" : "rgba(37, 99, 235, 0.14)";
  g.fill();
  g.beginPath();
  for (let ago = n; ago >= 1; ago--) {
    const px = x(ago), py = y(series.at(ago));
    if (ago === n) g.moveTo(px, py);
    else g.lineTo(px, py);
  }
  g.strokeStyle = paused ? "#b54708" : "#2563eb";
  g.lineWidth = 1.5;
  g.stroke();

  // the pointer: the second under it and its count
  if (hoverX !== null && hoverX >= left && hoverX <= left + w) {
    const ago = Math.max(1, Math.min(n, Math.round(1 + (1 - (hoverX - left) / w) * (n - 1))));
    const v = series.at(ago);
    const px = Math.round(x(ago)) + 0.5;
    g.strokeStyle = "#98a2b3";
    g.lineWidth = 1;
    g.beginPath();
    g.moveTo(px, topPad);
    g.lineTo(px, topPad + h);
    g.stroke();
    g.fillStyle = "#2563eb";
    g.beginPath();
    g.arc(px, y(v), 3, 0, Math.PI * 2);
    g.fill();
    const label = `${Math.floor(ago / 60)}m${String(ago % 60).padStart(2, "0")}s ago: ${shortNum(v)} msg/s`;
    g.font = "11px ui-monospace, Menlo, Consolas, monospace";
    const tw = g.measureText(label).width + 10;
    const bx = Math.min(Math.max(px - tw / 2, left), left + w - tw);
    g.fillStyle = "rgba(16, 24, 40, 0.88)";
    g.fillRect(bx, topPad + h - 20, tw, 17);
    g.fillStyle = "#fff";
    g.textAlign = "left";
    g.textBaseline = "middle";
    g.fillText(label, bx + 5, topPad + h - 11.5);
  }

  g.textAlign = "left";
  g.textBaseline = "top";
  g.fillStyle = "#1d2430";
  g.fillText(`${shortNum(series.current())} msg/s`, left + 6, topPad + 2);
  g.fillStyle = "#667085";
  g.fillText(`peak ${shortNum(max)} · last ${Math.round(n / 60)} min`, left + 90, topPad + 2);
}
