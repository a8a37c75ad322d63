// The JSON API of docs/api.md, called with the admin token as the Authorization header (as the
// CLI does). The token lives in sessionStorage only: never in a URL, a cookie or localStorage.
const KEY = 'm87.token';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (t) => sessionStorage.setItem(KEY, t),
  clear: () => sessionStorage.removeItem(KEY),
};

// Connection state: 'ok' or 'down' (the server did not answer); listeners redraw the banner.
const listeners = new Set();
let state = 'ok';
export function onConnection(fn) { listeners.add(fn); }
function setState(s) {
  if (s === state) return;
  state = s;
  for (const fn of listeners) fn(s);
}
export function connectionState() { return state; }

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

export async function api(method, path, body, opts = {}) {
  const headers = { Authorization: 'Bearer ' + (opts.token ?? token.get() ?? '') };
  const init = { method, headers, cache: 'no-store', credentials: 'omit', signal: opts.signal };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  // a GET is tried once more when the fetch itself failed: the browser drops requests in flight
  // when the host's network changes (a VPN or a Wi-Fi coming up), which is no outage
  for (let attempt = 0; ; attempt++) {
    try {
      resp = await fetch(path, init);
      break;
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      if (method === 'GET' && attempt === 0) {
        await new Promise((r) => setTimeout(r, 250));
        continue;
      }
      setState('down');
      throw new ApiError(0, 'unreachable', 'the server does not answer');
    }
  }
  if (resp.status === 502 || resp.status === 503 || resp.status === 504) {
    setState('down');
  } else {
    setState('ok');
  }
  if (resp.status === 204) return null;
  let doc = null;
  try { doc = await resp.json(); } catch (e) { doc = null; }
  if (!resp.ok) {
    const err = doc && doc.error ? doc.error : { code: 'http', message: 'HTTP ' + resp.status };
    if (resp.status === 401 && !opts.token) onUnauthorized(err.message);
    throw new ApiError(resp.status, err.code, err.message);
  }
  return doc;
}

export const enc = encodeURIComponent;
export const devicePath = (name, rest = '') => '/v1/devices/' + enc(name) + rest;

// Run fn now and again every ms after it settles, until the returned stop is called. A failed
// run is retried on the same period (the banner says the server is away meanwhile); a
// refused one (4xx) is not.
export function poll(fn, ms) {
  let timer = null;
  let stopped = false;
  const ctl = new AbortController();
  const run = async () => {
    try {
      await fn(ctl.signal);
    } catch (e) {
      // a refusal (a bad filter, a device gone) stays one until the page asks otherwise
      if (e.status >= 400 && e.status < 500 && e.status !== 429) stopped = true;
    }
    if (!stopped) timer = setTimeout(run, ms);
  };
  run();
  return () => { stopped = true; clearTimeout(timer); ctl.abort(); };
}
