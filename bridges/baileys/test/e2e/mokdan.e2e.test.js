// End to end: the mokdan binary (WHATSAPP_PROVIDER=baileys, a fresh SQLite database) and the
// bridge process with the socket stand-in (BRIDGE_SOCKET_MODULE), over real HTTP both ways
// (#21, W2–W5). Shows: a customer's message stored and auto-answered through the bridge to
// the socket; a send from the CRM API reaching the socket; statuses moving forward only;
// the same event twice stored once; a bridge killed while mokdan is down losing nothing.
//
// Needs the binary (`cargo build -p mokdan`; MOKDAN_BIN or CARGO_TARGET_DIR/debug/mokdan):
// without it the test is skipped, saying so.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const bridgeDir = resolve(here, '..', '..');
const root = resolve(bridgeDir, '..', '..');
const bin = process.env.MOKDAN_BIN || join(process.env.CARGO_TARGET_DIR || join(root, 'target'), 'debug', 'mokdan');
const SECRET = 'e2e-bridge-secret-zqLEAKMARK';
const OWN = '+97231234567';
const CUSTOMER = '+972501234567';
const NAME = 'מספרת רחל';

const freePort = () => new Promise((ok, fail) => {
  const s = createServer();
  s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => ok(port)); });
  s.on('error', fail);
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(fn, what, tries = 150) {
  for (let i = 0; i < tries; i++) {
    const v = await fn().catch(() => null);
    if (v) return v;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

test('mokdan and the bridge: messages, auto-reply, CRM send, statuses, duplicates, restart', { timeout: 90000 }, async (t) => {
  if (!existsSync(bin)) {
    t.skip(`mokdan binary not found at ${bin} (build it first: cargo build -p mokdan)`);
    return;
  }
  const work = mkdtempSync(join(tmpdir(), 'bridge-e2e-'));
  const [mPort, bPort] = [await freePort(), await freePort()];
  const mokdanUrl = `http://127.0.0.1:${mPort}`;
  const bridgeUrl = `http://127.0.0.1:${bPort}`;
  const env = { ...process.env, MOKDAN_DATA_DIR: join(work, 'mokdan'), DATABASE_URL: `sqlite://${join(work, 'mokdan', 'mokdan.db')}`,
    MOKDAN_ENV: 'development', RUST_LOG: process.env.RUST_LOG || 'warn', WHATSAPP_PROVIDER: 'baileys',
    BAILEYS_BRIDGE_URL: bridgeUrl, BAILEYS_SHARED_SECRET: SECRET, MOKDAN_LISTEN: `127.0.0.1:${mPort}` };
  for (const k of ['PORT', 'PUBLIC_BASE_URL', 'TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_API_BASE', 'OPENAI_API_KEY', 'META_ACCESS_TOKEN']) delete env[k];
  const cli = (args, input) => {
    const r = spawnSync(bin, args, { env, input, encoding: 'utf8' });
    assert.equal(r.status, 0, `mokdan ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim().split('\n').pop();
  };
  const businessId = cli(['business', 'add', '--name', NAME, '--phone', '03-1234567']);
  cli(['user', 'add', '--email', 'ops@bridge.test', '--role', 'operator'], 'operator-pass-1\n');
  cli(['user', 'add', '--email', 'owner@bridge.test', '--role', 'owner', '--business', businessId], 'owner-pass-1\n');

  const procs = new Set();
  t.after(async () => {
    for (const p of procs) p.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
  });
  const startMokdan = async () => {
    const p = spawn(bin, ['serve'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    procs.add(p);
    p.on('exit', () => procs.delete(p));
    await until(async () => (await fetch(`${mokdanUrl}/healthz`)).ok, 'mokdan healthy');
    return p;
  };
  let control;
  const startBridge = async () => {
    const ctl = await freePort();
    const p = spawn(process.execPath, [join(bridgeDir, 'src', 'main.js')], {
      env: { ...process.env, BRIDGE_SECRET: SECRET, MOKDAN_WEBHOOK_URL: `${mokdanUrl}/webhook/whatsapp/baileys`,
        BRIDGE_LISTEN: `127.0.0.1:${bPort}`, BRIDGE_DATA_DIR: join(work, 'bridge'),
        BRIDGE_SOCKET_MODULE: join(bridgeDir, 'test', 'support', 'standin.js'), STANDIN_CONTROL_PORT: String(ctl) },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    p.stderr.on('data', (d) => { if (process.env.BRIDGE_E2E_LOG) process.stderr.write(d); });
    procs.add(p);
    p.on('exit', () => procs.delete(p));
    await until(async () => (await fetch(`${bridgeUrl}/healthz`)).ok, 'bridge healthy');
    control = async (path, body) => {
      const r = await fetch(`http://127.0.0.1:${ctl}${path}`, { method: 'POST', body: JSON.stringify(body ?? {}) });
      assert.ok(r.ok, `stand-in ${path}: ${r.status}`);
      return r.json();
    };
    return p;
  };
  const toBridge = (method, path) => fetch(`${bridgeUrl}${path}`, { method, headers: { 'x-bridge-secret': SECRET } }).then((r) => r.json());
  const stopped = (p, signal) => new Promise((r) => { p.once('exit', r); p.kill(signal); });

  let mokdan = await startMokdan();
  const login = async (email, password) => {
    const r = await fetch(`${mokdanUrl}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) });
    assert.equal(r.status, 200, 'login');
    return (await r.json()).token;
  };
  const api = async (token, method, path, body) => {
    const r = await fetch(`${mokdanUrl}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
    return { status: r.status, body: await r.json().catch(() => null) };
  };
  const op = await login('ops@bridge.test', 'operator-pass-1');
  const patched = await api(op, 'PATCH', `/api/businesses/${businessId}`, { whatsapp_number: OWN, auto_reply: true });
  assert.ok(patched.status < 300, `PATCH business: ${patched.status} ${JSON.stringify(patched.body)}`);
  let owner = await login('owner@bridge.test', 'owner-pass-1');

  let bridge = await startBridge();
  // Pairing: the QR code, the phone scans it, connected with the business's number. In a
  // browser (Debian's chromium, playwright-core from e2e/) when both are there: the owner
  // presses "connect" on the settings page, sees the QR code, and the page turns connected.
  const playwright = join(root, 'e2e', 'node_modules', 'playwright-core', 'index.mjs');
  if (existsSync(playwright) && existsSync('/usr/bin/chromium')) {
    await t.test('the owner pairs in the web app: QR code shown, state turns connected', async () => {
      const { chromium } = await import(playwright);
      const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
      try {
        const page = await browser.newPage({ locale: 'he-IL' });
        page.setDefaultTimeout(15000);
        await page.goto(`${mokdanUrl}/app/biz/settings/whatsapp`);
        await page.fill('#email', 'owner@bridge.test');
        await page.fill('#password', 'owner-pass-1');
        await Promise.all([page.waitForURL(/settings\/whatsapp/), page.click('#login-form button[type=submit]')]);
        await Promise.all([page.waitForURL(/settings\/whatsapp$/), page.click('#wa-connect')]);
        // The bridge gets its QR code a moment after connect: the page refreshes itself.
        await page.waitForSelector('#wa-qr svg');
        assert.equal(await page.getAttribute('#wa-pairing', 'data-state'), 'unpaired');
        const box = await page.locator('#wa-qr svg').boundingBox();
        assert.ok(box.width >= 150, `QR code ${box.width}px wide`);
        const shots = join(root, 'test-output', 'screenshots');
        mkdirSync(shots, { recursive: true });
        await page.screenshot({ path: join(shots, 'whatsapp-pairing-qr.png'), fullPage: true });
        // Where Debian's zbar-tools is installed: the code on the screen is the bridge's code.
        if (existsSync('/usr/bin/zbarimg')) {
          const read = spawnSync('/usr/bin/zbarimg', ['-q', '--raw', join(shots, 'whatsapp-pairing-qr.png')], { encoding: 'utf8' });
          assert.equal(read.stdout.trim(), (await toBridge('GET', `/sessions/${businessId}`)).qr);
        }
        await control('/scan', { business: businessId, phone: OWN });
        await page.waitForSelector('#wa-pairing[data-state="connected"]', { timeout: 20000 });
        assert.ok((await page.textContent('#wa-number')).includes(OWN));
        await page.screenshot({ path: join(shots, 'whatsapp-pairing-connected.png'), fullPage: true });
      } finally {
        await browser.close();
      }
    });
  } else {
    await toBridge('POST', `/sessions/${businessId}/connect`);
    await until(async () => (await toBridge('GET', `/sessions/${businessId}`)).qr, 'a QR code');
    await control('/scan', { business: businessId, phone: OWN });
  }
  const session = await until(async () => { const s = await toBridge('GET', `/sessions/${businessId}`); return s.state === 'connected' && s; }, 'connected');
  assert.equal(session.number, OWN);

  const threadOf = async () => {
    const threads = await api(owner, 'GET', '/api/whatsapp/threads');
    const list = threads.body.threads ?? threads.body.data ?? threads.body;
    const thread = list.find((x) => JSON.stringify(x).includes(CUSTOMER));
    if (!thread) return null;
    const cid = thread.customer_id ?? thread.id;
    const t2 = await api(owner, 'GET', `/api/whatsapp/threads/${cid}`);
    return t2.body.messages ?? t2.body.data ?? t2.body;
  };
  const sent = () => control('/sent');

  await t.test('a customer message is stored and auto-answered through the bridge to the socket', async () => {
    const { id } = await control('/text', { business: businessId, from: CUSTOMER, text: 'שלום, אפשר לקבוע תור? 🙏' });
    const msgs = await until(async () => { const m = await threadOf(); return m?.find((x) => x.provider_message_id === id) && m; }, 'the stored message');
    const stored = msgs.find((x) => x.provider_message_id === id);
    assert.equal(stored.direction, 'in');
    assert.equal(stored.body, 'שלום, אפשר לקבוע תור? 🙏');
    const reply = await until(async () => (await sent()).find((s) => s.jid === '972501234567@s.whatsapp.net'), 'the auto-reply on the socket');
    assert.equal(reply.business, businessId);
    assert.equal(reply.quoted, id, 'the reply quotes the customer');
    const out = await until(async () => (await threadOf()).find((x) => x.direction === 'out' && x.provider_message_id === reply.id), 'the reply id stored');
    assert.equal(out.body, reply.text);
  });

  let crmId;
  await t.test('a send from the CRM API reaches the socket', async () => {
    await control('/auto-ack', { on: false });
    const r = await api(owner, 'POST', '/api/whatsapp/send', { business_id: Number(businessId), to: CUSTOMER, body: 'התור שלך מחר ב־10:00' });
    assert.ok(r.status < 300, `send: ${r.status} ${JSON.stringify(r.body)}`);
    const s = await until(async () => (await sent()).find((x) => x.text === 'התור שלך מחר ב־10:00'), 'the CRM send on the socket');
    crmId = s.id;
    await until(async () => (await threadOf()).find((x) => x.provider_message_id === crmId), 'its id stored');
  });

  await t.test('statuses move forward only, however late they come', async () => {
    for (const status of ['DELIVERY_ACK', 'READ', 'SERVER_ACK', 'DELIVERY_ACK']) await control('/receipt', { business: businessId, id: crmId, to: CUSTOMER, status });
    // The bridge delivers in order: once a later message is stored, the late acks were applied.
    const { id } = await control('/text', { business: businessId, from: CUSTOMER, text: 'סמן' });
    const msgs = await until(async () => { const m = await threadOf(); return m.find((x) => x.provider_message_id === id) && m; }, 'the marker');
    assert.equal(msgs.find((x) => x.provider_message_id === crmId).status, 'read');
  });

  await t.test('the same event delivered twice is stored once', async () => {
    const id = '3EB0DUPL1CATE0001';
    await control('/text', { business: businessId, from: CUSTOMER, text: 'פעמיים', id });
    await control('/text', { business: businessId, from: CUSTOMER, text: 'פעמיים', id });
    const { id: marker } = await control('/text', { business: businessId, from: CUSTOMER, text: 'אחרי' });
    const msgs = await until(async () => { const m = await threadOf(); return m.find((x) => x.provider_message_id === marker) && m; }, 'the marker');
    assert.equal(msgs.filter((x) => x.provider_message_id === id).length, 1);
  });

  await t.test('a bridge killed while mokdan is down loses nothing', async () => {
    await stopped(mokdan, 'SIGTERM');
    const { id } = await control('/text', { business: businessId, from: CUSTOMER, text: 'נשלח כשהשרת למטה' });
    await sleep(300); // a failed delivery or two
    await stopped(bridge, 'SIGKILL');
    bridge = await startBridge();
    // The session comes back paired, without a new QR code.
    await until(async () => (await toBridge('GET', `/sessions/${businessId}`)).state === 'connected', 'restored session');
    mokdan = await startMokdan();
    owner = await login('owner@bridge.test', 'owner-pass-1'); // a development secret is new at each start
    const msgs = await until(async () => { const m = await threadOf(); return m?.find((x) => x.provider_message_id === id) && m; }, 'the message kept across the restart', 300);
    assert.equal(msgs.filter((x) => x.provider_message_id === id).length, 1);
  });
});
