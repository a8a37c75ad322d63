// Sessions: a command run on the device now (docs/api.md#sessions). The logs of a container
// are followed as `m87 DEVICE docker logs -f` does: a `logs` session whose output is read with
// the API's long-poll (after=SEQ&wait=SECONDS) until it ends or is stopped.
import { api, poll, devicePath, enc } from './api.js';
import { h, replace, time, badge } from './dom.js';

const ENDED = ['exited', 'cancelled', 'lost'];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Append the output of session id to pre until it ends or signal aborts; the session at its end.
async function stream(name, id, pre, signal, onState) {
  let after = 0;
  for (;;) {
    let doc;
    try {
      doc = await api('GET', devicePath(name, '/sessions/' + enc(id) + '/output?after=' + after +
        '&wait=20'), undefined, { signal });
    } catch (e) {
      if (e.name === 'AbortError' || signal.aborted) return null;
      if (e.status && e.status !== 502 && e.status !== 503 && e.status !== 504) throw e;
      await sleep(2000); // the server is away: the banner says so; try again
      continue;
    }
    const stick = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    for (const c of doc.output) {
      pre.append(h('span', { class: c.stream === 'stderr' ? 'stderr' : '' }, c.text));
    }
    if (stick) pre.scrollTop = pre.scrollHeight;
    after = doc.next;
    if (onState) onState(doc);
    if (ENDED.includes(doc.state) && doc.output.length === 0) return doc;
  }
}

function ending(doc) {
  if (doc.state === 'exited') return 'ended with exit code ' + doc.exit_code;
  if (doc.exit_code === 126) return doc.state + ': the device refused an unsigned session (' +
    'it trusts signed ones only: use m87 DEVICE docker logs -f)';
  return doc.state + (doc.message ? ': ' + doc.message : '');
}

export function followLogs(el, name) {
  const input = h('input', { id: 'log-container', type: 'text', required: true, spellcheck: 'false',
    placeholder: 'container name, e.g. app-web-1' });
  const tail = h('input', { id: 'log-tail', type: 'number', min: 0, max: 10000, value: 100 });
  const state = h('p', { id: 'log-state', class: 'muted', 'aria-live': 'polite' });
  const pre = h('pre', { id: 'log-out', class: 'out log', tabindex: 0, 'aria-label': 'log lines' });
  const stopBtn = h('button', { type: 'button', id: 'log-stop', disabled: true }, 'Stop');
  let ctl = null;
  let session = null;

  async function stop() {
    if (ctl) ctl.abort();
    ctl = null;
    stopBtn.disabled = true;
    if (session) {
      const id = session;
      session = null;
      try { await api('POST', devicePath(name, '/sessions/' + enc(id) + '/cancel'), {}); } catch (e) { /* ended */ }
    }
  }

  async function start(ev) {
    ev.preventDefault();
    await stop();
    pre.replaceChildren();
    const c = input.value.trim();
    ctl = new AbortController();
    const my = ctl;
    state.textContent = 'starting…';
    try {
      const s = await api('POST', devicePath(name, '/sessions'), {
        command: 'logs', args: ['-f', '-n', String(tail.value || 0), c] });
      session = s.id;
      stopBtn.disabled = false;
      state.textContent = 'following ' + c + ' (session ' + s.id + ')' +
        (s.device.connected ? '' : ': the device is offline, waiting for it');
      const end = await stream(name, s.id, pre, my.signal, (d) => {
        if (d.state === 'running') state.textContent = 'following ' + c + ' (session ' + s.id + ')';
      });
      if (end && my === ctl) {
        state.textContent = c + ': ' + ending(end);
        session = null;
        stopBtn.disabled = true;
      }
    } catch (e) {
      if (e.name !== 'AbortError') state.textContent = 'logs failed: ' + e.message;
    }
  }

  stopBtn.addEventListener('click', () => { stop(); state.textContent = 'stopped'; });
  el.addEventListener('m87-stop', stop);
  replace(el, h('form', { class: 'inline', id: 'log-form', onsubmit: start },
    h('label', { for: 'log-container' }, 'Container'), input,
    h('label', { for: 'log-tail' }, 'Last lines'), tail,
    h('button', { type: 'submit', id: 'log-follow' }, 'Follow'), stopBtn), state, pre);
}

export function sessionsSection(el, name) {
  const rows = h('tbody', {});
  const out = h('pre', { id: 'session-out', class: 'out', tabindex: 0, hidden: true });
  const title = h('h3', { id: 'session-title', hidden: true });
  let ctl = null;
  let last = '';

  async function show(s) {
    if (ctl) ctl.abort();
    ctl = new AbortController();
    out.replaceChildren();
    out.hidden = false;
    title.hidden = false;
    title.textContent = 'Output of ' + s.id;
    try {
      const end = await stream(name, s.id, out, ctl.signal);
      if (end) title.textContent = 'Output of ' + s.id + ': ' + ending(end);
    } catch (e) {
      title.textContent = 'Output of ' + s.id + ': ' + e.message;
    }
  }

  async function load(signal) {
    const doc = await api('GET', devicePath(name, '/sessions'), undefined, { signal });
    const text = JSON.stringify(doc.sessions);
    if (text === last) return;
    last = text;
    replace(rows, doc.sessions.slice().reverse().slice(0, 50).map((s) => h('tr', {},
      h('th', { scope: 'row', class: 'mono' }, s.id),
      h('td', { class: 'mono' }, s.command + ' ' + s.args.join(' ')),
      h('td', {}, badge(s.state)), h('td', {}, s.exit_code ?? ''),
      h('td', {}, time(s.created)),
      h('td', {}, h('button', { type: 'button', class: 'small', onclick: () => show(s) }, 'Output')))));
    if (!doc.sessions.length) rows.append(h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'No sessions.')));
  }

  replace(el, h('div', { class: 'scroll' }, h('table', {},
    h('thead', {}, h('tr', {}, ['Session', 'Command', 'State', 'Exit', 'Created', '']
      .map((t) => h('th', { scope: 'col' }, t)))), rows)), title, out);
  const stopPoll = poll(load, 5000);
  return () => { stopPoll(); if (ctl) ctl.abort(); };
}
