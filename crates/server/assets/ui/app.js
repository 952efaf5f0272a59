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

  async function submitApi(form) {
    const out = form.querySelector('[data-result]');
    const button = form.querySelector('button[type="submit"]');
    const body = {};
    form.querySelectorAll('input[name], textarea[name], select[name]').forEach(el => {
      if (el.type === 'checkbox' && !el.checked) return;
      if (el.dataset.list) { (body[el.name] = body[el.name] || []).push(el.value); return; }
      if (el.value === '' && el.type !== 'hidden') return;
      put(body, el.name, el.dataset.type === 'number' ? Number(el.value) : el.value);
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
      if (!res.ok) { if (out) out.textContent = problem(res.status, data); return; }
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
    else if (f.dataset.api) { e.preventDefault(); submitApi(f); }
    else if (f.dataset.import) { e.preventDefault(); importCsv(f); }
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
