// A Baileys socket stand-in for the bridge's tests: the same members the bridge uses from
// `makeWASocket` (`ev`, `user`, `sendMessage`, `onWhatsApp`, `logout`, `end`) emitting
// Baileys' real event shapes (`connection.update` with `qr` then `connection: 'open'`,
// `messages.upsert`, `messages.update`, a close carrying a Boom-like
// `lastDisconnect.error.output.statusCode` from `DisconnectReason`). Credentials go through
// Baileys' real `useMultiFileAuthState`, so the files on disk are the real ones.
//
// The messages tests emit are built by the helpers below and checked with
// `proto.WebMessageInfo.verify`, so a wrong field name or type fails the test.
//
// Loaded by the bridge process itself (BRIDGE_SOCKET_MODULE) for the end-to-end tests, it
// opens a control port (STANDIN_CONTROL_PORT) through which the test scans the QR code,
// emits events, closes connections and reads what was sent.

import { EventEmitter } from 'node:events';
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import baileys from 'baileys';

const { proto, DisconnectReason, useMultiFileAuthState } = baileys;
const Status = proto.WebMessageInfo.Status;

function boom(statusCode, message = 'Connection Failure') {
  const e = new Error(message);
  e.isBoom = true;
  e.output = { statusCode, payload: { statusCode, message } };
  return e;
}

function checked(msg) {
  const err = proto.WebMessageInfo.verify(msg);
  if (err) throw new Error(`not a WAMessage: ${err}`);
  return msg;
}

const jidOf = (phone) => `${String(phone).replace(/[^\d]/g, '')}@s.whatsapp.net`;
export const newId = () => '3EB0' + randomBytes(8).toString('hex').toUpperCase();
const now = () => Math.floor(Date.now() / 1000);

/** A customer's plain text (`conversation`). */
export function textMessage({ id = newId(), from, text, pushName = 'דנה' }) {
  return checked({ key: { remoteJid: jidOf(from), fromMe: false, id }, messageTimestamp: now(), pushName, message: { conversation: text } });
}

/** A customer's reply quoting another message (`extendedTextMessage` with `contextInfo`). */
export function extendedTextMessage({ id = newId(), from, text, quotedId, pushName = 'דנה' }) {
  return checked({
    key: { remoteJid: jidOf(from), fromMe: false, id }, messageTimestamp: now(), pushName,
    message: { extendedTextMessage: { text, contextInfo: quotedId ? { stanzaId: quotedId, participant: '972500000000@s.whatsapp.net', quotedMessage: { conversation: 'קודם' } } : undefined } },
  });
}

/** A customer's media: `kind` is imageMessage, audioMessage, documentMessage or videoMessage. */
export function mediaMessage({ id = newId(), from, kind = 'imageMessage', mimetype = 'image/jpeg', caption, fileName, bytes = Buffer.from('standin media'), pushName = 'דנה' }) {
  const content = {
    url: `https://mmg.whatsapp.net/standin/${id}.enc`, mimetype,
    fileSha256: randomBytes(32), fileLength: bytes.length, mediaKey: randomBytes(32),
    directPath: `/standin/${id}.enc`, mediaKeyTimestamp: now(),
  };
  if (caption && kind !== 'audioMessage') content.caption = caption;
  if (kind === 'documentMessage') content.fileName = fileName ?? 'file.pdf';
  if (kind === 'audioMessage') { content.ptt = true; content.seconds = 3; }
  const msg = checked({ key: { remoteJid: jidOf(from), fromMe: false, id }, messageTimestamp: now(), pushName, message: { [kind]: content } });
  return { msg, bytes };
}

/** A `messages.update` entry: our message `id` reached `status` (a proto Status number). */
export function receipt({ id, to, status }) {
  return { key: { remoteJid: jidOf(to), fromMe: true, id }, update: { status } };
}

export { Status, DisconnectReason };

class StandInSocket {
  constructor(world, { auth, business }) {
    this.world = world;
    this.business = business;
    this.auth = auth;
    this.ev = new EventEmitter();
    this.user = undefined;
    this.closed = false;
    setImmediate(() => this.boot());
  }

  boot() {
    if (this.closed) return;
    this.ev.emit('connection.update', { connection: 'connecting', receivedPendingNotifications: false, qr: undefined });
    if (this.auth.creds.registered && this.auth.creds.me) {
      this.user = { id: this.auth.creds.me.id, name: this.auth.creds.me.name };
      this.ev.emit('connection.update', { connection: 'open', receivedPendingNotifications: true });
    } else {
      // What Baileys' QR carries: ref, noise key, identity key and adv secret, comma-joined.
      const qr = ['2@' + randomBytes(12).toString('base64'), this.auth.creds.noiseKey.public.toString('base64'),
        this.auth.creds.signedIdentityKey.public.toString('base64'), this.auth.creds.advSecretKey].join(',');
      this.ev.emit('connection.update', { qr });
    }
  }

  /** The phone scanned the code: credentials arrive, then Baileys restarts the connection. */
  scan(phone) {
    this.auth.creds.me = { id: `${String(phone).replace(/[^\d]/g, '')}:7@s.whatsapp.net`, name: 'העסק' };
    this.auth.creds.registered = true;
    this.ev.emit('creds.update', { me: this.auth.creds.me, registered: true });
    this.close(DisconnectReason.restartRequired, 'Stream Errored (restart required)');
  }

  close(code, message) {
    if (this.closed) return;
    this.closed = true;
    this.user = undefined;
    this.ev.emit('connection.update', { connection: 'close', lastDisconnect: { error: boom(code, message), date: new Date() } });
  }

  async onWhatsApp(...jids) {
    if (this.closed) throw boom(DisconnectReason.connectionClosed, 'Connection Closed');
    return jids.map((jid) => ({ jid, exists: !this.world.notOnWhatsApp.has(jid.split('@')[0]) }));
  }

  async sendMessage(jid, content, options = {}) {
    if (this.closed || !this.user) throw boom(DisconnectReason.connectionClosed, 'Connection Closed');
    const msg = proto.WebMessageInfo.fromObject({
      key: { remoteJid: jid, fromMe: true, id: newId() }, messageTimestamp: now(),
      message: options.quoted
        ? { extendedTextMessage: { text: content.text, contextInfo: { stanzaId: options.quoted.key.id, quotedMessage: options.quoted.message } } }
        : { extendedTextMessage: { text: content.text } },
      status: Status.PENDING,
    });
    this.world.sent.push({ business: this.business, jid, text: content.text, id: msg.key.id, quoted: options.quoted?.key?.id ?? null });
    // Like Baileys: our own message comes back as an `append` upsert, then the server's ack.
    setImmediate(() => {
      this.ev.emit('messages.upsert', { messages: [msg], type: 'append' });
      if (this.world.autoAck) this.ev.emit('messages.update', [{ key: msg.key, update: { status: Status.SERVER_ACK } }]);
    });
    return msg;
  }

  async logout() {
    this.close(DisconnectReason.loggedOut, 'Intentional Logout');
  }

  end(error) {
    this.close(error?.output?.statusCode ?? DisconnectReason.connectionClosed, 'Connection Closed');
  }
}

/** A world of stand-in sockets: `sockets` has the latest socket per business. */
export function createStandIn() {
  const world = { sockets: new Map(), sent: [], media: new Map(), notOnWhatsApp: new Set(), autoAck: true, made: 0 };
  world.adapter = {
    DisconnectReason,
    useAuthState: (dir) => useMultiFileAuthState(dir),
    makeSocket: ({ auth, business }) => {
      const sock = new StandInSocket(world, { auth, business });
      world.sockets.set(business, sock);
      world.made++;
      return sock;
    },
    downloadMedia: async (message) => {
      const content = Object.values(baileys.normalizeMessageContent(message.message) ?? {}).find((c) => c?.mediaKey);
      const bytes = content && world.media.get(content.url);
      if (!bytes) throw new Error('media gone');
      return bytes;
    },
  };
  /** Emits one event on a business's current socket. */
  world.emit = (business, event, data) => {
    const sock = world.sockets.get(business);
    if (!sock) throw new Error(`no socket for ${business}`);
    sock.ev.emit(event, data);
  };
  /** A customer writes: a WAMessage, or `{msg, bytes}` from mediaMessage(). */
  world.customerSends = (business, m) => {
    const msg = m.msg ?? m;
    if (m.bytes) world.media.set(Object.values(msg.message)[0].url, m.bytes);
    world.emit(business, 'messages.upsert', { messages: [msg], type: 'notify' });
    return msg.key.id;
  };
  return world;
}

function controlServer(world, port) {
  const json = (res, status, body) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)); };
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : {};
    try {
      const sock = body.business ? world.sockets.get(body.business) : null;
      switch (req.url) {
        case '/sent': return json(res, 200, world.sent);
        case '/sockets': return json(res, 200, [...world.sockets].map(([b, s]) => ({ business: b, user: s.user ?? null, closed: s.closed })));
        case '/scan': sock.scan(body.phone); return json(res, 200, {});
        case '/close': sock.close(body.code, 'closed by test'); return json(res, 200, {});
        case '/text': {
          const msg = body.quoted_id
            ? extendedTextMessage({ id: body.id, from: body.from, text: body.text, quotedId: body.quoted_id })
            : textMessage({ id: body.id, from: body.from, text: body.text });
          sock.ev.emit('messages.upsert', { messages: [msg], type: 'notify' });
          return json(res, 200, { id: msg.key.id });
        }
        case '/media': {
          const m = mediaMessage({ id: body.id, from: body.from, kind: body.kind, mimetype: body.mimetype, caption: body.caption, bytes: Buffer.from(body.base64, 'base64') });
          world.media.set(Object.values(m.msg.message)[0].url, m.bytes);
          sock.ev.emit('messages.upsert', { messages: [m.msg], type: 'notify' });
          return json(res, 200, { id: m.msg.key.id });
        }
        case '/receipt': sock.ev.emit('messages.update', [receipt({ id: body.id, to: body.to, status: Status[body.status] })]); return json(res, 200, {});
        case '/auto-ack': world.autoAck = Boolean(body.on); return json(res, 200, {});
        default: return json(res, 404, {});
      }
    } catch (e) {
      return json(res, 500, { error: e.message });
    }
  });
  server.listen(port, '127.0.0.1');
  server.unref();
}

/** For BRIDGE_SOCKET_MODULE: the adapter, with a control port when STANDIN_CONTROL_PORT is set. */
export default function standInAdapter() {
  const world = createStandIn();
  if (process.env.STANDIN_CONTROL_PORT) controlServer(world, Number(process.env.STANDIN_CONTROL_PORT));
  return world.adapter;
}
