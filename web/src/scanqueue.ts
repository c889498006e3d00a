// Scans wait here until the server has them. Every scan is written to IndexedDB first, with
// its scan_id, and only then sent, in the order scanned, through `POST /v1/scan/batch`; a scan
// leaves the queue once the server has answered it (applied, replayed or refused for good).
// The server counts a scan_id once, so a batch whose answer was lost is simply sent again:
// nothing scanned offline is lost or counted twice. Sending is tried when a scan is added,
// when the browser comes back online, and every few seconds while scans wait.
import { type DBSchema, type IDBPDatabase, openDB } from "idb";
import { stockChanged } from "./alerts";
import { ApiError, call, client, type Schemas } from "./api";

export type ScanMode = Schemas["ScanMode"];

export interface QueuedScan {
  seq?: number;
  scan_id: string;
  store_id: string;
  barcode: string;
  mode: ScanMode;
  quantity: string;
  device_time: string;
}

/** What became of one scan, for the screen. */
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

interface Db extends DBSchema {
  scans: { key: number; value: QueuedScan };
}

/** The most the API takes in one batch. */
const BATCH = 500;
const RETRY_MS = 5_000;

let dbp: Promise<IDBPDatabase<Db>> | null = null;
const db = () =>
  (dbp ??= openDB<Db>("kirana-scans", 1, {
    upgrade(d) {
      d.createObjectStore("scans", { keyPath: "seq", autoIncrement: true });
    },
  }));

type Listener = (waiting: number, reports: ScanReport[]) => void;
const listeners = new Set<Listener>();
export function subscribe(f: Listener): () => void {
  listeners.add(f);
  void waiting().then((n) => f(n, []));
  return () => listeners.delete(f);
}
const tell = (n: number, reports: ScanReport[]) => listeners.forEach((f) => f(n, reports));

export async function waiting(): Promise<number> {
  return (await db()).count("scans");
}

/** Keeps the scan, then tries to send what waits. */
export async function enqueue(scan: Omit<QueuedScan, "scan_id" | "device_time">): Promise<void> {
  const queued: QueuedScan = { ...scan, scan_id: crypto.randomUUID(), device_time: new Date().toISOString() };
  await (await db()).add("scans", queued);
  tell(await waiting(), []);
  void sync();
}

let running: Promise<void> | null = null;

/** Sends what waits, oldest first; one run at a time. */
export function sync(): Promise<void> {
  running ??= drain().finally(() => {
    running = null;
  });
  return running;
}

async function drain(): Promise<void> {
  for (;;) {
    const d = await db();
    const batch = (await d.getAll("scans", undefined, BATCH)).sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
    if (batch.length === 0) return;
    let results: Schemas["ScanResult"][];
    try {
      const body = batch.map(({ scan_id, store_id, barcode, mode, quantity, device_time }) => ({
        scan_id,
        store_id,
        barcode,
        mode,
        quantity,
        device_time,
      }));
      results = (await call(client.POST("/v1/scan/batch", { body: { scans: body } }))).results;
    } catch (e) {
      // Offline, or the server could not take it now: everything stays for the next try. A
      // batch refused whole (a session that ended) stays too, for after sign-in.
      if (!(e instanceof ApiError) || e.offline || e.status >= 500 || e.status === 401 || e.status === 429) return;
      // The batch itself was refused (a body the server could not read): the oldest scan goes
      // alone, so its own answer decides it, and the rest follow.
      if (!(await sendAlone(d, batch[0]))) return;
      continue;
    }
    const reports: ScanReport[] = [];
    const done: number[] = [];
    for (const [i, r] of results.entries()) {
      const scan = batch[i];
      // The scans after one storage failed for were not tried: they wait, in order.
      if (r.status >= 500 || r.status === 429) break;
      done.push(scan.seq!);
      const outcome = r.outcome;
      const problem = r.problem as { detail?: string } | null | undefined;
      reports.push({
        scan,
        ok: r.status < 300,
        status: r.status,
        name: outcome?.product.name,
        quantity: outcome?.item.quantity,
        created: outcome?.product_created,
        replayed: outcome?.replayed,
        lowStock: outcome?.item.low_stock,
        message: problem?.detail,
      });
    }
    const tx = d.transaction("scans", "readwrite");
    await Promise.all([...done.map((k) => tx.store.delete(k)), tx.done]);
    tell(await waiting(), reports);
    if (reports.some((r) => r.ok)) stockChanged();
    if (done.length < batch.length) return;
  }
}

/** One scan through `POST /v1/scan`; false when it must wait. */
async function sendAlone(d: IDBPDatabase<Db>, scan: QueuedScan): Promise<boolean> {
  const { scan_id, store_id, barcode, mode, quantity, device_time } = scan;
  let report: ScanReport;
  try {
    const outcome = await call(client.POST("/v1/scan", { body: { scan_id, store_id, barcode, mode, quantity, device_time } }));
    report = { scan, ok: true, status: 200, name: outcome.product.name, quantity: outcome.item.quantity, lowStock: outcome.item.low_stock };
  } catch (e) {
    if (!(e instanceof ApiError) || e.offline || e.status >= 500 || e.status === 401 || e.status === 429) return false;
    report = { scan, ok: false, status: e.status, message: e.detail };
  }
  await d.delete("scans", scan.seq!);
  tell(await waiting(), [report]);
  return true;
}

// Try again when the browser is back online, and every few seconds while scans wait.
window.addEventListener("online", () => void sync());
setInterval(() => {
  void waiting().then((n) => {
    if (n > 0 && navigator.onLine) void sync();
  });
}, RETRY_MS);
