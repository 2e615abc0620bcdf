// Helpers shared by the pages. Everything from the server reaches the page
// as text (textContent), never as markup.
'use strict';

const pc = {
  /** 1234567 -> "1.2 MB" (powers of 1000, as the CLI prints them). */
  bytes(n) {
    if (n === null || n === undefined) return '';
    const units = ['B', 'KB', 'MB', 'GB', 'TB'];
    let u = 0;
    while (n >= 1000 && u < units.length - 1) { n /= 1000; u++; }
    return u === 0 ? `${n} B` : `${n.toFixed(1)} ${units[u]}`;
  },

  /** Seconds -> "0.12 s", "42 s", "3 min 5 s", "2 h 3 min". */
  duration(s) {
    if (s === null || s === undefined || !isFinite(s)) return '';
    if (s < 10) return Number.isInteger(s) ? `${s} s` : `${s.toFixed(2)} s`;
    if (s < 60) return `${Math.round(s)} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
    return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  },

  /**
   * A file name (or id) as a span that wraps at sensible points: after "-",
   * "_" or a space and before a ".". Only a run of over 20 characters without
   * one may break anywhere (class "long"), so that words stay whole.
   */
  name(text) {
    const span = pc.el('span', { class: 'name' });
    String(text).split(/(?<=[-_\s])|(?=\.)/).forEach((part, i) => {
      if (i > 0) span.append(pc.el('wbr'));
      span.append(part.length > 20 ? pc.el('span', { class: 'long' }, part) : part);
    });
    return span;
  },

  /**
   * Gives every cell of `tr` the text of its column's header as data-label
   * (or the header's own data-label): on a narrow screen a row is shown as
   * a card of "label value" lines.
   */
  label(table, tr) {
    const heads = table.tHead.rows[0].cells;
    Array.from(tr.cells).forEach((td, i) => {
      const head = heads[i];
      td.dataset.label = !head ? '' : head.dataset.label ?? head.textContent.trim();
    });
    return tr;
  },

  /** 12345 -> "12,345". */
  count(n) { return Number(n).toLocaleString('en-US'); },

  /** An element with text and attributes: pc.el('td', {class: 'num'}, '42'). */
  el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  },

  /** The bearer token this tab was given, for a server with --api-token. */
  token() { return sessionStorage.getItem('playcount-token') || ''; },

  /** The Authorization header when a token was given, else none. */
  auth() {
    const t = pc.token();
    return t ? { Authorization: `Bearer ${t}` } : {};
  },

  /**
   * GET a JSON document; throws an Error with the server's message (and
   * its `status`, and `retryAfter` in seconds when it says so). A 401
   * asks for the token once and tries again with it.
   */
  async json(url, options, retried) {
    const opts = Object.assign({ cache: 'no-store' }, options);
    opts.headers = Object.assign({}, opts.headers, pc.auth());
    const r = await fetch(url, opts);
    if (r.status === 401 && !retried) {
      const t = window.prompt('This server needs its access token (--api-token):');
      if (t && t.trim()) {
        sessionStorage.setItem('playcount-token', t.trim());
        return pc.json(url, options, true);
      }
    }
    let body = null;
    try { body = await r.json(); } catch (_) { /* not JSON */ }
    if (!r.ok) {
      // The job endpoints say {"message"}, those of a result's summary {"error"}.
      const e = new Error((body && (body.message || body.error)) || `${r.status} ${r.statusText}`);
      e.status = r.status;
      e.retryAfter = Number(r.headers.get('Retry-After')) || 0;
      throw e;
    }
    return body;
  },

  /**
   * A link to a result. Without a token it is a plain link; with one, a
   * click fetches the file with the token (a link cannot send headers) and
   * saves it under `name`.
   */
  resultLink(href, name, text, attrs) {
    const a = pc.el('a', Object.assign({ href }, attrs), text);
    a.addEventListener('click', async (event) => {
      if (!pc.token()) return;
      event.preventDefault();
      const r = await fetch(href, { headers: pc.auth(), cache: 'no-store' });
      if (!r.ok) return window.alert(`The download failed: ${r.status} ${r.statusText}`);
      const url = URL.createObjectURL(await r.blob());
      const save = pc.el('a', { href: url, download: name });
      document.body.append(save);
      save.click();
      save.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    });
    return a;
  },

  /**
   * Calls fn now and then again and again, `ms` after each call ends (fn may
   * return another delay). fn shows its own errors; now() calls it at once.
   */
  every(ms, fn) {
    let timer = null;
    let running = false;
    let again = false;
    const tick = async () => {
      clearTimeout(timer);
      if (running) { again = true; return; }
      running = true;
      let next = ms;
      try { next = (await fn()) || ms; } catch (_) { next = ms; }
      running = false;
      timer = setTimeout(tick, again ? 0 : next);
      again = false;
    };
    tick();
    return { now: tick };
  },

  /**
   * A running job's progress (its `progress` object, docs/http-api.md): the
   * share of the whole job done, 0..1, which only grows as the phases do
   * (each phase weighs by its usual share of a job's time), and a line
   * naming the phase under way with its own done/total.
   */
  jobProgress(job) {
    const p = job.progress || {};
    const share = (ph) => (ph && ph.total > 0 ? Math.min(1, ph.done / ph.total) : 0);
    const weights = { scanning: 0.05, reading: 0.8, merging: 0.05, writing: 0.1 };
    let fraction = 0;
    for (const [name, weight] of Object.entries(weights)) fraction += weight * share(p[name]);
    const phase = job.phase || 'started';
    const own = p[phase];
    let detail = '';
    if (own && own.total > 0) {
      const pct = Math.floor(100 * share(own));
      const units = { merging: 'partials', writing: 'parts' }[phase];
      detail = units ? `${pct}%, ${own.done} of ${own.total} ${units}`
        : `${pct}%, ${pc.bytes(own.done)} of ${pc.bytes(own.total)}`;
    }
    return { fraction, phase, detail };
  },
};
