// Who is signed in on this device: the access token, the refresh token when the sign-in gave
// one (a phone code or a device pairing does; a pasted `catalog token` does not), and what the
// token says about its holder. Kept in localStorage, the device's own storage, and nowhere else.
//
// When a token runs out is judged from the sign-in's `expires_in` against this device's clock
// at the time, never from the token's `exp` against it: a phone's clock may be minutes off.
// A pasted token has no `expires_in`: the server says when it has run out.

import type { components } from "./api-types";

export type Role = "admin" | "reviewer" | "store_owner" | "scanner";

export interface Session {
  access: string;
  refresh?: string;
  role: Role;
  sub: string;
  stores: string[];
  /** When the access token runs out, by this device's clock (ms); only with a refresh token. */
  expiresAt?: number;
  deviceId?: string;
}

const KEY = "kirana.session";
const STORE = "kirana.store";
const ENDED = "kirana.ended";
const ROLES: Role[] = ["admin", "reviewer", "store_owner", "scanner"];
/** Renewed this long before it runs out, so no request leaves with a token about to. */
const MARGIN_MS = 20_000;

/** What a JWT's payload says, or an error a person can act on. Not verified: the API does that. */
export function fromAccessToken(token: string): Session {
  const parts = token.trim().split(".");
  if (parts.length !== 3) throw new Error("That is not a sign-in token (it should have three parts separated by dots).");
  let claims: { sub?: unknown; role?: unknown; store_ids?: unknown };
  try {
    const b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))));
  } catch {
    throw new Error("That token cannot be read. Copy it again, whole.");
  }
  const role = claims.role as Role;
  if (!ROLES.includes(role) || typeof claims.sub !== "string") throw new Error("That token is not one of this catalog's.");
  const stores = Array.isArray(claims.store_ids) ? claims.store_ids.filter((s): s is string => typeof s === "string") : [];
  return { access: token.trim(), role, sub: claims.sub, stores };
}

/** The session a sign-in or a renewal answered. */
export function fromTokenPair(pair: components["schemas"]["TokenPair"], now = Date.now()): Session {
  return {
    ...fromAccessToken(pair.access_token),
    refresh: pair.refresh_token,
    expiresAt: now + pair.expires_in * 1000,
    deviceId: pair.device_id ?? undefined,
  };
}

export function load(): Session | null {
  try {
    const raw = localStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

/** Keeps `s` as this device's session (a new sign-in forgets why the last one ended). */
export function save(s: Session): void {
  localStorage.setItem(KEY, JSON.stringify(s));
  sessionStorage.removeItem(ENDED);
}

/** Forgets the session; `reason` is what the sign-in screen will say. */
export function clear(reason: string | null): void {
  localStorage.removeItem(KEY);
  if (reason) sessionStorage.setItem(ENDED, reason);
  else sessionStorage.removeItem(ENDED);
}

/** Why this device's last session ended, for the sign-in screen (until the next sign-in). */
export const endReason = (): string | null => sessionStorage.getItem(ENDED);

/** Whether the access token should be renewed before it is used (only a renewable one is). */
export function needsRenewal(s: Session, now = Date.now()): boolean {
  return !!s.refresh && s.expiresAt !== undefined && s.expiresAt <= now + MARGIN_MS;
}

export const canReview = (s: Session) => s.role === "admin" || s.role === "reviewer";
export const ownsStores = (s: Session) => s.role === "admin" || s.role === "store_owner";

/** The store the screens show: the one picked last, else the token's first. */
export function currentStore(s: Session): string | null {
  const picked = localStorage.getItem(STORE);
  if (picked && (s.role === "admin" || s.stores.includes(picked))) return picked;
  return s.stores[0] ?? null;
}

export function pickStore(store: string): void {
  localStorage.setItem(STORE, store);
}
