// The API client: openapi-fetch over the types generated from the API's own OpenAPI document
// (`npm run types`), so a renamed field or route fails the build rather than a screen. It adds
// the caller's token, renews it with the refresh token as it runs out (one renewal at a time,
// across tabs too), and turns every failure into an ApiError carrying the problem's stable
// `code` and `detail`. A session that cannot be renewed ends: the app goes back to sign-in
// with the reason.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./api-types";
import { clear, fromAccessToken, fromTokenPair, load, needsRenewal, save, type Session } from "./session";

export type Schemas = components["schemas"];

const OFFLINE = "No connection to the server. Check the network and try again.";
/** How long a call under a lock (a renewal, a sign-out, a batch of scans) may take. */
export const LOCKED_CALL_MS = 15_000;

/** A random UUID, also where the browser withholds `crypto.randomUUID` (plain http on a LAN). */
export function newId(): string {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
  ) {
    super(detail);
  }
  /** No answer at all (offline, server down): worth trying again later. */
  get offline(): boolean {
    return this.status === 0;
  }
}

const offline = () => new ApiError(0, "offline", OFFLINE);

/** An answer's problem as an ApiError (a body that is not a problem says its status). */
function errorOf(status: number, body: unknown): ApiError {
  const b = (body ?? {}) as Record<string, unknown>;
  return new ApiError(
    status,
    typeof b.code === "string" ? b.code : `http_${status}`,
    typeof b.detail === "string" && b.detail ? b.detail : `The server answered HTTP ${status}. Try again.`,
  );
}

async function problemOf(res: Response): Promise<ApiError> {
  return errorOf(res.status, await res.json().catch(() => null));
}

const ENDED = "kirana:session-ended";

export function onSessionEnded(f: () => void): () => void {
  window.addEventListener(ENDED, f);
  return () => window.removeEventListener(ENDED, f);
}

/**
 * Ends the session on this device. Only the call that ends a live session says why: requests
 * still in flight when it ended fail too, and must not replace the reason with their own.
 */
function endSession(reason: string | null): void {
  if (load() !== null) clear(reason);
  window.dispatchEvent(new Event(ENDED));
}

const MESSAGES: Record<string, string> = {
  token_expired: "Your sign-in has expired. Sign in again.",
  device_revoked: "This device was removed from the store. Ask the owner to pair it again.",
  refresh_token_reused: "Your session was ended because it was used on another device. Sign in again.",
  refresh_token_invalid: "Your session has ended. Sign in again.",
  token_bad_signature: "This sign-in is no longer valid. Sign in again.",
};

/** Runs `f` while no other tab of the app renews or signs out (a Web Lock, where there are). */
function exclusively<T>(f: () => Promise<T>): Promise<T> {
  return navigator.locks ? (navigator.locks.request("kirana-session", f) as Promise<T>) : f();
}

let renewing: Promise<Session> | null = null;

/**
 * A fresh access token from the refresh token, in place of `s`'s: one request however many
 * callers wait, and one at a time across the app's tabs: a refresh token is spent when used,
 * and the same one sent twice would end the session as stolen. A tab that gets the lock after
 * another renewed finds the new session stored and uses it; a renewal that finds the session
 * signed out meanwhile keeps nothing.
 */
function renew(s: Session): Promise<Session> {
  const run = async (): Promise<Session> => {
    const now = load();
    if (!now?.refresh) throw new ApiError(401, "signed_out", "Signed out.");
    if (now.access !== s.access && !needsRenewal(now)) return now;
    let res: Response;
    try {
      res = await fetch("/v1/auth/token", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ grant_type: "refresh_token", refresh_token: now.refresh }),
        signal: AbortSignal.timeout(LOCKED_CALL_MS),
      });
    } catch {
      throw offline();
    }
    if (!res.ok) {
      const err = await problemOf(res);
      if (res.status === 401 || res.status === 403) endSession(MESSAGES[err.code] ?? err.detail);
      throw err;
    }
    const next = fromTokenPair(await res.json());
    if (load()?.refresh !== now.refresh) throw new ApiError(401, "signed_out", "Signed out.");
    save(next);
    return next;
  };
  renewing ??= exclusively(run).finally(() => {
    renewing = null;
  });
  return renewing;
}

/** The session to call with, renewed first when its access token is about to run out. */
async function sessionForCall(): Promise<Session | null> {
  const s = load();
  if (s && needsRenewal(s)) return renew(s);
  return s;
}

/**
 * Renews the access token as it runs out, without waiting for a request to need it: a screen
 * that makes no call (the scanner, offline) still learns that its device was revoked or its
 * session ended. Offline, it waits for the next try.
 */
export async function keepFresh(): Promise<void> {
  try {
    await sessionForCall();
  } catch {
    /* ended (the app is back at sign-in) or offline (tried again later) */
  }
}

/** Whose a token is (`sub`), when it can be read. */
function subOf(token: string | undefined): string | undefined {
  try {
    return token ? fromAccessToken(token).sub : undefined;
  } catch {
    return undefined;
  }
}

const isAuth = (r: Request) => new URL(r.url).pathname.startsWith("/v1/auth/");
/** Each request as it was before it was sent (its body unread), to send again once renewed. */
const unsent = new WeakMap<Request, Request>();

const auth: Middleware = {
  async onRequest({ request }) {
    if (isAuth(request)) return request;
    const s = await sessionForCall();
    if (s) request.headers.set("Authorization", `Bearer ${s.access}`);
    unsent.set(request, request.clone());
    return request;
  },
  async onResponse({ request, response }) {
    if (response.status !== 401 || isAuth(request)) return response;
    const err = await problemOf(response.clone());
    const s = load();
    const again = (access: string) => {
      const r = (unsent.get(request) ?? request).clone();
      r.headers.set("Authorization", `Bearer ${access}`);
      return fetch(r);
    };
    const sent = request.headers.get("Authorization")?.replace(/^Bearer /, "");
    if (s && sent !== s.access) {
      // The session changed while this was on its way: the same person's newer token is
      // used; another person's never (their request fails as it is).
      return s.sub === subOf(sent) ? again(s.access) : response;
    }
    // Run out sooner than this device's clock said: renewed once, and asked again.
    if (s?.refresh && err.code === "token_expired") return again((await renew(s)).access);
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
    throw offline();
  }
  if (r.response.ok) return r.data as T;
  throw errorOf(r.response.status, r.error);
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
    throw offline();
  }
  if (!res.ok) throw await problemOf(res);
  const s = fromTokenPair(await res.json());
  save(s);
  return s;
}

/** Signs in with a pasted token, once the API accepted it (it alone knows whether it runs out). */
export async function signInWithToken(token: string): Promise<Session> {
  const s = fromAccessToken(token);
  let res: Response;
  try {
    res = await fetch("/v1/products?limit=1", { headers: { Authorization: `Bearer ${s.access}` } });
  } catch {
    throw offline();
  }
  if (res.status === 401) {
    const err = await problemOf(res);
    throw new ApiError(
      401,
      err.code,
      err.code === "token_expired" ? "This token has expired. Ask for a new one." : `This token is not accepted: ${err.detail}`,
    );
  }
  save(s);
  return s;
}

/** Signs out here: the refresh token is spent on the server too when there is one. */
export async function signOut(): Promise<void> {
  await exclusively(async () => {
    const s = load();
    if (s?.refresh) {
      // Signed out here whatever the server says, or when it does not answer in time.
      await fetch("/v1/auth/sign-out", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: s.refresh }),
        signal: AbortSignal.timeout(LOCKED_CALL_MS),
      }).catch(() => undefined);
    }
    endSession(null);
  });
}

/** A message for a person: the problem's detail, or the error's own. */
export function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
