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

/** A CSV field, quoted when it must be. */
export const csvField = (s) => (/[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);

/** Names in byte order (UTF-8), as the server sorts them. */
export const byteOrder = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/**
 * What the summary and song endpoints (docs/http-api.md) must say of a
 * result's rows [song, date, total] (each song-date once), computed here
 * apart from the server: { summary, songs: name -> { ..., points } }.
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
