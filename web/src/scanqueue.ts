// Scans wait here until the server has them. Every scan is written to IndexedDB first, with
// its scan_id and who scanned it, and only then sent, in the order scanned, through
// `POST /v1/scan/batch`, under that person's session only (another person signed in on the
// device does not send them; they wait for theirs). A scan leaves the queue once the server
// has answered it: applied (or a replay of one applied before), or refused for good, which
// moves it to `refused`, kept on the device until someone has seen it. The server counts a
// scan_id once, so a batch whose answer was lost is simply sent again: nothing scanned
// offline is lost or counted twice. Sending is tried when a scan is added, when the browser
// comes back online, and then after 5 s, 10 s, ... up to a minute while scans wait; one tab
// sends at a time, and the others hear of what changed (a BroadcastChannel). Scans another
// sign-in left on the device (a phone paired again is a new device) are offered to the person
// signed in now: sent as theirs, or discarded. A scan the server keeps failing on (5xx five
// times) is set aside with the refused ones, to be tried again by hand, so it does not hold
// back the scans behind it.
import { type DBSchema, type IDBPDatabase, openDB } from "idb";
import { stockChanged } from "./alerts";
import { ApiError, call, client, LOCKED_CALL_MS, newId, type Schemas } from "./api";
import { load } from "./session";

export type ScanMode = Schemas["ScanMode"];

export interface QueuedScan {
  seq?: number;
  scan_id: string;
  store_id: string;
  barcode: string;
  mode: ScanMode;
  quantity: string;
  device_time: string;
  /** Who scanned it (the session's `sub`): only their session sends it. */
  sub: string;
}

/** A scan the server refused for good, kept until someone dismisses it. */
export interface RefusedScan {
  seq?: number;
  scan: QueuedScan;
  status: number;
  message: string;
}

/** What became of one scan that was sent, for the screen. */
export interface ScanReport {
  scan: QueuedScan;
  ok: boolean;
  status: number;
  name?: string;
  quantity?: string;
  created?: boolean;
  replayed?: boolean;
  lowStock?: boolean;
  message?: string;
}

export interface QueueState {
  /** Scans of the signed-in person not yet answered. */
  waiting: number;
  /** Scans another sign-in left on this device. */
  others: number;
  refused: RefusedScan[];
  /** Why the last try to send failed, while scans wait. */
  stalled: string | null;
}

interface Db extends DBSchema {
  scans: { key: number; value: QueuedScan };
  refused: { key: number; value: RefusedScan };
}

/** The most the API takes in one batch. */
const BATCH = 500;
const FIRST_RETRY_MS = 5_000;
const LAST_RETRY_MS = 60_000;
/** Server failures on the same first scan before it is set aside. */
const STUCK_AFTER = 5;

let dbp: Promise<IDBPDatabase<Db>> | null = null;
/**
 * The queue's database. A later version's upgrade asks this page to let go (`blocking`), so an
 * old tab never holds a new one's scans back; a failed open is tried again next time.
 */
const db = () =>
  (dbp ??= openDB<Db>("kirana-scans", 2, {
    // Version 2 (1 had no `refused`): whatever a device has, it ends with both stores.
    upgrade(d) {
      if (!d.objectStoreNames.contains("scans")) d.createObjectStore("scans", { keyPath: "seq", autoIncrement: true });
      if (!d.objectStoreNames.contains("refused")) d.createObjectStore("refused", { keyPath: "seq", autoIncrement: true });
    },
    blocking() {
      void dbp?.then((d) => d.close());
      dbp = null;
    },
  }).catch((e) => {
    dbp = null;
    throw e;
  }));

// Tabs tell each other when the queue changed.
const channel = "BroadcastChannel" in window ? new BroadcastChannel("kirana-scans") : null;
channel?.addEventListener("message", () => void tell([], false));

type Listener = (state: QueueState, news: ScanReport[]) => void;
const listeners = new Set<Listener>();
let stalled: string | null = null;

export function subscribe(f: Listener): () => void {
  listeners.add(f);
  void state().then((s) => f(s, []));
  return () => listeners.delete(f);
}

async function state(): Promise<QueueState> {
  const d = await db();
  const waiting = (await mine(d)).length;
  return { waiting, others: (await d.count("scans")) - waiting, refused: await d.getAll("refused"), stalled };
}

async function tell(news: ScanReport[], broadcast = true): Promise<void> {
  const s = await state();
  listeners.forEach((f) => f(s, news));
  if (broadcast) channel?.postMessage("changed");
}

/** The signed-in person's waiting scans, oldest first (the store's keys are in scan order). */
async function mine(d: IDBPDatabase<Db>, limit?: number): Promise<QueuedScan[]> {
  const sub = load()?.sub;
  if (!sub) return [];
  const out: QueuedScan[] = [];
  for (let c = await d.transaction("scans").store.openCursor(); c && (limit === undefined || out.length < limit); c = await c.continue()) {
    if (c.value.sub === sub) out.push(c.value);
  }
  return out;
}

/** How many of `sub`'s scans wait on this device (to warn before signing out). */
export async function waitingFor(sub: string): Promise<number> {
  return (await (await db()).getAll("scans")).filter((s) => s.sub === sub).length;
}

/** Keeps the scan, then tries to send what waits. */
export async function enqueue(scan: Omit<QueuedScan, "scan_id" | "device_time" | "sub">): Promise<void> {
  const sub = load()?.sub;
  if (!sub) throw new Error("Sign in to scan.");
  const queued: QueuedScan = { ...scan, sub, scan_id: newId(), device_time: new Date().toISOString() };
  await (await db()).add("scans", queued);
  // Ask the browser not to evict what is stored on the device (scans not yet sent).
  void navigator.storage?.persist?.();
  await tell([]);
  retryIn(0);
}

export async function dismissRefused(seq: number): Promise<void> {
  await (await db()).delete("refused", seq);
  await tell([]);
}

/** A scan set aside after server failures, queued again (with its scan_id: it counts once). */
export async function retryRefused(seq: number): Promise<void> {
  const d = await db();
  const r = await d.get("refused", seq);
  if (!r) return;
  const tx = d.transaction(["scans", "refused"], "readwrite");
  const { seq: _old, ...scan } = r.scan;
  void _old;
  void tx.objectStore("scans").add({ ...scan, sub: load()?.sub ?? scan.sub });
  void tx.objectStore("refused").delete(seq);
  await tx.done;
  await tell([]);
  retryIn(0);
}

/** The scans another sign-in left here become the signed-in person's (sent as theirs), in order. */
export async function adoptOthers(): Promise<void> {
  const sub = load()?.sub;
  if (!sub) return;
  const d = await db();
  const tx = d.transaction("scans", "readwrite");
  for (let c = await tx.store.openCursor(); c; c = await c.continue()) {
    if (c.value.sub !== sub) void c.update({ ...c.value, sub });
  }
  await tx.done;
  await tell([]);
  retryIn(0);
}

/** The scans another sign-in left here are dropped (the person chose to). */
export async function discardOthers(): Promise<void> {
  const sub = load()?.sub;
  const d = await db();
  const tx = d.transaction("scans", "readwrite");
  for (let c = await tx.store.openCursor(); c; c = await c.continue()) {
    if (c.value.sub !== sub) void c.delete();
  }
  await tx.done;
  await tell([]);
}

let running: Promise<boolean> | null = null;

/** Sends what waits, oldest first; one run at a time in this tab, and one tab at a time. */
function sync(): Promise<boolean> {
  const locked = () => navigator.locks.request("kirana-scans", drain) as unknown as Promise<boolean>;
  running ??= (navigator.locks ? locked() : drain()).finally(() => {
    running = null;
  });
  return running;
}

const body = ({ scan_id, store_id, barcode, mode, quantity, device_time }: QueuedScan) => ({
  scan_id,
  store_id,
  barcode,
  mode,
  quantity,
  device_time,
});

/** Whether a failure is worth trying again later (rather than the scan's own answer). */
const transient = (e: unknown) => !(e instanceof ApiError) || e.offline || e.status >= 500 || e.status === 401 || e.status === 429;

/** Sends everything of the signed-in person's; false when some must wait (`stalled` says why). */
async function drain(): Promise<boolean> {
  for (;;) {
    const d = await db();
    const batch = await mine(d, BATCH);
    if (batch.length === 0) return true;
    let results: Schemas["ScanResult"][];
    try {
      const signal = AbortSignal.timeout(LOCKED_CALL_MS);
      results = (await call(client.POST("/v1/scan/batch", { body: { scans: batch.map(body) }, signal }))).results;
    } catch (e) {
      if (transient(e)) return stall(e);
      // The batch itself was refused (a body the server could not read): the oldest scan goes
      // alone, so its own answer decides it, and the rest follow.
      if (!(await sendAlone(d, batch[0]))) return false;
      continue;
    }
    const reports: ScanReport[] = [];
    const byId = new Map(results.map((r) => [r.scan_id, r]));
    for (const scan of batch) {
      const r = byId.get(scan.scan_id);
      // The scans after one storage failed for were not tried: they wait, in order. The first
      // one failing again and again is set aside, so the rest are not held back for good.
      if (!r || r.status >= 500 || r.status === 429) {
        if (r && r.status >= 500 && scan === batch[0] && stuck(scan) >= STUCK_AFTER) {
          reports.push({ scan, ok: false, status: r.status, message: "The server failed on this scan again and again. Try it again later." });
        }
        break;
      }
      const outcome = r.outcome;
      const problem = r.problem as { detail?: string } | null | undefined;
      reports.push(
        outcome
          ? {
              scan,
              ok: true,
              status: r.status,
              name: outcome.product.name,
              quantity: outcome.item.quantity,
              created: outcome.product_created,
              replayed: outcome.replayed,
              lowStock: outcome.item.low_stock,
            }
          : { scan, ok: false, status: r.status, message: problem?.detail ?? `HTTP ${r.status}` },
      );
    }
    await settle(d, reports);
    if (reports.length < batch.length) return stall(new Error("The server could not take every scan now; the rest wait."));
  }
}

/** Removes answered scans from the queue (refused ones to `refused`) in one transaction. */
async function settle(d: IDBPDatabase<Db>, reports: ScanReport[]): Promise<void> {
  const tx = d.transaction(["scans", "refused"], "readwrite");
  for (const r of reports) {
    void tx.objectStore("scans").delete(r.scan.seq!);
    if (!r.ok) void tx.objectStore("refused").add({ scan: r.scan, status: r.status, message: r.message ?? "" });
  }
  await tx.done;
  stalled = null;
  await tell(reports);
  if (reports.some((r) => r.ok)) stockChanged();
}

let failing: { scan_id: string; times: number } | null = null;

/** How many times in a row the server failed on this scan (the first one waiting). */
function stuck(scan: QueuedScan): number {
  failing = failing?.scan_id === scan.scan_id ? { scan_id: scan.scan_id, times: failing.times + 1 } : { scan_id: scan.scan_id, times: 1 };
  return failing.times;
}

function stall(e: unknown): false {
  stalled = e instanceof Error ? e.message : String(e);
  void tell([]);
  return false;
}

/** One scan through `POST /v1/scan`; false when it must wait. */
async function sendAlone(d: IDBPDatabase<Db>, scan: QueuedScan): Promise<boolean> {
  let report: ScanReport;
  try {
    const outcome = await call(client.POST("/v1/scan", { body: body(scan) }));
    report = { scan, ok: true, status: 200, name: outcome.product.name, quantity: outcome.item.quantity, lowStock: outcome.item.low_stock };
  } catch (e) {
    if (transient(e)) return stall(e);
    report = { scan, ok: false, status: (e as ApiError).status, message: (e as ApiError).detail };
  }
  await settle(d, [report]);
  return true;
}

let timer: ReturnType<typeof setTimeout> | undefined;
let delay = FIRST_RETRY_MS;

/** Sends after `ms`; while scans wait, tries again later and later (up to a minute). */
function retryIn(ms: number): void {
  clearTimeout(timer);
  timer = setTimeout(async () => {
    if (!load()) return; // signed out: the next session's start() sends its own
    const done = await sync().catch(() => false);
    if (done) delay = FIRST_RETRY_MS;
    else {
      retryIn(delay);
      delay = Math.min(delay * 2, LAST_RETRY_MS);
    }
  }, ms);
}

let started = false;

/** Starts sending for the signed-in session: now, when back online, and as retries come due. */
export function start(): void {
  delay = FIRST_RETRY_MS;
  retryIn(0);
  if (started) return;
  started = true;
  window.addEventListener("online", () => {
    delay = FIRST_RETRY_MS;
    retryIn(0);
  });
}
