// What the browser tests and the screenshot script share: a real
// `playcount serve` on a loopback port, Debian's Chromium through
// playwright-core, and CSV files to upload.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { binary, startServer } from '../support/serve.mjs';


export { binary, startServer };
export const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';

export function tempDir() {
  return mkdtempSync(join(process.env.TMPDIR || tmpdir(), 'playcount-browser-'));
}

/**
 * Headless Chromium from Debian. The flags keep it from reaching for
 * Google's hosts (the machine has no network but loopback) and let it run
 * as root in a container.
 */
export function launchBrowser() {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-quic', '--disable-features=Translate,OptimizationHints,MediaRouter'],
  });
}

/**
 * A page whose console errors and uncaught exceptions are collected in
 * `problems` (a test ends by checking that it is empty).
 */
export async function newPage(browser) {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1100, height: 760 } });
  await scriptSummaryApi(context);
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  return { context, page, problems };
}

/**
 * A CSV of about `rows` rows with quoted names (a comma, doubled quotes, a
 * line break) and a UTF-8 name, deterministic for a seed.
 */
export function makeCsv(rows, seed = 1) {
  let x = seed;
  const next = () => { x = (x * 1103515245 + 12345) % 2147483648; return x; };
  const songs = ['Umbrella', '"Hey, ""Jude"""', '"Two\nLines"', 'Café del Mar', 'umbrella'];
  for (let i = 0; i < 200; i++) songs.push(`Song ${i}`);
  const parts = ['Song,Date,Number of Plays\n'];
  for (let i = 0; i < rows; i++) {
    const day = String(1 + (next() % 28)).padStart(2, '0');
    const month = String(1 + (next() % 12)).padStart(2, '0');
    parts.push(`${songs[next() % songs.length]},2021-${month}-${day},${next() % 1000}\n`);
  }
  return parts.join('');
}

/** What `playcount count` makes of `csvPath`: the reference result. */
export function countAlone(csvPath, dir) {
  const out = join(dir, `expected-${Date.now()}.csv`);
  execFileSync(binary, ['count', csvPath, '-o', out, '--quiet']);
  const text = readFileSync(out);
  rmSync(out);
  return text;
}

export function writeCsv(dir, name, text) {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** RFC 4180 records of a CSV text (quoted fields with commas, quotes, line breaks). */
export function parseCsv(text) {
  const records = [];
  let field = '';
  let record = [];
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (c === '"') quoted = false; else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { record.push(field); field = ''; }
    else if (c === '\n') { record.push(field); records.push(record); record = []; field = ''; }
    else if (c !== '\r') field += c;
  }
  if (field || record.length) { record.push(field); records.push(record); }
  return records;
}

/** A CSV field, quoted when it must be. */
export const csvField = (s) => (/[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);

/** Names in byte order (UTF-8), as the server sorts them. */
export const byteOrder = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/**
 * What docs/http-api.md's summary and song endpoints answer for rows of
 * [song, date, plays] (song-dates once each, as in a result).
 */
export function summarize(rows) {
  const byDate = new Map();
  const songs = new Map();
  let plays = 0;
  for (const [song, date, n] of rows) {
    plays += n;
    byDate.set(date, (byDate.get(date) || 0) + n);
    const s = songs.get(song) || { song, plays: 0, firstDate: date, lastDate: date, points: [] };
    s.plays += n;
    if (date < s.firstDate) s.firstDate = date;
    if (date > s.lastDate) s.lastDate = date;
    s.points.push([date, n]);
    songs.set(song, s);
  }
  for (const s of songs.values()) s.points.sort((a, b) => (a[0] < b[0] ? -1 : 1));
  const dates = [...byDate.keys()].sort();
  const top = [...songs.values()].sort((a, b) => b.plays - a.plays || byteOrder(a.song, b.song)).slice(0, 100);
  return {
    summary: {
      plays, songs: songs.size, groups: rows.length,
      firstDate: dates[0] ?? null, lastDate: dates[dates.length - 1] ?? null,
      playsByDate: { unit: 'day', points: dates.map((d) => [d, byDate.get(d)]) },
      topSongs: top.map(({ song, plays: p, firstDate, lastDate }) => ({ song, plays: p, firstDate, lastDate })),
    },
    songs,
  };
}

/**
 * Until the server has GET /jobs/<id>/summary, /songs and /view (issue 15,
 * branch api15), `context`'s requests for them are answered here, from the
 * job's real result (its CSV) and index.html; a server that has them
 * answers itself.
 */
export async function scriptSummaryApi(context) {
  const known = new Map(); // origin -> whether the server has the endpoints
  await context.route(/\/jobs\/[^/]+\/(summary|songs|view)/, async (route) => {
    const url = new URL(route.request().url());
    const auth = route.request().headers().authorization;
    const headers = auth ? { authorization: auth } : {};
    if (!known.has(url.origin)) {
      const probe = await fetch(`${url.origin}/jobs/00000000-0000-4000-8000-000000000000/summary`, { headers });
      known.set(url.origin, probe.status !== 404 || 'error' in (await probe.json().catch(() => ({}))));
    }
    if (known.get(url.origin)) return route.continue();
    const [, id, what, rest] = /^\/jobs\/([^/]+)\/(summary|songs|view)\/?(.*)$/.exec(url.pathname);
    if (what === 'view') {
      const page = await fetch(`${url.origin}/`);
      return route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: await page.text(),
        headers: { 'Content-Security-Policy': page.headers.get('Content-Security-Policy') } });
    }
    const result = await fetch(`${url.origin}/jobs/${id}/result/`, { headers });
    if (result.status !== 200) return route.fulfill({ status: result.status, json: { error: `job ${id}: ${result.status}` } });
    const rows = parseCsv(await result.text()).slice(1).map(([s, d, n]) => [s, d, Number(n)]);
    const { summary, songs } = summarize(rows);
    if (what === 'summary') return route.fulfill({ json: summary });
    if (rest) {
      const s = songs.get(decodeURIComponent(rest));
      return s ? route.fulfill({ json: s }) : route.fulfill({ status: 404, json: { error: `job ${id} has no song named "${decodeURIComponent(rest)}"` } });
    }
    const prefix = url.searchParams.get('prefix') || '';
    const limit = Number(url.searchParams.get('limit') || 20);
    const all = [...songs.values()].filter((s) => s.song.startsWith(prefix)).sort((a, b) => byteOrder(a.song, b.song));
    return route.fulfill({ json: { prefix, more: all.length > limit,
      songs: all.slice(0, limit).map((s) => ({ song: s.song, plays: s.plays, firstDate: s.firstDate,
        lastDate: s.lastDate, dates: s.points.length })) } });
  });
}
