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
    // The API names the field first ("duration_minutes: …"); the page says only the Hebrew.
    const msg = body && body.error && body.error.message && String(body.error.message).replace(/^[a-z_.]+: /, '');
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
      // A checkbox typed "bool" is sent either way (true or false); others only when ticked.
      const flag = el.type === 'checkbox' && el.dataset.type === 'bool';
      if (el.type === 'checkbox' && !el.checked && !flag) return;
      // Prices are typed in shekels and sent in agorot.
      const typed = t => (flag ? el.checked : t === 'number' ? Number(el.value) : t === 'agorot' ? Math.round(Number(el.value) * 100)
        : t === 'bool' ? el.value === 'true' : el.value);
      if (el.dataset.list) { (body[el.name] = body[el.name] || []).push(typed(el.dataset.type)); return; }
      // An emptied field sent as "" clears it on the server (data-keep-empty).
      if (el.value === '' && el.type !== 'hidden' && !el.dataset.keepEmpty) return;
      put(body, el.name, typed(el.dataset.type));
    });
    // A weekly-hours editor: its rows with a time, as [{day, from, to}] (Sunday = 0).
    form.querySelectorAll('[data-hours]').forEach(box => {
      body[box.dataset.hours] = [...box.querySelectorAll('[data-day]')].map(r => ({
        day: Number(r.dataset.day), from: r.querySelector('[data-from]').value, to: r.querySelector('[data-to]').value,
      })).filter(h => h.from || h.to);
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

  // Hebrew counts: "ליד אחד", "2 לידים"; "שורה אחת", "2 שורות".
  const leads = n => n === 1 ? 'ליד אחד' : `${n} לידים`;
  const lines = n => n === 1 ? 'שורה אחת' : `${n} שורות`;
  function importSaid(r) {
    const parts = [];
    parts.push(r.created === 0 ? 'לא נוספו לידים' : r.created === 1 ? 'נוסף ליד אחד' : `נוספו ${leads(r.created)}`);
    if (r.updated) parts.push(r.updated === 1 ? 'עודכן ליד אחד' : `עודכנו ${leads(r.updated)}`);
    const bad = (r.errors || []).length;
    if (bad) parts.push(bad === 1 ? 'שורה אחת נדחתה' : `${lines(bad)} נדחו`);
    return 'הייבוא הושלם: ' + parts.join(', ') + '.';
  }
  const ENCODINGS = {
    'utf-8': 'הקובץ נקרא בקידוד יוניקוד.',
    'utf-8-bom': 'הקובץ נקרא בקידוד יוניקוד.',
    'windows-1255': 'הקובץ נקרא בקידוד העברי של אקסל.',
  };
  const ACTIONS = {
    create: ['ok', 'חדש'], update: ['warn', 'עדכון'], unchanged: ['', 'ללא שינוי'], reject: ['bad', 'נדחה'],
  };

  // A cell of a table that becomes a card on a phone (the label shows before the value).
  function td(label, ...content) {
    const c = document.createElement('td');
    c.dataset.label = label;
    c.append(...content);
    return c;
  }
  // One CSV cell, quoted when needed; a cell a spreadsheet would compute gets a leading
  // `'` (as the server's export does; import removes it again).
  function csvCell(v) {
    let s = String(v);
    if (/^[=@\t\r']/.test(s) || (/^[+-]/.test(s) && !/^\+\d+$/.test(s))) s = "'" + s;
    return /[",\r\n]|^ | $/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }
  // Text from the file, isolated so its direction does not scramble the Hebrew around it.
  function bdi(text) {
    const b = document.createElement('bdi');
    b.textContent = text;
    return b;
  }

  // The import wizard: choose the file → map its columns → preview → import. The file is
  // sent as its bytes (Excel in Hebrew writes Windows-1255; the server decodes it); the
  // preview writes nothing; the import reads only the columns mapped.
  function importWizard(root) {
    const form = root.querySelector('#import-form');
    const state = { file: null, preview: null };
    const show = n => {
      root.querySelectorAll('[data-step]').forEach(s => { s.hidden = s.dataset.step !== String(n); });
      root.querySelectorAll('[data-mark]').forEach(m => {
        if (m.dataset.mark === String(n)) m.setAttribute('aria-current', 'step'); else m.removeAttribute('aria-current');
      });
      root.querySelector(`[data-step="${n}"]`).scrollIntoView({ block: 'nearest' });
    };
    const mapping = () => [...root.querySelectorAll('#import-columns select')].map(s => s.value).join(',');
    // The file's name beside the Hebrew button (the browser's own file field is hidden).
    form.addEventListener('change', () => {
      const f = form.querySelector('input[type="file"]').files[0];
      root.querySelector('#import-file-name').textContent = f ? f.name : 'לא נבחר קובץ';
    });
    root.addEventListener('change', e => { if (e.target.closest('#import-columns')) root.querySelector('#import-map-result').textContent = ''; });

    async function preview(withMapping) {
      const url = root.dataset.preview + (withMapping ? '?mapping=' + encodeURIComponent(mapping()) : '');
      const res = await fetch(url, {
        method: 'POST', credentials: 'same-origin',
        headers: Object.assign(apiHeaders(false), { 'Content-Type': 'text/csv' }), body: state.file,
      });
      let data = null;
      try { data = await res.json(); } catch (_) { /* not JSON */ }
      if (res.status === 422) throw new Error('לא הצלחנו לקרוא את הקובץ: צריך קובץ מופרד בפסיקים (CSV) עם שורת כותרות.');
      if (!res.ok || !data) throw new Error(problem(res.status, data));
      return data;
    }

    function columns(p) {
      const body = root.querySelector('#import-columns tbody');
      body.replaceChildren();
      const chosen = p.mapping;
      p.columns.forEach(col => {
        const select = document.createElement('select');
        select.setAttribute('aria-label', `השדה של העמודה ${col.index + 1}`);
        const none = new Option('לא לייבא', 'ignore');
        select.append(none);
        p.fields.forEach(f => select.append(new Option(f.label, f.field)));
        select.value = chosen[col.index] || 'ignore';
        const head = col.header ? bdi(col.header) : document.createTextNode(`עמודה ${col.index + 1}`);
        const samples = document.createElement('span');
        samples.className = 'muted small samples';
        col.samples.forEach((s, i) => { if (i) samples.append(' · '); samples.append(bdi(s)); });
        const tr = document.createElement('tr');
        tr.append(td('עמודה בקובץ', head), td('דוגמאות', samples), td('שדה', select));
        body.append(tr);
      });
      root.querySelector('#import-read').textContent = (ENCODINGS[p.encoding] || '') + ' ' +
        (p.total_rows ? `${lines(p.total_rows)} מתחת לשורת הכותרות.` : 'אין שורות מתחת לשורת הכותרות.');
    }

    function rows(p) {
      const body = root.querySelector('#import-preview tbody');
      body.replaceChildren();
      const count = { create: 0, update: 0, unchanged: 0, reject: 0 };
      p.rows.forEach(r => {
        count[r.action]++;
        const [cls, word] = ACTIONS[r.action] || ['', r.action];
        const badge = document.createElement('span');
        badge.className = 'badge ' + cls;
        badge.textContent = word;
        const phone = document.createElement('span');
        phone.className = 'phone';
        phone.dir = 'ltr';
        phone.textContent = r.phone_display || r.phone || '';
        const tr = document.createElement('tr');
        tr.className = 'a-' + r.action;
        tr.append(td('שורה', String(r.row)), td('טלפון', phone), td('שם', bdi(r.name || '')),
          td('מה יקרה', badge, ' ', r.reason));
        body.append(tr);
      });
      const shown = p.rows.length;
      const parts = [];
      if (count.create) parts.push(count.create === 1 ? 'ליד חדש אחד' : `${count.create} לידים חדשים`);
      if (count.update) parts.push(count.update === 1 ? 'עדכון של ליד אחד' : `עדכון של ${leads(count.update)}`);
      if (count.unchanged) parts.push(count.unchanged === 1 ? 'ליד אחד ללא שינוי' : `${leads(count.unchanged)} ללא שינוי`);
      if (count.reject) parts.push(count.reject === 1 ? 'שורה אחת תידחה' : `${lines(count.reject)} יידחו`);
      const which = shown === 0 ? 'אין שורות בקובץ מתחת לשורת הכותרות'
        : shown < p.total_rows ? `${lines(shown)} ראשונות מתוך ${p.total_rows}`
          : shown === 1 ? 'השורה היחידה שבקובץ' : `כל ${shown} השורות שבקובץ`;
      root.querySelector('#import-summary').textContent = which + (parts.length ? ': ' + parts.join(', ') + '.' : '.');
      root.querySelector('#import-run').disabled = shown === 0;
    }

    form.addEventListener('submit', async e => {
      e.preventDefault();
      const out = form.querySelector('[data-result]');
      state.file = form.querySelector('input[type="file"]').files[0];
      if (!state.file) { out.textContent = 'יש לבחור קובץ.'; return; }
      out.textContent = 'קורא את הקובץ…';
      try {
        state.preview = await preview(false);
      } catch (err) { out.textContent = err.message; return; }
      out.textContent = '';
      columns(state.preview);
      show(2);
    });

    root.querySelector('#import-to-preview').addEventListener('click', async () => {
      const out = root.querySelector('#import-map-result');
      const m = mapping().split(',');
      if (!m.includes('phone')) { out.textContent = 'יש לבחור את העמודה של מספר הטלפון.'; return; }
      const twice = m.filter(f => f !== 'ignore').find((f, i, all) => all.indexOf(f) !== i);
      if (twice) {
        const label = state.preview.fields.find(f => f.field === twice).label;
        out.textContent = `השדה „${label}” נבחר ליותר מעמודה אחת.`;
        return;
      }
      out.textContent = '…';
      try {
        state.preview = await preview(true);
      } catch (err) { out.textContent = err.message; return; }
      out.textContent = '';
      rows(state.preview);
      show(3);
    });

    root.querySelector('#import-run').addEventListener('click', () => {
      const bar = root.querySelector('#import-progress');
      const said = root.querySelector('#import-result');
      const list = root.querySelector('#import-report');
      const run = root.querySelector('#import-run');
      list.replaceChildren();
      bar.value = 0;
      bar.hidden = false;
      said.textContent = 'שולח את הקובץ…';
      run.disabled = true;
      show(4);
      // XMLHttpRequest, for the upload's progress; then the rows are being written.
      const xhr = new XMLHttpRequest();
      xhr.open('POST', root.dataset.import + '?mapping=' + encodeURIComponent(mapping()));
      const h = apiHeaders(false);
      Object.keys(h).forEach(k => xhr.setRequestHeader(k, h[k]));
      xhr.setRequestHeader('Content-Type', 'text/csv');
      xhr.upload.onprogress = ev => { if (ev.lengthComputable) bar.value = Math.round(80 * ev.loaded / ev.total); };
      xhr.upload.onload = () => { bar.removeAttribute('value'); said.textContent = `מייבא ${lines(state.preview.total_rows)}…`; };
      xhr.onerror = () => { run.disabled = false; bar.hidden = true; said.textContent = 'אין חיבור לשרת.'; };
      xhr.onload = () => {
        run.disabled = false;
        let data = null;
        try { data = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
        if (xhr.status !== 200 || !data) { bar.hidden = true; said.textContent = problem(xhr.status, data); return; }
        bar.value = 100;
        said.textContent = importSaid(data);
        const add = (cls, e) => {
          const li = document.createElement('li');
          li.className = cls;
          li.textContent = `שורה ${e.row}: ${e.reason || e.message}`;
          list.append(li);
        };
        (data.errors || []).forEach(e => add('rejected', e));
        (data.notices || []).forEach(e => add('notice', e));
        if ((data.errors || []).length) {
          // The rejected rows as the file had them, with the line and the reason after
          // them: fix, and import again (the two added columns are not mapped).
          const head = state.preview.columns.map(c => c.header).concat(['שורה בקובץ', 'סיבת הדחייה']);
          const width = state.preview.columns.length;
          const pad = cells => { const r = (cells || []).slice(); while (r.length < width) r.push(''); return r; };
          const rows = [head].concat(data.errors.map(e => pad(e.cells).concat([String(e.row), e.reason || e.message])))
            .map(r => r.map(csvCell).join(','));
          const a = document.createElement('a');
          a.href = URL.createObjectURL(new Blob(['\ufeff' + rows.join('\r\n') + '\r\n'], { type: 'text/csv' }));
          a.download = 'שורות-שנדחו.csv';
          a.id = 'import-rejected';
          a.className = 'button';
          a.textContent = 'הורדת השורות שנדחו';
          const li = document.createElement('li');
          li.append(a);
          list.append(li);
        }
      };
      xhr.send(state.file);
    });

    root.addEventListener('click', e => {
      const b = e.target.closest('[data-goto]');
      if (!b) return;
      if (b.dataset.goto === '1') {
        form.reset();
        form.querySelector('[data-result]').textContent = '';
        root.querySelector('#import-file-name').textContent = 'לא נבחר קובץ';
      }
      show(b.dataset.goto);
    });
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
  document.addEventListener('DOMContentLoaded', () => {
    const w = document.getElementById('import-wizard');
    if (w) importWizard(w);
  });
})();
