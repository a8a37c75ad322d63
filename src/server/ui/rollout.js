// One rollout (GET /v1/fleets/NAME/rollouts/ID): its state and message, its waves with their
// devices, counts per state and a progress bar each, live; pause, resume and abort (with or
// without rolling back) after a confirmation that shows the CLI command doing the same.
import { api, poll, enc } from './api.js';
import { h, replace, time, badge, short, confirmDialog } from './dom.js';

const STATES = ['pending', 'applying', 'healthy', 'failed', 'offline', 'rolled-back'];
const q = (s) => (/^[A-Za-z0-9_.@:\/-]+$/.test(s) ? s : "'" + s.replace(/'/g, "'\\''") + "'");

export function render(view, fleet, id) {
  const path = '/v1/fleets/' + enc(fleet) + '/rollouts/' + enc(id);
  const flash = h('p', { id: 'flash', class: 'flash', role: 'status', 'aria-live': 'polite' });
  const head = h('section', { id: 'rollout', class: 'card', 'aria-labelledby': 'rollout-h' });
  const waves = h('div', { id: 'waves' });
  view.append(h('p', {}, h('a', { href: '#/fleets' }, '‹ All fleets')),
    h('h1', {}, 'Rollout ', h('span', { class: 'mono' }, id), ' of fleet ',
      h('span', { class: 'mono' }, fleet)), flash, head, waves);
  const ctx = { fleet, id, path, flash, refresh: () => refresh() };
  let last = '';

  async function load(signal) {
    let ro;
    try {
      ro = await api('GET', path, undefined, { signal });
    } catch (e) {
      if (e.status === 404) flash.textContent = e.message;
      throw e;
    }
    const text = JSON.stringify(ro);
    if (text === last) return;
    last = text;
    drawHead(head, ro, ctx);
    drawWaves(waves, ro);
  }
  let stop = poll(load, 2000);
  function refresh() { stop(); stop = poll(load, 2000); }
  return () => stop();
}

function dur(s) {
  if (s % 3600 === 0 && s) return s / 3600 + 'h';
  if (s % 60 === 0 && s) return s / 60 + 'm';
  return s + 's';
}

function drawHead(el, ro, ctx) {
  const healthy = ro.devices.filter((d) => d.state === 'healthy').length;
  const btn = (action, label, danger) => h('button', { type: 'button', class: danger ? 'danger' : '',
    'data-action': action, onclick: () => ACTIONS[action](ctx, ro) }, label);
  const ended = !['running', 'paused'].includes(ro.state);
  replace(el,
    h('h2', { id: 'rollout-h' }, 'Release ' + ro.release + ' ',
      h('span', { id: 'rollout-state', 'data-state': ro.state }, badge(ro.state)),
      ro.rollback_pending ? [' ', badge('rolling back')] : ''),
    ro.message ? h('p', { id: 'rollout-message' }, ro.message) : '',
    h('dl', { class: 'facts' },
      h('dt', {}, 'Wave'), h('dd', { id: 'rollout-wave' }, ro.wave + ' of ' + ro.waves.length,
        ro.wave_started ? [', started ', time(ro.wave_started)] : ''),
      h('dt', {}, 'Devices'), h('dd', {}, progress(healthy, ro.devices.length, 'rollout-progress'),
        ' ' + healthy + ' of ' + ro.devices.length + ' healthy'),
      h('dt', {}, 'Options'), h('dd', {}, 'health window ' + dur(ro.health_window) + ', max failed ' +
        ro.max_failed + ', offline ' + ro.offline + ', wave timeout ' + dur(ro.wave_timeout) +
        ', rollback ' + ro.rollback + (ro.now ? ', now' : '')),
      h('dt', {}, 'Created'), h('dd', {}, time(ro.created)),
      h('dt', {}, 'Updated'), h('dd', {}, time(ro.updated))),
    h('div', { class: 'inline actions' },
      ro.state === 'running' ? btn('pause', 'Pause…') : '',
      ro.state === 'paused' ? btn('resume', 'Resume…') : '',
      !ended ? btn('abort', 'Abort…', true) : '',
      ro.state === 'halted' && ro.rollback === 'never' ? btn('rollback', 'Roll back…', true) : ''));
}

function progress(done, total, id) {
  return h('progress', { id, max: total || 1, value: done, 'aria-label': done + ' of ' + total + ' healthy' });
}

function drawWaves(el, ro) {
  const byWave = ro.waves.map(() => []);
  for (const d of ro.devices) if (d.wave >= 1 && d.wave <= byWave.length) byWave[d.wave - 1].push(d);
  replace(el, byWave.map((devs, i) => {
    const n = i + 1;
    const counts = {};
    for (const d of devs) counts[d.state] = (counts[d.state] || 0) + 1;
    const current = n === ro.wave && ['running', 'paused'].includes(ro.state);
    return h('section', { class: 'card wave' + (current ? ' current' : ''), 'data-wave': n,
      'aria-labelledby': 'wave-' + n + '-h' },
    h('h2', { id: 'wave-' + n + '-h' }, 'Wave ' + n + ' (' + devs.length + ' device' +
      (devs.length === 1 ? '' : 's') + ')', current ? [' ', badge('current')] : ''),
    h('p', { class: 'wave-counts' }, progress(counts.healthy || 0, devs.length), ' ',
      STATES.filter((s) => counts[s]).map((s) => h('span', { class: 'count', 'data-state': s },
        badge(s), ' ' + counts[s])).flatMap((x, j) => (j ? [' ', x] : [x]))),
    h('div', { class: 'scroll' }, h('table', { class: 'wave-devices' },
      h('thead', {}, h('tr', {}, ['Device', 'State', 'Revision', 'Applied', 'Healthy at', 'Message']
        .map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, devs.map((d) => h('tr', { 'data-device': d.device, 'data-state': d.state },
        h('th', { scope: 'row' }, h('a', { href: '#/devices/' + encodeURIComponent(d.device) }, d.device)),
        h('td', {}, badge(d.state)),
        h('td', { class: 'mono', title: d.revision || '' }, short(d.revision)),
        h('td', {}, time(d.applied, { none: '-' })),
        h('td', {}, time(d.healthy_at, { none: '-' })),
        h('td', {}, d.message || '')))))));
  }));
}

// ---- actions --------------------------------------------------------------------------------

// None of these makes a revision that needs a signature, but a roll back, which sends each
// member the revision it had before again (docs/dashboard.md, "Signed fleet releases").
const signedNote = (fleet) => ' With trusted keys on the devices: a member still in its ' +
  'health window takes its earlier revision back as the one it kept; one that passed its ' +
  'window already refuses it (a replay of an older release, or unsigned), says so in its ' +
  'target report and keeps the new release: for those, make a new release with m87 fleet ' +
  q(fleet) + ' deploy, which the CLI signs.';

async function act(ctx, title, text, action, body, cmdFor, opts = {}) {
  const ok = await confirmDialog(title, text, { ok: title, cmd: 'same as: ' + cmdFor(false),
    check: opts.check, cmdFor: (c) => 'same as: ' + cmdFor(c) });
  if (!ok) return;
  const checked = document.getElementById('confirm-check').checked;
  try {
    const ro = await api('POST', ctx.path + '/' + action, body(checked));
    ctx.flash.textContent = 'Rollout ' + ctx.id + ' is ' + ro.state +
      (ro.rollback_pending ? ', rolling back' : '') + '.';
  } catch (e) {
    ctx.flash.textContent = title + ' failed: ' + e.message;
  }
  ctx.refresh();
}

const cli = (ctx, verb) => 'm87 fleet ' + q(ctx.fleet) + ' ' + verb + ' ' + ctx.id;

const ACTIONS = {
  pause: (ctx) => act(ctx, 'Pause', 'Pause rollout ' + ctx.id + '? No further wave starts ' +
    'until it is resumed; the devices of the current wave are still watched. No revision is made.',
  'pause', () => ({}), () => cli(ctx, 'pause')),
  resume: (ctx) => act(ctx, 'Resume', 'Resume rollout ' + ctx.id + '? The next wave starts ' +
    'when the current one passed; its timeout counts from now. No revision is made.',
  'resume', () => ({}), () => cli(ctx, 'resume')),
  abort: (ctx) => act(ctx, 'Abort', 'Abort rollout ' + ctx.id + '? It starts no further wave ' +
    'and ends. Without rolling back, the members keep what they have now. Rolling back gives ' +
    'every member the rollout changed the revision it replaced (the same jobs and hash).' +
    signedNote(ctx.fleet),
  'abort', (c) => (c ? { rollback: true } : {}), (c) => cli(ctx, 'abort') + (c ? ' --rollback' : ''),
  { check: 'Roll back the members it changed' }),
  rollback: (ctx) => act(ctx, 'Roll back', 'Roll back the halted rollout ' + ctx.id + '? Every ' +
    'member it changed gets the revision it replaced (the same jobs and hash).' +
    signedNote(ctx.fleet),
  'abort', () => ({ rollback: true }), () => cli(ctx, 'abort') + ' --rollback'),
};
