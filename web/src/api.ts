// The API client: openapi-fetch over the types generated from the API's own OpenAPI document
// (`npm run types`), so a renamed field or route fails the build rather than a screen. It adds
// the caller's token, renews it with the refresh token when it runs out (once, shared by the
// requests that need it), and turns every failure into an ApiError carrying the problem's
// stable `code` and `detail`. A session that cannot be renewed ends: the app goes back to
// sign-in with the reason.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./api-types";
import { clear, expired, fromAccessToken, load, save, type Session } from "./session";

export type Schemas = components["schemas"];
export type Problem = Schemas["Problem"];

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    readonly problem?: Record<string, unknown>,
  ) {
    super(detail);
  }
  /** No answer at all (offline, server down): worth trying again later. */
  get offline(): boolean {
    return this.status === 0;
  }
}

const ENDED = "kirana:session-ended";
const REASON = "kirana.ended";

/** Why this device's last session ended, for the sign-in screen (until the next sign-in). */
export const endReason = (): string | null => sessionStorage.getItem(REASON);

export function onSessionEnded(f: () => void): () => void {
  window.addEventListener(ENDED, f);
  return () => window.removeEventListener(ENDED, f);
}

/**
 * Ends the session on this device. Only the call that ends a live session says why: requests
 * still in flight when it ended fail too, and must not replace the reason with their own.
 */
export function endSession(reason: string | null): void {
  if (load() !== null) {
    if (reason) sessionStorage.setItem(REASON, reason);
    else sessionStorage.removeItem(REASON);
  }
  clear();
  window.dispatchEvent(new Event(ENDED));
}

const MESSAGES: Record<string, string> = {
  token_expired: "Your sign-in has expired. Sign in again.",
  device_revoked: "This device was removed from the store. Ask the owner to pair it again.",
  refresh_token_reused: "Your session was ended because it was used on another device. Sign in again.",
  refresh_token_invalid: "Your session has ended. Sign in again.",
  token_bad_signature: "This sign-in is no longer valid. Sign in again.",
};

async function problemOf(res: Response): Promise<ApiError> {
  let body: Record<string, unknown> = {};
  try {
    body = await res.json();
  } catch {
    /* not JSON: the status says enough */
  }
  const code = typeof body.code === "string" ? body.code : `http_${res.status}`;
  const detail = typeof body.detail === "string" ? body.detail : res.statusText || `HTTP ${res.status}`;
  return new ApiError(res.status, code, detail, body);
}

let renewing: Promise<Session> | null = null;

/**
 * A fresh access token from the refresh token, in place of `s`'s: one request however many
 * callers wait, and one at a time across the app's tabs (a Web Lock): a refresh token is spent
 * when used, and the same one sent twice would end the session as stolen. A tab that gets the
 * lock after another renewed finds the new session stored and uses it.
 */
function renew(s: Session): Promise<Session> {
  const run = async (): Promise<Session> => {
    const now = load();
    if (!now) throw new ApiError(401, "signed_out", "Signed out.");
    if (now.access !== s.access && !expired(now)) return now;
    const res = await fetch("/v1/auth/token", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ grant_type: "refresh_token", refresh_token: now.refresh }),
    });
    if (!res.ok) {
      const err = await problemOf(res);
      if (res.status === 401 || res.status === 403) endSession(MESSAGES[err.code] ?? err.detail);
      throw err;
    }
    const pair = (await res.json()) as Schemas["TokenPair"];
    const next = fromAccessToken(pair.access_token, pair.refresh_token, pair.device_id);
    save(next);
    return next;
  };
  renewing ??= (async () => {
    try {
      return await (navigator.locks ? navigator.locks.request("kirana-renew", run) : run());
    } finally {
      renewing = null;
    }
  })();
  return renewing;
}

/** The session to call with, renewed first when its access token has run out. */
async function sessionForCall(): Promise<Session | null> {
  const s = load();
  if (!s) return null;
  if (!expired(s)) return s;
  if (s.refresh) return renew(s);
  endSession(MESSAGES.token_expired);
  throw new ApiError(401, "token_expired", MESSAGES.token_expired);
}

/**
 * Renews the access token when it has run out, without waiting for a request to need it: a
 * screen that makes no call (the scanner, offline) still learns that its device was revoked
 * or its session ended. Offline, it waits for the next try.
 */
export async function keepFresh(): Promise<void> {
  try {
    await sessionForCall();
  } catch {
    /* ended (the app is back at sign-in) or offline (tried again later) */
  }
}

const auth: Middleware = {
  async onRequest({ request }) {
    if (request.url.includes("/v1/auth/")) return request;
    const s = await sessionForCall();
    if (s) request.headers.set("Authorization", `Bearer ${s.access}`);
    return request;
  },
  async onResponse({ request, response }) {
    if (response.status !== 401 || request.url.includes("/v1/auth/")) return response;
    const err = await problemOf(response.clone());
    const s = load();
    // Expired early (a clock off) and renewable: renew once and ask again.
    if (s?.refresh && err.code === "token_expired") {
      const next = await renew(s);
      const again = new Request(request, { headers: new Headers(request.headers) });
      again.headers.set("Authorization", `Bearer ${next.access}`);
      return fetch(again);
    }
    endSession(MESSAGES[err.code] ?? `${err.detail} Sign in again.`);
    return response;
  },
};

export const client = createClient<paths>({ baseUrl: location.origin });
client.use(auth);

/** The body of a successful answer, or the ApiError. Network failures are `offline`. */
export async function call<T>(p: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  let r: { data?: T; error?: unknown; response: Response };
  try {
    r = await p;
  } catch (e) {
    if (e instanceof ApiError) throw e;
    throw new ApiError(0, "offline", "No connection to the server. Check the network and try again.");
  }
  if (r.response.ok) return r.data as T;
  const body = (r.error ?? {}) as Record<string, unknown>;
  throw new ApiError(
    r.response.status,
    typeof body.code === "string" ? body.code : `http_${r.response.status}`,
    typeof body.detail === "string" ? body.detail : r.response.statusText,
    body,
  );
}

/** A sign-in request (no token): the token pair, saved as this device's session. */
export async function signIn(body: Record<string, string>): Promise<Session> {
  let res: Response;
  try {
    res = await fetch("/v1/auth/token", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "offline", "No connection to the server. Check the network and try again.");
  }
  if (!res.ok) throw await problemOf(res);
  const pair = (await res.json()) as Schemas["TokenPair"];
  const s = fromAccessToken(pair.access_token, pair.refresh_token, pair.device_id);
  save(s);
  return s;
}

/** Signs out here: the refresh token is spent on the server too when there is one. */
export async function signOut(): Promise<void> {
  const s = load();
  if (s?.refresh) {
    await fetch("/v1/auth/sign-out", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: s.refresh }),
    }).catch(() => undefined);
  }
  endSession(null);
}

/** A message for a person: the problem's detail, with what to do when offline. */
export function messageOf(e: unknown): string {
  if (e instanceof ApiError) return e.detail;
  if (e instanceof Error) return e.message;
  return String(e);
}
