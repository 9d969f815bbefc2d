// The message list: a bounded log of records (oldest dropped past the cap), a filtered view of
// it kept up to date as records arrive, and a virtualised DOM list (only the rows in sight
// exist, positioned over a spacer) showing the view newest first.

/** Append-only array with a moving start: push O(1), drop-oldest O(1) amortised. */
export class Log {
  constructor(cap) {
    this.cap = cap;
    this.items = [];
    this.start = 0;
  }
  get length() {
    return this.items.length - this.start;
  }
  push(item) {
    this.items.push(item);
    if (this.length > this.cap) this.dropTo(this.items.length - this.cap);
  }
  /** Drops items before absolute index `abs`. */
  dropTo(abs) {
    if (abs <= this.start) return;
    for (let i = this.start; i < abs; i++) this.items[i] = undefined;
    this.start = abs;
    if (this.start > 4096 && this.start > this.items.length / 2) {
      this.items = this.items.slice(this.start);
      this.start = 0;
    }
  }
  /** i-th newest (0 = newest). */
  newest(i) {
    return this.items[this.items.length - 1 - i];
  }
  oldest() {
    return this.items[this.start];
  }
  forEach(f) {
    for (let i = this.start; i < this.items.length; i++) f(this.items[i]);
  }
  clear() {
    this.items = [];
    this.start = 0;
  }
}

/**
 * The records of a Log matching a filter. Arrivals are matched as they come (`add`); what the
 * log already held is scanned newest to oldest a few milliseconds at a time (`scan`, once per
 * frame), so a filter over 100,000 messages never blocks the page and the newest matches show
 * first. Follows the log's drops by sequence number.
 */
export class FilteredView {
  constructor(log, match) {
    this.log = log;
    this.match = match;
    this.recent = new Log(log.cap); // matches that arrived after the filter was set, oldest first
    this.back = []; // matches found by the scan, newest first
    this.cursor = log.items.length - 1; // next absolute log index to scan (downwards)
    this.scanned = 0;
  }
  get scanning() {
    return this.cursor >= this.log.start;
  }
  get length() {
    this.trim();
    return this.recent.length + this.back.length;
  }
  add(records) {
    for (const r of records) if (this.match(r)) this.recent.push(r);
  }
  /** Scans older records for up to `budgetMs`; returns whether it found any. */
  scan(budgetMs) {
    const until = performance.now() + budgetMs;
    const items = this.log.items;
    const before = this.back.length;
    let i = this.cursor;
    while (i >= this.log.start) {
      const r = items[i--];
      if (this.match(r)) this.back.push(r);
      if ((++this.scanned & 255) === 0 && performance.now() > until) break;
    }
    this.cursor = i;
    return this.back.length > before;
  }
  trim() {
    const first = this.log.oldest();
    if (!first) {
      this.recent.clear();
      this.back = [];
      this.cursor = -1;
      return;
    }
    while (this.back.length && this.back[this.back.length - 1].seq < first.seq) this.back.pop();
    if (this.back.length === 0) {
      const o = this.recent;
      let i = o.start;
      while (i < o.items.length && o.items[i].seq < first.seq) i++;
      o.dropTo(i);
    }
  }
  newest(i) {
    const n = this.recent.length;
    return i < n ? this.recent.newest(i) : this.back[i - n];
  }
}

/**
 * A virtualised list over `source` ({ length, newest(i) }): fixed row height, only the visible
 * rows (plus a margin) are in the DOM, reused as it scrolls. `render(row, record)` fills a row;
 * `onpick(record)` is called on click.
 */
export class VirtualList {
  constructor(container, spacer, { rowHeight = 24, render, onpick, arrivalsEveryMs = 100 }) {
    this.el = container;
    this.spacer = spacer;
    this.rowH = rowHeight;
    this.render = render;
    this.onpick = onpick;
    this.source = { length: 0, newest: () => undefined };
    this.rows = [];
    this.selected = null;
    this.dirty = true;
    this.lastLength = 0;
    // Arrivals alone repaint the rows at most this often (nobody reads 5,000 rows a second, and
    // rewriting every visible row each frame costs the frame); scrolling and clicks repaint at once.
    this.arrivalsEveryMs = arrivalsEveryMs;
    this.lastPaint = 0;
    this.el.addEventListener("scroll", () => {
      this.dirty = true;
    }, { passive: true });
    this.el.addEventListener("click", (e) => {
      const row = e.target.closest(".msg");
      if (row && row.record) this.pick(row.record);
    });
    this.el.addEventListener("keydown", (e) => this.key(e));
  }

  setSource(source) {
    this.source = source;
    this.lastLength = source.length;
    this.el.scrollTop = 0;
    this.dirty = true;
  }

  pick(record) {
    this.selected = record;
    this.dirty = true;
    this.onpick?.(record);
  }

  key(e) {
    if (e.key !== "ArrowDown" && e.key !== "ArrowUp") return;
    const n = this.source.length;
    if (!n) return;
    let idx = -1;
    for (let i = 0; i < this.rows.length; i++) {
      if (this.rows[i].record === this.selected) idx = this.rows[i].index;
    }
    idx = Math.max(0, Math.min(n - 1, idx + (e.key === "ArrowDown" ? 1 : -1)));
    this.pick(this.source.newest(idx));
    const y = idx * this.rowH;
    if (y < this.el.scrollTop) this.el.scrollTop = y;
    else if (y + this.rowH > this.el.scrollTop + this.el.clientHeight) this.el.scrollTop = y + this.rowH - this.el.clientHeight;
    e.preventDefault();
  }

  /**
   * Lays out the rows in view. New records go on top: when the reader has scrolled down, the
   * scroll position moves with them so what they look at stays put.
   */
  update(now = performance.now()) {
    const n = this.source.length;
    const added = n - this.lastLength;
    if (!this.dirty && (added === 0 || now - this.lastPaint < this.arrivalsEveryMs)) return;
    this.lastLength = n;
    this.lastPaint = now;
    this.dirty = false;
    this.spacer.style.height = `${n * this.rowH}px`;
    if (added > 0 && this.el.scrollTop > 0) this.el.scrollTop += added * this.rowH;
    const first = Math.max(0, Math.floor(this.el.scrollTop / this.rowH) - 4);
    const count = Math.min(n - first, Math.ceil((this.el.clientHeight || 600) / this.rowH) + 8);
    while (this.rows.length < count) {
      const row = document.createElement("div");
      row.className = "msg";
      row.append(...["t", "k", "n", "b"].map((c) => {
        const s = document.createElement("span");
        s.className = c;
        return s;
      }));
      this.el.append(row);
      this.rows.push(row);
    }
    for (let i = 0; i < this.rows.length; i++) {
      const row = this.rows[i];
      if (i >= count) {
        if (!row.hidden) row.hidden = true;
        row.record = null;
        continue;
      }
      const index = first + i;
      const rec = this.source.newest(index);
      row.hidden = false;
      row.index = index;
      row.style.transform = `translateY(${index * this.rowH}px)`;
      if (row.record !== rec) {
        row.record = rec;
        this.render(row, rec);
      }
      row.classList.toggle("sel", rec === this.selected);
    }
  }
}
