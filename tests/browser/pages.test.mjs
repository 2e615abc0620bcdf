// The web pages of `playcount serve` in headless Chromium: the upload page
// (upload, progress, the result link, a failed job's error, cancel, drag
// and drop, confirmations), a finished job's view (its numbers, charts and
// song search, at /jobs/<id>/view too) and the admin page (its tables, the job list),
// at a phone's width and a wide screen's, with axe-core's accessibility
// rules, against the real binary on a loopback port. Every page must run
// without a console error or an uncaught exception.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import {
  startServer, launchBrowser, newPage, makeCsv, countAlone, writeCsv, tempDir, csvField, summarize,
} from './support.mjs';

const dir = tempDir();
let server; // two workers
let idle;   // no workers: its jobs wait (state started) until canceled
let browser;

before(async () => {
  [server, idle, browser] = await Promise.all([
    startServer(`${dir}/a`, ['--workers', '2']),
    startServer(`${dir}/b`, ['--workers', '0']),
    launchBrowser(),
  ]);
});

after(async () => {
  await browser?.close();
  await Promise.all([server?.stop(), idle?.stop()]);
  if (process.exitCode === undefined || process.exitCode === 0) rmSync(dir, { recursive: true, force: true });
  else console.log(`kept ${dir}: server logs follow\n${server?.log()}\n${idle?.log()}`);
});

/** The page's problems, to be empty at the end of a test. */
function noProblems(problems) {
  assert.deepEqual(problems, [], 'console errors or uncaught exceptions on the page');
}

// Records every value and stage the upload's progress bar takes, from the
// first script on (a MutationObserver, installed before the page's own).
const recordProgress = () => {
  window.progressSeen = [];
  document.addEventListener('DOMContentLoaded', () => {
    const bar = document.getElementById('progress');
    new MutationObserver(() => {
      window.progressSeen.push({ stage: bar.dataset.stage, value: bar.hasAttribute('value') ? bar.value : null });
    }).observe(bar, { attributes: true, attributeFilter: ['value', 'data-stage'] });
  });
};

test('a file uploaded with the page shows its progress, and its link gives the CSV of playcount count', async () => {
  const csvPath = writeCsv(dir, 'plays.csv', makeCsv(60000));
  const expected = countAlone(csvPath, dir);
  const { context, page, problems } = await newPage(browser);
  await page.addInitScript(recordProgress);
  // A slow link (1.5 MB/s up) so that the upload takes about a second and
  // its progress events come while the bar is watched.
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions',
    { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 1_500_000 });
  await page.goto(server.url + '/');
  await page.setInputFiles('#file', csvPath);
  await page.click('#submit');

  const status = page.locator('#current-status');
  await status.getByText('Finished').waitFor({ timeout: 20000 });
  await cdp.send('Network.emulateNetworkConditions',
    { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  assert.equal(await page.locator('#progress').getAttribute('data-stage'), 'done');
  assert.equal(await page.locator('#progress').evaluate((p) => p.value), 100);
  const seen = await page.evaluate(() => window.progressSeen);
  const during = seen.filter((s) => s.stage === 'upload' && s.value > 0 && s.value < 100);
  assert.ok(during.length >= 1, `the bar showed the upload part way: ${JSON.stringify(seen)}`);
  assert.ok(seen.some((s) => s.stage === 'job'), `the bar followed the job: ${JSON.stringify(seen)}`);
  assert.match(await status.innerText(), /Finished in .*: 60,000 rows/);

  // The job's row in the table of recent jobs, with its link.
  const link = page.locator('#current-status a');
  const href = await link.getAttribute('href');
  const id = /^\/jobs\/([0-9a-f-]{36})\/result\/$/.exec(href)?.[1];
  assert.ok(id, `a result link: ${href}`);
  const row = page.locator(`#jobs tr[data-job="${id}"]`);
  await row.and(page.locator('[data-state="finished"]')).waitFor();
  assert.equal(await row.locator('td').first().innerText(), 'plays.csv');
  const rowLink = row.locator(`a[href="/jobs/${id}/result/"]`);
  assert.equal(await rowLink.count(), 1);

  // Following the link downloads the result: the bytes of playcount count.
  const [download] = await Promise.all([page.waitForEvent('download'), rowLink.click()]);
  // Named after the upload (plays.csv), as the server says (issue 13).
  assert.equal(download.suggestedFilename(), "plays-totals.csv");
  const got = readFileSync(await download.path());
  assert.ok(got.equals(expected), `the downloaded CSV differs from playcount count's (${got.length} vs ${expected.length} bytes)`);
  noProblems(problems);
  await context.close();
});

test('the bar follows the job: queued, then forward through its phases', async () => {
  // The server's answers for the job, scripted: a real job on this machine
  // is read too fast to be seen part way.
  const { context, page, problems } = await newPage(browser);
  await page.addInitScript(recordProgress);
  const phases = (scanning, reading, merging, writing) => ({
    scanning: { done: scanning, total: 1000 }, reading: { done: reading, total: reading ? 1000 : 0 },
    merging: { done: merging, total: merging ? 2 : 0 }, writing: { done: writing, total: writing ? 4 : 0 },
  });
  const answers = [
    { state: 'queued', bytesTotal: 0, bytesDone: 0, phase: null, progress: null },
    { state: 'started', bytesTotal: 1000, bytesDone: 0, phase: 'scanning', progress: phases(500, 0, 0, 0) },
    { state: 'started', bytesTotal: 1000, bytesDone: 250, phase: 'reading', progress: phases(1000, 250, 0, 0) },
    { state: 'started', bytesTotal: 1000, bytesDone: 750, phase: 'reading', progress: phases(1000, 750, 0, 0) },
    { state: 'started', bytesTotal: 1000, bytesDone: 1000, phase: 'merging', progress: phases(1000, 1000, 1, 0) },
    { state: 'started', bytesTotal: 1000, bytesDone: 1000, phase: 'writing', progress: phases(1000, 1000, 2, 1) },
  ];
  let asked = 0;
  await page.route(/\/jobs\/[0-9a-f-]{36}\/$/, async (route) => {
    if (asked >= answers.length) return route.continue();
    const response = await route.fetch();
    const real = await response.json();
    await route.fulfill({ response, json: Object.assign(real, answers[asked++], { finishedAt: null }) });
  });
  await page.goto(server.url + '/');
  await page.setInputFiles('#file', writeCsv(dir, 'small.csv', makeCsv(10)));
  await page.click('#submit');
  await page.locator('#current-status').getByText('Finished').waitFor();
  const seen = await page.evaluate(() => window.progressSeen.filter((s) => s.stage === 'job'));
  const values = seen.map((s) => s.value);
  assert.ok(values.includes(null), `indeterminate while queued: ${JSON.stringify(seen)}`);
  // Scanning half of 5 %, then reading's 80 % a quarter and three quarters
  // of the way, merging half of its 5 %, writing a quarter of its 10 %.
  for (const v of [2, 25, 65, 87, 92])
    assert.ok(values.includes(v), `${v}% in ${JSON.stringify(seen)}`);
  const numbers = values.filter((v) => v !== null);
  assert.deepEqual(numbers, [...numbers].sort((a, b) => a - b), `never back: ${JSON.stringify(seen)}`);
  assert.ok(values.indexOf(25) < values.indexOf(65));
  noProblems(problems);
  await context.close();
});

test('a bad file fails its job, and the table says what and where', async () => {
  const { context, page, problems } = await newPage(browser);
  await page.goto(server.url + '/');
  await page.setInputFiles('#file', writeCsv(dir, 'bad.csv',
    'Song,Date,Number of Plays\na,2021-02-28,1\nb,2021-02-30,1\n'));
  await page.click('#submit');
  const status = page.locator('#current-status');
  await status.getByText('Failed').waitFor();
  assert.equal(await status.innerText(), 'Failed: line 3: Date is not a real calendar date: "2021-02-30"');
  const row = page.locator('#jobs tr[data-state="failed"]').filter({ hasText: 'bad.csv' });
  await row.waitFor();
  assert.match(await row.innerText(), /line 3: Date is not a real calendar date: "2021-02-30"/);
  assert.equal(await row.locator('a').count(), 0, 'no result link for a failed job');
  noProblems(problems);
  await context.close();
});

test('the cancel button asks, then cancels a job that is running; a server without workers is no node up', async () => {
  const { context, page, problems } = await newPage(browser);
  await page.goto(idle.url + '/');
  await page.setInputFiles('#file', writeCsv(dir, 'waits.csv', makeCsv(100)));
  await page.click('#submit');
  // No workers: the job starts and waits for one.
  const row = page.locator('#jobs tr[data-state="started"]').filter({ hasText: 'waits.csv' });
  await row.waitFor();
  const id = await row.getAttribute('data-job');
  // Asked first: "no" keeps the job, "yes" cancels it.
  const asked = [];
  page.once('dialog', (d) => { asked.push(d.message()); d.dismiss(); });
  await row.getByRole('button', { name: 'Cancel' }).click();
  assert.deepEqual(asked, ['Cancel the job of waits.csv?']);
  assert.ok(await row.getByRole('button', { name: 'Cancel' }).isEnabled(), 'no request after "no"');
  assert.equal((await (await fetch(`${idle.url}/jobs/${id}/`)).json()).state, 'started');
  page.once('dialog', (d) => { asked.push(d.message()); d.accept(); });
  await row.getByRole('button', { name: 'Cancel' }).click();
  await page.locator(`#jobs tr[data-job="${id}"][data-state="canceled"]`).waitFor();
  await page.locator('#current-status').getByText('Canceled.').waitFor();
  const job = await (await fetch(`${idle.url}/jobs/${id}/`)).json();
  assert.equal(job.state, 'canceled');

  // Its admin page does not count a server with no workers as a node up.
  await page.goto(idle.url + '/admin');
  const nodes = page.locator('.card[data-key="nodes"] dd');
  await nodes.waitFor();
  assert.equal(await nodes.innerText(), '0 of 0 (this server runs no workers)');
  noProblems(problems);
  await context.close();
});

test('the admin page shows the nodes, the worker actors and the jobs, and refreshes by itself', async () => {
  // A job first, so that the counters are not all zero.
  const form = new FormData();
  form.append('file', new Blob([makeCsv(1000, 7)], { type: 'text/csv' }), 'admin.csv');
  const answer = await (await fetch(`${server.url}/jobs/count/`, { method: 'POST', body: form })).json();
  for (let i = 0; i < 100; i++) {
    const job = await (await fetch(`${server.url}/jobs/${answer.jobId}/`)).json();
    if (job.state === 'finished') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const stats = await (await fetch(`${server.url}/admin/stats`)).json();
  assert.equal(stats.workers.length, 2);

  const { context, page, problems } = await newPage(browser);
  await page.goto(server.url + '/admin');
  const workers = page.locator('#workers tbody tr');
  await workers.nth(1).waitFor();
  assert.equal(await workers.count(), 2);
  for (const w of stats.workers) {
    const row = page.locator(`#workers tr[data-worker="${w.id}"]`);
    assert.equal(await row.count(), 1, `worker ${w.id} listed`);
    assert.match(await row.innerText(), /^local #[12]\s+(idle|busy)/);
  }
  // Named by node and number, in the order of their actors.
  assert.deepEqual(await page.locator('#workers tbody td:first-child').allInnerTexts(), ['local #1', 'local #2']);
  assert.equal(await page.locator('.card[data-key="nodes"] dd').innerText(), '1 of 1');
  const node = page.locator('#nodes tr[data-node="local"]');
  assert.match(await node.innerText(), /local \(this server\)\s+in-process\s+up\s+2/);
  const jobs = page.locator('.card[data-key="jobs"] dd');
  assert.match(await jobs.innerText(), new RegExp(`${stats.jobs.finished} finished`));
  const totals = await page.locator('.card[data-key="totals"] dd').innerText();
  assert.match(totals, new RegExp(`${stats.totals.rowsRead.toLocaleString('en-US')} rows`));

  // Another job: the page shows it without being reloaded.
  const finishedBefore = stats.jobs.finished;
  const more = new FormData();
  more.append('file', new Blob([makeCsv(10, 8)], { type: 'text/csv' }), 'more.csv');
  await fetch(`${server.url}/jobs/count/`, { method: 'POST', body: more });
  await jobs.getByText(new RegExp(`${finishedBefore + 1} finished`)).waitFor({ timeout: 5000 });
  noProblems(problems);
  await context.close();
});

test('with --api-token the page loads, asks for the token once, and uploads and downloads with it', async () => {
  const secured = await startServer(`${dir}/c`, ['--workers', '2', '--api-token', 'page-secret']);
  try {
    const csvPath = writeCsv(dir, 'secret.csv', makeCsv(500, 3));
    const expected = countAlone(csvPath, dir);
    const { context, page, problems } = await newPage(browser);
    const asked = [];
    page.on('dialog', (d) => { asked.push(d.message()); d.accept('page-secret'); });
    await page.goto(secured.url + '/');
    await page.setInputFiles('#file', csvPath);
    await page.click('#submit');
    await page.locator('#current-status').getByText('Finished').waitFor({ timeout: 20000 });
    assert.equal(asked.length, 1, `asked for the token once: ${JSON.stringify(asked)}`);
    assert.match(asked[0], /access token/);
    const link = page.locator('#current-status a');
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    const got = readFileSync(await download.path());
    assert.ok(got.equals(expected), 'the download with the token is the CSV of playcount count');
    // The one 401 before the token was given is the browser's only complaint.
    assert.deepEqual(problems.filter((p) => !/status of 401/.test(p)), []);
    assert.ok(!secured.log().includes('page-secret'), 'the token is never logged');
    await context.close();
  } finally {
    await secured.stop();
  }
});

// -- every screen ------------------------------------------------------------

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * What is wrong with the layout of the page as shown: wider than the window,
 * or a word, link, button or state broken over two lines (a file name may
 * break at its <wbr>s, and a run of over 20 characters anywhere).
 */
function layoutProblems() {
  const problems = [];
  const width = document.documentElement.scrollWidth;
  if (width > window.innerWidth) problems.push(`the page is ${width} px wide in a window of ${window.innerWidth}`);
  const lines = (node) => {
    const range = document.createRange();
    range.selectNodeContents(node);
    return new Set(Array.from(range.getClientRects(), (r) => Math.round(r.top))).size;
  };
  // Shown, and not text for screen readers only (a phone's table heads, a
  // column's name that is not shown).
  const shown = (e) => e.offsetParent && !(e.closest('thead')?.offsetWidth <= 1) &&
    !e.closest('.visually-hidden') && !e.querySelector('.visually-hidden');
  const whole = [...document.querySelectorAll('button, td a, .state, th, dt')].filter(shown);
  for (const e of whole) if (lines(e) > 1) problems.push(`"${e.textContent}" broken over ${lines(e)} lines`);
  const names = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let t = names.nextNode(); t; t = names.nextNode()) {
    const parent = t.parentElement;
    if (!shown(parent) || parent.closest('.long, .error, .hint, p, dd, td.wrap:not(:has(.name))')) continue;
    for (const word of t.textContent.split(/\s+|(?<=-)/)) { // a break after "-" is fine
      if (word.length > 20) continue;
      const at = t.textContent.indexOf(word);
      if (!word || at < 0) continue;
      const range = document.createRange();
      range.setStart(t, at);
      range.setEnd(t, at + word.length);
      const tops = new Set(Array.from(range.getClientRects(), (r) => Math.round(r.top)));
      if (tops.size > 1) problems.push(`the word "${word}" broken`);
    }
  }
  return problems;
}

/** axe-core's serious and critical violations on the page, as text. */
async function accessibilityProblems(page) {
  // Evaluated through the DevTools protocol: the pages' CSP allows no
  // script of another origin, and needs not to.
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

test('both pages fit a phone (375 px) and a wide screen (1920 px), and pass axe-core', async () => {
  const post = async (name, text) => {
    const form = new FormData();
    form.append('file', new Blob([text], { type: 'text/csv' }), name);
    return (await (await fetch(`${server.url}/jobs/count/`, { method: 'POST', body: form })).json()).jobId;
  };
  await post('export_of_the_streaming_service_2024-12-31T23-59-59_all_regions_0123456789abcdef.csv', makeCsv(50, 9));
  await post('bench.csv', 'Song,Date,Number of Plays\nUmbrella,2024-13-01,3\n');
  const { context, page, problems } = await newPage(browser);
  for (const path of ['/', '/admin']) {
    await page.setViewportSize({ width: 375, height: 800 });
    await page.goto(server.url + path);
    await page.locator(path === '/' ? '#jobs tr[data-state="failed"]' : '#job-list tr[data-state="failed"]').first().waitFor();
    await page.locator('tbody tr[data-state="finished"] a').first().waitFor();
    assert.deepEqual(await page.evaluate(layoutProblems), [], `${path} at 375 px`);
    // Once per page (2 s each): the phone's cards are where table semantics could get lost.
    assert.deepEqual(await accessibilityProblems(page), [], `${path} at 375 px`);
    await page.setViewportSize({ width: 1920, height: 800 });
    assert.deepEqual(await page.evaluate(layoutProblems), [], `${path} at 1920 px`);
  }
  noProblems(problems);
  await context.close();
});

// -- a finished job's view ---------------------------------------------------

/**
 * Input rows over 40 days of March and April 2021, two of them without a
 * play (gaps), with quoted names; each song-date once or more. Returns the
 * CSV and the result's rows ([song, date, total], song-dates once each).
 */
function viewInput() {
  let x = 5; // mulberry32: deterministic, and every day drawn
  const next = () => {
    x = (x + 0x6d2b79f5) | 0;
    let t = Math.imul(x ^ (x >>> 15), 1 | x);
    t ^= t + Math.imul(t ^ (t >>> 7), 61 | t);
    return (t ^ (t >>> 14)) >>> 0;
  };
  const songs = ['Umbrella', 'Umbrella (remix)', 'Hey, "Jude"', 'Two\nLines', 'Café del Mar', 'umbrella'];
  for (let i = 0; i < 30; i++) songs.push(`Song ${i}`);
  const totals = new Map();
  const lines = ['Song,Date,Number of Plays'];
  for (let i = 0; i < 2500; i++) {
    const day = next() % 40;
    if (day === 6 || day === 17) continue;
    const date = new Date(Date.UTC(2021, 2, 1 + day)).toISOString().slice(0, 10);
    const song = songs[next() % songs.length];
    const plays = next() % 500;
    lines.push(`${csvField(song)},${date},${plays}`);
    const key = `${song}\u0000${date}`;
    totals.set(key, (totals.get(key) || 0) + plays);
  }
  const rows = [...totals].map(([key, n]) => [...key.split('\u0000'), n]);
  return { csv: `${lines.join('\n')}\n`, rows };
}

const count = (n) => n.toLocaleString('en-US');
const card = (page, key) => page.locator(`#view-numbers .card[data-key="${key}"] dd`).innerText();
const tableOf = (page, id) => page.$$eval(`#${id} tbody tr`, (trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent)));

/** The view of the job shows `expected` (summarize()'s): numbers, charts, tables. */
async function checkView(page, expected) {
  await page.locator('#view-body').waitFor();
  const s = expected.summary;
  assert.equal(await card(page, 'plays'), count(s.plays));
  assert.equal(await card(page, 'songs'), count(s.songs));
  assert.equal(await card(page, 'groups'), count(s.groups));
  assert.equal(await card(page, 'dates'), '2021-03-01 to 2021-04-09 (40 days)');
  // Both charts are drawn: a line over the 40 days (gaps as 0) and 20 bars.
  await page.locator('#by-date-chart svg path.line').waitFor();
  const path = await page.locator('#by-date-chart svg path.line').getAttribute('d');
  assert.equal(path.split(/[ML]/).length - 1, 40, 'a point for each of the 40 days, gaps too');
  assert.equal(await page.locator('#top-songs-chart svg .bar').count(), 20);
  assert.equal(await page.locator('#by-date-chart svg').getAttribute('role'), 'img');
  // Their numbers, as tables.
  assert.deepEqual(await tableOf(page, 'by-date-table'), s.playsByDate.points.map(([d, n]) => [d, count(n)]));
  assert.equal((await tableOf(page, 'by-date-table')).length, 38);
  assert.deepEqual(await tableOf(page, 'top-songs-table'), s.topSongs.slice(0, 20)
    .map((t, i) => [String(i + 1), t.song, count(t.plays), `${t.firstDate} to ${t.lastDate}`]));

  // A song found by the start of its name, from the keyboard.
  await page.fill('#song-q', 'Umb');
  const options = page.locator('#song-list [role="option"]');
  await options.nth(1).waitFor();
  assert.deepEqual(await options.locator('.song-name').allTextContents(), ['Umbrella', 'Umbrella (remix)']);
  assert.equal(await page.locator('#song-q').getAttribute('aria-expanded'), 'true');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  assert.equal(await page.locator('#song-q').getAttribute('aria-activedescendant'), 'song-option-1');
  await page.keyboard.press('Enter');
  assert.ok(await page.locator('#song-list').isHidden());
  await page.locator('#song-chart svg').waitFor();
  assert.equal(await page.locator('#song-title').innerText(), 'Plays of Umbrella (remix) per day');
  const song = expected.songs.get('Umbrella (remix)');
  assert.deepEqual(await tableOf(page, 'song-table'), song.points.map(([d, n]) => [d, count(n)]));
  // A quoted name, chosen with the mouse.
  await page.fill('#song-q', 'Hey, "');
  await page.locator('#song-list [role="option"]').first().waitFor();
  assert.equal(await options.count(), 1);
  await options.first().click();
  await page.locator('#song-title').getByText('Plays of Hey, "Jude" per day').waitFor();
  await page.locator('#song-status').getByText(/plays on/).waitFor();
  assert.deepEqual(await tableOf(page, 'song-table'),
    expected.songs.get('Hey, "Jude"').points.map(([d, n]) => [d, count(n)]));
  // The line chart's points, stepped through with the keys.
  await page.locator('#by-date-chart').focus();
  await page.keyboard.press('End');
  const [lastDate, lastPlays] = s.playsByDate.points.at(-1);
  assert.equal(await page.locator('#by-date-chart .chart-tip').innerText(), `${lastDate}: ${count(lastPlays)} plays`);
}

test('a finished job shows its numbers, charts and song search, at its own link too', async () => {
  const { csv, rows } = viewInput();
  const expected = summarize(rows);
  const { context, page, problems } = await newPage(browser);
  await page.goto(server.url + '/');
  await page.setInputFiles('#file', writeCsv(dir, 'view.csv', csv));
  await page.click('#submit');
  await page.locator('#current-status').getByText('Finished').waitFor();
  await checkView(page, expected);
  assert.equal(await page.locator('#view-title').innerText(), 'Result of view.csv');
  const href = await page.locator('#view-link').getAttribute('href');
  const id = /^\/jobs\/([0-9a-f-]{36})\/view$/.exec(href)?.[1];
  assert.ok(id, `the view's own link: ${href}`);

  // The link, opened as it is: the same view, nothing wider than a phone.
  await page.setViewportSize({ width: 375, height: 800 });
  await page.goto(server.url + href);
  await checkView(page, expected);
  assert.deepEqual(await page.evaluate(layoutProblems), [], 'the view at 375 px');
  assert.deepEqual(await accessibilityProblems(page), [], 'the view at 375 px');
  await page.setViewportSize({ width: 1920, height: 800 });
  assert.deepEqual(await page.evaluate(layoutProblems), [], 'the view at 1920 px');

  // The table's View link opens it on the page, after waiting out a
  // summary being built (a job of an older version: scripted); Back closes it.
  await page.setViewportSize({ width: 1100, height: 760 });
  await page.goto(server.url + '/');
  await page.route(/\/summary$/, (route) => route.fulfill({ status: 503, headers: { 'Retry-After': '1' },
    json: { error: `the summary of job ${id} is being built` } }), { times: 1 });
  await page.locator(`#jobs tr[data-job="${id}"] a.view-open`).click();
  await page.locator('#view-status').getByText(`the summary of job ${id} is being built`).waitFor();
  await page.locator('#view-body').waitFor();
  assert.equal(await card(page, 'plays'), count(expected.summary.plays));
  assert.equal(new URL(page.url()).pathname, href);
  await page.goBack();
  await page.locator('#view').waitFor({ state: 'hidden' });

  // A job that is not there.
  await page.goto(`${server.url}/jobs/00000000-0000-4000-8000-000000000000/view`);
  await page.locator('#view-status').getByText('There is no job 00000000-0000-4000-8000-000000000000').waitFor();
  // The browser's only complaints: the scripted 503 and the missing job's 404.
  assert.deepEqual(problems.filter((p) => !/status of (503|404)/.test(p)), []);
  assert.equal(problems.length, 2, problems.join('\n'));
  await context.close();
});

test('a file dropped onto the page is uploaded and counted; Remove asks first, from the keyboard too', async () => {
  const { context, page, problems } = await newPage(browser);
  await page.goto(server.url + '/');
  const dropped = await page.evaluateHandle((text) => {
    const data = new DataTransfer();
    data.items.add(new File([text], 'dropped.csv', { type: 'text/csv' }));
    return data;
  }, makeCsv(300, 11));
  await page.dispatchEvent('main', 'dragenter', { dataTransfer: dropped });
  await page.dispatchEvent('main', 'dragover', { dataTransfer: dropped });
  assert.ok(await page.locator('#drop').isVisible(), 'the page says where to drop while a file is dragged');
  await page.dispatchEvent('main', 'drop', { dataTransfer: dropped });
  assert.ok(await page.locator('#drop').isHidden());
  await page.locator('#current-status').getByText('Finished').waitFor();
  assert.equal(await page.locator('#current-name').innerText(), 'dropped.csv');
  assert.match(await page.locator('#current-status').innerText(), /: 300 rows/);

  // Remove: "no" keeps the job, "yes" deletes it.
  const row = page.locator('#jobs tr[data-state="finished"]').filter({ hasText: 'dropped.csv' });
  await row.waitFor();
  const id = await row.getAttribute('data-job');
  const remove = row.getByRole('button', { name: 'Remove' });
  const asked = [];
  page.once('dialog', (d) => { asked.push(d.message()); d.dismiss(); });
  await remove.focus();
  await page.keyboard.press('Enter');
  assert.deepEqual(asked, ['Remove dropped.csv and its result?']);
  assert.ok(await remove.isEnabled());
  assert.equal((await fetch(`${server.url}/jobs/${id}/`)).status, 200, 'kept after "no"');
  page.once('dialog', (d) => { asked.push(d.message()); d.accept(); });
  await page.keyboard.press('Enter');
  await page.locator(`#jobs tr[data-job="${id}"]`).waitFor({ state: 'detached' });
  assert.equal((await fetch(`${server.url}/jobs/${id}/`)).status, 404, 'deleted after "yes"');
  noProblems(problems);
  await context.close();
});

test('the admin job list filters by state and file name and shows errors and times', async () => {
  const { context, page, problems } = await newPage(browser);
  const asked = [];
  page.on('request', (r) => { if (/\/jobs\/\?/.test(r.url())) asked.push(new URL(r.url()).search); });
  await page.goto(server.url + '/admin');
  const rows = page.locator('#job-list tbody tr');
  await rows.first().waitFor();
  const finished = page.locator('#job-list tr[data-state="finished"]').filter({ hasText: 'plays.csv' });
  assert.match(await finished.innerText(), /plays\.csv\s+finished\s+.+\s+[\d.]+ s\s+[\d.]+ s\s+[\d.]+ [KM]?B\s+Download CSV 60,000 rows/);

  await page.selectOption('#job-state', 'failed');
  await page.waitForFunction(() => [...document.querySelectorAll('#job-list tbody tr')].every((r) => r.dataset.state === 'failed'));
  const failed = await rows.allInnerTexts();
  assert.ok(failed.length >= 2, `the failed jobs: ${failed}`);
  assert.ok(failed.some((t) => /bad\.csv[\s\S]*line 3: Date is not a real calendar date: "2021-02-30"/.test(t)), failed.join('\n'));

  await page.selectOption('#job-state', '');
  await page.fill('#job-q', 'admin');
  await page.waitForFunction(() => document.querySelectorAll('#job-list tbody tr').length === 1);
  assert.match(await rows.first().innerText(), /^admin\.csv\s+finished/);
  assert.ok(asked.some((q) => /state=failed/.test(q)) && asked.some((q) => /q=admin/.test(q)),
    `the filter is asked of the server: ${asked}`);
  await page.fill('#job-q', 'no such file');
  await page.locator('#job-list tbody tr').first().waitFor({ state: 'detached' });
  assert.match(await page.locator('#job-count').innerText(), /^0 matching jobs/);
  noProblems(problems);
  await context.close();
});
