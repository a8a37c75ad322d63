// Fleets: named label selectors (GET /v1/fleets) and their members (GET /v1/fleets/NAME).
import { api, poll, enc } from './api.js';
import { h, replace, time } from './dom.js';

export function render(view) {
  const body = h('div', { id: 'fleets-body' });
  view.append(h('h1', {}, 'Fleets'), body);
  const open = new Set();
  let last = '';

  async function load(signal) {
    const doc = await api('GET', '/v1/fleets', undefined, { signal });
    const members = {};
    for (const f of doc.fleets) {
      if (open.has(f.name)) {
        members[f.name] = (await api('GET', '/v1/fleets/' + enc(f.name), undefined, { signal })).members;
      }
    }
    const text = JSON.stringify([doc, members]);
    if (text === last) return;
    last = text;
    if (!doc.fleets.length) {
      replace(body, h('p', { class: 'muted' }, 'No fleets. Make one with: m87 fleets add NAME SELECTOR'));
      return;
    }
    replace(body, doc.fleets.map((f) => {
      const det = h('details', { class: 'card', 'data-fleet': f.name },
        h('summary', {}, h('strong', {}, f.name), ' ', h('code', {}, f.selector || '(every device)'),
          ', ' + f.member_count + ' members, created ', time(f.created)),
        members[f.name] ? h('ul', { class: 'members' }, members[f.name].map((m) => {
          const n = typeof m === 'string' ? m : m.name;
          return h('li', {}, h('a', { href: '#/devices/' + encodeURIComponent(n) }, n));
        })) : h('p', { class: 'muted' }, 'loading…'),
        h('p', {}, h('a', { href: '#/devices?select=' + encodeURIComponent(f.selector) },
          'Show the members in the device list')));
      if (open.has(f.name)) det.open = true;
      det.addEventListener('toggle', () => {
        if (det.open) open.add(f.name); else open.delete(f.name);
        if (det.open && !members[f.name]) refresh();
      });
      return det;
    }));
  }
  let stop = poll(load, 5000);
  function refresh() { stop(); stop = poll(load, 5000); }
  return () => stop();
}
