// Puts the bridge together: durable queue -> deliverer to mokdan, sessions, HTTP server.
// Used by main.js in production and by the tests (with a socket stand-in).

import { join } from 'node:path';
import { DurableQueue, Deliverer } from './queue.js';
import { SessionManager } from './sessions.js';
import { createBridgeServer } from './server.js';

export async function startBridge({ dataDir, webhookUrl, secret, adapter, host = '127.0.0.1', port = 3001,
  publicUrl, log = () => {}, backoff, maxBackoff, reconnectBase, reconnectMax }) {
  if (!secret) throw new Error('BRIDGE_SECRET is required (the same value as mokdan\'s BAILEYS_SHARED_SECRET)');
  if (!webhookUrl) throw new Error('MOKDAN_WEBHOOK_URL is required');
  // Credentials, media references and the queue are the owner's only (files 0600, dirs 0700),
  // whatever the files' writers ask for: Baileys' auth-state files are written with defaults.
  process.umask(0o077);
  const queue = new DurableQueue(join(dataDir, 'queue'), { log });
  if (queue.size) log('info', 'events owed to mokdan from before the restart', { owed: queue.size });
  const deliverer = new Deliverer(queue, { url: webhookUrl, secret, log, backoff, maxBackoff }).start();
  const server = createBridgeServer({ sessions: null, adapter, secret, log });
  await new Promise((resolve, reject) => { server.once('error', reject); server.listen(port, host, resolve); });
  const bound = server.address();
  const base = publicUrl || `http://${host.includes(':') ? `[${host}]` : host}:${bound.port}`;
  const sessions = new SessionManager({ dataDir, adapter, queue, publicUrl: base, log, reconnectBase, reconnectMax });
  server.setSessions(sessions);
  await sessions.restore();
  return {
    port: bound.port, url: base, queue, deliverer, sessions, server,
    async stop() {
      await new Promise((resolve) => { server.close(resolve); server.closeAllConnections?.(); });
      await sessions.stop();
      await deliverer.stop();
    },
  };
}
