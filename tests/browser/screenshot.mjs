// The screenshots of README.md and docs/operations.md: the upload page with
// a few jobs and an upload under way, the admin page, and a finished job's
// view with a song chosen, each on a wide screen (1920 px: web.png,
// admin.png, view.png) and on a phone (375 px: web-phone.png,
// admin-phone.png, view-phone.png).
//
//   node screenshot.mjs [OUT_DIR]     (default: docs/ of the source tree)
//
// Run from the build tree's tests/browser (after ctest's npm ci) or from
// tests/browser after `npm ci`; PLAYCOUNT names the binary.
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { startServer, launchBrowser, newPage, makeCsv, writeCsv, tempDir } from './support.mjs';

/**
 * A year of plays that looks like one: a few songs played much more than
 * the rest (1/rank), more on weekends, a summer hit; `rows` rows.
 */
function yearOfPlays(rows) {
  let x = 7; // mulberry32
  const random = () => {
    x = (x + 0x6d2b79f5) | 0;
    let t = Math.imul(x ^ (x >>> 15), 1 | x);
    t ^= t + Math.imul(t ^ (t >>> 7), 61 | t);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const names = ['Umbrella', 'Under Pressure', 'Bohemian Rhapsody', '"Hey, Jude"', 'Café del Mar',
    'Umbrella (acoustic)', 'Summer Nights', 'Blinding Lights', 'Take On Me', 'Africa', 'Uptown Funk'];
  for (let i = 0; names.length < 400; i++) names.push(`Track ${String(i + 1).padStart(3, '0')}`);
  const weights = names.map((_, i) => 1 / (i + 4));
  const sum = weights.reduce((a, b) => a + b);
  const pick = () => {
    let r = random() * sum;
    for (let i = 0; i < weights.length; i++) if ((r -= weights[i]) < 0) return i;
    return 0;
  };
  const lines = ['Song,Date,Number of Plays'];
  for (let i = 0; i < rows; i++) {
    const song = pick();
    let day = Math.floor(random() * 366);
    if (song === 6) day = 150 + Math.floor(random() * random() * 90); // the summer hit
    const date = new Date(Date.UTC(2024, 0, 1 + day));
    const weekend = date.getUTCDay() === 0 || date.getUTCDay() === 6;
    const plays = 1 + Math.floor(random() * (weekend ? 60 : 40));
    lines.push(`${names[song]},${date.toISOString().slice(0, 10)},${plays}`);
  }
  return `${lines.join('\n')}\n`;
}

const out = resolve(process.argv[2] || new URL('../../docs', import.meta.url).pathname);
const dir = tempDir();
const server = await startServer(dir, ['--workers', '2']);
const browser = await launchBrowser();
try {
  const { context, page, problems } = await newPage(browser);
  await context.close();
  const upload = async (name, text) => {
    const form = new FormData();
    form.append('file', new Blob([text], { type: 'text/csv' }), name);
    return (await (await fetch(`${server.url}/jobs/count/`, { method: 'POST', body: form })).json()).jobId;
  };
  await upload('plays-2023.csv', makeCsv(200000, 3));
  await upload('plays-2024-bad.csv', 'Song,Date,Number of Plays\nUmbrella,2024-01-01,3\nUmbrella,2024-02-30,1\n');
  const shown = await upload('plays-2024.csv', yearOfPlays(120000));
  await new Promise((r) => setTimeout(r, 1500));

  const shot = await newPage(browser);
  const cdp = await shot.context.newCDPSession(shot.page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions',
    { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 2_000_000 });
  await shot.page.goto(server.url + '/');
  await shot.page.setInputFiles('#file', writeCsv(dir, 'plays-2025.csv', makeCsv(300000, 5)));
  await shot.page.click('#submit');
  await shot.page.waitForFunction(() => document.getElementById('progress').value >= 40);
  await shot.page.setViewportSize({ width: 1920, height: 400 });
  await shot.page.screenshot({ path: `${out}/web.png`, fullPage: true });
  await shot.page.setViewportSize({ width: 375, height: 600 });
  await shot.page.screenshot({ path: `${out}/web-phone.png`, fullPage: true });
  await cdp.send('Network.emulateNetworkConditions',
    { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await shot.page.locator('#current-status').getByText('Finished').waitFor();

  await shot.page.setViewportSize({ width: 1920, height: 400 });
  await shot.page.goto(server.url + '/admin');
  await shot.page.locator('#workers tbody tr').nth(1).waitFor();
  await shot.page.locator('#job-list tbody tr').nth(3).waitFor();
  await new Promise((r) => setTimeout(r, 1200)); // a throughput figure
  await shot.page.screenshot({ path: `${out}/admin.png`, fullPage: true });
  await shot.page.setViewportSize({ width: 375, height: 600 });
  await shot.page.screenshot({ path: `${out}/admin-phone.png`, fullPage: true });
  // The view of plays-2024.csv, one song chosen from the search.
  await shot.page.setViewportSize({ width: 1920, height: 400 });
  await shot.page.goto(`${server.url}/jobs/${shown}/view`);
  await shot.page.locator('#top-songs-chart svg').waitFor();
  await shot.page.fill('#song-q', 'Umb');
  await shot.page.locator('#song-list [role="option"]').first().waitFor();
  await shot.page.keyboard.press('ArrowDown');
  await shot.page.keyboard.press('Enter');
  await shot.page.locator('#song-chart svg').waitFor();
  await shot.page.locator('#song-q').blur();
  await shot.page.screenshot({ path: `${out}/view.png`, fullPage: true });
  await shot.page.setViewportSize({ width: 375, height: 600 });
  // The charts are redrawn to the new width.
  await shot.page.waitForFunction(() => ['by-date', 'top-songs', 'song'].every(
    (c) => Number(document.querySelector(`#${c}-chart svg`).getAttribute('width')) < 375));
  await shot.page.screenshot({ path: `${out}/view-phone.png`, fullPage: true });
  if (problems.length || shot.problems.length) throw new Error([...problems, ...shot.problems].join('\n'));
  console.log(`wrote web.png, web-phone.png, admin.png, admin-phone.png, view.png and view-phone.png in ${out}`);
} finally {
  await browser.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
