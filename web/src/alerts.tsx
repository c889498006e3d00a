// Low-stock notifications while the app is open: the store's items at or below their reorder
// level are read every minute (and when the app comes back to the foreground); an item newly
// among them is announced in the page and, when the person allowed it, as a system
// notification. What was announced is remembered per store for the browser session.
import { useEffect, useState } from "preact/hooks";
import { call, client } from "./api";

const EVERY_MS = 60_000;

interface Alert {
  id: string;
  text: string;
}

export function useLowStockAlerts(store: string | null) {
  const [alerts, setAlerts] = useState<Alert[]>([]);
  const [ask, setAsk] = useState("Notification" in window && Notification.permission === "default");

  useEffect(() => {
    if (!store) return;
    const key = `kirana.low.${store}`;
    const check = async () => {
      try {
        const page = await call(
          client.GET("/v1/stores/{store_id}/inventory", {
            params: { path: { store_id: store }, query: { low_stock: true, sort: "-updated", limit: 50 } },
          }),
        );
        // Low items are remembered until they are no longer low. When every low item fits the
        // page, the page is the list (one restocked and low again is news); when not, what
        // leaves the page of the 50 most recently changed may still be low, and is kept.
        const stored = sessionStorage.getItem(key);
        const seen = new Set<string>(stored ? JSON.parse(stored) : []);
        const fresh = stored === null ? [] : page.items.filter((i) => !seen.has(i.product_id));
        const now = page.items.map((i) => i.product_id);
        sessionStorage.setItem(key, JSON.stringify(page.next_cursor ? [...new Set([...seen, ...now])] : now));
        if (fresh.length === 0) return;
        const news = fresh.map((i) => ({
          id: `${i.product_id}@${i.version}`,
          text: `${Number(i.quantity) === 0 ? "Out of stock" : "Low stock"}: ${i.product?.name ?? i.product_id} (${i.quantity} left)`,
        }));
        setAlerts((old) => news.concat(old).slice(0, 5));
        // Through the service worker: Android's Chrome has no `new Notification()` in a page.
        if ("Notification" in window && Notification.permission === "granted" && navigator.serviceWorker) {
          const sw = await navigator.serviceWorker.ready;
          for (const a of news) await sw.showNotification("Kirana Catalog", { body: a.text, tag: a.id, icon: "/icon-192.png" });
        }
      } catch {
        /* offline or signed out: the next round tries again */
      }
    };
    void check();
    const t = setInterval(check, EVERY_MS);
    const visible = () => document.visibilityState === "visible" && void check();
    document.addEventListener("visibilitychange", visible);
    window.addEventListener("kirana:stock-changed", check);
    return () => {
      clearInterval(t);
      document.removeEventListener("visibilitychange", visible);
      window.removeEventListener("kirana:stock-changed", check);
    };
  }, [store]);

  // The live region is always there (a region inserted with its text is often not read out).
  return (
    <section class="alerts" aria-live="polite" hidden={!store || (!alerts.length && !ask)}>
      {alerts.map((a) => (
        <p class="notice" key={a.id}>
          {a.text}
          <button class="link" aria-label="Dismiss" onClick={() => setAlerts((all) => all.filter((x) => x.id !== a.id))}>
            ✕
          </button>
        </p>
      ))}
      {ask && (
        <p class="hint">
          <button class="link" onClick={() => void Notification.requestPermission().then(() => setAsk(false))}>
            Notify me of low stock
          </button>
        </p>
      )}
    </section>
  );
}

/** Tells the alerts to look now (after a change this app made). */
export const stockChanged = () => window.dispatchEvent(new Event("kirana:stock-changed"));
