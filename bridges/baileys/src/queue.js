// The bridge's durable queue of events for mokdan (W4): nothing a customer wrote and no
// receipt is lost when mokdan is down or the bridge restarts.
//
// One append-only journal file. Each line is JSON: `{"add": seq, "event": {...}}` when an
// event is accepted, `{"done": seq}` when mokdan has taken it. Every append is fsync'd before
// the caller goes on, so an event acknowledged to Baileys' event loop survives a crash. At
// start the journal is replayed: added minus done is what is still owed. A torn last line
// (a crash mid-write) is skipped. When nothing is owed and the journal has grown, it is
// rewritten empty (write, fsync, rename), so the file stays small.
//
// The deliverer posts owed events in order, in batches (`{"events": [...]}`), with the
// shared secret; it retries with exponential backoff on network errors, 5xx, 429 and 403
// (a misconfigured secret is fixed by an operator, and the events must wait for it), and
// drops an event only on another 4xx (mokdan says it is malformed: retrying changes nothing).

import { openSync, writeSync, fsyncSync, closeSync, readFileSync, renameSync, mkdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const COMPACT_BYTES = 1 << 20;

export class DurableQueue {
  constructor(dir, { log = () => {} } = {}) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.path = join(dir, 'events.journal');
    this.log = log;
    this.pending = new Map(); // seq -> event, in insertion (seq) order
    this.seq = 0;
    this.bytes = 0;
    this.waiters = [];
    const torn = this.replay();
    this.fd = openSync(this.path, 'a', 0o600);
    // A torn last line must not swallow the next record: start a fresh line.
    if (torn) this.append({ resumed: true });
  }

  replay() {
    if (!existsSync(this.path)) return false;
    const text = readFileSync(this.path, 'utf8');
    this.bytes = Buffer.byteLength(text);
    for (const line of text.split('\n')) {
      if (!line) continue;
      let rec;
      try { rec = JSON.parse(line); } catch { this.log('warn', 'queue: skipped a torn journal line'); continue; }
      if (Number.isInteger(rec.add)) {
        this.pending.set(rec.add, rec.event);
        this.seq = Math.max(this.seq, rec.add);
      } else if (Number.isInteger(rec.done)) {
        this.pending.delete(rec.done);
      }
    }
    return text.length > 0 && !text.endsWith('\n');
  }

  append(rec) {
    const line = (rec.resumed ? '\n' : '') + JSON.stringify(rec) + '\n';
    writeSync(this.fd, line);
    fsyncSync(this.fd);
    this.bytes += Buffer.byteLength(line);
  }

  /** Keeps an event on disk before returning; the deliverer will post it. */
  push(event) {
    if (this.closed) throw new Error('queue closed');
    const seq = ++this.seq;
    this.append({ add: seq, event });
    this.pending.set(seq, event);
    for (const wake of this.waiters.splice(0)) wake();
    return seq;
  }

  /** The oldest owed events, up to `max`, as [seq, event] pairs. */
  peek(max) {
    const out = [];
    for (const entry of this.pending) {
      out.push(entry);
      if (out.length >= max) break;
    }
    return out;
  }

  /** mokdan took these: record it durably, then forget them. */
  done(seqs) {
    if (!seqs.length || this.closed) return;
    const lines = seqs.map((s) => JSON.stringify({ done: s })).join('\n') + '\n';
    writeSync(this.fd, lines);
    fsyncSync(this.fd);
    this.bytes += Buffer.byteLength(lines);
    for (const s of seqs) this.pending.delete(s);
    if (this.pending.size === 0 && this.bytes > COMPACT_BYTES) this.compact();
  }

  compact() {
    const tmp = this.path + '.tmp';
    const fd = openSync(tmp, 'w', 0o600);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, this.path);
    closeSync(this.fd);
    this.fd = openSync(this.path, 'a', 0o600);
    this.bytes = 0;
  }

  get size() { return this.pending.size; }

  /** Resolves when an event is pushed (or at once if some are owed). */
  wait() {
    if (this.pending.size) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  close() {
    this.closed = true;
    for (const wake of this.waiters.splice(0)) wake();
    try { closeSync(this.fd); } catch { /* already closed */ }
  }
}

/**
 * Posts owed events to mokdan until stopped. `backoff` is the first wait after a failure,
 * doubled each time up to `maxBackoff`.
 */
export class Deliverer {
  constructor(queue, { url, secret, log = () => {}, backoff = 500, maxBackoff = 30000, batch = 50, timeout = 15000 }) {
    Object.assign(this, { queue, url, secret, log, backoff, maxBackoff, batch, timeout });
    this.stopped = false;
    this.failures = 0;
    this.delivered = 0;
    this.timer = null;
    this.idle = Promise.resolve();
    this.abort = new AbortController();
  }

  start() {
    this.idle = this.loop();
    return this;
  }

  async stop() {
    this.stopped = true;
    this.abort.abort();
    if (this.sleepResolve) this.sleepResolve();
    this.queue.close();
    await this.idle;
  }

  sleep(ms) {
    return new Promise((resolve) => {
      this.sleepResolve = resolve;
      this.timer = setTimeout(resolve, ms);
    }).finally(() => { clearTimeout(this.timer); this.sleepResolve = null; });
  }

  async loop() {
    while (!this.stopped) {
      await this.queue.wait();
      if (this.stopped) break;
      const items = this.queue.peek(this.batch);
      if (!items.length) continue;
      const outcome = await this.post(items.map(([, e]) => e));
      if (this.stopped) break; // not recorded as done: sent again after the restart (mokdan dedups)
      if (outcome === 'done' || outcome === 'drop') {
        this.queue.done(items.map(([s]) => s));
        if (outcome === 'done') this.delivered += items.length;
        this.failures = 0;
      } else {
        const wait = Math.min(this.maxBackoff, this.backoff * 2 ** Math.min(this.failures, 16));
        this.failures++;
        await this.sleep(wait);
      }
    }
  }

  async post(events) {
    const body = events.length === 1 ? events[0] : { events };
    let res;
    try {
      res = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-bridge-secret': this.secret },
        body: JSON.stringify(body),
        signal: AbortSignal.any([AbortSignal.timeout(this.timeout), this.abort.signal]),
      });
      await res.arrayBuffer().catch(() => {});
    } catch (e) {
      this.log('warn', 'mokdan unreachable; events kept, retrying', { error: e.cause?.code || e.name, owed: this.queue.size });
      return 'retry';
    }
    if (res.ok) return 'done';
    if (res.status === 403) {
      this.log('error', 'mokdan refused the shared secret (403): set BRIDGE_SECRET to mokdan\'s BAILEYS_SHARED_SECRET; events kept');
      return 'retry';
    }
    if (res.status === 429 || res.status >= 500) {
      this.log('warn', 'mokdan busy; events kept, retrying', { status: res.status, owed: this.queue.size });
      return 'retry';
    }
    if (events.length > 1) {
      // One bad event must not hold back the others: send them one by one.
      for (const e of events) {
        const one = await this.post([e]);
        if (one === 'retry') return 'retry';
      }
      return 'done';
    }
    this.log('error', 'mokdan refused an event as malformed; dropped', { status: res.status, event: events[0].event });
    return 'drop';
  }
}
