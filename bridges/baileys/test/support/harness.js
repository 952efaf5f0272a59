// Test harness: a stand-in mokdan webhook that records what the bridge posts, and a bridge
// started in-process on port 0 over a temporary data dir with the socket stand-in.

import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBridge } from '../../src/app.js';
import { createStandIn } from './standin.js';

export const SECRET = 'test-bridge-secret-zqLEAKMARK';

/** A stand-in mokdan: `answer` (status code) is what it replies; events are recorded. */
export async function fakeMokdan() {
  const m = { events: [], requests: [], answer: 200 };
  m.server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString() || 'null');
      m.requests.push({ secret: req.headers['x-bridge-secret'], body });
      const status = typeof m.answer === 'function' ? m.answer(body) : m.answer;
      if (status === 200) for (const e of body.events ?? [body]) m.events.push(e);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(status === 200 ? { ok: true } : { error: 'x' }));
    });
  });
  await new Promise((r) => m.server.listen(0, '127.0.0.1', r));
  m.url = `http://127.0.0.1:${m.server.address().port}/webhook/whatsapp/baileys`;
  m.close = () => new Promise((r) => { m.server.close(r); m.server.closeAllConnections(); });
  return m;
}

const made = [];
process.on('exit', () => { for (const d of made) rmSync(d, { recursive: true, force: true }); });

/** A temporary data dir, removed when the test process exits. */
export function tempDir() {
  const d = mkdtempSync(join(tmpdir(), 'bridge-test-'));
  made.push(d);
  return d;
}

/** Starts a bridge with a (new or given) stand-in world. */
export async function bridge({ dataDir = tempDir(), webhookUrl, world = createStandIn(), secret = SECRET } = {}) {
  const logs = [];
  const b = await startBridge({
    dataDir, webhookUrl, secret, adapter: world.adapter, port: 0,
    log: (level, msg, fields) => logs.push({ level, msg, ...fields }),
    backoff: 10, maxBackoff: 50, reconnectBase: 5, reconnectMax: 20,
  });
  b.world = world;
  b.dataDir = dataDir;
  b.logs = logs;
  b.call = (method, path, body, headers = { 'x-bridge-secret': secret }) => fetch(`${b.url}${path}`, {
    method, headers: { 'content-type': 'application/json', ...headers }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  return b;
}

/** Polls `fn` until it returns a truthy value (bounded: 5 s). */
export async function until(fn, what = 'condition') {
  for (let i = 0; i < 500; i++) {
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Pairs `business` as `phone`: connect, QR shown, scanned, connected. */
export async function pair(b, business, phone) {
  await b.call('POST', `/sessions/${business}/connect`);
  await until(() => b.sessions.get(business)?.qr, 'a QR code');
  b.world.sockets.get(business).scan(phone);
  await until(() => b.sessions.get(business)?.state === 'connected', 'connected');
}
