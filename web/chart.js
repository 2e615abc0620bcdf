// Charts drawn by hand in SVG (no library: two kinds of chart, a few
// hundred lines): a line chart of a series over dates, gaps drawn as zero,
// and a bar chart of named totals. Each is redrawn to the width of its box,
// its points are stepped through with the arrow keys (a tooltip says the
// date and number), and the page gives each a table of its numbers as well.
// Names reach the SVG as text nodes only.
'use strict';

const charts = (() => {
  const svgNs = 'http://www.w3.org/2000/svg';
  const dayMs = 86400000;
  const maxPoints = 10000; // what one chart draws at most (the API buckets to as much)

  function svg(tag, attrs, text) {
    const e = document.createElementNS(svgNs, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // -- dates: day numbers (days since 1970-01-01, UTC) -----------------------

  const dayOf = (iso) => Date.UTC(+iso.slice(0, 4), +iso.slice(5, 7) - 1, +iso.slice(8, 10)) / dayMs;
  const isoOf = (day) => new Date(day * dayMs).toISOString().slice(0, 10);
  const ymd = (day) => { const d = new Date(day * dayMs); return [d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()]; };
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

  /** The start of the bucket of `unit` ('day', 'month', 'year') that holds `day`. */
  function bucketOf(day, unit) {
    if (unit === 'day') return day;
    const [y, m] = ymd(day);
    return Date.UTC(y, unit === 'month' ? m : 0, 1) / dayMs;
  }

  function nextBucket(day, unit) {
    if (unit === 'day') return day + 1;
    const [y, m] = ymd(day);
    return unit === 'month' ? Date.UTC(y, m + 1, 1) / dayMs : Date.UTC(y + 1, 0, 1) / dayMs;
  }

  function bucketsBetween(first, last, unit) {
    if (unit === 'day') return last - first + 1;
    const [y1, m1] = ymd(first);
    const [y2, m2] = ymd(last);
    return unit === 'month' ? (y2 - y1) * 12 + (m2 - m1) + 1 : y2 - y1 + 1;
  }

  /**
   * [["YYYY-MM-DD", n], ...] ascending, in buckets of `unit`, as an unbroken
   * run of [day, n] from the first bucket to the last, the missing ones 0.
   * A span of more than 10000 buckets is summed into months, then years.
   */
  function series(points, unit) {
    unit = unit || 'day';
    if (!points.length) return { unit, values: [] };
    let days = points.map(([d, n]) => [dayOf(d), Number(n)]);
    const first = days[0][0];
    const last = days[days.length - 1][0];
    while (unit !== 'year' && bucketsBetween(first, last, unit) > maxPoints) {
      unit = unit === 'day' ? 'month' : 'year';
      const sums = new Map();
      for (const [d, n] of days) {
        const b = bucketOf(d, unit);
        sums.set(b, (sums.get(b) || 0) + n);
      }
      days = Array.from(sums);
    }
    const byDay = new Map(days);
    const values = [];
    const end = bucketOf(last, unit);
    for (let d = bucketOf(first, unit); d <= end; d = nextBucket(d, unit)) values.push([d, byDay.get(d) || 0]);
    return { unit, values };
  }

  /** A bucket's name: 2024-03-14, 2024-03 or 2024. */
  function bucketName(day, unit) {
    const iso = isoOf(day);
    return unit === 'day' ? iso : unit === 'month' ? iso.slice(0, 7) : iso.slice(0, 4);
  }

  /**
   * Ticks for the dates d0..d1 at most `most` of them, on whole days,
   * weeks, months or years (never finer than the unit of the data).
   */
  function dateTicks(d0, d1, most, unit) {
    const steps = [['day', 1], ['day', 2], ['day', 7], ['day', 14], ['month', 1], ['month', 2],
      ['month', 3], ['month', 6], ['year', 1], ['year', 2], ['year', 5], ['year', 10],
      ['year', 20], ['year', 50], ['year', 100], ['year', 250], ['year', 1000]];
    const finest = { day: 0, month: 4, year: 8 }[unit];
    for (const [kind, k] of steps.slice(finest)) {
      const ticks = [];
      if (kind === 'day') {
        for (let d = d0; d <= d1; d += k) ticks.push(d);
      } else {
        let [y, m] = ymd(d0);
        if (kind === 'year') { m = 0; y = Math.ceil(y / k) * k; } else { m = Math.ceil(m / k) * k; }
        for (let d = Date.UTC(y, m, 1) / dayMs; d <= d1 && ticks.length <= most;
          kind === 'year' ? (y += k) : (m += k), d = Date.UTC(y, m, 1) / dayMs) {
          if (d >= d0) ticks.push(d);
        }
      }
      if (ticks.length <= most) {
        let year = null;
        return ticks.map((d) => {
          const [ty, tm, td] = ymd(d);
          let label;
          if (kind === 'year') label = String(ty);
          else if (kind === 'month') label = `${months[tm]} ${ty}`;
          else label = year === ty ? `${td} ${months[tm]}` : `${td} ${months[tm]} ${ty}`;
          year = ty;
          return [d, label];
        });
      }
    }
    return [[d0, bucketName(d0, unit)]];
  }

  /** 0..max in at most about `most` round steps (1, 2 or 5 times a power of 10). */
  function niceTicks(max, most) {
    if (!(max > 0)) return { top: 1, ticks: [0, 1] };
    let step = 10 ** Math.floor(Math.log10(max / most));
    for (const f of [1, 2, 5, 10]) {
      if (max / (step * f) <= most) { step *= f; break; }
    }
    step = Math.max(1, step);
    const top = Math.ceil(max / step) * step;
    const ticks = [];
    for (let t = 0; t <= top; t += step) ticks.push(t);
    return { top, ticks };
  }

  const charWidth = 7; // of the 12 px labels, about
  const count = (n) => Number(n).toLocaleString('en-US');

  /** A name cut to `chars` characters, with "…" when it was longer. */
  function cut(text, chars) {
    const all = Array.from(text);
    return all.length <= chars ? text : `${all.slice(0, Math.max(1, chars - 1)).join('')}…`;
  }

  // -- the box: width, redraws, tooltip and keys -----------------------------

  /**
   * Draws `draw(width)` into `box` (which it empties) now and whenever the
   * box's width changes. draw returns { svg, count, point(i) } where
   * point(i) gives { x, y, text } of the i-th point for the cursor; the
   * arrow keys, Home and End step through them, and the mouse picks the
   * nearest (pick(x, y) of the draw).
   */
  const mounted = new WeakMap(); // box -> what to undo before it is drawn again

  function mount(box, label, draw) {
    mounted.get(box)?.();
    const listening = new AbortController();
    const on = { signal: listening.signal };
    box.replaceChildren();
    box.classList.add('chart');
    box.tabIndex = 0;
    box.setAttribute('role', 'group');
    box.setAttribute('aria-label', `${label}: a chart; the arrow keys step through its points`);
    const tip = document.createElement('div');
    tip.className = 'chart-tip';
    tip.hidden = true;
    tip.setAttribute('aria-hidden', 'true');
    const said = document.createElement('div'); // what the keys reach, for screen readers
    said.className = 'visually-hidden';
    said.setAttribute('aria-live', 'polite');
    let drawn = null;
    let at = -1;
    let width = 0;

    function show(i, fromKeys) {
      if (!drawn || drawn.count === 0) return;
      at = Math.max(0, Math.min(drawn.count - 1, i));
      const p = drawn.point(at);
      drawn.mark(at);
      tip.textContent = p.text;
      tip.hidden = false;
      // CSSOM, which the pages' Content-Security-Policy allows (a style attribute it does not).
      const left = Math.min(Math.max(0, p.x - tip.offsetWidth / 2), Math.max(0, width - tip.offsetWidth));
      tip.style.left = `${left}px`;
      tip.style.top = `${Math.max(0, p.y - tip.offsetHeight - 10)}px`;
      if (fromKeys) said.textContent = p.text;
    }
    function hide() {
      tip.hidden = true;
      if (drawn) drawn.mark(-1);
    }
    function redraw() {
      const w = Math.floor(box.clientWidth);
      if (w === width || w <= 0) return;
      width = w;
      drawn = draw(width);
      box.replaceChildren(drawn.svg, tip, said);
      if (at >= 0 && !tip.hidden) show(at); else hide();
    }
    box.addEventListener('keydown', (event) => {
      if (!drawn || drawn.count === 0) return;
      const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[event.key];
      const page = Math.max(1, Math.round(drawn.count / 10));
      let to = null;
      if (step) to = (at < 0 ? (step > 0 ? -1 : drawn.count) : at) + step;
      else if (event.key === 'PageDown') to = at + page;
      else if (event.key === 'PageUp') to = at - page;
      else if (event.key === 'Home') to = 0;
      else if (event.key === 'End') to = drawn.count - 1;
      else if (event.key === 'Escape') return hide();
      if (to === null) return;
      event.preventDefault();
      show(to, true);
    }, on);
    box.addEventListener('pointermove', (event) => {
      if (!drawn) return;
      const r = box.getBoundingClientRect();
      const i = drawn.pick(event.clientX - r.left, event.clientY - r.top);
      if (i >= 0) show(i); else hide();
    }, on);
    box.addEventListener('pointerleave', () => { if (document.activeElement !== box) hide(); }, on);
    box.addEventListener('blur', hide, on);
    const resized = new ResizeObserver(redraw);
    resized.observe(box);
    mounted.set(box, () => { listening.abort(); resized.disconnect(); });
    redraw();
  }

  /**
   * A line chart of `values` ([day, n] of `unit`, unbroken): plays over the
   * dates, the y axis titled `yTitle`.
   */
  function line(box, { label, values, unit, yTitle, what }) {
    mount(box, label, (width) => {
      const height = width < 500 ? 220 : 280;
      const { top: yTop, ticks: yTicks } = niceTicks(Math.max(0, ...values.map((v) => v[1])), height < 250 ? 4 : 5);
      const left = 26 + charWidth * Math.max(...yTicks.map((t) => count(t).length)) + 8;
      const m = { left, right: 16, top: 12, bottom: 34 };
      const w = Math.max(10, width - m.left - m.right);
      const h = height - m.top - m.bottom;
      const d0 = values.length ? values[0][0] : 0;
      const d1 = values.length ? values[values.length - 1][0] : 0;
      const x = (d) => m.left + (d1 > d0 ? ((d - d0) / (d1 - d0)) * w : w / 2);
      const y = (n) => m.top + h - (n / yTop) * h;
      const root = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img',
        'aria-label': `${label}, ${what}` });
      const grid = svg('g', { class: 'grid' });
      const axes = svg('g', { class: 'axis' });
      for (const t of yTicks) {
        grid.append(svg('line', { x1: m.left, x2: m.left + w, y1: y(t), y2: y(t) }));
        axes.append(svg('text', { x: m.left - 6, y: y(t) + 4, 'text-anchor': 'end' }, count(t)));
      }
      const xTicks = dateTicks(d0, d1, Math.max(2, Math.floor(w / 72)), unit); // "Sep 2024" is about 60 px
      for (const [d, text] of xTicks) {
        axes.append(svg('line', { x1: x(d), x2: x(d), y1: m.top + h, y2: m.top + h + 4 }));
        axes.append(svg('text', { x: x(d), y: m.top + h + 17, 'text-anchor': 'middle' }, text));
      }
      axes.append(svg('line', { x1: m.left, x2: m.left + w, y1: m.top + h, y2: m.top + h }));
      axes.append(svg('text', { class: 'title', x: 0, y: 0, 'text-anchor': 'middle',
        transform: `translate(12 ${m.top + h / 2}) rotate(-90)` }, yTitle));
      root.append(grid, axes);
      if (values.length > 1) {
        const path = values.map(([d, n], i) => `${i ? 'L' : 'M'}${x(d).toFixed(1)},${y(n).toFixed(1)}`).join('');
        root.append(svg('path', { class: 'area', d: `${path}L${x(d1).toFixed(1)},${y(0)}L${x(d0).toFixed(1)},${y(0)}Z` }),
          svg('path', { class: 'line', d: path }));
      } else if (values.length === 1) {
        root.append(svg('circle', { class: 'dot', cx: x(d0), cy: y(values[0][1]), r: 4 }));
      }
      const cursor = svg('g', { class: 'cursor', visibility: 'hidden' });
      const rule = svg('line', { y1: m.top, y2: m.top + h });
      const dot = svg('circle', { r: 4 });
      cursor.append(rule, dot);
      root.append(cursor);
      return {
        svg: root,
        count: values.length,
        point: (i) => ({ x: x(values[i][0]), y: y(values[i][1]),
          text: `${bucketName(values[i][0], unit)}: ${count(values[i][1])} plays` }),
        mark(i) {
          if (i < 0) return cursor.setAttribute('visibility', 'hidden');
          const [d, n] = values[i];
          rule.setAttribute('x1', x(d)); rule.setAttribute('x2', x(d));
          dot.setAttribute('cx', x(d)); dot.setAttribute('cy', y(n));
          cursor.setAttribute('visibility', 'visible');
        },
        pick(px) {
          if (!values.length || px < m.left - 8 || px > m.left + w + 8) return -1;
          const d = d1 > d0 ? d0 + ((px - m.left) / w) * (d1 - d0) : d0;
          // values are one per bucket, ascending: the nearest by bisection
          let lo = 0; let hi = values.length - 1;
          while (lo < hi) { const mid = (lo + hi) >> 1; if (values[mid][0] < d) lo = mid + 1; else hi = mid; }
          return lo > 0 && d - values[lo - 1][0] < values[lo][0] - d ? lo - 1 : lo;
        },
      };
    });
  }

  /** A bar chart of `items` ({ name, value }), one bar a row, largest first. */
  function bars(box, { label, items, xTitle, what }) {
    mount(box, label, (width) => {
      const row = 22;
      const longest = Math.max(1, ...items.map((i) => Array.from(i.name).length));
      const labelWidth = Math.min(240, Math.floor(width * 0.34), charWidth * longest + 8);
      const m = { left: labelWidth + 8, right: 16 + charWidth * 8, top: 6, bottom: 40 };
      const w = Math.max(10, width - m.left - m.right);
      const h = items.length * row;
      const height = m.top + h + m.bottom;
      const { top: xTop, ticks } = niceTicks(Math.max(0, ...items.map((i) => i.value)), Math.max(2, Math.floor(w / 80)));
      const x = (n) => m.left + (n / xTop) * w;
      const root = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img',
        'aria-label': `${label}, ${what}` });
      const grid = svg('g', { class: 'grid' });
      const axes = svg('g', { class: 'axis' });
      for (const t of ticks) {
        grid.append(svg('line', { x1: x(t), x2: x(t), y1: m.top, y2: m.top + h }));
        axes.append(svg('text', { x: x(t), y: m.top + h + 16, 'text-anchor': 'middle' }, count(t)));
      }
      axes.append(svg('text', { class: 'title', x: m.left + w / 2, y: m.top + h + 34, 'text-anchor': 'middle' }, xTitle));
      root.append(grid, axes);
      const chars = Math.floor(labelWidth / charWidth);
      const shapes = items.map((item, i) => {
        const g = svg('g', { class: 'bar' });
        const top = m.top + i * row;
        g.append(svg('title', {}, `${item.name}: ${count(item.value)} plays`),
          svg('text', { class: 'name', x: labelWidth, y: top + 15, 'text-anchor': 'end' }, cut(item.name, chars)),
          svg('rect', { x: m.left, y: top + 3, width: Math.max(1, x(item.value) - m.left), height: row - 6 }),
          svg('text', { class: 'value', x: x(item.value) + 4, y: top + 15 }, count(item.value)));
        root.append(g);
        return g;
      });
      return {
        svg: root,
        count: items.length,
        point: (i) => ({ x: Math.min(x(items[i].value), width - 60), y: m.top + i * row + 2,
          text: `${items[i].name}: ${count(items[i].value)} plays` }),
        mark: (i) => shapes.forEach((g, j) => g.classList.toggle('marked', i === j)),
        pick: (px, py) => {
          const i = Math.floor((py - m.top) / row);
          return i >= 0 && i < items.length ? i : -1;
        },
      };
    });
  }

  return { series, bucketName, line, bars, dayOf };
})();
