// A store's scanner devices, for its owners: add one and show its one-time pairing code as a QR
// code (a link to this app with the code, so the phone's own camera app opens it and pairs), or
// as text to paste; revoke a lost one. The QR encoder (uqr) is loaded only on this screen, and
// its modules are drawn here (no markup from elsewhere).
import { useCallback, useEffect, useState } from "preact/hooks";
import { call, client, type Schemas } from "../api";
import { ErrorLine, Field, when } from "../ui";

type Pairing = Schemas["PairingView"];

export function Devices({ store }: { store: string }) {
  const [devices, setDevices] = useState<Schemas["DeviceView"][]>([]);
  const [name, setName] = useState("");
  const [pairing, setPairing] = useState<Pairing | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const load = useCallback(async () => {
    try {
      setDevices((await call(client.GET("/v1/stores/{store_id}/devices", { params: { path: { store_id: store } } }))).items);
    } catch (e) {
      setError(e);
    }
  }, [store]);
  useEffect(() => void load(), [load]);

  const add = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      setPairing(await call(client.POST("/v1/stores/{store_id}/devices", { params: { path: { store_id: store } }, body: { name: name.trim() } })));
      setName("");
      void load();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const revoke = async (id: string) => {
    setError(null);
    try {
      await call(client.DELETE("/v1/stores/{store_id}/devices/{device_id}", { params: { path: { store_id: store, device_id: id } } }));
      void load();
    } catch (err) {
      setError(err);
    }
  };

  return (
    <main>
      <h1>Scanner devices</h1>
      <form class="inline" onSubmit={add}>
        <Field label="A new device's name">
          <input name="device_name" required maxLength={60} placeholder="Counter scanner" value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </Field>
        <button class="primary" disabled={busy || !name.trim()}>
          Add
        </button>
      </form>
      <ErrorLine error={error} />
      {pairing && <PairingCode key={pairing.device.device_id} pairing={pairing} />}
      <ul class="moves" aria-label="Devices">
        {devices.map((d) => (
          <li key={d.device_id}>
            <span class="what">
              <span class="name">{d.name}</span>
              <span class="sub">
                {d.status} · added {when(d.created_at)}
              </span>
            </span>
            {(d.status === "paired" || d.status === "pending") && (
              <button onClick={() => void revoke(d.device_id)} aria-label={`Revoke ${d.name}`}>
                Revoke
              </button>
            )}
          </li>
        ))}
      </ul>
    </main>
  );
}

function PairingCode({ pairing }: { pairing: Pairing }) {
  const link = `${location.origin}/#token=${encodeURIComponent(pairing.pairing_code)}`;
  const [modules, setModules] = useState<boolean[][] | null>(null);
  // Counted from a deadline: a phone slows a background page's timers.
  const [until] = useState(() => Date.now() + pairing.expires_in * 1000);
  const [left, setLeft] = useState(pairing.expires_in);
  useEffect(() => {
    void import("uqr").then(({ encode }) => setModules(encode(link, { ecc: "M", border: 2 }).data));
  }, [link]);
  useEffect(() => {
    const t = setInterval(() => setLeft(Math.max(0, Math.round((until - Date.now()) / 1000))), 1000);
    return () => clearInterval(t);
  }, [pairing]);

  return (
    <section class="pairing" aria-labelledby="pair-h">
      <h2 id="pair-h">Pair “{pairing.device.name}”</h2>
      {left > 0 ? (
        <>
          <p>Open the phone's camera on this code (good once, for {Math.ceil(left / 60)} more min):</p>
          {modules ? <QrCode modules={modules} /> : <p>…</p>}
          <p class="hint">
            Or paste this code on the device's sign-in screen: <code data-testid="pairing-code">{pairing.pairing_code}</code>
          </p>
        </>
      ) : (
        <p class="notice">This code has expired. Add the device again for a new one.</p>
      )}
    </section>
  );
}

/** A QR code's modules (uqr's `encode`) as one SVG path: a square per dark module. */
function QrCode({ modules }: { modules: boolean[][] }) {
  const d = modules.flatMap((row, y) => row.map((dark, x) => (dark ? `M${x} ${y}h1v1h-1z` : ""))).join("");
  const n = modules.length;
  return (
    <svg class="qr" viewBox={`0 0 ${n} ${n}`} role="img" aria-label="Pairing QR code" shape-rendering="crispEdges">
      <rect width={n} height={n} fill="#fff" />
      <path d={d} fill="#000" />
    </svg>
  );
}
