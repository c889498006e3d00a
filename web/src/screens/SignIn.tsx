// Signing in on this device: with the phone number's SMS code (a person), a device pairing code
// the store's owner shows (a shop's scanner), or a token pasted or read from the QR code
// `catalog token --qr` prints (local development and operators). A session that ended comes
// back here with why.
import { useRef, useState } from "preact/hooks";
import { call, client, signIn, signInWithToken } from "../api";
import { endReason, type Session } from "../session";
import { ErrorLine, Field, useCamera } from "../ui";

/** A token or pairing code out of what was pasted or scanned: the code itself, or a link with `#token=`. */
export function credentialOf(text: string): string {
  const t = text.trim();
  const m = /[#&?]token=([^&\s]+)/.exec(t);
  return m ? decodeURIComponent(m[1]) : t;
}

/** Signs in with a pasted or scanned credential: a device's pairing code, or a token. */
export function signInWith(credential: string): Promise<Session> {
  return credential.startsWith("kcpc_") ? signIn({ grant_type: "pairing_code", pairing_code: credential }) : signInWithToken(credential);
}

export function SignIn({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const reason = endReason();
  const [tab, setTab] = useState<"phone" | "token">("phone");
  return (
    <main class="signin">
      <h1>Kirana Catalog</h1>
      {reason && (
        <p class="notice" role="status">
          {reason}
        </p>
      )}
      <div class="chips" role="group" aria-label="Sign in with">
        <button aria-pressed={tab === "phone"} onClick={() => setTab("phone")}>
          Phone number
        </button>
        <button aria-pressed={tab === "token"} onClick={() => setTab("token")}>
          Token or pairing code
        </button>
      </div>
      {tab === "phone" ? <PhoneSignIn onSignedIn={onSignedIn} /> : <TokenSignIn onSignedIn={onSignedIn} />}
    </main>
  );
}

function PhoneSignIn({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const [phone, setPhone] = useState("");
  const [code, setCode] = useState("");
  const [sent, setSent] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const attempt = async (e: Event, f: () => Promise<void>) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await f();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return sent ? (
    <form onSubmit={(e) => attempt(e, async () => onSignedIn(await signIn({ grant_type: "code", phone, code })))}>
      <p>We sent a 6-digit code to {phone}. It works for 10 minutes.</p>
      <Field label="Code">
        <input
          name="code"
          inputMode="numeric"
          autoComplete="one-time-code"
          pattern="[0-9]{6}"
          maxLength={6}
          required
          value={code}
          onInput={(e) => setCode(e.currentTarget.value)}
        />
      </Field>
      <ErrorLine error={error} />
      <button class="primary" disabled={busy}>
        Sign in
      </button>
      <button type="button" class="link" onClick={() => setSent(false)}>
        Use another number
      </button>
    </form>
  ) : (
    <form
      onSubmit={(e) =>
        attempt(e, async () => {
          await call(client.POST("/v1/auth/code", { body: { phone } }));
          setSent(true);
        })
      }
    >
      <Field label="Mobile number">
        <input name="phone" type="tel" inputMode="tel" autoComplete="tel" required value={phone} onInput={(e) => setPhone(e.currentTarget.value)} />
      </Field>
      <ErrorLine error={error} />
      <button class="primary" disabled={busy}>
        Send me a code
      </button>
    </form>
  );
}

function TokenSignIn({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [scanning, setScanning] = useState(false);
  const video = useRef<HTMLVideoElement>(null);

  const submit = async (credential: string) => {
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await signInWith(credentialOf(credential)));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  useCamera(
    scanning,
    video,
    ["qr_code"],
    (code) => {
      setScanning(false);
      void submit(code);
    },
    (err) => {
      setError(err);
      setScanning(false);
    },
  );

  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        void submit(text);
      }}
    >
      <Field label="Token or pairing code">
        <textarea name="token" rows={4} required spellcheck={false} autoCapitalize="off" value={text} onInput={(e) => setText(e.currentTarget.value)} />
      </Field>
      <p class="hint">
        A scanner phone signs in with the pairing code its store’s owner adds for it; on a computer, <code>catalog token --qr</code> prints a QR code to
        scan.
      </p>
      <ErrorLine error={error} />
      <button class="primary" disabled={busy}>
        Sign in
      </button>
      <button type="button" onClick={() => setScanning(!scanning)}>
        {scanning ? "Stop the camera" : "Scan a QR code"}
      </button>
      {scanning && <video ref={video} class="camera" muted aria-label="Camera" />}
    </form>
  );
}
