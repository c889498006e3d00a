// The app: sign-in until there is a session, then the screens its role may use, picked by the
// URL's hash (`#/`, `#/item/<id>`, `#/scan`, `#/import`, `#/devices`, `#/review`) so the same files work
// from `catalog serve` and from a static bucket. A link with `#token=...` (the QR code
// `catalog token --qr` prints) signs this device in.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { keepFresh, messageOf, onSessionEnded, signOut } from "./api";
import { useLowStockAlerts } from "./alerts";
import { Devices } from "./screens/Devices";
import { Import } from "./screens/Import";
import { Inventory } from "./screens/Inventory";
import { ItemScreen } from "./screens/Item";
import { Review } from "./screens/Review";
import { Scan } from "./screens/Scan";
import { StorePicker } from "./screens/StorePicker";
import { start, waitingFor } from "./scanqueue";
import { SignIn, credentialOf, signInWith } from "./screens/SignIn";
import { canReview, currentStore, load, ownsStores, pickStore, type Session } from "./session";
import { registerServiceWorker } from "./register-sw";
import "./style.css";

function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const f = () => setHash(location.hash);
    window.addEventListener("hashchange", f);
    return () => window.removeEventListener("hashchange", f);
  }, []);
  return hash;
}

function App() {
  const [session, setSession] = useState<Session | null>(load);
  const [linkError, setLinkError] = useState<string | null>(null);
  const hash = useHash();

  useEffect(() => {
    const off = onSessionEnded(() => setSession(null));
    // A session that ended before this listened (a screen's first request found it run out).
    if (!load()) setSession(null);
    // Another tab signed in or out: this one follows.
    const other = (e: StorageEvent) => e.key === "kirana.session" && setSession(load());
    window.addEventListener("storage", other);
    return () => {
      off();
      window.removeEventListener("storage", other);
    };
  }, []);
  // A sign-in link: the token in the hash is used once, then removed from the address bar. It
  // replaces a session already here only when the person says so.
  useEffect(() => {
    if (!hash.startsWith("#token=")) return;
    const credential = credentialOf(hash);
    history.replaceState(null, "", location.pathname + location.search);
    void (async () => {
      const now = load();
      if (now && !confirm("This link signs this device in as someone else. Sign out of this session and use it?")) return;
      if (now && !(await leave(now))) return;
      setSession(await signInWith(credential));
    })().catch((e) => setLinkError(messageOf(e)));
  }, [hash]);

  if (!session) {
    return (
      <>
        {linkError && (
          <p class="error" role="alert">
            {linkError}
          </p>
        )}
        <SignIn onSignedIn={setSession} />
      </>
    );
  }
  // A new session starts the screens afresh (its store, its queue).
  return <Signed key={session.sub} session={session} hash={hash} />;
}

function Signed({ session, hash }: { session: Session; hash: string }) {
  const [store, setStore] = useState(currentStore(session));
  const pick = (s: string) => {
    pickStore(s);
    setStore(s);
    location.hash = "#/";
  };
  const alerts = useLowStockAlerts(ownsStores(session) ? store : null);
  // The session is renewed as it runs out (every half minute's look), and when the app
  // comes back to the foreground.
  useEffect(() => start(), []);
  // A new screen's heading takes the focus, so a screen reader says where the person is.
  useEffect(() => {
    const h = document.querySelector<HTMLElement>("main h1");
    if (h) {
      h.tabIndex = -1;
      h.focus({ preventScroll: true });
    }
  }, [hash]);
  useEffect(() => {
    void keepFresh();
    const t = setInterval(keepFresh, 30_000);
    const visible = () => document.visibilityState === "visible" && void keepFresh();
    document.addEventListener("visibilitychange", visible);
    return () => {
      clearInterval(t);
      document.removeEventListener("visibilitychange", visible);
    };
  }, []);
  const route = hash.replace(/^#\/?/, "").split("/");
  const reviewer = canReview(session);
  const scannerOnly = session.role === "scanner";

  let screen;
  if (route[0] === "review" && reviewer) screen = <Review />;
  else if (!store || route[0] === "stores") screen = <StorePicker admin={session.role === "admin"} onPick={pick} />;
  else if (route[0] === "scan" || (scannerOnly && route[0] !== "item")) screen = <Scan store={store} />;
  else if (route[0] === "import" && ownsStores(session)) screen = <Import store={store} />;
  else if (route[0] === "devices" && ownsStores(session)) screen = <Devices store={store} />;
  else if (route[0] === "item" && route[1]) screen = <ItemScreen key={route[1]} store={store} productId={decodeURIComponent(route[1])} />;
  else if (reviewer && !ownsStores(session)) screen = <Review />;
  else screen = <Inventory store={store} />;

  const here = route[0] || "";
  const link = (to: string, label: string) => (
    <a href={`#/${to}`} aria-current={here === to ? "page" : undefined}>
      {label}
    </a>
  );
  return (
    <>
      <header class="bar">
        <span class="store">
          {store ?? "No store"}
          {session.role === "admin" && (
            <a class="link" href="#/stores">
              {store ? "change" : "open a store"}
            </a>
          )}
        </span>
        <button class="link" onClick={() => void leave(session)}>
          Sign out
        </button>
      </header>
      <nav class="tabs" aria-label="Screens">
        {store && !scannerOnly && link("", "Stock")}
        {store && link("scan", "Scan")}
        {store && ownsStores(session) && link("import", "Import")}
        {store && ownsStores(session) && link("devices", "Devices")}
        {reviewer && link("review", "Review")}
      </nav>
      {alerts}
      {screen}
    </>
  );
}

/** Signs out, after a warning when scans of this person's have not reached the server yet. */
async function leave(session: Session): Promise<boolean> {
  const n = await waitingFor(session.sub);
  if (n > 0 && !confirm(`${n} scan${n === 1 ? " has" : "s have"} not been sent yet. They wait on this device until you sign in again. Sign out?`)) return false;
  await signOut();
  return true;
}

const root = document.getElementById("app")!;
root.textContent = "";
render(<App />, root);

registerServiceWorker();
