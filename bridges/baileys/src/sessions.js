// One WhatsApp-Web session per business (W3, W5): pairing state, reconnects, logout.
//
// A session is keyed by the business's id in mokdan. Its credentials live in
// `<data>/sessions/<business>/auth/` (directories 0700, files 0600: the process umask is
// 077 and existing files are tightened at start), and a small `meta.json` remembers its
// number and whether it was logged out, so a restart restores every paired session and
// keeps logged-out ones logged out until someone pairs again.
//
// States: `unpaired` (a QR code to scan is in `qr` once Baileys has one), `pairing` (the
// code was scanned; WhatsApp is finishing the link), `connecting` (paired, (re)connecting),
// `connected` (with `number`), `logged_out` (with `reason`: `logged_out` when the phone
// unlinked the device or someone pressed disconnect, `banned` when WhatsApp refuses the
// number, `replaced` when another client took the session over). A logged-out session is
// not reconnected: its credentials are gone, and sends to it fail at once.
//
// The socket factory is injected (`adapter`): Baileys' `makeWASocket` in production, a
// stand-in in tests. Everything the socket emits goes through `mapping.js` into the queue.

import { mkdirSync, readdirSync, readFileSync, writeFileSync, renameSync, rmSync, chmodSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import baileys from 'baileys';
import { messageEvent, statusEvent, jidToPhone, SAFE_ID_RE } from './mapping.js';

const { BufferJSON } = baileys;
export const BUSINESS_RE = /^[A-Za-z0-9_-]{1,64}$/;
const RECENT = 500;
// Media references older than this are forgotten (WhatsApp's own copies expire too).
export const MEDIA_DAYS = 30;

function writeJson(path, value) {
  const tmp = path + '.tmp';
  writeFileSync(tmp, JSON.stringify(value, BufferJSON.replacer), { mode: 0o600 });
  renameSync(tmp, path);
}

/** Tightens a credentials tree left by an older run or another umask. */
function tighten(dir) {
  if (!existsSync(dir)) return;
  chmodSync(dir, 0o700);
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) tighten(p);
    else chmodSync(p, 0o600);
  }
}

export class SessionManager {
  constructor({ dataDir, adapter, queue, publicUrl, log = () => {}, reconnectBase = 1000, reconnectMax = 60000 }) {
    Object.assign(this, { dataDir, adapter, queue, publicUrl, log, reconnectBase, reconnectMax });
    this.root = join(dataDir, 'sessions');
    this.mediaDir = join(dataDir, 'media');
    mkdirSync(this.root, { recursive: true, mode: 0o700 });
    mkdirSync(this.mediaDir, { recursive: true, mode: 0o700 });
    this.sessions = new Map();
    this.stopped = false;
  }

  /** Forgets media references older than `days`; returns how many. */
  pruneMedia(days = MEDIA_DAYS) {
    const cutoff = Date.now() - days * 86400000;
    let removed = 0;
    for (const name of readdirSync(this.mediaDir)) {
      const p = join(this.mediaDir, name);
      if (statSync(p).mtimeMs < cutoff) { rmSync(p, { force: true }); removed++; }
    }
    return removed;
  }

  /** Restores every session found on disk. */
  async restore() {
    this.pruneMedia();
    this.pruneTimer = setInterval(() => this.pruneMedia(), 86400000);
    this.pruneTimer.unref();
    for (const business of readdirSync(this.root)) {
      if (!BUSINESS_RE.test(business)) continue;
      const dir = join(this.root, business);
      tighten(dir);
      let meta = {};
      try { meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')); } catch { /* none yet */ }
      const s = this.entry(business);
      s.number = meta.number ?? null;
      if (meta.state === 'logged_out') {
        Object.assign(s, { state: 'logged_out', reason: meta.reason ?? 'logged_out' });
      } else {
        await this.open(s);
      }
    }
  }

  entry(business) {
    let s = this.sessions.get(business);
    if (!s) {
      s = { business, state: 'unpaired', qr: null, number: null, reason: null, sock: null,
        attempts: 0, timer: null, scanned: false, recent: new Map(), updatedAt: Date.now() };
      this.sessions.set(business, s);
    }
    return s;
  }

  dir(business) { return join(this.root, business); }

  saveMeta(s) {
    writeJson(join(this.dir(s.business), 'meta.json'),
      { business: s.business, number: s.number, state: s.state === 'logged_out' ? 'logged_out' : 'active', reason: s.reason });
  }

  set(s, fields) {
    Object.assign(s, fields, { updatedAt: Date.now() });
    this.saveMeta(s);
    this.log('info', 'session state', { business: s.business, state: s.state, reason: s.reason ?? undefined });
  }

  view(s) {
    return { business: s.business, state: s.state, qr: s.state === 'unpaired' ? s.qr : null,
      number: s.number, reason: s.reason, updated_at: new Date(s.updatedAt).toISOString() };
  }

  list() { return [...this.sessions.values()].map((s) => this.view(s)); }
  get(business) { const s = this.sessions.get(business); return s ? this.view(s) : null; }

  /** Starts a session (fresh pairing if it has none or was logged out). */
  async connect(business) {
    const s = this.entry(business);
    if (s.state === 'logged_out') {
      rmSync(join(this.dir(business), 'auth'), { recursive: true, force: true });
      Object.assign(s, { reason: null, qr: null, scanned: false });
    }
    if (!s.sock) await this.open(s);
    return this.view(s);
  }

  /** Unlinks the device from the phone and forgets the credentials. */
  async logout(business) {
    const s = this.sessions.get(business);
    if (!s) return null;
    clearTimeout(s.timer);
    const sock = s.sock;
    s.sock = null;
    if (sock) {
      try { await sock.logout('disconnected from mokdan'); } catch (e) { this.log('warn', 'logout: WhatsApp did not confirm', { business, error: e.message }); }
      try { sock.end(undefined); } catch { /* closed */ }
    }
    rmSync(join(this.dir(business), 'auth'), { recursive: true, force: true });
    this.set(s, { state: 'logged_out', reason: 'logged_out', qr: null });
    return this.view(s);
  }

  async open(s) {
    if (this.stopped) return;
    const dir = this.dir(s.business);
    const authDir = join(dir, 'auth');
    mkdirSync(authDir, { recursive: true, mode: 0o700 });
    const { state, saveCreds } = await this.adapter.useAuthState(authDir);
    if (this.stopped || s.sock) return; // stopped meanwhile, or opened by another call
    const paired = Boolean(state.creds?.registered || state.creds?.me);
    this.set(s, { state: paired ? 'connecting' : (s.scanned ? 'pairing' : 'unpaired'), qr: null });
    const sock = await this.adapter.makeSocket({ auth: state, business: s.business });
    s.sock = sock;
    sock.ev.on('creds.update', () => { saveCreds().catch((e) => this.log('error', 'cannot save credentials', { business: s.business, error: e.message })); });
    sock.ev.on('connection.update', (u) => { if (s.sock === sock) this.onConnection(s, sock, u); });
    sock.ev.on('messages.upsert', (u) => { if (s.sock === sock) this.onUpsert(s, u); });
    sock.ev.on('messages.update', (u) => { if (s.sock === sock) this.onUpdate(s, u); });
  }

  onConnection(s, sock, { connection, qr, lastDisconnect }) {
    if (qr) this.set(s, { state: 'unpaired', qr });
    if (connection === 'open') {
      s.attempts = 0;
      s.scanned = false;
      this.set(s, { state: 'connected', qr: null, reason: null, number: jidToPhone(sock.user?.id) ?? s.number });
    } else if (connection === 'close') {
      const code = lastDisconnect?.error?.output?.statusCode;
      const R = this.adapter.DisconnectReason;
      s.sock = null;
      if (code === R.loggedOut || code === R.forbidden || code === R.connectionReplaced) {
        const reason = code === R.forbidden ? 'banned' : code === R.connectionReplaced ? 'replaced' : 'logged_out';
        rmSync(join(this.dir(s.business), 'auth'), { recursive: true, force: true });
        this.set(s, { state: 'logged_out', reason, qr: null });
        return;
      }
      if (s.state === 'unpaired' && s.qr && code === R.restartRequired) s.scanned = true;
      // restartRequired follows a successful scan: reconnect at once; otherwise back off.
      const wait = code === R.restartRequired ? 0
        : Math.min(this.reconnectMax, this.reconnectBase * 2 ** Math.min(s.attempts, 16));
      s.attempts++;
      this.log('warn', 'WhatsApp connection closed; reconnecting', { business: s.business, code, wait });
      this.set(s, { state: s.scanned ? 'pairing' : (s.state === 'unpaired' ? 'unpaired' : 'connecting') });
      clearTimeout(s.timer);
      s.timer = setTimeout(() => { this.open(s).catch((e) => this.log('error', 'reconnect failed', { business: s.business, error: e.message })); }, wait);
    }
  }

  onUpsert(s, { messages, type }) {
    if (type !== 'notify') return; // `append` is history, not news: no auto-reply to it
    for (const m of messages ?? []) {
      const event = messageEvent(m, { ownNumber: s.number, mediaUrl: (id) => `${this.publicUrl}/media/${id}` });
      if (!event) {
        // WhatsApp's privacy ids (`…@lid`) carry no phone number mokdan could file it under.
        if (!m?.key?.fromMe && m?.key?.remoteJid?.endsWith('@lid')) {
          this.log('warn', 'message from a hidden number (@lid) not forwarded', { business: s.business });
        }
        continue;
      }
      s.recent.set(m.key.id, m);
      if (s.recent.size > RECENT) s.recent.delete(s.recent.keys().next().value);
      if (event.media.length) writeJson(join(this.mediaDir, `${m.key.id}.json`), { business: s.business, message: m });
      this.queue.push(event);
    }
  }

  onUpdate(s, updates) {
    for (const u of updates ?? []) {
      const event = statusEvent(u);
      if (event) this.queue.push(event);
    }
  }

  /** The session that sends as `from` (a `+972…` number), or the only one there is. */
  forSender(from) {
    const all = [...this.sessions.values()];
    if (from) {
      const digits = String(from).replace(/[^\d]/g, '');
      return all.find((s) => s.number && s.number.replace(/[^\d]/g, '') === digits) ?? null;
    }
    return all.length === 1 ? all[0] : null;
  }

  /** The stored WAMessage behind a media id, with its session. */
  media(id) {
    if (!SAFE_ID_RE.test(id)) return null;
    const path = join(this.mediaDir, `${id}.json`);
    if (!existsSync(path)) return null;
    const { business, message } = JSON.parse(readFileSync(path, 'utf8'), BufferJSON.reviver);
    return { message, session: this.sessions.get(business) ?? null };
  }

  async stop() {
    this.stopped = true;
    clearInterval(this.pruneTimer);
    for (const s of this.sessions.values()) {
      clearTimeout(s.timer);
      const sock = s.sock;
      s.sock = null;
      try { sock?.end(undefined); } catch { /* closed */ }
    }
  }
}
