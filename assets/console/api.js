// The public API on this page's own origin, called with the pasted bearer token.
// The token lives in this tab's sessionStorage only; it travels in the Authorization header and
// never in a URL, a cookie or a log line. Every failure becomes an ApiFailure with a message a
// person can act on.

const TOKEN_KEY = 'invitation-gateway.console.token';

// The API is a sibling of the console (`/console/` -> `/v1/`), wherever the gateway is mounted.
const API_BASE = new URL('../v1/', document.baseURI);

/** The token of this tab, or '' when none was pasted. */
export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  } catch {
    return '';
  }
}

/** Keeps `token` for this tab only. */
export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

/** Forgets this tab's token. */
export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** What the token says about itself (unverified: the gateway checks it), or null. */
export function describeToken(token) {
  try {
    const part = token.split('.')[1];
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '='));
    const claims = JSON.parse(json);
    const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean)
      : Array.isArray(claims.scp) ? claims.scp : [];
    return {
      subject: typeof claims.sub === 'string' ? claims.sub : '',
      scopes,
      expiresAt: typeof claims.exp === 'number' ? new Date(claims.exp * 1000) : null,
    };
  } catch {
    return null;
  }
}

/** A failed call: the HTTP status (0 when there was no answer) and the problem document. */
export class ApiFailure extends Error {
  constructor({ kind, status = 0, code = '', title = '', detail = '', requestId = '', retryAfter = null }) {
    super(detail || title || kind);
    this.kind = kind;
    this.status = status;
    this.code = code;
    this.title = title;
    this.detail = detail;
    this.requestId = requestId;
    this.retryAfter = retryAfter;
  }

  /** The endpoint does not exist on this gateway (an older or partial version). */
  get notAvailable() {
    return this.status === 404 || this.status === 501;
  }
}

/** Retry-After in seconds (it may be a number of seconds or an HTTP date), or null. */
function retryAfterSeconds(value) {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.round((at - Date.now()) / 1000));
}

async function failureOf(response) {
  let problem = {};
  try {
    problem = await response.json();
  } catch {
    // Not a problem document (a proxy's page): the status says enough.
  }
  return new ApiFailure({
    kind: 'http',
    status: response.status,
    code: typeof problem.code === 'string' ? problem.code : '',
    title: typeof problem.title === 'string' ? problem.title : response.statusText,
    detail: typeof problem.detail === 'string' ? problem.detail : '',
    requestId: typeof problem.requestId === 'string' ? problem.requestId : (response.headers.get('x-request-id') || ''),
    retryAfter: retryAfterSeconds(response.headers.get('retry-after')),
  });
}

/**
 * Calls `path` (relative to /v1/) with the token; resolves to the Response when it is 2xx.
 * `body` is sent as JSON; `raw` (a Blob or bytes) as it is, with `contentType`.
 */
export async function call(path, { method = 'GET', accept = 'application/json', body, raw, contentType, signal } = {}) {
  const token = getToken();
  if (!token) throw new ApiFailure({ kind: 'no-token' });
  const headers = { Accept: accept, Authorization: `Bearer ${token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (raw !== undefined) headers['Content-Type'] = contentType;
  let response;
  try {
    response = await fetch(new URL(path, API_BASE), {
      method,
      headers,
      body: raw !== undefined ? raw : body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
      redirect: 'error',
      referrerPolicy: 'no-referrer',
      signal,
    });
  } catch (error) {
    if (error && error.name === 'AbortError') throw error;
    throw new ApiFailure({ kind: 'network' });
  }
  if (!response.ok) throw await failureOf(response);
  return response;
}

/** GET `path` as JSON. */
export async function getJson(path, options = {}) {
  const response = await call(path, options);
  return response.json();
}

/** POST `path` (no body, or `options.body` as JSON, or `options.raw`); the answer as JSON when there is one. */
export async function post(path, options = {}) {
  const response = await call(path, { ...options, method: 'POST' });
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

/** A query string from the entries whose value is not empty. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.append(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/**
 * What to tell a person about `failure`; `what` names the thing that could not be loaded;
 * `autoRetry` says that the page itself tries again after the Retry-After.
 */
export function explain(failure, what, autoRetry = false) {
  if (!(failure instanceof ApiFailure)) {
    return { title: `Could not load ${what}`, text: String(failure && failure.message || failure), retry: true };
  }
  const ref = failure.requestId ? ` (request id ${failure.requestId})` : '';
  const wait = failure.retryAfter === null ? ' Retry later.'
    : autoRetry ? ` The console tries again in ${failure.retryAfter} s.` : ` Retry after ${failure.retryAfter} s.`;
  switch (failure.kind) {
    case 'no-token':
      return { title: 'No token yet', text: 'Paste a bearer token above (as in Swagger UI\'s Authorize) to use the console.', token: true };
    case 'network':
      return { title: 'The gateway cannot be reached', text: 'No answer from the gateway: check your connection or whether it is running, then retry.', retry: true };
    default:
      break;
  }
  const detail = failure.detail ? ` ${failure.detail}` : '';
  switch (failure.status) {
    case 401:
      return { title: 'Your token was refused (401)', text: `The token is expired, malformed or not meant for this gateway. Paste a fresh token above.${detail}${ref}`, token: true };
    case 403:
      return { title: 'Your token lacks a scope (403)', text: `The token is valid but does not allow this.${detail} Ask for a token with that scope.${ref}` };
    case 404:
    case 501:
      return failure.notAvailable
        ? { title: `${capitalise(what)}: not available`, text: `This gateway does not offer ${what} (${failure.status}).${ref}`, unavailable: true }
        : { title: 'Not found', text: `${detail.trim() || 'There is nothing here.'}${ref}` };
    case 429:
      return { title: 'Too many requests (429)', text: `${detail.trim() || 'A limit was reached.'}${wait}${ref}`, retry: true };
    case 503: {
      const who = failure.code === 'store_unavailable' ? 'The gateway\'s store is unavailable'
        : failure.code === 'upstream_unavailable' ? 'Google is unavailable'
          : failure.code === 'not_ready' ? 'The gateway is not ready' : 'The service is unavailable';
      return { title: `${who} (503)`, text: `${detail.trim()}${wait}${ref}`, retry: true };
    }
    default:
      return { title: `${failure.title || 'Request failed'} (${failure.status})`, text: `${detail.trim()}${ref}`, retry: failure.status >= 500 };
  }
}

function capitalise(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
