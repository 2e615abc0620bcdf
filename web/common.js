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

  /** GET a JSON document; throws an Error with the server's message. */
  async json(url, options) {
    const r = await fetch(url, Object.assign({ cache: 'no-store' }, options));
    let body = null;
    try { body = await r.json(); } catch (_) { /* not JSON */ }
    if (!r.ok) throw new Error((body && body.message) || `${r.status} ${r.statusText}`);
    return body;
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
};
