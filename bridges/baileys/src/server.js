// The bridge's HTTP side, for mokdan only (docs/baileys-bridge.md, W5, S1).
//
// Every request must carry `X-Bridge-Secret`, compared in constant time (SHA-256 of both
// sides, then `timingSafeEqual`, so neither the secret's length nor its bytes leak through
// timing); anything else gets 403. Routes:
//   POST /send                       {to, text, reply_to?, from?} -> {id, status}
//   GET  /media/{id}                 the decrypted bytes of an inbound media message
//   GET  /sessions                   every business's pairing state
//   GET  /sessions/{business}        one business's state (404 if none)
//   POST /sessions/{business}/connect  start pairing (a fresh QR code if logged out)
//   POST /sessions/{business}/logout   unlink the device and forget its credentials
//   GET  /healthz                    liveness (no secret; says nothing)

import { createServer } from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import { phoneToJid, mediaOf } from './mapping.js';
import { BUSINESS_RE } from './sessions.js';

const MAX_BODY = 64 * 1024;
const digest = (s) => createHash('sha256').update(String(s)).digest();

export function secretMatches(given, secret) {
  if (typeof given !== 'string' || !given || !secret) return false;
  return timingSafeEqual(digest(given), digest(secret));
}

function send(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(text);
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) { reject(Object.assign(new Error('body too large'), { status: 413 })); return; }
      chunks.push(c);
    });
    req.on('end', () => {
      try { resolve(JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null')); } catch { reject(Object.assign(new Error('not JSON'), { status: 400 })); }
    });
    req.on('error', reject);
  });
}

// What a send to a session that cannot send answers: 409 (mokdan does not retry) for a
// session that needs a person, 503 (mokdan retries) while it is only reconnecting.
const NOT_READY = {
  unpaired: [409, 'unpaired', 'WhatsApp is not paired for this number: scan the QR code in the settings page'],
  logged_out: [409, 'logged_out', 'WhatsApp logged this number out: pair again from the settings page'],
  banned: [409, 'banned', 'WhatsApp refuses this number (banned): the owner must appeal in the WhatsApp app'],
  replaced: [409, 'replaced', 'another WhatsApp Web client took over this number: pair again from the settings page'],
};

export function createBridgeServer({ sessions: initial, adapter, secret, log = () => {} }) {
  let sessions = initial;
  async function handleSend(req, res) {
    const body = await readJson(req);
    if (!body || typeof body !== 'object') return send(res, 400, { error: 'expected a JSON object', code: 'bad_request' });
    const jid = phoneToJid(body.to);
    if (!jid) return send(res, 400, { error: 'to: not a phone number', code: 'bad_recipient' });
    if (typeof body.text !== 'string' || !body.text.trim()) return send(res, 400, { error: 'text: empty', code: 'empty_text' });
    const s = sessions.forSender(body.from);
    if (!s) {
      return send(res, 404, { error: body.from ? `no WhatsApp session for ${body.from}` : 'several sessions: say which number sends (from)', code: 'no_session' });
    }
    if (s.state !== 'connected' || !s.sock) {
      const key = s.state === 'logged_out' ? (s.reason ?? 'logged_out') : s.state;
      const [status, code, error] = NOT_READY[key] ?? [503, 'not_connected', 'not connected'];
      return send(res, status, { error, code });
    }
    const sock = s.sock;
    try {
      const [found] = (await sock.onWhatsApp(jid)) ?? [];
      if (!found?.exists) return send(res, 422, { error: 'not on WhatsApp', code: 'not_registered' });
      const quoted = body.reply_to ? s.recent.get(body.reply_to) : undefined;
      const sent = await sock.sendMessage(found.jid || jid, { text: body.text }, quoted ? { quoted } : {});
      if (!sent?.key?.id) return send(res, 502, { error: 'WhatsApp gave no message id' });
      return send(res, 200, { id: sent.key.id, status: 'queued' });
    } catch (e) {
      const code = e?.output?.statusCode;
      log('warn', 'send failed', { business: s.business, error: e?.message, code });
      // Connection lost mid-send: mokdan retries. Anything else: WhatsApp refused it.
      if (code === 428 || code === 408 || code === 503) return send(res, 503, { error: 'not connected' });
      return send(res, 502, { error: 'WhatsApp refused the message' });
    }
  }

  async function handleMedia(res, id) {
    const found = sessions.media(id);
    if (!found || !mediaOf(found.message)) return send(res, 404, { error: 'no such media' });
    let bytes;
    try {
      bytes = await adapter.downloadMedia(found.message, found.session?.sock ?? null);
    } catch (e) {
      log('warn', 'media download failed', { id, error: e?.message });
      return send(res, 502, { error: 'media download failed' });
    }
    const type = mediaOf(found.message).content.mimetype || 'application/octet-stream';
    res.writeHead(200, { 'content-type': type, 'content-length': bytes.length, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
    res.end(bytes);
  }

  async function route(req, res) {
    const url = new URL(req.url, 'http://bridge');
    const path = url.pathname;
    if (req.method === 'GET' && path === '/healthz') return send(res, 200, { ok: true });
    if (!secretMatches(req.headers['x-bridge-secret'], secret)) {
      log('warn', 'request refused: bad secret', { path });
      return send(res, 403, { error: 'bad secret' });
    }
    if (req.method === 'POST' && path === '/send') return handleSend(req, res);
    let m = path.match(/^\/media\/([^/]+)$/);
    if (req.method === 'GET' && m) return handleMedia(res, decodeURIComponent(m[1]));
    if (req.method === 'GET' && path === '/sessions') return send(res, 200, { sessions: sessions.list() });
    m = path.match(/^\/sessions\/([^/]+)(?:\/(connect|logout))?$/);
    if (m) {
      const business = decodeURIComponent(m[1]);
      if (!BUSINESS_RE.test(business)) return send(res, 400, { error: 'business: letters, digits, - and _ only' });
      if (!m[2] && req.method === 'GET') {
        const v = sessions.get(business);
        return v ? send(res, 200, v) : send(res, 404, { error: 'no session for this business', state: 'none' });
      }
      if (m[2] === 'connect' && req.method === 'POST') return send(res, 200, await sessions.connect(business));
      if (m[2] === 'logout' && req.method === 'POST') {
        const v = await sessions.logout(business);
        return v ? send(res, 200, v) : send(res, 404, { error: 'no session for this business' });
      }
      return send(res, 405, { error: 'method not allowed' });
    }
    return send(res, 404, { error: 'not found' });
  }

  const server = createServer((req, res) => {
    if (!sessions) { send(res, 503, { error: 'starting' }); return; }
    route(req, res).catch((e) => {
      if (res.headersSent) { res.destroy(); return; }
      send(res, e.status ?? 500, { error: e.status ? e.message : 'internal error' }, e.status === 413 ? { connection: 'close' } : {});
      if (!e.status) log('error', 'request failed', { error: e.message });
    });
  });
  // The sessions need the bound address (their media URLs), so they arrive after listen().
  server.setSessions = (s) => { sessions = s; };
  return server;
}
