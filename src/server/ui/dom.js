// Small DOM helpers. Text from the API goes in as text nodes, never as HTML.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

function relative(date) {
  const s = Math.round((date.getTime() - Date.now()) / 1000);
  const a = Math.abs(s);
  if (a < 60) return rtf.format(s, 'second');
  if (a < 3600) return rtf.format(Math.round(s / 60), 'minute');
  if (a < 86400) return rtf.format(Math.round(s / 3600), 'hour');
  return rtf.format(Math.round(s / 86400), 'day');
}

// A time in the browser's time zone; the absolute time (local and UTC) on hover.
export function time(iso, opts = {}) {
  if (!iso) return h('span', { class: 'muted' }, opts.none ?? 'never');
  const d = new Date(iso);
  const local = d.toLocaleString(undefined, { timeZoneName: 'short' });
  const shown = opts.relative ? relative(d) : d.toLocaleString();
  return h('time', { datetime: iso, title: local + ' (' + iso + ')' }, shown);
}

export function duration(ms) {
  if (ms === null || ms === undefined) return '';
  if (ms < 1000) return ms + ' ms';
  if (ms < 60000) return (ms / 1000).toFixed(1) + ' s';
  return Math.floor(ms / 60000) + ' min ' + Math.round((ms % 60000) / 1000) + ' s';
}

export function badge(state) {
  return h('span', { class: 'badge s-' + String(state).replace(/[^a-z_]/g, '') }, state);
}

export function short(hash) { return hash ? hash.slice(0, 12) : '-'; }

export function labels(obj) {
  const keys = Object.keys(obj || {}).sort();
  if (!keys.length) return h('span', { class: 'muted' }, 'none');
  return h('span', { class: 'labels' },
    keys.map((k) => h('span', { class: 'label' }, obj[k] ? k + '=' + obj[k] : k)));
}

// A modal confirmation; resolves true when confirmed. cmd: a command shown to copy. check: the
// label of a checkbox (#confirm-check, unchecked at first; read it after) whose state
// cmdFor(checked) turns into the command shown.
export function confirmDialog(title, text, opts = {}) {
  const dlg = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  const cmd = document.getElementById('confirm-cmd');
  cmd.hidden = !opts.cmd;
  cmd.textContent = opts.cmd || '';
  const box = document.getElementById('confirm-check');
  box.checked = false;
  box.onchange = opts.cmdFor ? () => { cmd.textContent = opts.cmdFor(box.checked); } : null;
  document.getElementById('confirm-opt').hidden = !opts.check;
  document.getElementById('confirm-check-label').textContent = opts.check || '';
  const ok = document.getElementById('confirm-ok');
  ok.hidden = !!opts.infoOnly;
  ok.textContent = opts.ok || 'Confirm';
  document.getElementById('confirm-cancel').textContent = opts.infoOnly ? 'Close' : 'Cancel';
  return new Promise((resolve) => {
    dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok'), { once: true });
    dlg.returnValue = 'cancel';
    dlg.showModal();
    (opts.infoOnly ? document.getElementById('confirm-cancel') : ok).focus();
  });
}
