// The scanner: receive, sell or count, by camera or typed; every scan is queued on the device
// first (scanqueue.ts) and sent in order, so scanning goes on offline and each scan counts once.
// Scans the server refused stay listed here until dismissed, whenever they were sent.
import { useEffect, useRef, useState } from "preact/hooks";
import { PRODUCT_FORMATS } from "../camera";
import {
  adoptOthers,
  discardOthers,
  dismissRefused,
  enqueue,
  type QueueState,
  retryRefused,
  type ScanMode,
  type ScanReport,
  subscribe,
} from "../scanqueue";
import { ErrorLine, Field, QUANTITY, useCamera } from "../ui";

const MODES: { mode: ScanMode; label: string }[] = [
  { mode: "receive", label: "Receive" },
  { mode: "sell", label: "Sell" },
  { mode: "count", label: "Count" },
];

/** Digits a barcode can have: GTIN-8, UPC-A, EAN-13, GTIN-14 (the server checks the check digit). */
const BARCODE = /^\d{8}$|^\d{12,14}$/;

export function Scan({ store }: { store: string }) {
  const [mode, setMode] = useState<ScanMode>("receive");
  const [quantity, setQuantity] = useState("1");
  const [code, setCode] = useState("");
  const [queue, setQueue] = useState<QueueState>({ waiting: 0, others: 0, refused: [], stalled: null });
  const [reports, setReports] = useState<ScanReport[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [camera, setCamera] = useState(false);
  const [online, setOnline] = useState(navigator.onLine);
  const video = useRef<HTMLVideoElement>(null);
  const input = useRef<HTMLInputElement>(null);
  const settings = useRef({ mode, quantity });
  settings.current = { mode, quantity };

  useEffect(
    () =>
      subscribe((state, news) => {
        setQueue(state);
        const applied = news.filter((r) => r.ok);
        if (applied.length) setReports((old) => applied.slice().reverse().concat(old).slice(0, 30));
      }),
    [],
  );
  useEffect(() => {
    const on = () => setOnline(true);
    const off = () => setOnline(false);
    window.addEventListener("online", on);
    window.addEventListener("offline", off);
    return () => {
      window.removeEventListener("online", on);
      window.removeEventListener("offline", off);
    };
  }, []);

  /** Queues a scan; false (and why, on screen) when it is not one. */
  const add = async (barcode: string): Promise<boolean> => {
    setError(null);
    const b = barcode.replace(/\s+/g, "");
    if (!BARCODE.test(b)) {
      setError(new Error("A barcode is 8, 12, 13 or 14 digits."));
      return false;
    }
    const { mode, quantity } = settings.current;
    if (!QUANTITY.test(quantity)) {
      setError(new Error("The quantity is a number (up to 3 decimals)."));
      return false;
    }
    try {
      await enqueue({ store_id: store, barcode: b, mode, quantity });
      navigator.vibrate?.(60);
      return true;
    } catch (e) {
      setError(e);
      return false;
    }
  };
  useCamera(camera, video, PRODUCT_FORMATS, (c) => void add(c), (e) => {
    setError(e);
    setCamera(false);
  });

  const { waiting, others, refused, stalled } = queue;
  return (
    <main>
      <h1 class="visually-hidden">Scan</h1>
      <div class="chips" role="group" aria-label="Mode">
        {MODES.map((m) => (
          <button aria-pressed={mode === m.mode} onClick={() => setMode(m.mode)}>
            {m.label}
          </button>
        ))}
      </div>
      <form
        class="inline"
        onSubmit={(e) => {
          e.preventDefault();
          // Cleared at once, so the next code (a scanner gun types fast) is not cut; put back
          // only when it was not queued.
          const typed = code;
          setCode("");
          void add(typed).then((queued) => queued || setCode((now) => now || typed));
          input.current?.focus();
        }}
      >
        <Field label="Barcode">
          <input ref={input} name="barcode" inputMode="numeric" autoComplete="off" value={code} onInput={(e) => setCode(e.currentTarget.value)} />
        </Field>
        <Field label={mode === "count" ? "Count" : "Quantity"}>
          <input name="quantity" inputMode="decimal" value={quantity} onInput={(e) => setQuantity(e.currentTarget.value)} />
        </Field>
        <button class="primary">Scan</button>
      </form>
      <button onClick={() => setCamera(!camera)}>{camera ? "Stop the camera" : "Use the camera"}</button>
      {camera && <video ref={video} class="camera" muted aria-label="Camera" />}
      <ErrorLine error={error} />
      <p class={waiting ? "notice" : "hint"} role="status" data-testid="queue">
        {waiting
          ? `${waiting} scan${waiting === 1 ? "" : "s"} waiting to be sent${
              online ? (stalled ? ` (${stalled} Trying again shortly.)` : "…") : " (offline: they are kept on this device)"
            }`
          : "Every scan has been sent."}
      </p>
      {others > 0 && (
        <section class="notice" aria-labelledby="others-h">
          <h2 id="others-h">
            {others} scan{others === 1 ? "" : "s"} from an earlier sign-in on this device {others === 1 ? "was" : "were"} never sent
          </h2>
          <button onClick={() => void adoptOthers()}>Send as mine</button> <button onClick={() => void discardOthers()}>Discard them</button>
        </section>
      )}
      {refused.length > 0 && (
        <section aria-labelledby="refused-h" class="refused">
          <h2 id="refused-h">
            {refused.length} scan{refused.length === 1 ? " was" : "s were"} not applied
          </h2>
          <ul class="reports">
            {refused.map((r) => (
              <li key={r.seq} class="failed">
                <span class="code">{r.scan.barcode}</span> · {r.scan.mode} {r.scan.quantity}: {r.message}
                {r.status >= 500 && (
                  <button class="link" onClick={() => void retryRefused(r.seq!)} aria-label={`Try the scan of ${r.scan.barcode} again`}>
                    Try again
                  </button>
                )}
                <button class="link" onClick={() => void dismissRefused(r.seq!)} aria-label={`Dismiss the refused scan of ${r.scan.barcode}`}>
                  Dismiss
                </button>
              </li>
            ))}
          </ul>
        </section>
      )}
      <ul class="reports" aria-label="Recent scans">
        {reports.map((r) => (
          <li key={r.scan.scan_id} class="ok">
            <span class="code">{r.scan.barcode}</span> <span class="name">{r.name}</span> · {r.scan.mode} {r.scan.quantity} →{" "}
            <strong data-testid="after">{r.quantity}</strong>
            {r.created && " (new product, pending review)"}
            {r.replayed && " (already counted)"}
            {r.lowStock && <span class="badge low">Low stock</span>}
          </li>
        ))}
      </ul>
    </main>
  );
}
