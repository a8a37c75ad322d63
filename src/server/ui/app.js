// The dashboard's entry: sign-in, the connection banner, and a router over location.hash
// (#/devices, #/devices/NAME, #/fleets, #/fleets/NAME/rollouts/ID). Each page is a module
// whose render(view, params) returns a function that stops its live updates.
import { api, token, onConnection, setUnauthorizedHandler } from './api.js';
import * as devices from './devices.js';
import * as device from './device.js';
import * as fleets from './fleets.js';
import * as rollout from './rollout.js';

const $ = (id) => document.getElementById(id);
let stop = null;

function showSignin(message) {
  if (stop) { stop(); stop = null; }
  $('view').replaceChildren();
  $('nav').hidden = true;
  $('signout').hidden = true;
  $('signin').hidden = false;
  $('signin-error').textContent = message || '';
  $('token').focus();
}

async function signin(ev) {
  ev.preventDefault();
  const t = $('token').value.trim();
  $('signin-error').textContent = '';
  try {
    await api('GET', '/v1/devices?limit=1', undefined, { token: t });
  } catch (e) {
    $('signin-error').textContent = e.status === 401
      ? 'Sign-in refused: the server does not know this token (' + e.message + ').'
      : e.status === 429
        ? 'Too many failed sign-ins from this address: wait a minute (' + e.message + ').'
        : 'Sign-in failed: ' + e.message + '.';
    return;
  }
  token.set(t);
  $('token').value = '';
  route();
}

function route() {
  if (!token.get()) { showSignin(); return; }
  $('signin').hidden = true;
  $('nav').hidden = false;
  $('signout').hidden = false;
  if (stop) { stop(); stop = null; }
  const hash = location.hash || '#/devices';
  const view = $('view');
  view.replaceChildren();
  let m;
  for (const a of document.querySelectorAll('#nav a')) a.removeAttribute('aria-current');
  if ((m = /^#\/devices\/([^/?]+)$/.exec(hash))) {
    $('nav-devices').setAttribute('aria-current', 'page');
    stop = device.render(view, decodeURIComponent(m[1]));
  } else if ((m = /^#\/fleets\/([^/?]+)\/rollouts\/([^/?]+)$/.exec(hash))) {
    $('nav-fleets').setAttribute('aria-current', 'page');
    stop = rollout.render(view, decodeURIComponent(m[1]), decodeURIComponent(m[2]));
  } else if (hash.startsWith('#/fleets')) {
    $('nav-fleets').setAttribute('aria-current', 'page');
    stop = fleets.render(view);
  } else {
    $('nav-devices').setAttribute('aria-current', 'page');
    stop = devices.render(view, new URLSearchParams(hash.split('?')[1] || ''));
  }
}

onConnection((s) => {
  const c = $('conn');
  c.hidden = s === 'ok';
  c.textContent = s === 'ok' ? '' : 'Reconnecting: the server does not answer…';
  document.body.classList.toggle('offline', s !== 'ok');
});

setUnauthorizedHandler((msg) => {
  token.clear();
  showSignin('The server no longer accepts the token (' + msg + '): sign in again.');
});

$('signin-form').addEventListener('submit', signin);
$('signout').addEventListener('click', () => { token.clear(); showSignin(); });
window.addEventListener('hashchange', route);
route();
