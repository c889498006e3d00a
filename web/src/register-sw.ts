// The service worker's registration (src/sw.js is the worker). A new build's worker waits
// while a page of the old one is open; the app offers to switch to it (the worker takes over,
// the page reloads), so a person is never left on files a new worker does not hold.

export function registerServiceWorker(): void {
  if (!("serviceWorker" in navigator)) return;
  window.addEventListener("load", async () => {
    const reg = await navigator.serviceWorker.register("/sw.js").catch(() => null);
    if (!reg) return;
    // Reloaded only for a switch the person accepted (the first worker's claim also changes
    // the controller, and must not reload the page).
    let switching = false;
    const offer = (w: ServiceWorker) => {
      if (!confirm("A new version of the app is ready. Switch to it now?")) return;
      switching = true;
      w.postMessage("skip-waiting");
    };
    if (reg.waiting && navigator.serviceWorker.controller) offer(reg.waiting);
    reg.addEventListener("updatefound", () => {
      const w = reg.installing;
      w?.addEventListener("statechange", () => w.state === "installed" && navigator.serviceWorker.controller && offer(w));
    });
    navigator.serviceWorker.addEventListener("controllerchange", () => {
      if (!switching) return;
      switching = false;
      location.reload();
    });
  });
}
