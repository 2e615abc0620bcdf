// The admin page: GET /admin/stats every second, as tables, and the job
// list (GET /jobs/ with its filter) every two seconds. Throughput is the
// growth of the bytes and rows read between two answers.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const error = $('stats-error');
  let last = null; // { at, bytes, rows } of the previous answer

  const time = (iso) => (iso ? new Date(iso).toLocaleTimeString() : '');
  const seconds = (from, to) => (Date.parse(to) - Date.parse(from)) / 1000;

  // A number, or a string wrapped in num(), goes right-aligned.
  const num = (text) => ({ num: text });

  function fill(table, rows) {
    table.tBodies[0].replaceChildren(...rows.map((cells) => pc.label(table, pc.el('tr', cells.attrs, ...cells.map((c) => {
      if (c instanceof Node) return pc.el('td', {}, c);
      if (typeof c === 'number') return pc.el('td', { class: 'num' }, pc.count(c));
      if (c && typeof c === 'object') return pc.el('td', { class: 'num' }, c.num);
      return pc.el('td', { class: 'wrap' }, c);
    })))));
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

  // A node is shown by the name it gave (the server's own is "local"), with
  // its id only when two share a name: the same words in every table.
  function nodeNames(nodes) {
    const uses = new Map();
    for (const n of nodes) uses.set(n.name, (uses.get(n.name) || 0) + 1);
    return new Map(nodes.map((n) => [n.id, uses.get(n.name) > 1 ? `${n.name} (${n.id})` : n.name]));
  }

  // Workers as "<node> #<n>": numbered within their node in the order of
  // their actor ids ("7@<node hash>#<pid>"), which CAF hands out rising.
  function namedWorkers(workers, nodes, names) {
    const nodeRank = new Map(nodes.map((n, i) => [n.id, i]));
    const actor = (w) => parseInt(w.id, 10) || 0;
    const sorted = [...workers].sort((a, b) =>
      (nodeRank.get(a.node) ?? nodes.length) - (nodeRank.get(b.node) ?? nodes.length) || actor(a) - actor(b));
    const seen = new Map();
    return sorted.map((w) => {
      const n = (seen.get(w.node) || 0) + 1;
      seen.set(w.node, n);
      return { w, name: `${names.get(w.node) || w.node} #${n}` };
    });
  }

  function render(s, now) {
    const j = s.jobs;
    const q = s.queue;
    // The server's own node with no workers does no work: not a node up.
    const idleLocal = s.nodes.find((n) => n.local && n.workers === 0);
    const counted = s.nodes.filter((n) => n !== idleLocal);
    const up = counted.filter((n) => n.state === 'up').length;
    const totals = s.totals || { bytesRead: 0, rowsRead: 0 };
    $('overview').replaceChildren(
      ...card('Uptime', pc.duration(s.uptimeSeconds), 'uptime'),
      ...card('Nodes up', `${up} of ${counted.length}${idleLocal ? ' (this server runs no workers)' : ''}`, 'nodes'),
      ...card('Worker actors', `${s.workers.filter((w) => w.state === 'busy').length} busy of ${s.workers.length}`, 'workers'),
      ...card('Jobs', `${j.queued} queued · ${j.started} started · ${j.finished} finished · ${j.failed} failed · ${j.canceled} canceled`, 'jobs'),
      ...card('Range queue', `${q.rangesQueued} waiting; ${pc.count(q.rangesDispatched)} dispatched, ${pc.count(q.rangesRedispatched)} again after a loss`, 'ranges'),
      ...card('Throughput', rate(now, s), 'throughput'),
      ...card('Read since start', `${pc.bytes(totals.bytesRead)}, ${pc.count(totals.rowsRead)} rows`, 'totals'),
      ...card('Registry', `${s.coordinator.answered ? '' : 'coordinator silent; '}mailbox ${s.registry.mailbox}, ` +
              `${s.registry.maxRunningJobs} jobs at once, ${s.registry.maxQueuedJobs} may wait`, 'registry'),
    );
    const names = nodeNames(s.nodes);
    fill($('nodes'), s.nodes.map((n) => Object.assign(
      [names.get(n.id) + (n.local ? ' (this server)' : ''), n.address,
       pc.el('span', { class: `state ${n.state}` }, n.state), n.workers, n.rangesDone,
       num(pc.bytes(n.bytesDone)), time(n.joinedAt), time(n.lastSeen)],
      { attrs: { 'data-node': n.id, title: `node id ${n.id}` } })));
    fill($('workers'), namedWorkers(s.workers, s.nodes, names).map(({ w, name }) => Object.assign(
      [name, pc.el('span', { class: `state ${w.state}` }, w.state), w.rangesDone,
       num(pc.bytes(w.bytesDone)), w.mailbox],
      { attrs: { 'data-worker': w.id, title: `actor ${w.id}` } })));
    fill($('queue'), q.jobs.map((job) => {
      const bar = pc.el('progress', { max: Math.max(job.ranges, 1), 'aria-label': `ranges done of ${jobName(job.id)}` });
      bar.value = job.done;
      return Object.assign([pc.name(jobName(job.id)), job.phase, job.ranges, job.queued, job.inFlight, job.done, bar],
                           { attrs: { 'data-job': job.id, title: `job ${job.id}` } });
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

  // -- job names for the range queue -----------------------------------------

  const fileNames = new Map(); // job id -> file name, from the job list or GET /jobs/<id>/
  const asked = new Set();

  function jobName(id) {
    if (fileNames.has(id)) return fileNames.get(id) || id;
    if (!asked.has(id)) {
      asked.add(id);
      pc.json(`/jobs/${id}/`).then((job) => fileNames.set(id, job.fileName), () => {});
    }
    return id;
  }

  // -- the job list ----------------------------------------------------------

  const page = 50;
  const most = 1000; // the server's largest limit
  const stateFilter = $('job-state');
  const nameFilter = $('job-q');
  const listTable = $('job-list');
  const listError = $('job-list-error');
  const more = $('job-more');
  const listRows = new Map(); // job id -> { tr, key }
  let limit = page;

  function listUrl() {
    const p = new URLSearchParams({ limit: String(limit) });
    if (stateFilter.value) p.set('state', stateFilter.value);
    if (nameFilter.value.trim()) p.set('q', nameFilter.value.trim());
    return `/jobs/?${p}`;
  }

  // A server that knows the filter answers its `total`; one from before it
  // ignores state and q, and the page filters what it got as the server
  // would (the text in the file name or id, letters in any case).
  function matches(job) {
    const q = nameFilter.value.trim().toLowerCase();
    return (!stateFilter.value || job.state === stateFilter.value) &&
           (!q || `${job.fileName || ''}\n${job.jobId}`.toLowerCase().includes(q));
  }

  function took(job, now) {
    if (job.startedAt && job.finishedAt) return pc.duration(seconds(job.startedAt, job.finishedAt));
    if (job.startedAt && job.state === 'started') return `${pc.duration((now - Date.parse(job.startedAt)) / 1000)} so far`;
    return '';
  }

  function waited(job, now) {
    if (!job.createdAt) return '';
    if (job.startedAt) return pc.duration(seconds(job.createdAt, job.startedAt));
    if (job.state === 'queued') return `${pc.duration((now - Date.parse(job.createdAt)) / 1000)} so far`;
    return '';
  }

  function outcome(job) {
    if (job.state === 'failed') return pc.el('span', { class: 'error' }, job.error || 'failed');
    if (job.state === 'finished') {
      return pc.el('span', {},
        pc.resultLink(`/jobs/${job.jobId}/result/`, `${job.jobId}.csv`, 'Download CSV'),
        ` ${pc.count(job.rows)} rows → ${pc.count(job.groups)} song-dates`);
    }
    if (job.state === 'started') return job.phase || '';
    return '';
  }

  function jobRow(job, now) {
    const submitted = job.createdAt ? new Date(job.createdAt) : null;
    const file = pc.el('td', { class: 'wrap', title: `job ${job.jobId}` }, pc.name(job.fileName || job.jobId));
    const tr = pc.el('tr', { 'data-job': job.jobId, 'data-state': job.state },
      file,
      pc.el('td', {}, pc.el('span', { class: `state ${job.state}` }, job.state)),
      pc.el('td', { title: submitted ? submitted.toISOString() : null }, submitted ? submitted.toLocaleString() : ''),
      pc.el('td', { class: 'num' }, waited(job, now)),
      pc.el('td', { class: 'num' }, took(job, now)),
      pc.el('td', { class: 'num' }, pc.bytes(job.bytesTotal)),
      pc.el('td', { class: 'wrap' }, outcome(job)));
    return pc.label(listTable, tr);
  }

  // Rows are replaced only when their job changed, so that a link keeps the
  // keyboard's focus across refreshes.
  function renderList(jobs, now) {
    const tbody = listTable.tBodies[0];
    const seen = new Set();
    let prev = null;
    for (const job of jobs) {
      seen.add(job.jobId);
      const key = JSON.stringify(job) + (ended(job) ? '' : now);
      let row = listRows.get(job.jobId);
      if (!row || row.key !== key) {
        const tr = jobRow(job, now);
        if (row) row.tr.replaceWith(tr);
        row = { tr, key };
        listRows.set(job.jobId, row);
      }
      const want = prev ? prev.nextSibling : tbody.firstChild;
      if (want !== row.tr) tbody.insertBefore(row.tr, want);
      prev = row.tr;
    }
    for (const [id, row] of listRows) {
      if (!seen.has(id)) { row.tr.remove(); listRows.delete(id); }
    }
  }

  const ended = (job) => job.state === 'finished' || job.state === 'failed' || job.state === 'canceled';

  const list = pc.every(2000, async () => {
    try {
      const answer = await pc.json(listUrl());
      if (fileNames.size > 5000) { fileNames.clear(); asked.clear(); } // a tab left open for weeks
      for (const job of answer.jobs) fileNames.set(job.jobId, job.fileName);
      const filtered = 'total' in answer;
      const jobs = filtered ? answer.jobs : answer.jobs.filter(matches);
      renderList(jobs, Date.now());
      listError.hidden = true;
      const whole = filtered ? answer.total : null;
      const what = stateFilter.value || nameFilter.value.trim() ? 'matching ' : '';
      if (filtered) {
        $('job-count').textContent = jobs.length < whole
          ? `The newest ${pc.count(jobs.length)} of ${pc.count(whole)} ${what}jobs.`
          : `${pc.count(whole)} ${what}jobs.`;
      } else if (answer.jobs.length < limit) { // all there are
        $('job-count').textContent = `${pc.count(jobs.length)} ${what}jobs.`;
      } else {
        $('job-count').textContent = `${pc.count(jobs.length)} ${what}jobs among the ${pc.count(answer.jobs.length)} newest.`;
      }
      more.hidden = limit >= most || answer.jobs.length < limit;
    } catch (e) {
      listError.hidden = false;
      listError.textContent = `Cannot list the jobs: ${e.message}`;
    }
  });

  let typing = null;
  nameFilter.addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(() => { limit = page; list.now(); }, 250);
  });
  stateFilter.addEventListener('change', () => { limit = page; list.now(); });
  $('job-filter').addEventListener('submit', (event) => { event.preventDefault(); list.now(); });
  more.addEventListener('click', () => { limit = Math.min(most, limit + page); list.now(); });
})();
