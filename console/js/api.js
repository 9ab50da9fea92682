// The console's only way to the platform: the public API through the gateway, same origin.
//
// The access token lives in this module's memory only (never localStorage or a readable cookie). The
// refresh token is an HttpOnly, SameSite=Strict cookie scoped to /v1/auth/refresh, which this code can
// neither read nor send anywhere else; a refresh sends the `X-CSRF` header the API requires for it. On a
// 401 the request is retried once after a refresh; a failed refresh ends the session.

let accessToken = null;
let expiresAt = 0;
let refreshing = null;
const listeners = new Set();

/** An RFC 9457 problem (or a network failure, status 0) as an Error. */
export class ApiError extends Error {
  constructor(status, problem = {}) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.errors = problem.errors || [];
  }
}

// Where a field error's `loc` starts: the part of the request, left out of what the person reads.
const PARTS = new Set(["body", "query", "path", "header"]);

/**
 * What a failure says to the person: the problem's detail (else its title), then the field errors the
 * API sends in `errors`, each as "where: what" (`loc` without its leading "body"), leaving out any the
 * detail already says. Any other error (not an API problem): its message.
 */
export function problemText(error) {
  const message = error?.message || "";
  const where = (error?.errors || [])
    .map((e) => {
      const loc = (e.loc || []).map(String);
      const at = (PARTS.has(loc[0]) ? loc.slice(1) : loc).join(".");
      const what = e.msg || e.detail || e.message || "";
      if (what && message.includes(what)) return "";
      return at && what ? `${at}: ${what}` : what || at;
    })
    .filter(Boolean)
    .join("; ");
  return where ? `${message} (${where})` : message;
}

/** Called with no argument when the session ends (logout, revoked or expired refresh). */
export function onSessionEnd(fn) {
  listeners.add(fn);
}

function ended() {
  accessToken = null;
  expiresAt = 0;
  for (const fn of listeners) fn();
}

function keep(body) {
  accessToken = body.access_token;
  expiresAt = Date.now() + (body.expires_in - 30) * 1000;
}

export function signedIn() {
  return accessToken !== null;
}

async function problemOf(response) {
  const type = response.headers.get("content-type") || "";
  if (type.includes("json")) {
    try {
      return await response.json();
    } catch {
      /* fall through */
    }
  }
  return { title: response.statusText, status: response.status };
}

/** Log in with e-mail and password; the refresh token arrives as the HttpOnly cookie. */
export async function login(email, password, tenantId = null) {
  const body = { email, password, session: "cookie" };
  if (tenantId) body.tenant_id = tenantId;
  const response = await fetch("/v1/auth/token", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  if (!response.ok) throw new ApiError(response.status, await problemOf(response));
  keep(await response.json());
}

/** A new access token from the refresh cookie (one at a time); false when there is no session. */
export function refresh() {
  refreshing ??= (async () => {
    try {
      const response = await fetch("/v1/auth/refresh", {
        method: "POST",
        headers: { "X-CSRF": "1" },
        credentials: "same-origin",
      });
      if (!response.ok) return false;
      keep(await response.json());
      return true;
    } catch {
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

export async function logout() {
  try {
    if (accessToken) await request("/v1/auth/logout", { method: "POST" });
  } finally {
    ended();
  }
}

async function bearer() {
  if (accessToken && Date.now() > expiresAt) await refresh();
  return accessToken;
}

/**
 * request("/v1/conversations?limit=50") → parsed JSON (or text for CSV, null for 204).
 * Options: method, body (JSON-encoded), headers, signal, accept ("text/csv" answers text),
 * idempotencyKey (sent as `Idempotency-Key` on writes so a retried click does not act twice).
 */
export async function request(path, { method = "GET", body, headers = {}, signal, accept, idempotencyKey } = {}) {
  const send = async () => {
    const token = await bearer();
    const h = { ...headers };
    if (token) h.Authorization = `Bearer ${token}`;
    if (body !== undefined) h["Content-Type"] = "application/json";
    if (accept) h.Accept = accept;
    if (idempotencyKey) h["Idempotency-Key"] = idempotencyKey;
    return fetch(path, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      credentials: "same-origin",
    });
  };
  let response;
  try {
    response = await send();
    if (response.status === 401 && (await refresh())) response = await send();
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, { title: "Network error", detail: String(error.message || error) });
  }
  if (response.status === 401) {
    ended();
    throw new ApiError(401, await problemOf(response));
  }
  if (!response.ok) throw new ApiError(response.status, await problemOf(response));
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response.text();
}

/** Every item of a paged list (`{items, next_cursor}`), up to `max` items. */
export async function all(path, { max = 1000, signal } = {}) {
  const items = [];
  let cursor = null;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const page = await request(cursor ? `${path}${sep}cursor=${encodeURIComponent(cursor)}` : path, { signal });
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < max);
  return items;
}

/**
 * Follow a server-sent event stream the browser way with the bearer header (fetch streaming, not
 * EventSource, which cannot send one). Calls onEvent({id, event, data}) per event, data parsed as JSON;
 * reconnects with `Last-Event-ID` after a drop until `signal` aborts.
 */
export async function stream(path, onEvent, { signal, onOpen } = {}) {
  let lastId = null;
  let delay = 500;
  while (!signal?.aborted) {
    try {
      const token = await bearer();
      const headers = { Accept: "text/event-stream", Authorization: `Bearer ${token}` };
      if (lastId) headers["Last-Event-ID"] = lastId;
      const response = await fetch(path, { headers, signal, credentials: "same-origin" });
      if (response.status === 401) {
        if (!(await refresh())) return ended();
        continue;
      }
      if (!response.ok || !response.body) throw new ApiError(response.status, await problemOf(response));
      delay = 500;
      onOpen?.();
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const event = parseBlock(block);
          if (!event) continue;
          if (event.id) lastId = event.id;
          onEvent(event);
        }
      }
    } catch (error) {
      if (signal?.aborted) return;
      if (error instanceof ApiError && error.status && error.status < 500) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 10000);
  }
}

function parseBlock(block) {
  const event = { id: null, event: "message", data: "" };
  let any = false;
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const name = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (name === "data") event.data += (event.data ? "\n" : "") + value;
    else if (name === "id") event.id = value;
    else if (name === "event") event.event = value;
    any = true;
  }
  if (!any) return null;
  try {
    event.data = JSON.parse(event.data);
  } catch {
    /* keep the text */
  }
  return event;
}

/** A fresh idempotency key for one user action. */
export function newKey() {
  return crypto.randomUUID();
}
