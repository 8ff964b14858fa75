// The JSON API, with the signed-in token as the bearer header. The token lives in sessionStorage:
// it is gone when the tab closes, and never appears in a URL.

const TOKEN = 'keelson.token';

export class APIError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const session = {
  get token() { return sessionStorage.getItem(TOKEN); },
  identity: null,
  /** Whether the signed-in token may release, approve and the like. */
  get canDeploy() { return this.identity?.role === 'deployer' || this.identity?.role === 'admin'; },
};

/** Calls the API; resolves to the answer's JSON, or throws an APIError saying what went wrong. */
export async function call(method, path, body, token = session.token) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method, headers, cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new APIError(0, 'unreachable', `the server did not answer (${error.message})`);
  }
  const said = Date.parse(response.headers.get('Date') ?? '');
  if (Number.isFinite(said)) clockOffset = said - Date.now();
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!response.ok) {
    const problem = data?.error;
    if (response.status === 401 && token === session.token) {
      window.dispatchEvent(new CustomEvent('keelson:unauthorized', { detail: problem?.message }));
    }
    throw new APIError(response.status, problem?.code ?? `http_${response.status}`,
      problem?.message ?? `the server answered ${response.status} ${response.statusText}`);
  }
  return data;
}

let clockOffset = 0;

/**
 * The server's time now, in milliseconds: the browser's clock corrected by the `Date` header of the
 * last answer (to the second), so that "the last hour" means the server's last hour even when the
 * two clocks disagree.
 */
export function serverNow() {
  return Date.now() + clockOffset;
}

/** Checks a token with `/api/v1/whoami`; keeps it for this tab when the server accepts it. */
export async function signIn(token) {
  const identity = await call('GET', '/api/v1/whoami', undefined, token);
  sessionStorage.setItem(TOKEN, token);
  session.identity = identity;
  return identity;
}

/** The identity of the kept token, or null when there is none or the server refuses it. */
export async function resume() {
  if (!session.token) return null;
  try {
    session.identity = await call('GET', '/api/v1/whoami');
    return session.identity;
  } catch (error) {
    if (error.status === 401) signOut();
    throw error;
  }
}

export function signOut() {
  sessionStorage.removeItem(TOKEN);
  session.identity = null;
}

/** Path segments of an instance `APP/SERVICE@CHANNEL`, for API paths. */
export function instancePath(instance) {
  const [application, rest] = [instance.slice(0, instance.indexOf('/')), instance.slice(instance.indexOf('/') + 1)];
  const at = rest.lastIndexOf('@');
  return [application, rest.slice(0, at), rest.slice(at + 1)].map(encodeURIComponent).join('/');
}
