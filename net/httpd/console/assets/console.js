// Ferry console: the dashboard. Each card is one small render function fed by
// one view (/api/<view>): to add a card, add a line to CARDS. Everything the
// appliance sends is inserted as text (textContent), never parsed as HTML.
'use strict';

(function () {
  const REFRESH_MS = 5000;
  const state = { csrf: '', userActive: true, inFlight: false, timer: 0, leaving: false };

  // ---- DOM and formatting helpers ------------------------------------------

  // el builds an element; children that are not nodes become text nodes.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else e.setAttribute(k, String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      e.append(c instanceof Node ? c : String(c));
    }
    return e;
  }

  function empty(text) { return el('p', { class: 'empty' }, text); }
  function badge(kind, text) { return el('span', { class: 'badge ' + kind }, text); }
  function mono(text) { return el('span', { class: 'mono' }, text); }
  function str(v) { return v === undefined || v === null || v === '' ? '—' : String(v); }
  function list(v) { return Array.isArray(v) ? v : []; }

  // fmtDuration: 273720 -> "3d 4h"; the two largest units are enough at a glance.
  function fmtDuration(sec) {
    sec = Number(sec);
    if (!Number.isFinite(sec) || sec < 0) return '—';
    sec = Math.floor(sec);
    const d = Math.floor(sec / 86400), h = Math.floor(sec % 86400 / 3600);
    const m = Math.floor(sec % 3600 / 60), s = sec % 60;
    if (d > 0) return d + 'd ' + h + 'h';
    if (h > 0) return h + 'h ' + m + 'm';
    if (m > 0) return m + 'm ' + s + 's';
    return s + 's';
  }

  // fmtBytes: 1258291 -> "1.2 MiB".
  function fmtBytes(n) {
    n = Number(n);
    if (!Number.isFinite(n) || n < 0) return '—';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return i === 0 ? n + ' B' : n.toFixed(1) + ' ' + units[i];
  }

  function pad(n) { return String(n).padStart(2, '0'); }

  // fmtTime shows a timestamp in the browser's time zone, to the minute.
  function fmtTime(iso) {
    const t = new Date(iso);
    if (!iso || Number.isNaN(t.getTime())) return str(iso);
    return t.getFullYear() + '-' + pad(t.getMonth() + 1) + '-' + pad(t.getDate()) + ' ' + pad(t.getHours()) + ':' + pad(t.getMinutes());
  }

  function fmtAgo(iso) {
    const t = new Date(iso).getTime();
    if (Number.isNaN(t)) return '';
    return fmtDuration(Math.max(0, (Date.now() - t) / 1000)) + ' ago';
  }

  // fmtField formats a status field by its unit.
  function fmtField(f) {
    if (!f || f.value === null || f.value === undefined) return '—';
    if (f.unit === 'seconds') return fmtDuration(f.value);
    if (f.unit === 'bytes') return fmtBytes(f.value);
    if (typeof f.value === 'number') return f.value.toLocaleString('en-US');
    return String(f.value);
  }

  function humanize(name) {
    return String(name || '').replace(/_(seconds|bytes)$/, '').replace(/_/g, ' ');
  }

  function labelText(labels) {
    if (!labels || typeof labels !== 'object') return '';
    return Object.entries(labels).map(([k, v]) => k + '=' + v).join(', ');
  }

  // kv is a definition list of [label, value, title] rows.
  function kv(rows) {
    const dl = el('dl', { class: 'kv' });
    for (const [label, value, title] of rows) {
      dl.append(el('dt', null, label), el('dd', { title: title }, value));
    }
    return dl;
  }

  function table(headings, rows) {
    return el('table', null,
      el('thead', null, el('tr', null, headings.map(h => el('th', null, h)))),
      el('tbody', null, rows.map(cells => el('tr', null, cells.map(c => el('td', null, c))))));
  }

  // state renders "ok"/"opened" as a green badge and "failed: why" in red, in full.
  function stateCell(s, okWords) {
    s = str(s);
    if (okWords.includes(s)) return badge('ok', s);
    if (s.startsWith('failed')) return el('span', { class: 'bad state-failed' }, s);
    return badge('neutral', s);
  }

  // ---- status view helpers ---------------------------------------------------

  function sections(status, name) {
    return list(status).filter(s => s && s.section === name);
  }

  function fields(section) { return section ? list(section.fields) : []; }

  // ---- cards: one render function per card, fed by one view -----------------

  function renderSystem(status) {
    const sec = sections(status, 'system')[0];
    if (!sec) return empty('The appliance reports no system section.');
    const byName = new Map(fields(sec).map(f => [f && f.name, f]));
    const known = [
      ['version', 'Version', f => str(f.value)],
      ['hostname', 'Hostname', f => str(f.value)],
      ['data_dir', 'Data directory', f => mono(str(f.value))],
      ['uptime_seconds', 'Uptime', f => fmtDuration(f.value)],
      ['confdb_size_bytes', 'Config database', f => fmtBytes(f.value)],
    ];
    const rows = [];
    for (const [name, label, fmt] of known) {
      const f = byName.get(name);
      if (f) rows.push([label, fmt(f), f.help]);
      byName.delete(name);
    }
    for (const f of byName.values()) {
      if (!f) continue;
      const l = labelText(f.labels);
      rows.push([humanize(f.name) + (l ? ' (' + l + ')' : ''), fmtField(f), f.help]);
    }
    return rows.length ? kv(rows) : empty('No system figures.');
  }

  function renderProtection(status) {
    const groups = [['lockout', 'Lockout'], ['shell', 'SSH shell']];
    const out = [];
    for (const [name, title] of groups) {
      for (const sec of sections(status, name)) {
        const rows = fields(sec).filter(Boolean).map(f => {
          const l = labelText(f.labels);
          return [humanize(f.name) + (l ? ' (' + l + ')' : ''), fmtField(f), f.help];
        });
        if (!rows.length) continue;
        const l = labelText(sec.labels);
        out.push(el('div', { class: 'kv-group' }, title + (l ? ' (' + l + ')' : '')), kv(rows));
      }
    }
    return out.length ? el('div', null, out) : empty('No login protection figures reported.');
  }

  function renderKeystores(stores) {
    stores = list(stores).filter(Boolean);
    if (!stores.length) return empty('No keystores registered.');
    return table(['Alias', 'Type', 'Subject', 'Expires', 'State', 'Used by'], stores.map(k => {
      const expiry = [el('span', { class: 'nowrap' }, fmtTime(k.not_after))];
      if (typeof k.days_left === 'number' && k.not_after) {
        const d = k.days_left;
        expiry.push(el('span', { class: 'sub' }, d >= 0 ? d + (d === 1 ? ' day' : ' days') + ' left' : 'expired ' + -d + (d === -1 ? ' day' : ' days') + ' ago'));
      }
      if (k.expiry === 'soon') expiry.push(' ', badge('warn', 'expires soon'));
      if (k.expiry === 'expired') expiry.push(' ', badge('bad', 'expired'));
      return [
        mono(str(k.alias)),
        str(k.type),
        el('span', null, str(k.subject), k.issuer ? el('span', { class: 'sub' }, 'issued by ' + k.issuer) : null),
        el('span', { class: 'expiry' }, expiry),
        stateCell(k.state, ['ok']),
        list(k.used_by).length ? mono(list(k.used_by).join(', ')) : '—',
      ];
    }));
  }

  function renderBindings(bindings) {
    bindings = list(bindings).filter(Boolean);
    if (!bindings.length) return empty('No HTTP bindings.');
    return table(['Address', 'TLS', 'Context', 'State'], bindings.map(b => {
      const tls = b.tls
        ? el('span', null, 'key ', mono(str(b.key)), b.trust ? el('span', { class: 'sub' }, 'client certificates: ' + b.trust) : null)
        : badge('neutral', 'plain HTTP');
      return [
        mono(str(b.address)),
        tls,
        str(b.context),
        el('span', null, stateCell(b.state, ['opened']), b.note ? el('span', { class: 'sub' }, b.note) : null),
      ];
    }));
  }

  function renderSessions(sessions) {
    sessions = list(sessions).filter(Boolean);
    if (!sessions.length) return empty('No open shell sessions.');
    return table(['Account', 'Remote', 'Mode', 'Started'], sessions.map(s => [
      el('strong', null, str(s.account)),
      mono(str(s.remote)),
      str(s.mode),
      // The age first: the date is in the tooltip, so the card stays narrow.
      el('span', { class: 'nowrap', title: fmtTime(s.started) }, fmtAgo(s.started)),
    ]));
  }

  function count(v) { return typeof v === 'number' ? v.toLocaleString('en-US') : '—'; }

  // drops lists the non-zero reasons after the total: "12 (queue 10, kernel 2)".
  function drops(total, reasons) {
    const parts = reasons.filter(([, n]) => typeof n === 'number' && n > 0).map(([why, n]) => why + ' ' + count(n));
    const cell = el('span', { class: total > 0 ? 'bad' : '' }, count(total));
    return parts.length ? el('span', null, cell, el('span', { class: 'sub' }, parts.join(', '))) : cell;
  }

  function renderInputs(ins) {
    ins = list(ins).filter(Boolean);
    if (!ins.length) return empty('No receivers open (syslog.open, snmptrap.open).');
    return table(['Receiver', 'Address', 'State', 'Received', 'Dropped'], ins.map(i => [
      el('span', null, mono(str(i.name)), el('span', { class: 'sub' }, str(i.kind) + (i.charset && i.kind === 'syslog' ? ', ' + i.charset : ''))),
      mono(str(i.address) + ' (' + str(i.proto) + ')'),
      stateCell(i.state, ['listening']),
      count(i.received),
      drops(i.dropped, [['queue', i.dropped_queue], ['malformed', i.dropped_malformed], ['kernel', i.dropped_kernel], ['community', i.dropped_community]]),
    ]));
  }

  // spoolCell: queued events and bytes against the bound, oldest age, rates, and drops by reason.
  function spoolCell(sp) {
    if (!sp) return '—';
    const dropped = (sp.dropped_full || 0) + (sp.dropped_age || 0) + (sp.dropped_disk_full || 0) + (sp.dropped_corrupt || 0);
    return el('span', null,
      count(sp.events_queued) + ' queued, ' + fmtBytes(sp.bytes) + ' of ' + fmtBytes(sp.limit),
      el('span', { class: 'sub' }, 'oldest ' + fmtDuration(sp.oldest_unacked_seconds) + ', in ' + Math.round(sp.in_per_second || 0) + '/s, out ' + Math.round(sp.out_per_second || 0) + '/s'),
      dropped > 0 ? el('span', null, drops(dropped, [['full', sp.dropped_full], ['age', sp.dropped_age], ['disk full', sp.dropped_disk_full], ['corrupt', sp.dropped_corrupt]])) : null);
  }

  function renderOutputs(v) {
    const outs = list(v && v.outputs).filter(Boolean);
    const out = [];
    out.push(outs.length ? table(['Destination', 'State', 'In', 'Written', 'Errors', 'Spool'], outs.map(o => [
      el('span', null, mono(str(o.name)), el('span', { class: 'sub' }, str(o.type) + (o.target ? ' ' + o.target : ''))),
      stateCell(o.state, ['running']),
      count(o.events_in),
      count(o.events_written),
      el('span', null, el('span', { class: o.errors > 0 ? 'bad' : '' }, count(o.errors)), o.last_error ? el('span', { class: 'sub' }, o.last_error) : null),
      spoolCell(o.spool),
    ])) : empty('No destinations (forwarder.addOutput).'));
    const routes = list(v && v.routes).filter(Boolean);
    if (routes.length) out.push(el('div', { class: 'kv-group' }, 'Routes'), mono(routes.map(r => r.input + ' → ' + r.destination).join('  ·  ')));
    const filters = list(v && v.filters).filter(Boolean);
    if (filters.length) {
      out.push(el('div', { class: 'kv-group' }, 'Filters, in order'), table(['Filter', 'Input', 'Rule', 'Dropped'], filters.map(f => [
        mono(str(f.name)), mono(str(f.input)),
        el('span', null, str(f.action) + ' ', mono(str(f.expr)), f.state !== 'active' ? el('span', { class: 'bad state-failed' }, ' ' + f.state) : null),
        count(f.dropped),
      ])));
    }
    return el('div', null, out);
  }

  const CARDS = [
    { id: 'system', title: 'System', view: 'status', render: renderSystem },
    { id: 'inputs', title: 'Receivers', view: 'inputs', render: renderInputs, wide: true },
    { id: 'outputs', title: 'Destinations', view: 'outputs', render: renderOutputs, wide: true },
    { id: 'keystores', title: 'Keystores', view: 'keystores', render: renderKeystores, wide: true },
    { id: 'bindings', title: 'HTTP bindings', view: 'bindings', render: renderBindings, wide: true },
    { id: 'sessions', title: 'Shell sessions', view: 'sessions', render: renderSessions },
    { id: 'protection', title: 'Login protection', view: 'status', render: renderProtection },
  ];

  // ---- talking to the appliance ------------------------------------------------

  function signedOut() {
    if (state.leaving) return;
    state.leaving = true;
    location.assign('/login');
  }

  // api GETs a path. background marks the periodic refresh when nobody has
  // touched the page since the last one: it does not keep the session alive.
  async function api(path, background) {
    let res;
    try {
      res = await fetch(path, {
        credentials: 'same-origin', cache: 'no-store',
        headers: { 'Accept': 'application/json', 'X-Ferry-Console': background ? 'auto' : 'user' },
      });
    } catch (e) {
      return { ok: false, status: 0, error: 'cannot reach the appliance' };
    }
    if (res.status === 401) {
      signedOut();
      return { ok: false, status: 401, error: 'signed out' };
    }
    let body = null;
    try { body = await res.json(); } catch (e) { /* an error page that is not JSON */ }
    if (!res.ok) {
      return { ok: false, status: res.status, error: (body && body.error) || ('HTTP ' + res.status) };
    }
    return { ok: true, status: res.status, data: body };
  }

  function buildCards() {
    const grid = document.getElementById('cards');
    for (const c of CARDS) {
      c.note = el('span', { class: 'card-note' });
      c.body = el('div', { class: 'card-body' }, empty('Loading…'));
      c.node = el('section', { class: 'card' + (c.wide ? ' wide' : ''), id: 'card-' + c.id },
        el('header', null, el('h2', null, c.title), c.note), c.body);
      grid.append(c.node);
    }
  }

  function show(c, result) {
    if (result.ok) {
      try {
        c.body.replaceChildren(c.render(result.data));
        c.node.classList.remove('stale');
        c.note.textContent = '';
        c.note.className = 'card-note';
      } catch (e) {
        console.error('card ' + c.id, e);
        c.note.textContent = 'cannot show this view';
        c.note.className = 'card-note bad';
      }
      return;
    }
    if (result.status === 404) {
      c.body.replaceChildren(empty('Not available on this appliance.'));
      return;
    }
    // Keep the last figures, dimmed, with the reason.
    c.node.classList.add('stale');
    c.note.textContent = 'update failed: ' + result.error;
    c.note.className = 'card-note bad';
  }

  async function refresh(auto) {
    if (state.inFlight || state.leaving) return;
    clearTimeout(state.timer);
    if (auto && document.hidden) { schedule(); return; }
    state.inFlight = true;
    const background = auto && !state.userActive;
    state.userActive = false;
    const views = [...new Set(CARDS.map(c => c.view))];
    const results = new Map();
    await Promise.all(views.map(async v => results.set(v, await api('/api/' + v, background))));
    state.inFlight = false;
    if (state.leaving) return;
    for (const c of CARDS) show(c, results.get(c.view));
    const updated = document.getElementById('updated');
    const banner = document.getElementById('banner');
    if ([...results.values()].every(r => r.status === 0)) {
      banner.textContent = 'Cannot reach the appliance; retrying every ' + REFRESH_MS / 1000 + ' s.';
      banner.hidden = false;
    } else {
      banner.hidden = true;
      const t = new Date();
      updated.textContent = 'Updated ' + pad(t.getHours()) + ':' + pad(t.getMinutes()) + ':' + pad(t.getSeconds()) +
        ' · refreshes every ' + REFRESH_MS / 1000 + ' s';
    }
    schedule();
  }

  function schedule() {
    clearTimeout(state.timer);
    state.timer = setTimeout(() => refresh(true), REFRESH_MS);
  }

  async function logout() {
    document.getElementById('logout').disabled = true;
    state.leaving = true;
    try {
      await fetch('/logout', { method: 'POST', credentials: 'same-origin',
        headers: { 'X-CSRF-Token': state.csrf, 'X-Ferry-Console': 'user' } });
    } catch (e) { /* the login page tells */ }
    location.assign('/login');
  }

  async function init() {
    buildCards();
    for (const ev of ['pointerdown', 'keydown', 'wheel', 'touchstart']) {
      window.addEventListener(ev, () => { state.userActive = true; }, { passive: true });
    }
    document.addEventListener('visibilitychange', () => { if (!document.hidden) refresh(false); });
    document.getElementById('logout').addEventListener('click', logout);
    const s = await api('/api/session', false);
    if (s.ok && s.data) {
      state.csrf = s.data.csrf || '';
      document.getElementById('version').textContent = str(s.data.version);
      document.getElementById('hostname').textContent = str(s.data.hostname);
      document.getElementById('account').textContent = str(s.data.account);
      document.getElementById('role').textContent = str(s.data.role);
      document.title = 'Ferry · ' + str(s.data.hostname);
    } else if (!state.leaving) {
      const banner = document.getElementById('banner');
      banner.textContent = 'Cannot load the session: ' + s.error;
      banner.hidden = false;
    }
    refresh(false);
  }

  init();
})();
