// The production socket factory is Baileys' real makeWASocket: pointed at a local port where
// nothing answers (no WhatsApp here), it opens, reports the failed connection in Baileys' own
// shape, and the session manager turns that into a reconnect with backoff.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { baileysAdapter } from '../src/baileys-adapter.js';
import { SessionManager } from '../src/sessions.js';
import { DurableQueue } from '../src/queue.js';
import { tempDir } from './support/harness.js';
import { join } from 'node:path';

const closedPort = () => new Promise((ok) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => ok(port)); }); });

test('the real Baileys socket is built and its connection failure handled as a reconnect', async (t) => {
  const adapter = baileysAdapter({ logLevel: 'silent', socketOptions: { waWebSocketUrl: `ws://127.0.0.1:${await closedPort()}/ws/chat`, connectTimeoutMs: 2000 } });
  const dataDir = tempDir();
  const queue = new DurableQueue(join(dataDir, 'queue'));
  const sessions = new SessionManager({ dataDir, adapter, queue, publicUrl: 'http://127.0.0.1:1', reconnectBase: 60000 });
  t.after(async () => { await sessions.stop(); queue.close(); });
  await sessions.connect('5');
  const s = sessions.sessions.get('5');
  assert.equal(typeof s.sock.sendMessage, 'function');
  assert.equal(typeof s.sock.ev.on, 'function');
  for (let i = 0; i < 200 && s.attempts === 0; i++) await new Promise((r) => setTimeout(r, 25));
  assert.equal(s.attempts, 1, 'the closed connection scheduled one reconnect');
  assert.equal(sessions.get('5').state, 'unpaired', 'never paired: still waiting for a QR code');
});
