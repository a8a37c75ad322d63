// Devices: one page of the server's list at a time (GET /v1/devices with limit and offset), so
// that 10,000 devices make 50 rows; filtered by label selector and state, sorted by the server.
import { api, poll, ApiError } from './api.js';
import { h, replace, time, badge, labels, short } from './dom.js';

const SIZES = [25, 50, 100, 200];
const SORTS = { name: 'Name', last_seen: 'Last seen', created: 'Created' };

export function render(view, params) {
  const q = {
    select: params.get('select') || '',
    state: params.get('state') || '',
    sort: params.get('sort') || 'name',
    limit: SIZES.includes(+params.get('limit')) ? +params.get('limit') : 50,
    offset: Math.max(0, +params.get('offset') || 0),
  };
  const sel = h('input', { id: 'f-select', type: 'search', value: q.select, spellcheck: 'false',
    placeholder: 'site=berlin,hw in (pi4,pi5)', 'aria-describedby': 'f-error' });
  const state = h('select', { id: 'f-state' },
    h('option', { value: '' }, 'any'), h('option', { value: 'online' }, 'online'),
    h('option', { value: 'offline' }, 'offline'));
  state.value = q.state;
  const size = h('select', { id: 'f-size' }, SIZES.map((n) => h('option', { value: n }, n)));
  size.value = String(q.limit);
  const err = h('p', { id: 'f-error', class: 'error', role: 'alert' });
  const summary = h('p', { id: 'dev-summary', class: 'summary', 'aria-live': 'polite' });
  const body = h('tbody', { id: 'dev-rows' });
  const pager = h('nav', { class: 'pager', 'aria-label': 'pages' });
  const head = h('tr');
  const table = h('table', { class: 'devices', id: 'devices' }, h('thead', {}, head), body);

  const form = h('form', { class: 'filters', role: 'search', onsubmit: (e) => {
    e.preventDefault();
    q.select = sel.value.trim();
    q.offset = 0;
    refresh();
  } },
  h('label', { for: 'f-select' }, 'Label selector'), sel,
  h('label', { for: 'f-state' }, 'State'), state,
  h('label', { for: 'f-size' }, 'Per page'), size,
  h('button', { type: 'submit' }, 'Filter'));
  state.addEventListener('change', () => { q.state = state.value; q.offset = 0; refresh(); });
  size.addEventListener('change', () => { q.limit = +size.value; q.offset = 0; refresh(); });

  view.append(h('h1', {}, 'Devices'), form, err, summary,
    h('div', { class: 'scroll' }, table), pager);

  function sortHeader(key) {
    const cur = q.sort.replace(/^-/, '') === key;
    const desc = q.sort.startsWith('-');
    const th = h('th', { scope: 'col', 'aria-sort': cur ? (desc ? 'descending' : 'ascending') : 'none' },
      h('button', { type: 'button', class: 'sort', onclick: () => {
        q.sort = cur && !desc ? '-' + key : key;
        q.offset = 0;
        refresh();
      } }, SORTS[key], cur ? (desc ? ' ▼' : ' ▲') : ''));
    return th;
  }

  function drawHead() {
    replace(head, sortHeader('name'), h('th', { scope: 'col' }, 'State'), sortHeader('last_seen'),
      h('th', { scope: 'col' }, 'Labels'), h('th', { scope: 'col' }, 'Applied revision'),
      h('th', { scope: 'col' }, 'Health'));
  }

  function query() {
    const p = new URLSearchParams();
    if (q.select) p.set('select', q.select);
    if (q.state) p.set('state', q.state);
    if (q.sort !== 'name') p.set('sort', q.sort);
    p.set('limit', q.limit);
    if (q.offset) p.set('offset', q.offset);
    return p;
  }

  async function load(signal) {
    const p = query();
    history.replaceState(null, '', '#/devices?' + p.toString());
    let doc;
    try {
      doc = await api('GET', '/v1/devices?' + p.toString(), undefined, { signal });
    } catch (e) {
      if (e instanceof ApiError && e.status === 400) err.textContent = e.message;
      throw e;
    }
    err.textContent = '';
    if (doc.total > 0 && q.offset >= doc.total) {
      q.offset = Math.floor((doc.total - 1) / q.limit) * q.limit;
      return load(signal);
    }
    const text = JSON.stringify([doc, q]);
    if (text === last) return; // unchanged: keep the rows (and the focus in them)
    last = text;
    drawHead();
    replace(body, doc.devices.map(row));
    if (!doc.devices.length) {
      body.append(h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'No device matches.')));
    }
    const from = doc.devices.length ? q.offset + 1 : 0;
    summary.textContent = doc.total + ' devices' +
      (doc.total ? ', showing ' + from + '–' + (q.offset + doc.devices.length) : '');
    drawPager(doc.total);
  }

  function drawPager(total) {
    const pages = Math.max(1, Math.ceil(total / q.limit));
    const page = Math.floor(q.offset / q.limit);
    const go = (p) => () => { q.offset = p * q.limit; refresh(); };
    replace(pager,
      h('button', { type: 'button', id: 'page-prev', disabled: page === 0, onclick: go(page - 1) }, '‹ Previous'),
      h('span', { id: 'page-at' }, ' page ' + (page + 1) + ' of ' + pages + ' '),
      h('button', { type: 'button', id: 'page-next', disabled: page + 1 >= pages, onclick: go(page + 1) }, 'Next ›'));
  }

  let last = '';
  let stop = poll(load, 3000);
  function refresh() { stop(); stop = poll(load, 3000); }
  return () => stop();
}

function row(d) {
  const health = d.health ? d.health.state : '';
  return h('tr', { 'data-device': d.name },
    h('th', { scope: 'row' }, h('a', { href: '#/devices/' + encodeURIComponent(d.name) }, d.name)),
    h('td', {}, badge(d.online ? 'online' : 'offline')),
    h('td', {}, time(d.last_seen, { relative: true })),
    h('td', {}, labels(d.labels)),
    h('td', { class: 'mono', title: d.applied_revision || '' }, short(d.applied_revision)),
    h('td', {}, health ? badge(health) : ''));
}
