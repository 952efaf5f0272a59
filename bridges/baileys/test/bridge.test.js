// The bridge against a Baileys socket stand-in and a stand-in mokdan: event mapping (text,
// media, receipts), pairing, reconnects, logout, the secret both ways, and the durable queue.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, readdirSync, writeFileSync, appendFileSync, utimesSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fakeMokdan, bridge, until, pair, tempDir, SECRET } from './support/harness.js';
import { textMessage, extendedTextMessage, mediaMessage, receipt, Status, DisconnectReason } from './support/standin.js';
import { secretMatches } from '../src/server.js';
import { DurableQueue } from '../src/queue.js';

const BIZ = '7';
const OWN = '+97231234567';
const CUSTOMER = '+972501234567';

async function setup(t) {
  const mokdan = await fakeMokdan();
  const b = await bridge({ webhookUrl: mokdan.url });
  t.after(async () => { await b.stop(); await mokdan.close(); });
  await pair(b, BIZ, OWN);
  return { mokdan, b };
}

test('a customer text reaches mokdan as a message event, with the secret', async (t) => {
  const { mokdan, b } = await setup(t);
  const msg = textMessage({ from: CUSTOMER, text: 'שלום, אפשר לקבוע תור? 🙏', pushName: 'דנה' });
  b.world.customerSends(BIZ, msg);
  const e = await until(() => mokdan.events.find((x) => x.id === msg.key.id), 'the event');
  assert.deepEqual(
    { event: e.event, from: e.from, to: e.to, push_name: e.push_name, text: e.text, media: e.media, quoted_id: e.quoted_id },
    { event: 'message', from: '972501234567@s.whatsapp.net', to: OWN, push_name: 'דנה', text: 'שלום, אפשר לקבוע תור? 🙏', media: [], quoted_id: null },
  );
  assert.equal(typeof e.timestamp, 'number');
  assert.ok(mokdan.requests.every((r) => r.secret === SECRET));
});

test('a quoted reply (extendedTextMessage) carries quoted_id', async (t) => {
  const { mokdan, b } = await setup(t);
  const msg = extendedTextMessage({ from: CUSTOMER, text: 'כן, בשעה 10', quotedId: '3EB0A1B2C3D4E5F60718' });
  b.world.customerSends(BIZ, msg);
  const e = await until(() => mokdan.events.find((x) => x.id === msg.key.id));
  assert.equal(e.text, 'כן, בשעה 10');
  assert.equal(e.quoted_id, '3EB0A1B2C3D4E5F60718');
});

test('not a customer: own messages, groups, status broadcasts and history are not posted', async (t) => {
  const { mokdan, b } = await setup(t);
  const own = textMessage({ from: CUSTOMER, text: 'mine' }); own.key.fromMe = true;
  const group = textMessage({ from: CUSTOMER, text: 'group' }); group.key.remoteJid = '120363025246125888@g.us';
  const status = textMessage({ from: CUSTOMER, text: 'story' }); status.key.remoteJid = 'status@broadcast';
  for (const m of [own, group, status]) b.world.customerSends(BIZ, m);
  b.world.emit(BIZ, 'messages.upsert', { messages: [textMessage({ from: CUSTOMER, text: 'old history' })], type: 'append' });
  const marker = textMessage({ from: CUSTOMER, text: 'marker' });
  b.world.customerSends(BIZ, marker);
  await until(() => mokdan.events.find((x) => x.id === marker.key.id));
  assert.deepEqual(mokdan.events.map((e) => e.text), ['marker']);
});

test('media (image, voice note, document) is announced by a URL on the bridge and served with the secret', async (t) => {
  const { mokdan, b } = await setup(t);
  const cases = [
    mediaMessage({ from: CUSTOMER, kind: 'imageMessage', mimetype: 'image/jpeg', caption: 'התמונה', bytes: Buffer.from([0xff, 0xd8, 0xff, 1, 2, 3]) }),
    mediaMessage({ from: CUSTOMER, kind: 'audioMessage', mimetype: 'audio/ogg; codecs=opus', bytes: Buffer.from('OggS-voice') }),
    mediaMessage({ from: CUSTOMER, kind: 'documentMessage', mimetype: 'application/pdf', fileName: 'הזמנה.pdf', bytes: Buffer.from('%PDF-1.4') }),
  ];
  for (const c of cases) b.world.customerSends(BIZ, c);
  for (const c of cases) {
    const e = await until(() => mokdan.events.find((x) => x.id === c.msg.key.id));
    const content = Object.values(c.msg.message)[0];
    assert.equal(e.media.length, 1);
    assert.equal(e.media[0].url, `${b.url}/media/${c.msg.key.id}`);
    assert.equal(e.media[0].content_type, content.mimetype);
    assert.equal(e.media[0].filename, content.fileName ?? null);
    assert.equal(e.text, content.caption ?? null);
    const res = await fetch(e.media[0].url, { headers: { 'x-bridge-secret': SECRET } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), content.mimetype);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), c.bytes);
    assert.equal((await fetch(e.media[0].url)).status, 403, 'no secret, no bytes');
  }
  assert.equal((await b.call('GET', '/media/3EB0NOSUCHMEDIA')).status, 404);
  assert.equal((await b.call('GET', '/media/..%2F..%2Fsessions')).status, 404);
});

test('receipts of our messages become status events with the contract words', async (t) => {
  const { mokdan, b } = await setup(t);
  const id = '3EB0F00DBA5E1234';
  const updates = [Status.SERVER_ACK, Status.DELIVERY_ACK, Status.READ, Status.PLAYED, Status.ERROR]
    .map((status) => receipt({ id, to: CUSTOMER, status }));
  const notOurs = receipt({ id: 'THEIRS1', to: CUSTOMER, status: Status.READ }); notOurs.key.fromMe = false;
  b.world.emit(BIZ, 'messages.update', [...updates, notOurs]);
  await until(() => mokdan.events.filter((e) => e.event === 'status').length === 5, 'five statuses');
  const statuses = mokdan.events.filter((e) => e.event === 'status');
  assert.deepEqual(statuses.map((e) => e.status), ['sent', 'delivered', 'read', 'played', 'failed']);
  assert.ok(statuses.every((e) => e.id === id));
  assert.ok(statuses[4].error_code);
});

test('pairing: unpaired with a QR code, then connected with the number; credentials 0600 in 0700 dirs', async (t) => {
  const mokdan = await fakeMokdan();
  const b = await bridge({ webhookUrl: mokdan.url });
  t.after(async () => { await b.stop(); await mokdan.close(); });
  assert.equal((await b.call('GET', '/sessions/12')).status, 404);
  const started = await (await b.call('POST', '/sessions/12/connect')).json();
  assert.equal(started.business, '12');
  const qr = await until(async () => (await (await b.call('GET', '/sessions/12')).json()).qr, 'a QR code');
  assert.match(qr, /^2@/);
  assert.equal((await (await b.call('GET', '/sessions/12')).json()).state, 'unpaired');
  b.world.sockets.get('12').scan(OWN);
  const states = [];
  await until(async () => { const s = await (await b.call('GET', '/sessions/12')).json(); states.push(s.state); return s.state === 'connected'; });
  const s = await (await b.call('GET', '/sessions/12')).json();
  assert.equal(s.number, OWN);
  assert.equal(s.qr, null);
  const all = await (await b.call('GET', '/sessions')).json();
  assert.deepEqual(all.sessions.map((x) => [x.business, x.state]), [['12', 'connected']]);
  const auth = join(b.dataDir, 'sessions', '12', 'auth');
  const files = readdirSync(auth);
  assert.ok(files.includes('creds.json'), 'credentials saved');
  assert.equal(statSync(auth).mode & 0o777, 0o700);
  for (const f of files) assert.equal(statSync(join(auth, f)).mode & 0o777, 0o600, f);
  assert.equal((await b.call('POST', '/sessions/bad..name/connect')).status, 400);
});

test('a paired session is restored at start without a new QR code', async (t) => {
  const mokdan = await fakeMokdan();
  t.after(() => mokdan.close());
  const dataDir = tempDir();
  const first = await bridge({ webhookUrl: mokdan.url, dataDir });
  await pair(first, BIZ, OWN);
  await first.stop();
  const second = await bridge({ webhookUrl: mokdan.url, dataDir });
  t.after(() => second.stop());
  await until(() => second.sessions.get(BIZ)?.state === 'connected', 'restored');
  assert.equal(second.sessions.get(BIZ).number, OWN);
});

test('send: the text reaches the socket, quoting the customer message; the id comes back', async (t) => {
  const { mokdan, b } = await setup(t);
  const inbound = textMessage({ from: CUSTOMER, text: 'שלום' });
  b.world.customerSends(BIZ, inbound);
  await until(() => mokdan.events.length);
  const res = await b.call('POST', '/send', { to: CUSTOMER, text: 'שלום, הגעתם למספרת רחל', reply_to: inbound.key.id, from: OWN });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.match(body.id, /^3EB0/);
  assert.deepEqual(b.world.sent, [{ business: BIZ, jid: '972501234567@s.whatsapp.net', text: 'שלום, הגעתם למספרת רחל', id: body.id, quoted: inbound.key.id }]);
  // The server's ack of that message comes back as a status.
  await until(() => mokdan.events.find((e) => e.event === 'status' && e.id === body.id && e.status === 'sent'), 'the ack');
});

test('send: several businesses, the sender number picks the session; refusals are clear 4xx', async (t) => {
  const { b } = await setup(t);
  await pair(b, '8', '+97239999999');
  const ok = await b.call('POST', '/send', { to: CUSTOMER, text: 'from 8', from: '+97239999999' });
  assert.equal(ok.status, 200);
  assert.equal(b.world.sent.at(-1).business, '8');
  const unknown = await b.call('POST', '/send', { to: CUSTOMER, text: 'x', from: '+97230000000' });
  assert.equal(unknown.status, 404);
  assert.equal((await unknown.json()).code, 'no_session');
  assert.equal((await b.call('POST', '/send', { to: CUSTOMER, text: 'x' })).status, 404, 'ambiguous without from');
  b.world.notOnWhatsApp.add('972509999999');
  const notOn = await b.call('POST', '/send', { to: '+972509999999', text: 'x', from: OWN });
  assert.equal(notOn.status, 422);
  assert.equal((await notOn.json()).code, 'not_registered');
  assert.equal((await b.call('POST', '/send', { to: 'nobody', text: 'x', from: OWN })).status, 400);
  assert.equal((await b.call('POST', '/send', { to: CUSTOMER, text: '', from: OWN })).status, 400);
  const big = await b.call('POST', '/send', { to: CUSTOMER, text: 'x'.repeat(70000), from: OWN });
  assert.equal(big.status, 413);
});

test('reconnect: a dropped connection answers 503 to sends, then reconnects by itself', async (t) => {
  const { mokdan, b } = await setup(t);
  const before = b.world.made;
  b.world.sockets.get(BIZ).close(DisconnectReason.connectionLost, 'Connection Lost');
  assert.notEqual(b.sessions.get(BIZ).state, 'connected');
  const during = await b.call('POST', '/send', { to: CUSTOMER, text: 'x', from: OWN });
  assert.equal(during.status, 503, 'mokdan retries a 503');
  await until(() => b.sessions.get(BIZ).state === 'connected', 'reconnected');
  assert.equal(b.world.made, before + 1, 'a new socket');
  const msg = textMessage({ from: CUSTOMER, text: 'after the reconnect' });
  b.world.customerSends(BIZ, msg);
  await until(() => mokdan.events.find((x) => x.id === msg.key.id));
  assert.equal((await b.call('POST', '/send', { to: CUSTOMER, text: 'back', from: OWN })).status, 200);
});

test('logged out from the phone: state logged_out, sends refused with 409, credentials gone, kept across a restart', async (t) => {
  const mokdan = await fakeMokdan();
  t.after(() => mokdan.close());
  const dataDir = tempDir();
  const b = await bridge({ webhookUrl: mokdan.url, dataDir });
  await pair(b, BIZ, OWN);
  const made = b.world.made;
  b.world.sockets.get(BIZ).close(DisconnectReason.loggedOut, 'Intentional Logout');
  await until(() => b.sessions.get(BIZ).state === 'logged_out');
  const res = await b.call('POST', '/send', { to: CUSTOMER, text: 'x', from: OWN });
  assert.equal(res.status, 409);
  assert.equal((await res.json()).code, 'logged_out');
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(b.world.made, made, 'no reconnect after a logout');
  assert.ok(!readdirSync(join(dataDir, 'sessions', BIZ)).includes('auth'), 'credentials removed');
  await b.stop();
  const again = await bridge({ webhookUrl: mokdan.url, dataDir });
  t.after(() => again.stop());
  assert.equal(again.sessions.get(BIZ).state, 'logged_out');
  assert.equal(again.world.made, 0, 'a logged-out session is not opened at start');
  assert.equal((await again.call('POST', '/send', { to: CUSTOMER, text: 'x', from: OWN })).status, 409);
  // Pairing again gives a fresh QR code.
  await again.call('POST', `/sessions/${BIZ}/connect`);
  await until(() => again.sessions.get(BIZ).qr);
  assert.equal(again.sessions.get(BIZ).state, 'unpaired');
});

test('banned (403) and disconnect through the API', async (t) => {
  const { b } = await setup(t);
  b.world.sockets.get(BIZ).close(DisconnectReason.forbidden, 'Forbidden');
  await until(() => b.sessions.get(BIZ).state === 'logged_out');
  assert.equal(b.sessions.get(BIZ).reason, 'banned');
  const res = await b.call('POST', '/send', { to: CUSTOMER, text: 'x', from: OWN });
  assert.equal(res.status, 409);
  assert.equal((await res.json()).code, 'banned');
  await pair(b, '9', '+97238888888');
  const out = await (await b.call('POST', '/sessions/9/logout')).json();
  assert.deepEqual([out.state, out.reason], ['logged_out', 'logged_out']);
  assert.equal((await b.call('POST', '/send', { to: CUSTOMER, text: 'x', from: '+97238888888' })).status, 409);
  assert.equal((await b.call('POST', '/sessions/404/logout')).status, 404);
});

test('the secret: every route but /healthz refuses a missing or wrong one; compared as bytes', async (t) => {
  const { b } = await setup(t);
  for (const [method, path] of [['POST', '/send'], ['GET', '/sessions'], ['GET', `/sessions/${BIZ}`], ['POST', `/sessions/${BIZ}/connect`], ['POST', `/sessions/${BIZ}/logout`], ['GET', '/media/X']]) {
    for (const headers of [{}, { 'x-bridge-secret': 'wrong' }, { 'x-bridge-secret': SECRET + 'x' }, { 'x-bridge-secret': '' }]) {
      const res = await b.call(method, path, method === 'POST' ? { to: CUSTOMER, text: 'x' } : undefined, headers);
      assert.equal(res.status, 403, `${method} ${path} ${JSON.stringify(headers)}`);
      assert.ok(!(await res.text()).includes(SECRET));
    }
  }
  assert.equal(b.sessions.get(BIZ).state, 'connected', 'a refused logout did nothing');
  assert.equal(b.world.sent.length, 0);
  assert.equal((await b.call('GET', '/healthz', undefined, {})).status, 200);
  assert.ok(secretMatches('abc', 'abc'));
  assert.ok(!secretMatches('abd', 'abc'));
  assert.ok(!secretMatches('', ''));
  assert.ok(!secretMatches(undefined, 'abc'));
  assert.ok(!JSON.stringify(b.logs).includes(SECRET), 'the secret is never logged');
});

test('mokdan down: events wait on disk, survive a bridge restart, and arrive in order once it is back', async (t) => {
  const mokdan = await fakeMokdan();
  t.after(() => mokdan.close());
  mokdan.answer = 503;
  const dataDir = tempDir();
  const b = await bridge({ webhookUrl: mokdan.url, dataDir });
  await pair(b, BIZ, OWN);
  const ids = [];
  for (let i = 0; i < 5; i++) ids.push(b.world.customerSends(BIZ, textMessage({ from: CUSTOMER, text: `הודעה ${i}` })));
  b.world.emit(BIZ, 'messages.update', [receipt({ id: '3EB0OURS', to: CUSTOMER, status: Status.READ })]);
  await until(() => mokdan.requests.length >= 2, 'retries');
  assert.equal(mokdan.events.length, 0);
  assert.equal(b.queue.size, 6);
  await b.stop();
  // A crash may leave a torn line at the end of the journal: it is skipped.
  appendFileSync(join(dataDir, 'queue', 'events.journal'), '{"add": 99, "eve');
  mokdan.answer = 200;
  const again = await bridge({ webhookUrl: mokdan.url, dataDir });
  t.after(() => again.stop());
  await until(() => mokdan.events.length === 6, 'all six delivered');
  assert.deepEqual(mokdan.events.filter((e) => e.event === 'message').map((e) => e.id), ids);
  assert.equal(mokdan.events.at(-1).status, 'read');
  await until(() => again.queue.size === 0);
  // Delivered events are not delivered again after another restart.
  await again.stop();
  const third = await bridge({ webhookUrl: mokdan.url, dataDir });
  t.after(() => third.stop());
  assert.equal(third.queue.size, 0);
});

test('mokdan refuses one malformed event (400): it is dropped, the others still arrive', async (t) => {
  const mokdan = await fakeMokdan();
  t.after(() => mokdan.close());
  mokdan.answer = (body) => (body.events ? 400 : body.text === 'bad' ? 400 : 200);
  const b = await bridge({ webhookUrl: mokdan.url });
  t.after(() => b.stop());
  await pair(b, BIZ, OWN);
  b.world.emit(BIZ, 'messages.upsert', { type: 'notify', messages: [
    textMessage({ from: CUSTOMER, text: 'good 1' }), textMessage({ from: CUSTOMER, text: 'bad' }), textMessage({ from: CUSTOMER, text: 'good 2' })] });
  await until(() => b.queue.size === 0, 'queue drained');
  assert.deepEqual(mokdan.events.map((e) => e.text), ['good 1', 'good 2']);
});

test('the journal: torn lines skipped, done events forgotten, files owner-only', () => {
  const dir = tempDir();
  const q = new DurableQueue(dir);
  const a = q.push({ event: 'status', id: 'A', status: 'sent' });
  q.push({ event: 'status', id: 'B', status: 'sent' });
  q.done([a]);
  q.close();
  writeFileSync(join(dir, 'events.journal'), '{"add":', { flag: 'a' });
  const r = new DurableQueue(dir);
  assert.deepEqual(r.peek(10).map(([, e]) => e.id), ['B']);
  assert.equal(statSync(join(dir, 'events.journal')).mode & 0o077, 0);
  r.close();
});

test('media references older than 30 days are forgotten', async (t) => {
  const { mokdan, b } = await setup(t);
  const m = mediaMessage({ from: CUSTOMER, kind: 'imageMessage', bytes: Buffer.from('x') });
  b.world.customerSends(BIZ, m);
  const e = await until(() => mokdan.events.find((x) => x.id === m.msg.key.id));
  const ref = join(b.dataDir, 'media', `${m.msg.key.id}.json`);
  assert.equal(b.sessions.pruneMedia(), 0);
  const old = new Date(Date.now() - 31 * 86400000);
  utimesSync(ref, old, old);
  assert.equal(b.sessions.pruneMedia(), 1);
  assert.ok(!existsSync(ref));
  assert.equal((await fetch(e.media[0].url, { headers: { 'x-bridge-secret': SECRET } })).status, 404);
});
