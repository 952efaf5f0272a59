#!/usr/bin/env node
// `node bridges/baileys/src/main.js`: the Baileys bridge for mokdan (docs/baileys-bridge.md).
//
// Environment:
//   BRIDGE_SECRET         required; the same value as mokdan's BAILEYS_SHARED_SECRET
//   MOKDAN_WEBHOOK_URL    required; e.g. http://127.0.0.1:3000/webhook/whatsapp/baileys
//   BRIDGE_LISTEN         host:port to listen on (default 127.0.0.1:3001)
//   BRIDGE_PUBLIC_URL     the base URL mokdan reaches us at, in media URLs (default http://BRIDGE_LISTEN);
//                         it must have the origin of mokdan's BAILEYS_BRIDGE_URL
//   BRIDGE_DATA_DIR       sessions, media references and the event queue (default bridges/baileys/data)
//   BRIDGE_LOG_LEVEL      Baileys' own log level (default warn)
//   BRIDGE_SOCKET_MODULE  tests only: a module whose default export is a socket stand-in
//
// Logs are JSON lines on stderr; they never contain the secret or message texts.

import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startBridge } from './app.js';

process.umask(0o077); // credentials, media references and the queue: owner only

const env = process.env;
const log = (level, msg, fields = {}) => {
  process.stderr.write(JSON.stringify({ ts: new Date().toISOString(), level, msg, ...fields }) + '\n');
};

function parseListen(value) {
  const m = /^(.*):(\d+)$/.exec(value || '127.0.0.1:3001');
  if (!m) throw new Error(`BRIDGE_LISTEN: expected host:port, got ${value}`);
  return { host: m[1].replace(/^\[|\]$/g, '') || '127.0.0.1', port: Number(m[2]) };
}

async function loadAdapter() {
  if (env.BRIDGE_SOCKET_MODULE) {
    log('warn', 'BRIDGE_SOCKET_MODULE is set: using a socket stand-in, not WhatsApp (tests only)');
    const mod = await import(pathToFileURL(resolve(env.BRIDGE_SOCKET_MODULE)).href);
    return typeof mod.default === 'function' ? mod.default() : mod.default;
  }
  const { baileysAdapter } = await import('./baileys-adapter.js');
  return baileysAdapter({ logLevel: env.BRIDGE_LOG_LEVEL || 'warn' });
}

try {
  const { host, port } = parseListen(env.BRIDGE_LISTEN);
  const here = dirname(fileURLToPath(import.meta.url));
  const bridge = await startBridge({
    dataDir: resolve(env.BRIDGE_DATA_DIR || join(here, '..', 'data')),
    webhookUrl: env.MOKDAN_WEBHOOK_URL,
    secret: env.BRIDGE_SECRET,
    adapter: await loadAdapter(),
    host, port,
    publicUrl: env.BRIDGE_PUBLIC_URL?.replace(/\/+$/, ''),
    log,
  });
  log('info', 'bridge listening', { url: bridge.url, port: bridge.port, sessions: bridge.sessions.list().length, owed: bridge.queue.size });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await bridge.stop();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} catch (e) {
  log('error', `bridge cannot start: ${e.message}`);
  process.exit(2);
}
