// One device: its state, the live status of its active deployment, its deployments and
// revisions with the actions (activate, roll back by clone, undeploy a job), its logs followed
// live, its sessions and their output, its windows and prefetch, its newest metrics sample.
import { api, poll, devicePath, enc, ApiError } from './api.js';
import { h, replace, time, duration, badge, labels, short, confirmDialog } from './dom.js';
import { followLogs, sessionsSection } from './sessions.js';

export function render(view, name) {
  const sec = (id, title) => {
    const body = h('div', { id: id + '-body' });
    view.append(h('section', { id, class: 'card', 'aria-labelledby': id + '-h' },
      h('h2', { id: id + '-h' }, title), body));
    return body;
  };
  const flash = h('p', { id: 'flash', class: 'flash', role: 'status', 'aria-live': 'polite' });
  view.append(h('p', {}, h('a', { href: '#/devices' }, '‹ All devices')),
    h('h1', {}, 'Device ', h('span', { class: 'mono' }, name)), flash);
  const summary = sec('summary', 'State');
  const metrics = sec('metrics', 'Metrics');
  const status = sec('status', 'Active deployment');
  const deps = sec('deployments', 'Deployments');
  const logs = sec('logs', 'Logs');
  const sessions = sec('sessions', 'Sessions');
  const policy = sec('policy', 'Windows and prefetch');

  const open = new Set(); // deployments whose revisions are shown
  const refusals = { after: 0, last: null }; // the newest target the device refused
  const health = { revision: null, after: 0, byName: {} }; // its containers' newest health
  const last = {};
  const ctx = { name, open, openSteps: new Set(), flash, refresh: () => refresh() };

  const changed = (key, value) => {
    const text = JSON.stringify(value);
    if (last[key] === text) return false;
    last[key] = text;
    return true;
  };

  async function load(signal) {
    try {
      await loadAll(signal);
    } catch (e) {
      if (e.status === 404) flash.textContent = e.message; // the device is gone
      throw e;
    }
  }

  async function loadAll(signal) {
    const get = (p) => api('GET', devicePath(name, p), undefined, { signal });
    const orNull = (p) => get(p).catch((e) => {
      if (e instanceof ApiError && e.status === 404) return null;
      throw e;
    });
    const dev = await get('');
    const active = dev.active_deployment;
    const [st, list, win, pre, met] = await Promise.all([active ? orNull('/status') : null,
      get('/deployments'), get('/windows'), get('/prefetch'), get('/metrics?limit=1')]);
    const activeDoc = active ? await get('/deployments/' + enc(active.id)) : null;
    const revs = {};
    for (const id of open) {
      if (list.deployments.some((d) => d.id === id)) {
        revs[id] = (await get('/deployments/' + enc(id) + '/revisions')).revisions;
      }
    }
    await loadRefusals(get, refusals);
    if (st && st.picked_up) await loadHealth(get, st.deployment.hash, health);
    // signed deployments, or a device that refused a target: it checks signatures
    ctx.signed = !!(activeDoc && activeDoc.signature) || refusals.last !== null;
    if (changed('dev', dev)) drawSummary(summary, dev);
    if (changed('metrics', met)) drawMetrics(metrics, met.samples[met.samples.length - 1]);
    ctx.containers = st && st.picked_up ? Object.values(health.byName) : null;
    if (changed('st', [st, ctx.signed, refusals.last, ctx.containers])) {
      drawStatus(status, st, ctx, refusals.last);
    }
    if (changed('deps', [list, revs, ctx.signed, active && active.id])) {
      drawDeployments(deps, list.deployments, revs, ctx);
    }
    if (changed('policy', [win, pre, st && st.window])) drawPolicy(policy, win, pre, st);
  }

  followLogs(logs, name);
  const stopSessions = sessionsSection(sessions, name);
  let stop = poll(load, 2000);
  function refresh() { stop(); stop = poll(load, 2000); }
  return () => { stop(); stopSessions(); logs.dispatchEvent(new Event('m87-stop')); };
}

// The device's "target" reports after the last one read: a refused target (docs/security.md,
// "Checking, on the device") says that the device applies signed revisions only, and why.
async function loadRefusals(get, seen) {
  for (;;) {
    const doc = await get('/reports?kind=target&limit=1000&after=' + seen.after);
    for (const r of doc.reports) {
      if (r.state === 'refused') seen.last = r;
      seen.after = r.seq;
    }
    if (doc.next === null) return;
  }
}

// The device's "health" reports of the revision after the last one read, the newest per container
// (docs/agent.md, "Health changes": a record only when a container's state changed, so a stack
// that started and stayed healthy has none).
async function loadHealth(get, revision, seen) {
  if (seen.revision !== revision) Object.assign(seen, { revision, after: 0, byName: {} });
  for (;;) {
    const doc = await get('/reports?kind=health&limit=1000&revision=' + enc(revision) +
      '&after=' + seen.after);
    for (const r of doc.reports) {
      if (r.container) seen.byName[r.container] = r;
      seen.after = r.seq;
    }
    if (doc.next === null) return;
  }
}

function drawContainers(list) {
  if (!list) return '';
  const rows = list.slice().sort((a, b) => a.container.localeCompare(b.container));
  return h('div', { id: 'containers' }, h('h3', {}, 'Containers'),
    rows.length ? h('ul', {}, rows.map((c) => h('li', { 'data-container': c.container },
      h('span', { class: 'mono' }, c.container), ' ', badge(c.state), ' ',
      h('span', { class: 'muted' }, (c.job || '') + (c.service ? ' / ' + c.service : '')),
      c.message ? ' ' + c.message : '', ' ', time(c.time, { relative: true, none: '' }))))
      : h('p', { class: 'muted' }, 'No health changes reported: every container of this ' +
        'revision kept running (and healthy, where it has a check) since it started.'));
}

function dl(pairs) {
  return h('dl', { class: 'facts' }, pairs.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

function drawSummary(el, d) {
  const hl = d.health || { state: 'none', jobs: {} };
  replace(el, dl([
    ['Connection', badge(d.online ? 'online' : 'offline')],
    ['Last seen', time(d.last_seen)],
    ['Agent', d.agent_version || h('span', { class: 'muted' }, 'not yet seen')],
    ['Labels', labels(d.labels)],
    ['Applied revision', h('span', { class: 'mono', title: d.applied_revision || '' },
      short(d.applied_revision))],
    ['Health', [badge(hl.state), ' ', Object.entries(hl.jobs).map(([j, s]) =>
      h('span', { class: 'job-health' }, j + ': ' + s)).flatMap((x, i) => (i ? [', ', x] : [x]))]],
    ['Created', time(d.created)],
  ]));
}

function size(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  for (; v >= 1024 && u < units.length - 1; u++) v /= 1024;
  return u ? v.toFixed(1) + ' ' + units[u] : n + ' B';
}

// The newest sample the agent sent with its sync (docs/remote.md, "Metrics while offline"):
// shown whether or not the device is online, with when it came.
function drawMetrics(el, s) {
  if (!s) {
    replace(el, h('p', { class: 'muted' }, 'No metrics sample in the last day: the agent sends ' +
      'one with its sync every metrics-interval (5 minutes by default).'));
    return;
  }
  const m = s.metrics || {};
  const none = h('span', { class: 'muted' }, 'not exposed');
  const of = (o, part) => (o ? size(o[part]) + ' ' + part + ' of ' + size(o.total) : none);
  const up = m.uptime_s;
  replace(el, dl([
    ['Sampled', time(s.time)],
    ['CPU', m.cpu_percent ?? none, m.cpu_percent == null ? '' : ' % (since the sample before)'],
    ['Memory', of(m.memory, 'available')],
    ['Disk /', of(m.disk_root, 'free')],
    ['Disk of Docker', of(m.disk_docker, 'free')],
    ['Temperature', m.temperature_mc == null ? none : (m.temperature_mc / 1000).toFixed(1) + ' °C'],
    ['Uptime', up == null ? none : (up >= 86400 ? Math.floor(up / 86400) + ' d ' : '') +
      Math.floor((up % 86400) / 3600) + ' h ' + Math.floor((up % 3600) / 60) + ' min'],
    ['Containers', m.containers ? m.containers.running + ' running of ' + m.containers.total : none],
  ].map(([k, ...v]) => [k, v])));
}

function drawStatus(el, st, ctx, refused) {
  if (!st) {
    replace(el, h('p', { class: 'muted' }, 'No active deployment.'));
    return;
  }
  const refusal = refused && refused.revision === st.deployment.hash
    ? h('p', { id: 'refused', class: 'error', role: 'alert' }, 'The device did not apply this ' +
      'revision (' + refused.message + '). It applies signed revisions only; sign it where the ' +
      'key is: m87 ' + ctx.name + ' deployment activate ' + st.deployment.id)
    : '';
  const picked = st.picked_up ? 'picked up by the device' : 'not yet picked up by the device';
  const jobs = st.jobs.map((j) => h('article', { class: 'job', 'data-job': j.id },
    h('header', {},
      h('h3', {}, j.id), ' ', h('span', { class: 'job-state', 'data-state': j.state }, badge(j.state)),
      j.enabled ? '' : h('span', { class: 'muted' }, ' (disabled)'),
      h('button', { type: 'button', class: 'small danger', onclick: () => undeploy(ctx, st, j.id) },
        'Undeploy…')),
    dl([
      ['Step', j.step || '-'], ['Attempts', j.attempts ?? '-'],
      ['Exit code', j.exit_code ?? '-'], ['When', time(j.time, { none: '-' })],
      ['Message', j.message || '-'],
    ]),
    j.steps.length ? keepOpen(ctx.openSteps, j.id, h('details', {}, h('summary', {}, j.steps.length + ' steps'),
      h('div', { class: 'scroll' }, h('table', {},
        h('thead', {}, h('tr', {}, ['Phase', 'Step', 'State', 'Attempt', 'Exit', 'Duration', 'When']
          .map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, j.steps.map((s) => [h('tr', {},
          h('td', {}, s.phase), h('th', { scope: 'row' }, s.name), h('td', {}, badge(s.state)),
          h('td', {}, s.attempt ?? ''), h('td', {}, s.exit_code ?? ''),
          h('td', {}, duration(s.duration_ms)), h('td', {}, time(s.time, { none: '' }))),
        s.output ? h('tr', {}, h('td', { colspan: 7 }, h('pre', { class: 'out' }, s.output))) : '',
        ])))))) : ''));
  replace(el, refusal,
    dl([
      ['Deployment', h('span', { class: 'mono' }, st.deployment.id)],
      ['Revision', st.deployment.revision + ' (' + short(st.deployment.hash) + ', ' + picked + ')'],
      ['Applied', st.applied_revision === st.deployment.hash ? badge('applied')
        : h('span', { class: 'mono' }, short(st.applied_revision))],
      ['Signatures', ctx.signed ? 'signed revisions only: actions are shown as CLI commands'
        : 'none seen'],
    ]),
    st.jobs.length ? jobs : h('p', { class: 'muted' }, 'This revision has no jobs.'),
    drawContainers(ctx.containers),
    (st.interactive || []).map((p) => h('div', { class: 'interactive', 'data-project': p.project },
      h('h3', {}, 'Interactive stack ', h('span', { class: 'mono' }, p.project)), ' (',
      time(p.updated, { relative: true }), ')',
      h('ul', {}, p.containers.map((c) => h('li', {}, h('span', { class: 'mono' }, c.name), ' ',
        badge(c.state), ' ', c.status || '', ' ', h('span', { class: 'muted' }, c.image)))))));
}

// A <details> that stays open across redraws while the user keeps it open.
function keepOpen(set, key, det) {
  det.open = set.has(key);
  det.addEventListener('toggle', () => { if (det.open) set.add(key); else set.delete(key); });
  return det;
}

function drawDeployments(el, list, revs, ctx) {
  if (!list.length) {
    replace(el, h('p', { class: 'muted' }, 'No deployments.'));
    return;
  }
  const items = list.slice().reverse().map((d) => {
    const det = h('details', { 'data-deployment': d.id },
      h('summary', {}, h('span', { class: 'mono' }, d.id), ' ',
        d.active ? badge('active') : '', ' revision ' + d.revision + ', jobs: ' +
        (d.jobs.join(', ') || 'none') + ', updated ', time(d.updated, { relative: true })),
      !d.active ? h('button', { type: 'button', class: 'small', 'data-action': 'activate',
        onclick: () => activate(ctx, d) }, 'Activate…') : '',
      revs[d.id] ? h('div', { class: 'scroll' }, h('table', { class: 'revisions' },
        h('thead', {}, h('tr', {}, ['Revision', 'Hash', 'Created', 'Jobs', '']
          .map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, revs[d.id].slice().reverse().map((r) => h('tr', { 'data-revision': r.revision },
          h('th', { scope: 'row' }, r.revision), h('td', { class: 'mono', title: r.hash }, short(r.hash)),
          h('td', {}, time(r.created)), h('td', {}, r.jobs.join(', ') || '-'),
          h('td', {}, h('button', { type: 'button', class: 'small', 'data-action': 'rollback',
            onclick: () => rollback(ctx, d, r) }, 'Roll back to this…'))))))) : h('p', { class: 'muted' }, 'loading revisions…'));
    if (ctx.open.has(d.id)) det.open = true;
    det.addEventListener('toggle', () => {
      if (det.open) ctx.open.add(d.id); else ctx.open.delete(d.id);
      if (det.open && !revs[d.id]) ctx.refresh();
    });
    return det;
  });
  replace(el, items);
}

function drawPolicy(el, win, pre, st) {
  const w = st && st.window;
  replace(el, dl([
    ['Windows', win.windows.length ? h('ul', {}, win.windows.map((x) => h('li', {}, x.rule)))
      : 'none: a new revision is applied at once'],
    ['Prefetch', win.prefetch],
    ['Window state', w ? [badge(w.state), w.next ? [' next ', time(w.next)] : ''] : '-'],
    ['Images to prefetch', pre.prefetch_images.length ? h('ul', {}, pre.prefetch_images.map((p) =>
      h('li', {}, h('span', { class: 'mono' }, p.image), ' ', badge(p.state),
        p.layers_total ? ' ' + p.layers_done + '/' + p.layers_total + ' layers' : '',
        p.message ? ' ' + p.message : ''))) : 'none'],
  ]));
}

// ---- actions --------------------------------------------------------------------------------

const q = (s) => (/^[A-Za-z0-9_.@:\/-]+$/.test(s) ? s : "'" + s.replace(/'/g, "'\\''") + "'");

// A device whose deployments are signed refuses an unsigned revision: the page cannot sign (the
// key stays on the operator's machine), so it shows the CLI command that signs instead.
async function signedTarget(ctx, ids) {
  if (ctx.signed) return true;
  for (const id of ids) {
    const d = await api('GET', devicePath(ctx.name, '/deployments/' + enc(id)));
    if (d.signature) return true;
  }
  return false;
}

async function act(ctx, title, text, cmd, ids, doit) {
  let signed;
  try { signed = await signedTarget(ctx, ids); } catch (e) { ctx.flash.textContent = e.message; return; }
  if (signed) {
    await confirmDialog(title, 'This device applies signed revisions only, and this page cannot ' +
      'sign: a revision made here would be refused by the device. Run this command where the ' +
      'signing key is:', { cmd, infoOnly: true });
    return;
  }
  if (!(await confirmDialog(title, text, { cmd: 'same as: ' + cmd, ok: title }))) return;
  try {
    ctx.flash.textContent = await doit();
  } catch (e) {
    ctx.flash.textContent = title + ' failed: ' + e.message;
  }
  ctx.refresh();
}

function activate(ctx, d) {
  return act(ctx, 'Activate', 'Make deployment ' + d.id + ' (revision ' + d.revision + ') the ' +
    'active deployment of ' + ctx.name + '? The device switches to it.',
  'm87 ' + q(ctx.name) + ' deployment activate ' + d.id, [d.id], async () => {
    await api('POST', devicePath(ctx.name, '/deployments/' + enc(d.id) + '/activate'), {});
    return d.id + ' is now the active deployment of ' + ctx.name + '.';
  });
}

function rollback(ctx, d, r) {
  return act(ctx, 'Roll back', 'Make a new deployment from ' + d.id + ' at revision ' +
    r.revision + ' (' + short(r.hash) + ') and activate it on ' + ctx.name + '?',
  'm87 ' + q(ctx.name) + ' deployment clone ' + d.id + '@' + r.revision + ' --active', [d.id],
  async () => {
    const nd = await api('POST', devicePath(ctx.name, '/deployments'),
      { active: true, clone: { id: d.id, revision: r.revision } });
    return 'Created ' + nd.id + ' from ' + d.id + '@' + r.revision + '; it is now active.';
  });
}

function undeploy(ctx, st, job) {
  const id = st.deployment.id;
  return act(ctx, 'Undeploy', 'Remove job ' + job + ' from deployment ' + id + '? The device ' +
    'runs its stop steps and removes it.',
  'm87 ' + q(ctx.name) + ' undeploy ' + q(job) + ' --deployment-id ' + id, [id], async () => {
    const d = await api('DELETE', devicePath(ctx.name, '/deployments/' + enc(id) + '/jobs/' + enc(job)));
    return 'Removed job ' + job + '; deployment ' + id + ' is at revision ' + d.revision + '.';
  });
}
