// Who is signed in on this device: the access token, the refresh token when the sign-in gave
// one (a phone code or a device pairing does; a pasted `catalog token` does not), and what the
// token says about its holder. Kept in localStorage, the device's own storage, and nowhere else.

export type Role = "admin" | "reviewer" | "store_owner" | "scanner";

export interface Session {
  access: string;
  refresh?: string;
  role: Role;
  sub: string;
  stores: string[];
  /** The access token's expiry, seconds since the epoch. */
  exp: number;
  deviceId?: string;
}

const KEY = "kirana.session";
const ROLES: Role[] = ["admin", "reviewer", "store_owner", "scanner"];

/** What a JWT's payload says, or an error a person can act on. Not verified: the API does that. */
export function fromAccessToken(token: string, refresh?: string, deviceId?: string | null): Session {
  const parts = token.trim().split(".");
  if (parts.length !== 3) throw new Error("That is not a sign-in token (it should have three parts separated by dots).");
  let claims: { sub?: unknown; role?: unknown; store_ids?: unknown; exp?: unknown };
  try {
    const b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
    claims = JSON.parse(json);
  } catch {
    throw new Error("That token cannot be read. Copy it again, whole.");
  }
  const role = claims.role as Role;
  if (!ROLES.includes(role) || typeof claims.sub !== "string" || typeof claims.exp !== "number") {
    throw new Error("That token is not one of this catalog's.");
  }
  const stores = Array.isArray(claims.store_ids) ? claims.store_ids.filter((s): s is string => typeof s === "string") : [];
  return { access: token.trim(), refresh, role, sub: claims.sub, stores, exp: claims.exp, deviceId: deviceId ?? undefined };
}

export function load(): Session | null {
  try {
    const raw = localStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

export function save(s: Session): void {
  localStorage.setItem(KEY, JSON.stringify(s));
  sessionStorage.removeItem("kirana.ended");
}

export function clear(): void {
  localStorage.removeItem(KEY);
}

/** Whether the access token has (nearly) run out. */
export function expired(s: Session, now = Date.now()): boolean {
  return s.exp * 1000 <= now + 20_000;
}

export const canReview = (s: Session) => s.role === "admin" || s.role === "reviewer";
export const ownsStores = (s: Session) => s.role === "admin" || s.role === "store_owner";

/** The store the screens show: the one picked last, else the token's first. */
export function currentStore(s: Session): string | null {
  const picked = localStorage.getItem("kirana.store");
  if (picked && (s.role === "admin" || s.stores.includes(picked))) return picked;
  return s.stores[0] ?? null;
}

export function pickStore(store: string): void {
  localStorage.setItem("kirana.store", store);
}
