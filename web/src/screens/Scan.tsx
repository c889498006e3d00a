// The scanner: receive, sell or count, by camera or typed; every scan is queued on the device
// first (scanqueue.ts) and sent in order, so scanning goes on offline and each scan counts once.
import { useEffect, useRef, useState } from "preact/hooks";
import { PRODUCT_FORMATS, type Running, startCamera } from "../camera";
import { enqueue, type ScanMode, type ScanReport, subscribe } from "../scanqueue";
import { ErrorLine, Field } from "../ui";

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
  const [waiting, setWaiting] = useState(0);
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
      subscribe((n, news) => {
        setWaiting(n);
        if (news.length) setReports((old) => news.slice().reverse().concat(old).slice(0, 30));
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

  const add = async (barcode: string) => {
    setError(null);
    const b = barcode.replace(/\s+/g, "");
    if (!BARCODE.test(b)) {
      setError(new Error("A barcode is 8, 12, 13 or 14 digits."));
      return;
    }
    const { mode, quantity } = settings.current;
    if (!/^\d{1,8}(\.\d{1,3})?$/.test(quantity)) {
      setError(new Error("The quantity is a number (up to 3 decimals)."));
      return;
    }
    try {
      await enqueue({ store_id: store, barcode: b, mode, quantity });
      navigator.vibrate?.(60);
    } catch (e) {
      setError(e);
    }
  };

  useEffect(() => {
    if (!camera || !video.current) return;
    let cam: Running | null = null;
    let cancelled = false;
    startCamera(video.current, PRODUCT_FORMATS, (c) => void add(c))
      .then((c) => (cancelled ? c.stop() : (cam = c)))
      .catch((e) => {
        setError(e);
        setCamera(false);
      });
    return () => {
      cancelled = true;
      cam?.stop();
    };
  }, [camera]);

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
          void add(code).then(() => setCode(""));
          input.current?.focus();
        }}
      >
        <Field label="Barcode">
          <input
            ref={input}
            name="barcode"
            inputMode="numeric"
            autoComplete="off"
            value={code}
            onInput={(e) => setCode(e.currentTarget.value)}
          />
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
          ? `${waiting} scan${waiting === 1 ? "" : "s"} waiting to be sent${online ? "…" : " (offline: they are kept on this device)"}`
          : "Every scan has been sent."}
      </p>
      <ul class="reports" aria-label="Recent scans">
        {reports.map((r) => (
          <li key={r.scan.scan_id} class={r.ok ? "ok" : "failed"}>
            <span class="code">{r.scan.barcode}</span>{" "}
            {r.ok ? (
              <>
                <span class="name">{r.name}</span> · {r.scan.mode} {r.scan.quantity} → <strong data-testid="after">{r.quantity}</strong>
                {r.created && " (new product, pending review)"}
                {r.replayed && " (already counted)"}
                {r.lowStock && <span class="badge low">Low stock</span>}
              </>
            ) : (
              <span role="alert">not applied: {r.message ?? `HTTP ${r.status}`}</span>
            )}
          </li>
        ))}
      </ul>
    </main>
  );
}
