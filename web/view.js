// The view of a finished job: its summary numbers, its plays over time, its
// top 20 songs, and a search that draws one song's plays
// (GET /jobs/<id>/summary, /songs?prefix= and /songs/<name>). It opens when
// the page's own upload finishes, from a job's View link in the table, and
// at /jobs/<id>/view: the link to share, which the server answers with this
// page. Names are the uploader's: they reach the page as text only.
'use strict';

const jobView = (() => {
  const $ = (id) => document.getElementById(id);
  const section = $('view');
  const title = $('view-title');
  const status = $('view-status');
  const body = $('view-body');
  const link = $('view-link');
  const download = $('view-download');
  const numbers = $('view-numbers');
  const input = $('song-q');
  const list = $('song-list');
  const hint = $('song-hint');
  const songFigure = $('song');
  const songStatus = $('song-status');
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const plural = (n, one, many) => `${pc.count(n)} ${n === 1 ? one : many}`;
  const viewPath = /^\/jobs\/([^/]+)\/view\/?$/;
  const top = 20; // songs in the bar chart
  const listed = 20; // names a search lists

  let jobId = null;
  let opened = 0; // which open() is the latest: an older one's answers are dropped

  function say(text, bad) {
    status.textContent = text;
    status.classList.toggle('error', !!bad);
  }

  /** The id of the job whose view the address names, or null. */
  function idInPath() {
    const m = viewPath.exec(location.pathname);
    try {
      return m ? decodeURIComponent(m[1]) : null;
    } catch (_) {
      return m[1]; // a malformed %-escape: the server says there is no such job
    }
  }

  /**
   * Shows the view of job `id`. how.push: the address becomes the view's
   * (a new history entry); how.scroll: scrolled to.
   */
  async function open(id, how = {}) {
    const mine = ++opened;
    jobId = id;
    const base = `/jobs/${encodeURIComponent(id)}`;
    const path = `${base}/view`;
    if (how.push && location.pathname !== path) history.pushState({ view: id }, '', path);
    else if (idInPath() !== null && location.pathname !== path) history.replaceState({ view: id }, '', path);
    section.hidden = false;
    body.hidden = true;
    link.href = path;
    download.replaceChildren();
    title.textContent = 'Result';
    resetSearch();
    say('Loading the job…');
    if (how.scroll) section.scrollIntoView({ block: 'start' });

    const job = await finished(id, mine);
    if (!job || mine !== opened) return;
    title.textContent = `Result of ${job.fileName || id}`;
    download.replaceChildren(pc.resultLink(`${base}/result/`, `${id}.csv`, 'Download CSV'));
    say('Loading its summary…');
    const summary = await retrying(`${base}/summary`, mine);
    if (!summary || mine !== opened) return;
    say('');
    show(summary);
  }

  /** The job once it is finished; null (having said why) if it never will be. */
  async function finished(id, mine) {
    for (;;) {
      let job;
      try {
        job = await pc.json(`/jobs/${encodeURIComponent(id)}/`);
      } catch (e) {
        if (mine !== opened) return null;
        if (e.status === 404) say(`There is no job ${id} on this server: the link is wrong, or the job was removed.`, true);
        else say(`Cannot load the job: ${e.message}`, true);
        return null;
      }
      if (mine !== opened) return null;
      title.textContent = `Result of ${job.fileName || id}`;
      if (job.state === 'finished') return job;
      if (job.state === 'failed') { say(`The job failed (${job.error}): it has no result to show.`, true); return null; }
      if (job.state === 'canceled') { say('The job was canceled: it has no result to show.', true); return null; }
      say(`The job is ${job.state}: its result is shown here when it finishes.`);
      await sleep(1000);
    }
  }

  /** GET url; a 503 (a summary being built) is asked again after its Retry-After. */
  async function retrying(url, mine) {
    for (let tries = 0; ; tries++) {
      try {
        return await pc.json(url);
      } catch (e) {
        if (mine !== opened) return null;
        if (e.status === 503 && tries < 120) {
          say(`${e.message}…`);
          await sleep(1000 * Math.min(5, Math.max(1, e.retryAfter)));
          continue;
        }
        say(`Cannot load the summary: ${e.message}`, true);
        return null;
      }
    }
  }

  function close() {
    opened++;
    jobId = null;
    section.hidden = true;
    if (idInPath() !== null) history.pushState({}, '', '/');
  }

  // -- the summary ---------------------------------------------------------

  function card(key, label, ...value) {
    return pc.el('div', { class: 'card', 'data-key': key }, pc.el('dt', {}, label), pc.el('dd', {}, ...value));
  }

  const days = (first, last) => charts.dayOf(last) - charts.dayOf(first) + 1;

  /**
   * The rows of a table of numbers: each a list of cells, a number (right
   * aligned, with thousands separators), a text, or a td of its own.
   */
  function fill(table, rows) {
    const tbody = table.tBodies[0];
    tbody.replaceChildren(...rows.map((cells) => pc.el('tr', {}, ...cells.map((c) =>
      (typeof c === 'number' ? pc.el('td', { class: 'num' }, pc.count(c)) : c instanceof Node ? c : pc.el('td', {}, c))))));
  }

  /** "first to last", broken between the dates only. */
  const span = (first, last) => [pc.el('span', { class: 'date' }, first), ' to ', pc.el('span', { class: 'date' }, last)];

  function show(s) {
    const empty = !s.firstDate;
    numbers.replaceChildren(
      card('plays', 'Plays', pc.count(s.plays)),
      card('songs', 'Songs', pc.count(s.songs)),
      card('groups', 'Song-dates', pc.count(s.groups)),
      card('dates', 'Dates', ...(empty ? ['none'] : span(s.firstDate, s.lastDate)),
        empty ? null : pc.el('span', { class: 'hint' }, ` (${pc.count(days(s.firstDate, s.lastDate))} days)`)),
      ...(s.skippedRows !== undefined ? [card('skipped', 'Skipped rows', pc.count(s.skippedRows))] : []));
    body.hidden = false;
    $('by-date').hidden = empty;
    $('top-songs').hidden = empty;
    $('search').hidden = empty;
    if (empty) return say('The result is empty: no plays to chart.');

    const byDate = s.playsByDate || { unit: 'day', points: [] };
    const drawn = charts.series(byDate.points, byDate.unit);
    const per = drawn.unit;
    $('by-date-title').textContent = `Plays per ${per}`;
    const peak = drawn.values.reduce((a, b) => (b[1] > a[1] ? b : a), [0, 0]);
    charts.line($('by-date-chart'), {
      label: `Plays per ${per}`, values: drawn.values, unit: per, yTitle: `Plays per ${per}`,
      what: `${s.firstDate} to ${s.lastDate}, at most ${pc.count(peak[1])} on ${charts.bucketName(peak[0], per)}`,
    });
    $('by-date-head').textContent = per[0].toUpperCase() + per.slice(1);
    fill($('by-date-table'), drawn.values.filter((v) => v[1] > 0).map(([d, n]) => [charts.bucketName(d, per), n]));

    const songs = (s.topSongs || []).slice(0, top);
    $('top-songs-title').textContent = `The top ${songs.length} songs`;
    charts.bars($('top-songs-chart'), {
      label: `The top ${songs.length} songs by plays`, xTitle: 'Plays',
      items: songs.map((t) => ({ name: t.song, value: t.plays })),
      what: songs.length ? `the first ${songs[0].song} with ${pc.count(songs[0].plays)} plays` : 'none',
    });
    fill($('top-songs-table'), songs.map((t, i) => [i + 1, pc.el('td', { class: 'wrap' }, pc.name(t.song)), t.plays,
      pc.el('td', { class: 'dates' }, ...span(t.firstDate, t.lastDate))]));
  }

  // -- the song search -----------------------------------------------------

  let options = [];   // the songs listed
  let active = -1;    // the one the arrow keys are on
  let typed = null;   // the debounce timer
  let asked = 0;      // which lookup is the latest
  let songShown = 0;  // which song's series is the latest

  function resetSearch() {
    asked++;
    clearTimeout(typed);
    options = [];
    list.replaceChildren();
    input.value = '';
    hint.textContent = '';
    closeList();
    songShown++;
    songFigure.hidden = true;
  }

  function closeList() {
    list.hidden = true;
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
    active = -1;
  }

  function activate(i) {
    if (!options.length) return;
    active = (i + options.length) % options.length;
    Array.from(list.children).forEach((li, j) => li.setAttribute('aria-selected', String(j === active)));
    const li = list.children[active];
    input.setAttribute('aria-activedescendant', li.id);
    li.scrollIntoView({ block: 'nearest' });
  }

  async function lookup() {
    const mine = ++asked;
    const prefix = input.value;
    if (!prefix || !jobId) { closeList(); hint.textContent = ''; return; }
    let answer;
    try {
      answer = await pc.json(`/jobs/${encodeURIComponent(jobId)}/songs?prefix=${encodeURIComponent(prefix)}&limit=${listed}`);
    } catch (e) {
      if (mine === asked) hint.textContent = `The search failed: ${e.message}`;
      return;
    }
    if (mine !== asked) return;
    options = answer.songs;
    list.replaceChildren(...options.map((o, i) => {
      const li = pc.el('li', { role: 'option', id: `song-option-${i}`, 'aria-selected': 'false' },
        pc.el('span', { class: 'song-name' }, o.song),
        pc.el('span', { class: 'hint' }, ` ${plural(o.plays, 'play', 'plays')}, ${plural(o.dates, 'date', 'dates')}`));
      li.addEventListener('mousedown', (event) => event.preventDefault()); // the input keeps the focus
      li.addEventListener('click', () => choose(i));
      return li;
    }));
    hint.textContent = !options.length ? `No song begins with "${prefix}".`
      : answer.more ? `The first ${options.length} that begin with "${prefix}": type more to narrow them.`
        : `${options.length} ${options.length === 1 ? 'song begins' : 'songs begin'} with "${prefix}".`;
    if (!options.length) return closeList();
    list.hidden = false;
    input.setAttribute('aria-expanded', 'true');
    input.removeAttribute('aria-activedescendant');
    active = -1;
  }

  function choose(i) {
    const o = options[i];
    if (!o) return;
    input.value = o.song;
    closeList();
    showSong(o.song);
  }

  async function showSong(name) {
    const mine = ++songShown;
    const id = jobId;
    songFigure.hidden = false;
    $('song-title').textContent = `Plays of ${name} per day`;
    songStatus.textContent = 'Loading…';
    songStatus.classList.remove('error');
    let s;
    try {
      s = await pc.json(`/jobs/${encodeURIComponent(id)}/songs/${encodeURIComponent(name)}`);
    } catch (e) {
      if (mine !== songShown) return;
      songStatus.textContent = `Cannot load the song: ${e.message}`;
      songStatus.classList.add('error');
      $('song-chart').replaceChildren();
      fill($('song-table'), []);
      return;
    }
    if (mine !== songShown) return;
    const drawn = charts.series(s.points, s.unit || 'day');
    const per = drawn.unit;
    $('song-title').textContent = `Plays of ${name} per ${per}`;
    songStatus.textContent = `${plural(s.plays, 'play', 'plays')} on ${plural(s.dates, 'date', 'dates')}, ` +
      `${s.firstDate} to ${s.lastDate}.`;
    charts.line($('song-chart'), {
      label: `Plays of ${name} per ${per}`, values: drawn.values, unit: per, yTitle: `Plays per ${per}`,
      what: `${s.firstDate} to ${s.lastDate}`,
    });
    $('song-head').textContent = per[0].toUpperCase() + per.slice(1);
    fill($('song-table'), drawn.values.filter((v) => v[1] > 0).map(([d, n]) => [charts.bucketName(d, per), n]));
  }

  input.addEventListener('input', () => {
    clearTimeout(typed);
    typed = setTimeout(lookup, 200);
  });
  input.addEventListener('keydown', (event) => {
    const shown = !list.hidden;
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      if (!shown && options.length) { list.hidden = false; input.setAttribute('aria-expanded', 'true'); }
      activate(active < 0 ? (event.key === 'ArrowDown' ? 0 : -1) : active + (event.key === 'ArrowDown' ? 1 : -1));
    } else if (event.key === 'Enter') {
      event.preventDefault();
      if (shown && active >= 0) choose(active);
      else if (shown && options.length === 1) choose(0);
    } else if (event.key === 'Escape' && shown) {
      event.preventDefault();
      closeList();
    }
  });
  input.addEventListener('blur', closeList);
  $('view-close').addEventListener('click', close);

  // Back and forward between the page and views.
  window.addEventListener('popstate', () => {
    const id = idInPath();
    if (id !== null) open(id);
    else { opened++; jobId = null; section.hidden = true; }
  });
  const first = idInPath();
  if (first !== null) open(first, { scroll: true });

  return { open, idInPath };
})();
