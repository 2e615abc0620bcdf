// The admin page: GET /admin/stats every second, as tables. Throughput is
// the growth of the bytes and rows read between two answers.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const error = $('stats-error');
  let last = null; // { at, bytes, rows } of the previous answer

  const time = (iso) => (iso ? new Date(iso).toLocaleTimeString() : '');

  // A number, or a string wrapped in num(), goes right-aligned.
  const num = (text) => ({ num: text });

  function fill(tbody, rows) {
    tbody.replaceChildren(...rows.map((cells) => pc.el('tr', cells.attrs, ...cells.map((c) => {
      if (c instanceof Node) return pc.el('td', {}, c);
      if (typeof c === 'number') return pc.el('td', { class: 'num' }, pc.count(c));
      if (c && typeof c === 'object') return pc.el('td', { class: 'num' }, c.num);
      return pc.el('td', { class: 'wrap' }, c);
    }))));
  }

  function card(label, value, id) {
    return [pc.el('div', { class: 'card', 'data-key': id }, pc.el('dt', {}, label), pc.el('dd', {}, value))];
  }

  function rate(now, s) {
    const totals = s.totals || { bytesRead: 0, rowsRead: 0 };
    let text = '–';
    if (last && now > last.at) {
      const secs = (now - last.at) / 1000;
      const bytes = Math.max(0, totals.bytesRead - last.bytes) / secs;
      const rows = Math.max(0, totals.rowsRead - last.rows) / secs;
      text = `${pc.bytes(Math.round(bytes))}/s, ${pc.count(Math.round(rows))} rows/s`;
    }
    last = { at: now, bytes: totals.bytesRead, rows: totals.rowsRead };
    return text;
  }

  function render(s, now) {
    const j = s.jobs;
    const q = s.queue;
    const up = s.nodes.filter((n) => n.state === 'up').length;
    const totals = s.totals || { bytesRead: 0, rowsRead: 0 };
    $('overview').replaceChildren(
      ...card('Uptime', pc.duration(s.uptimeSeconds), 'uptime'),
      ...card('Nodes up', `${up} of ${s.nodes.length}`, 'nodes'),
      ...card('Worker actors', `${s.workers.filter((w) => w.state === 'busy').length} busy of ${s.workers.length}`, 'workers'),
      ...card('Jobs', `${j.queued} queued · ${j.started} started · ${j.finished} finished · ${j.failed} failed · ${j.canceled} canceled`, 'jobs'),
      ...card('Range queue', `${q.rangesQueued} waiting; ${pc.count(q.rangesDispatched)} dispatched, ${pc.count(q.rangesRedispatched)} again after a loss`, 'ranges'),
      ...card('Throughput', rate(now, s), 'throughput'),
      ...card('Read since start', `${pc.bytes(totals.bytesRead)}, ${pc.count(totals.rowsRead)} rows`, 'totals'),
      ...card('Registry', `${s.coordinator.answered ? '' : 'coordinator silent; '}mailbox ${s.registry.mailbox}, ` +
              `${s.registry.maxRunningJobs} jobs at once, ${s.registry.maxQueuedJobs} may wait`, 'registry'),
    );
    fill($('nodes').tBodies[0], s.nodes.map((n) => Object.assign(
      [n.name + (n.local ? ' (this server)' : ''), n.address,
       pc.el('span', { class: `state ${n.state}` }, n.state), n.workers, n.rangesDone,
       num(pc.bytes(n.bytesDone)), time(n.joinedAt), time(n.lastSeen)],
      { attrs: { 'data-node': n.id } })));
    fill($('workers').tBodies[0], s.workers.map((w) => Object.assign(
      [w.id, w.node, pc.el('span', { class: `state ${w.state}` }, w.state), w.rangesDone,
       num(pc.bytes(w.bytesDone)), w.mailbox],
      { attrs: { 'data-worker': w.id } })));
    fill($('queue').tBodies[0], q.jobs.map((job) => {
      const bar = pc.el('progress', { max: Math.max(job.ranges, 1), 'aria-label': `job ${job.id}` });
      bar.value = job.done;
      return Object.assign([job.id, job.phase, job.ranges, job.queued, job.inFlight, job.done, bar],
                           { attrs: { 'data-job': job.id } });
    }));
    $('queue-empty').hidden = q.jobs.length > 0;
  }

  pc.every(1000, async () => {
    try {
      const s = await pc.json('/admin/stats');
      render(s, Date.now());
      error.hidden = true;
      $('updated').textContent = `Updated ${new Date().toLocaleTimeString()}.`;
    } catch (e) {
      error.hidden = false;
      error.textContent = `Cannot read /admin/stats: ${e.message}`;
    }
  });
})();
