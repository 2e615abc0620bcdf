// The OpenAPI description the server serves (web/openapi.json, at
// /openapi.json) is a valid OpenAPI 3.1 document, and it tells the truth:
// every route is driven on a real `playcount serve` on loopback, and every
// answer (status, content type, declared headers, body) is checked against
// the description with ajv. Every path and method of the description must
// have been driven, so that a route cannot be described and never tested.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { binary, startServer } from '../support/serve.mjs';

const token = 'openapi-test-token';
const auth = { authorization: `Bearer ${token}` };

const csv = 'Song,Date,Number of Plays\nUmbrella,2020-01-02,3\nUmbrella,2020-01-01,4\n';
const badCsv = 'Song,Date,Number of Plays\na,2021-02-30,1\n';

let server;
let dir;

before(async () => {
  dir = mkdtempSync(join(process.env.TMPDIR || tmpdir(), 'playcount-openapi-'));
  server = await startServer(dir, ['--api-token', token, '--workers', '2']);
});

after(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The description: the served one, checked, with its $refs resolved. */
async function description() {
  const r = await fetch(`${server.url}/openapi.json`);
  assert.equal(r.status, 200);
  const doc = await r.json();
  const validator = new Validator();
  const res = await validator.validate(doc);
  assert.ok(res.valid, `not a valid OpenAPI document: ${JSON.stringify(res.errors, null, 1)}`);
  assert.equal(validator.version, '3.1');
  return { doc, resolved: validator.resolveRefs() };
}

/** The path template of `doc` that `path` falls under (literal ones first). */
function templateOf(paths, path) {
  const bare = (p) => p.replace(/\/+$/, '') || '/';
  const wanted = bare(path.split('?')[0]);
  const templates = Object.keys(paths);
  const literal = templates.find((t) => !t.includes('{') && bare(t) === wanted);
  if (literal) return literal;
  return templates.find((t) => {
    const re = new RegExp(`^${bare(t).replace(/\{[^}]+\}/g, '[^/]+')}$`);
    return re.test(wanted);
  });
}

test('the description is OpenAPI 3.1 and every answer of every route agrees with it', async () => {
  const { doc, resolved } = await description();
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  const driven = new Set();

  /** Sends a request and checks its answer against the description. */
  async function check(method, path, { status, headers = {}, body, token: withToken = true } = {}) {
    const r = await fetch(server.url + path, {
      method, body, headers: withToken ? { ...auth, ...headers } : headers, redirect: 'manual',
    });
    const text = await r.text();
    const where = `${method} ${path} -> ${r.status}\n${text.slice(0, 400)}`;
    if (status !== undefined) assert.equal(r.status, status, where);
    const template = templateOf(resolved.paths, path);
    assert.ok(template, `${where}: no path of the description`);
    const op = resolved.paths[template][method === 'HEAD' ? 'get' : method.toLowerCase()];
    assert.ok(op, `${where}: ${method} is not described for ${template}`);
    driven.add(`${method === 'HEAD' ? 'GET' : method} ${template}`);
    const answer = op.responses[String(r.status)];
    assert.ok(answer, `${where}: status ${r.status} is not described for ${method} ${template}`);
    for (const [name, h] of Object.entries(answer.headers || {})) {
      const value = r.headers.get(name);
      if (value !== null && h.schema) {
        const valid = ajv.validate(h.schema, value);
        assert.ok(valid, `${where}: header ${name}: ${value}: ${ajv.errorsText()}`);
      }
    }
    if (!answer.content) {
      assert.equal(text, '', `${where}: a body where none is described`);
      return { r, text };
    }
    const type = r.headers.get('content-type');
    const media = answer.content[type] || answer.content['*/*'];
    assert.ok(media, `${where}: content type ${type} is not described (${Object.keys(answer.content)})`);
    if (method === 'HEAD') {
      assert.equal(text, '', `${where}: HEAD has a body`);
      return { r, text };
    }
    const value = type === 'application/json' ? JSON.parse(text) : text;
    if (media.schema) {
      const valid = ajv.validate(media.schema, value);
      assert.ok(valid, `${where}: the body is not as described: ${ajv.errorsText()}`);
    }
    return { r, text, json: type === 'application/json' ? value : undefined };
  }

  const jobState = async (id) => (await (await fetch(`${server.url}/jobs/${id}/`, { headers: auth })).json()).state;
  async function ended(id) {
    // 30 s: a sanitizer build is slow; a release build takes milliseconds.
    for (const deadline = Date.now() + 30000; Date.now() < deadline;) {
      const state = await jobState(id);
      if (!['queued', 'started'].includes(state)) return state;
      await new Promise((ok) => setTimeout(ok, 20));
    }
    throw new Error(`job ${id} did not end`);
  }

  // The pages and the operational endpoints.
  await check('GET', '/openapi.json', { status: 200, token: false });
  await check('GET', '/', { status: 200, token: false });
  await check('GET', '/admin', { status: 200, token: false });
  await check('GET', '/web/app.js', { status: 200, token: false });
  await check('GET', '/web/no-such-file.js', { status: 404, token: false });
  await check('GET', '/healthz', { status: 200, token: false });
  await check('HEAD', '/healthz', { status: 200, token: false });
  await check('GET', '/readyz', { status: 200, token: false });
  const version = await check('GET', '/version', { status: 200 });
  assert.equal(version.json.version, doc.info.version, 'info.version is not the binary\'s');
  assert.equal(execFileSync(binary, ['--version']).toString().trim(), `playcount ${version.json.version}`);
  await check('GET', '/version', { status: 401, token: false });
  await check('GET', '/metrics', { status: 200 });
  await check('GET', '/admin/stats', { status: 200 });

  // Uploads, every way.
  const form = new FormData();
  form.append('file', new Blob([csv], { type: 'text/csv' }), 'plays.csv');
  const posted = await check('POST', '/jobs/count/', { status: 202, body: form });
  const finished = posted.json.jobId;
  const put = await check('PUT', '/jobs/count/?filename=put.csv', { status: 202, body: csv });
  const named = await check('POST', '/jobs/count/named%20plays.csv', { status: 202, body: csv });
  const namedPut = await check('PUT', '/jobs/count/bad.csv?on_bad_rows=fail', { status: 202, body: badCsv });
  const failed = namedPut.json.jobId;
  await check('POST', '/jobs/count/', { status: 400, body: new FormData() });
  await check('POST', '/jobs/count/', {
    status: 415, body: csv, headers: { 'content-type': 'text/csv', 'content-encoding': 'br' },
  });
  await check('PUT', '/jobs/count/x.csv', { status: 401, body: csv, token: false });
  for (const id of [finished, put.json.jobId, named.json.jobId]) assert.equal(await ended(id), 'finished');
  assert.equal(await ended(failed), 'failed');

  // A job, its result, its removal.
  await check('GET', `/jobs/${finished}/`, { status: 200 });
  await check('GET', `/jobs/${failed}/`, { status: 200 });
  await check('GET', '/jobs/0b5b2c4e-8f39-4c11-9a53-2f3f0c1d7e6a/', { status: 404 });
  await check('GET', `/jobs/${finished}/result/`, { status: 200 });
  await check('HEAD', `/jobs/${finished}/result/`, { status: 200 });
  await check('GET', `/jobs/${finished}/result/`, { status: 206, headers: { range: 'bytes=0-9' } });
  await check('GET', `/jobs/${finished}/result/`, { status: 416, headers: { range: 'bytes=100000-' } });
  await check('GET', `/jobs/${failed}/result/`, { status: 422 });
  await check('GET', '/jobs/0b5b2c4e-8f39-4c11-9a53-2f3f0c1d7e6a/result/', { status: 404 });

  // What a finished job's result holds (issue 15). A summary being (re)built
  // answers 503 (checked as well) until it is there.
  for (const deadline = Date.now() + 30000; ;) {
    const { r } = await check('GET', `/jobs/${finished}/summary`);
    if (r.status !== 503 || Date.now() > deadline) {
      assert.equal(r.status, 200);
      break;
    }
    await new Promise((ok) => setTimeout(ok, 20));
  }
  await check('GET', `/jobs/${failed}/summary`, { status: 422 });
  await check('GET', '/jobs/0b5b2c4e-8f39-4c11-9a53-2f3f0c1d7e6a/summary', { status: 404 });
  await check('GET', `/jobs/${finished}/summary?x=1`, { status: 400 });
  const found = await check('GET', `/jobs/${finished}/songs?prefix=Umb&limit=5`, { status: 200 });
  assert.deepEqual(found.json.songs.map((x) => x.song), ['Umbrella']);
  await check('GET', `/jobs/${finished}/songs?limit=0`, { status: 400 });
  await check('GET', `/jobs/${failed}/songs`, { status: 422 });
  const series = await check('GET', `/jobs/${finished}/songs/Umbrella`, { status: 200 });
  assert.deepEqual(series.json.points, [['2020-01-01', 4], ['2020-01-02', 3]]);
  await check('GET', `/jobs/${finished}/songs/Nobody`, { status: 404 });
  await check('GET', `/jobs/${finished}/songs/Umb%zz`, { status: 400 });
  await check('GET', '/jobs/0b5b2c4e-8f39-4c11-9a53-2f3f0c1d7e6a/songs/x', { status: 404 });
  await check('GET', `/jobs/${finished}/view`, { status: 200, token: false });
  await check('GET', '/jobs/not-a-job/view', { status: 404, token: false });

  // The job list: filters, pages, refusals.
  const all = await check('GET', '/jobs/', { status: 200 });
  assert.equal(all.json.total, 4);
  const failedOnly = await check('GET', '/jobs/?state=failed', { status: 200 });
  assert.deepEqual(failedOnly.json.jobs.map((j) => j.jobId), [failed]);
  const page = await check('GET', '/jobs/?limit=1&q=PLAYS', { status: 200 });
  assert.equal(page.json.total, 2);
  assert.ok(page.json.next);
  const rest = await check('GET', `/jobs/?limit=1&q=PLAYS&before=${encodeURIComponent(page.json.next)}`, { status: 200 });
  assert.equal(rest.json.next, null);
  const unknown = await check('GET', '/jobs/?offset=10', { status: 400 });
  assert.match(unknown.json.message, /unknown parameter "offset"/);
  await check('GET', '/jobs/?limit=0', { status: 400 });

  // Removal last: a canceled job's result is 410.
  await check('DELETE', `/jobs/${named.json.jobId}/`, { status: 200 });
  await check('DELETE', `/jobs/${named.json.jobId}/`, { status: 404 });
  await check('GET', `/jobs/${named.json.jobId}/result/`, { status: 404 });

  // Everything described was driven.
  const described = Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.keys(item).filter((k) => ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'].includes(k))
      .map((m) => `${m.toUpperCase()} ${path}`));
  const missed = described.filter((d) => !driven.has(d));
  assert.deepEqual(missed, [], 'described but never driven');
});
