// A real `playcount serve` on a loopback port for the node tests
// (tests/browser, tests/openapi): one place that starts it, reads the port
// it listens on, and stops it. No dependencies beyond node itself.
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';

const here = new URL('.', import.meta.url).pathname;

/** The binary under test: $PLAYCOUNT, or build/bin/playcount of this tree. */
export const binary = process.env.PLAYCOUNT || resolve(here, '../../build/bin/playcount');

/**
 * `playcount serve --port 0 --no-cluster` in `dir`; resolves once it
 * logs the port it listens on. stop() ends it (SIGTERM, then SIGKILL).
 */
export async function startServer(dir, args = []) {
  const log = [];
  const child = spawn(binary, ['serve', '--host', '127.0.0.1', '--port', '0',
    '--no-cluster', '--data-dir', join(dir, 'data'), ...args],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  const port = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`no "listening on" in 15 s:\n${log.join('')}`)), 15000);
    const read = (chunk) => {
      log.push(chunk.toString());
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(log.join(''));
      if (m) { clearTimeout(timer); ok(Number(m[1])); }
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    child.on('exit', (code) => { clearTimeout(timer); fail(new Error(`the server exited (${code}):\n${log.join('')}`)); });
  });
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    log: () => log.join(''),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((ok) => child.once('exit', ok));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(timer);
    },
  };
}
