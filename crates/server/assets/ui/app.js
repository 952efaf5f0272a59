// mokdan web app: the little interaction the server-rendered pages need. No inline
// scripts (CSP), no framework; htmx (vendored) handles the polling fragments.
(function () {
  'use strict';

  function cookie(name) {
    const m = document.cookie.split(';').map(s => s.trim()).find(s => s.startsWith(name + '='));
    return m ? decodeURIComponent(m.slice(name.length + 1)) : '';
  }

  // Headers for an unsafe API call made with the session cookie: the double-submit
  // CSRF token (the browser also sends Origin, which the server accepts for this host).
  function apiHeaders(json) {
    const h = { 'Accept': 'application/json' };
    if (json) h['Content-Type'] = 'application/json';
    const csrf = cookie('mokdan_csrf');
    if (csrf) h['X-CSRF-Token'] = csrf;
    return h;
  }

  function problem(status, body) {
    const code = body && body.error && body.error.code;
    if (code === 'template_required') return 'חלון 24 השעות נסגר: אפשר לשלוח רק הודעת תבנית.';
    if (status === 401) return 'נדרשת כניסה מחדש.';
    if (status === 403) return 'אין הרשאה לפעולה הזאת.';
    if (status === 404) return 'הפעולה אינה זמינה בשרת הזה.';
    if (status === 429) return 'יותר מדי ניסיונות. נסו שוב בעוד דקה.';
    if (status === 503) return 'השירות אינו זמין כרגע.';
    const msg = body && body.error && body.error.message;
    return msg ? 'שגיאה: ' + msg : 'שגיאה (' + status + ').';
  }

  // Sets obj.a.b = v for a field named "a.b".
  function put(obj, path, value) {
    const keys = path.split('.');
    let o = obj;
    keys.slice(0, -1).forEach(k => { o = o[k] = o[k] || {}; });
    o[keys[keys.length - 1]] = value;
  }

  // A datetime-local value (Israel's wall clock) from the API's `2027-01-05T09:30:00+02:00`.
  function localValue(iso) { return String(iso).slice(0, 16); }

  // A taken time (409): the API said the next free time; offer it as a button that puts
  // it (and its staff member) into the form.
  function offerTime(form, out, next) {
    const start = form.querySelector('input[name="start"]');
    if (!start || !next.start) return;
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'button';
    b.dataset.nextFree = next.start;
    b.textContent = 'לבחור את ' + localValue(next.start).slice(11) + ' ב־' + localValue(next.start).slice(0, 10).split('-').reverse().join('.');
    b.addEventListener('click', () => {
      start.value = localValue(next.start);
      const staff = form.querySelector('select[name="staff_id"]');
      if (staff && next.staff_id != null) staff.value = String(next.staff_id);
      b.remove();
    });
    out.append(' ', b);
  }

  // The free times of the service on the day chosen in the booking form, from
  // /api/availability, as buttons that fill in the time and the staff member.
  async function freeSlots(button) {
    const form = button.closest('form');
    const box = document.querySelector(button.dataset.freeSlots);
    const start = form.querySelector('input[name="start"]');
    const service = form.querySelector('select[name="service_id"]');
    const staff = form.querySelector('select[name="staff_id"]');
    const day = (start.value || '').slice(0, 10);
    box.hidden = false;
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) { box.textContent = 'נא לבחור תאריך.'; return; }
    const next = new Date(day + 'T12:00:00Z');
    next.setUTCDate(next.getUTCDate() + 1);
    const q = new URLSearchParams({ service: service.value, from: day, to: next.toISOString().slice(0, 10) });
    if (staff && staff.value) q.set('staff_id', staff.value);
    box.textContent = '…';
    try {
      const res = await fetch('/api/availability?' + q, { credentials: 'same-origin', headers: apiHeaders(false) });
      let data = null;
      try { data = await res.json(); } catch (_) { /* not JSON */ }
      if (!res.ok) { box.textContent = problem(res.status, data); return; }
      const slots = (data && data.slots) || [];
      box.replaceChildren();
      if (!slots.length) { box.textContent = 'אין שעות פנויות ביום הזה.'; return; }
      slots.slice(0, 48).forEach(s => {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'button slot-button';
        b.dataset.start = s.start;
        b.textContent = localValue(s.start).slice(11) + (s.staff_name && !(staff && staff.value) ? ' · ' + s.staff_name : '');
        b.addEventListener('click', () => {
          start.value = localValue(s.start);
          if (staff && s.staff_id != null) staff.value = String(s.staff_id);
        });
        box.append(b);
      });
    } catch (e) {
      box.textContent = 'אין חיבור לשרת.';
    }
  }

  async function submitApi(form) {
    const out = form.querySelector('[data-result]');
    const button = form.querySelector('button[type="submit"]');
    const body = {};
    form.querySelectorAll('input[name], textarea[name], select[name]').forEach(el => {
      if (el.type === 'checkbox' && !el.checked) return;
      const typed = t => (t === 'number' ? Number(el.value) : t === 'bool' ? el.value === 'true' : el.value);
      if (el.dataset.list) { (body[el.name] = body[el.name] || []).push(typed(el.dataset.type)); return; }
      if (el.value === '' && el.type !== 'hidden') return;
      put(body, el.name, typed(el.dataset.type));
    });
    if (button) button.disabled = true;
    if (out) out.textContent = '…';
    try {
      const res = await fetch(form.dataset.api, {
        method: form.dataset.method || 'POST', credentials: 'same-origin',
        headers: apiHeaders(true), body: JSON.stringify(body),
      });
      let data = null;
      try { data = await res.json(); } catch (_) { /* not JSON */ }
      if (!res.ok) {
        if (out) out.textContent = problem(res.status, data);
        if (out && data && data.error && data.error.next_free) offerTime(form, out, data.error.next_free);
        return;
      }
      if (out) out.textContent = form.dataset.done || 'בוצע ✓';
      // A value the answer carries only once (a signing secret), shown for copying.
      if (out && form.dataset.show && data && data[form.dataset.show]) {
        const code = document.createElement('code');
        code.dir = 'ltr';
        code.textContent = data[form.dataset.show];
        out.append(' ', code);
      }
      if (form.dataset.clear) form.querySelectorAll('textarea').forEach(t => { t.value = ''; });
      if (form.dataset.refresh && window.htmx) {
        const target = document.querySelector(form.dataset.refresh);
        if (target && target.getAttribute('hx-get')) window.htmx.ajax('GET', target.getAttribute('hx-get'), { target: target, swap: 'innerHTML' });
      }
      if (form.dataset.go) { location.assign(form.dataset.go); return; }
      if (form.dataset.reload) location.reload();
    } catch (e) {
      if (out) out.textContent = 'אין חיבור לשרת.';
    } finally {
      if (button) button.disabled = false;
    }
  }

  async function login(form) {
    const err = document.getElementById('login-error');
    const fd = new FormData(form);
    err.hidden = true;
    try {
      const res = await fetch('/api/auth/login', {
        method: 'POST', credentials: 'same-origin', headers: apiHeaders(true),
        body: JSON.stringify({ email: fd.get('email'), password: fd.get('password') }),
      });
      if (res.ok) {
        const next = form.dataset.next || '/app';
        location.assign(next.startsWith('/app') && !next.startsWith('//') ? next : '/app');
        return;
      }
      let data = null;
      try { data = await res.json(); } catch (_) { /* not JSON */ }
      err.textContent = res.status === 401 ? 'האימייל או הסיסמה שגויים.' : problem(res.status, data);
    } catch (e) {
      err.textContent = 'אין חיבור לשרת.';
    }
    err.hidden = false;
  }

  // Imports a spreadsheet as its bytes (Excel in Hebrew writes Windows-1255; the server
  // decodes it), then says in Hebrew what went in, lists each rejected row with its line
  // and reason, and offers those rows as a file to fix and import again.
  async function importCsv(form) {
    const out = form.querySelector('[data-result]');
    const list = document.getElementById('import-report');
    const file = form.querySelector('input[type="file"]').files[0];
    if (!file) return;
    out.textContent = '…';
    if (list) list.replaceChildren();
    const res = await fetch(form.dataset.import, {
      method: 'POST', credentials: 'same-origin',
      headers: Object.assign(apiHeaders(false), { 'Content-Type': 'text/csv' }),
      body: file,
    });
    let data = null;
    try { data = await res.json(); } catch (_) { /* not JSON */ }
    if (!res.ok || !data) { out.textContent = problem(res.status, data); return; }
    const errors = data.errors || [];
    const notices = data.notices || [];
    out.textContent = `הייבוא הושלם: נוספו ${data.created}, עודכנו ${data.updated}` +
      (errors.length ? `, ${errors.length === 1 ? 'שורה אחת נדחתה' : errors.length + ' שורות נדחו'}.` : '.');
    if (!list) return;
    const add = (cls, e) => {
      const li = document.createElement('li');
      li.className = cls;
      li.textContent = `שורה ${e.row}: ${e.reason || e.message}`;
      list.append(li);
    };
    errors.forEach(e => add('rejected', e));
    notices.forEach(e => add('notice', e));
    if (errors.length) {
      const rows = ['שורה,סיבה'].concat(errors.map(e => `${e.row},"${String(e.reason || e.message).replace(/"/g, '""')}"`));
      const a = document.createElement('a');
      a.href = URL.createObjectURL(new Blob(['\ufeff' + rows.join('\r\n') + '\r\n'], { type: 'text/csv' }));
      a.download = 'שורות-שנדחו.csv';
      a.id = 'import-rejected';
      a.textContent = 'הורדת השורות שנדחו';
      const li = document.createElement('li');
      li.append(a);
      list.append(li);
    }
  }

  document.addEventListener('submit', e => {
    const f = e.target;
    if (f.id === 'login-form') { e.preventDefault(); login(f); }
    else if (f.dataset.api) {
      e.preventDefault();
      // An action that cannot be undone asks first (cancelling an appointment).
      if (f.dataset.confirm && !window.confirm(f.dataset.confirm)) return;
      submitApi(f);
    }
    else if (f.dataset.import) { e.preventDefault(); importCsv(f); }
  });

  // A filter's select that shows its choice at once (the calendar's staff member).
  document.addEventListener('change', e => {
    const el = e.target;
    if (el.dataset && el.dataset.autosubmit && el.form) el.form.requestSubmit();
  });

  document.addEventListener('click', e => {
    const b = e.target.closest('[data-free-slots]');
    if (b) freeSlots(b);
  });

  // "Listen": plays the greeting as it is written now.
  document.addEventListener('click', e => {
    const b = e.target.closest('[data-listen]');
    if (!b) return;
    const text = document.getElementById(b.dataset.for).value.trim();
    const audio = document.getElementById('greeting-audio');
    if (text) audio.src = b.dataset.listen + '?text=' + encodeURIComponent(text);
    audio.play().catch(() => { /* the user can press play */ });
  });

  // Live calls: the server pushes the rows' HTML whenever they change.
  function live() {
    const el = document.querySelector('[data-live-src]');
    const box = document.getElementById('live-calls');
    if (!el || !box || !window.EventSource) return;
    const es = new EventSource(el.dataset.liveSrc);
    es.addEventListener('calls', ev => { box.innerHTML = ev.data; el.textContent = 'מחובר · מתעדכן בזמן אמת'; });
    es.onerror = () => { el.textContent = 'החיבור נותק, מתחבר מחדש…'; };
  }

  // The team page's one-time link: copy it to the clipboard (#20).
  document.addEventListener('click', e => {
    const b = e.target.closest('[data-copy]');
    if (!b) return;
    const field = document.getElementById(b.dataset.copy);
    if (!field) return;
    field.select();
    const done = () => { b.textContent = 'הקישור הועתק'; };
    if (navigator.clipboard) navigator.clipboard.writeText(field.value).then(done, () => {});
    else if (document.execCommand('copy')) done();
  });

  document.addEventListener('DOMContentLoaded', live);
})();
