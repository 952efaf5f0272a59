// Baileys' events in, the contract's events out (docs/baileys-bridge.md, W2, W4).
//
// Pure functions, so the mapping is tested against Baileys' real shapes without a socket:
// a `messages.upsert` WAMessage becomes a `message` event (customers only: not our own
// messages, not groups, not status broadcasts), and a `messages.update` status of one of our
// messages becomes a `status` event with the contract's words.

import baileys from 'baileys';

const { normalizeMessageContent, isJidUser, jidNormalizedUser, proto } = baileys;
const Status = proto.WebMessageInfo.Status;

/** Baileys' numeric message status, in the contract's words. */
export const STATUS_WORDS = {
  [Status.ERROR]: 'failed',
  [Status.SERVER_ACK]: 'sent',
  [Status.DELIVERY_ACK]: 'delivered',
  [Status.READ]: 'read',
  [Status.PLAYED]: 'played',
};

const MEDIA_KINDS = ['imageMessage', 'audioMessage', 'videoMessage', 'documentMessage', 'stickerMessage'];
// What mokdan accepts as a message id (the contract's character set and length).
const ID_RE = /^[A-Za-z0-9._\-=+/:]{1,200}$/;
// What may name a file on disk.
export const SAFE_ID_RE = /^[A-Za-z0-9_-]{1,128}$/;

/** `+972501234567` from a user JID like `972501234567:12@s.whatsapp.net`. */
export function jidToPhone(jid) {
  if (!jid) return null;
  const user = jidNormalizedUser(jid).split('@')[0];
  return /^\d{6,15}$/.test(user) ? `+${user}` : null;
}

/** `972501234567@s.whatsapp.net` from `+972501234567` (or digits, or a JID). */
export function phoneToJid(phone) {
  if (typeof phone !== 'string') return null;
  const digits = phone.includes('@') ? phone.split('@')[0].split(':')[0] : phone.replace(/[^\d]/g, '');
  return /^\d{6,15}$/.test(digits) ? `${digits}@s.whatsapp.net` : null;
}

/** The media part of a message, if any: `{kind, content}`. */
export function mediaOf(message) {
  const content = normalizeMessageContent(message?.message);
  if (!content) return null;
  for (const kind of MEDIA_KINDS) if (content[kind]) return { kind, content: content[kind] };
  return null;
}

function toSeconds(ts) {
  if (ts == null) return null;
  if (typeof ts === 'number') return ts;
  if (typeof ts === 'object' && typeof ts.toNumber === 'function') return ts.toNumber();
  const n = Number(ts);
  return Number.isFinite(n) ? n : null;
}

/**
 * The contract's `message` event for one WAMessage, or null when it is not a customer's
 * message. `ownNumber` is the session's own `+972…`; `mediaUrl(id)` gives the URL mokdan
 * fetches the media from.
 */
export function messageEvent(m, { ownNumber, mediaUrl }) {
  const key = m?.key;
  if (!key || key.fromMe || !key.id || !ID_RE.test(key.id)) return null;
  if (!isJidUser(key.remoteJid || '')) return null; // groups, broadcasts, status, newsletters
  const content = normalizeMessageContent(m.message);
  if (!content || content.protocolMessage || content.reactionMessage) return null;
  const media = mediaOf(m);
  const text = content.conversation
    ?? content.extendedTextMessage?.text
    ?? media?.content.caption
    ?? null;
  const context = content.extendedTextMessage?.contextInfo ?? media?.content.contextInfo;
  const event = {
    event: 'message',
    id: key.id,
    from: key.remoteJid,
    to: ownNumber,
    push_name: m.pushName || null,
    text,
    quoted_id: context?.stanzaId || null,
    timestamp: toSeconds(m.messageTimestamp),
    media: [],
  };
  if (media && SAFE_ID_RE.test(key.id)) {
    event.media.push({
      url: mediaUrl(key.id),
      content_type: media.content.mimetype || null,
      filename: media.content.fileName || null,
    });
  }
  if (event.text == null && !event.media.length) return null; // nothing mokdan can show
  return event;
}

/** The contract's `status` event for one `messages.update` entry, or null. */
export function statusEvent({ key, update }) {
  if (!key?.fromMe || !key.id || !ID_RE.test(key.id) || update?.status == null) return null;
  const word = STATUS_WORDS[update.status];
  if (!word) return null;
  const event = { event: 'status', id: key.id, status: word };
  if (word === 'failed') {
    event.error_code = String(update.messageStubParameters?.[0] ?? 'error');
    event.error_message = 'WhatsApp reported an error for this message';
  }
  return event;
}
