// Fleets: named label selectors (GET /v1/fleets), each with its current release and newest
// rollout (GET /v1/fleets/NAME/status); open one for its members by release and health and its
// rollouts, newest first (GET /v1/fleets/NAME/rollouts).
import { api, poll, enc } from './api.js';
import { h, replace, time, badge, short } from './dom.js';

const fleetPath = (name, rest = '') => '/v1/fleets/' + enc(name) + rest;
export const rolloutHref = (fleet, id) =>
  '#/fleets/' + encodeURIComponent(fleet) + '/rollouts/' + encodeURIComponent(id);

const open = new Set(); // fleets shown open, kept while the tab goes to other pages and back

export function render(view) {
  const body = h('div', { id: 'fleets-body' });
  view.append(h('h1', {}, 'Fleets'), body);
  let last = '';

  async function load(signal) {
    const get = (p) => api('GET', p, undefined, { signal });
    const doc = await get('/v1/fleets');
    const status = {};
    const rollouts = {};
    await Promise.all(doc.fleets.map(async (f) => {
      status[f.name] = await get(fleetPath(f.name, '/status'));
      if (open.has(f.name)) rollouts[f.name] = (await get(fleetPath(f.name, '/rollouts'))).rollouts;
    }));
    const text = JSON.stringify([doc, status, rollouts]);
    if (text === last) return;
    last = text;
    if (!doc.fleets.length) {
      replace(body, h('p', { class: 'muted' }, 'No fleets. Make one with: m87 fleets add NAME --select SELECTOR'));
      return;
    }
    replace(body, doc.fleets.map((f) => {
      const st = status[f.name];
      const det = h('details', { class: 'card', 'data-fleet': f.name },
        h('summary', {}, h('strong', {}, f.name), ' ', h('code', {}, f.selector || '(every device)'),
          ', ' + f.member_count + ' members, ',
          h('span', { class: 'release' }, st.release ? 'release ' + st.release : 'no release yet'),
          st.rollout ? [' (rollout ', h('a', { href: rolloutHref(f.name, st.rollout.id) }, st.rollout.id),
            ' ', badge(st.rollout.state), ')'] : '',
          ', created ', time(f.created)),
        statusSection(st),
        rollouts[f.name] ? rolloutTable(f.name, rollouts[f.name]) : h('p', { class: 'muted' }, 'loading…'),
        h('p', {}, h('a', { href: '#/devices?select=' + encodeURIComponent(f.selector) },
          'Show the members in the device list')));
      if (open.has(f.name)) det.open = true;
      det.addEventListener('toggle', () => {
        if (det.open) open.add(f.name); else open.delete(f.name);
        if (det.open && !rollouts[f.name]) refresh();
      });
      return det;
    }));
  }
  let stop = poll(load, 3000);
  function refresh() { stop(); stop = poll(load, 3000); }
  return () => stop();
}

// The members now, as `m87 fleet NAME status` counts them: on the current release, applied and
// health ok; failing; offline; waiting for a maintenance window.
export function memberCounts(st) {
  const c = { total: st.members.length, good: 0, failing: 0, offline: 0, waiting: 0 };
  for (const m of st.members) {
    const health = m.health ? m.health.state : '';
    if (st.release && m.release === st.release && m.applied && health === 'ok') c.good++;
    if (health === 'failing') c.failing++;
    if (!m.online) c.offline++;
    if (m.waiting_for_window) c.waiting++;
  }
  return c;
}

function statusSection(st) {
  const c = memberCounts(st);
  return h('div', { class: 'fleet-status' },
    h('p', { class: 'counts' }, c.total + ' members: ' + c.good + ' on the current release and ' +
      'healthy, ' + c.failing + ' failing, ' + c.offline + ' offline, ' + c.waiting +
      ' waiting for a window'),
    st.members.length ? h('div', { class: 'scroll' }, h('table', { class: 'members' },
      h('thead', {}, h('tr', {}, ['Device', 'Connection', 'Release', 'Applied', 'Health', 'Rollout']
        .map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, st.members.map((m) => h('tr', { 'data-device': m.device },
        h('th', { scope: 'row' }, h('a', { href: '#/devices/' + encodeURIComponent(m.device) }, m.device)),
        h('td', {}, badge(m.online ? 'online' : 'offline')),
        h('td', { title: m.revision || '' }, m.release ? String(m.release) : '-',
          m.revision ? [' ', h('span', { class: 'mono muted' }, short(m.revision))] : ''),
        h('td', {}, m.waiting_for_window ? badge('waiting') : m.applied ? badge('applied') : 'no'),
        h('td', {}, badge(m.health ? m.health.state : 'none')),
        h('td', {}, m.rollout_state ? badge(m.rollout_state) : '-')))))) : '');
}

function rolloutTable(fleet, list) {
  if (!list.length) return h('p', { class: 'muted' }, 'No rollouts yet: m87 fleet ' + fleet + ' deploy FILE');
  return h('div', { class: 'scroll' }, h('table', { class: 'rollouts' },
    h('caption', {}, 'Rollouts, newest first'),
    h('thead', {}, h('tr', {}, ['Rollout', 'Release', 'State', 'Wave', 'Created', 'Message']
      .map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, list.map((r) => h('tr', { 'data-rollout': r.id },
      h('th', { scope: 'row' }, h('a', { href: rolloutHref(fleet, r.id) }, r.id)),
      h('td', {}, String(r.release)), h('td', {}, badge(r.state)),
      h('td', {}, r.wave + ' of ' + r.waves.length), h('td', {}, time(r.created)),
      h('td', {}, r.message || ''))))));
}
