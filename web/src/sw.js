// The app's service worker: the shell (index.html and the bundles of this build) is kept in a
// cache named by the build, so the app opens offline. A new build's worker fills its own cache
// and takes over once no page of the old one is open, or when the person accepts the new
// version (so an open page never loses the files it was built with), then drops the old
// cache. The API is never cached (stock must be read live; scans queue in IndexedDB, not
// here). Product images are kept once seen (the last 300), so an offline list still shows
// them.
const VERSION = "%VERSION%";
const SHELL = `shell-${VERSION}`;
const IMAGES = "images-v1";
const MAX_IMAGES = 300;
const PRECACHE = %PRECACHE%;
/** A page is shown from the cache when the network has not answered within this long. */
const NAVIGATION_TIMEOUT_MS = 3000;

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL).then((c) => c.addAll(PRECACHE)));
});

// The page asks the waiting worker to take over (the person accepted the new version).
self.addEventListener("message", (event) => {
  if (event.data === "skip-waiting") self.skipWaiting();
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== SHELL && k !== IMAGES).map((k) => caches.delete(k))))
      // The first worker takes the page that installed it (a later one waits, see above).
      .then(() => self.clients.claim()),
  );
});

/** The network's answer, or the cached shell when there is none within the timeout (or the
 * answer is an error: a CDN's 5xx page is not the app). */
function page(req) {
  const shell = () => caches.match("/", { cacheName: SHELL });
  const network = fetch(req).then(async (res) => (res.ok || res.type === "opaqueredirect" ? res : (await shell()) || res));
  const cached = new Promise((resolve) => setTimeout(resolve, NAVIGATION_TIMEOUT_MS)).then(shell);
  return Promise.race([network.catch(shell), cached.then((hit) => hit || network)]);
}

async function image(event) {
  const c = await caches.open(IMAGES);
  const hit = await c.match(event.request);
  if (hit) return hit;
  const res = await fetch(event.request);
  if (res.ok) {
    const copy = res.clone();
    event.waitUntil(
      c.put(event.request, copy).then(async () => {
        const keys = await c.keys();
        await Promise.all(keys.slice(0, Math.max(0, keys.length - MAX_IMAGES)).map((k) => c.delete(k)));
      }),
    );
  }
  return res;
}

async function asset(event) {
  const hit = await caches.match(event.request);
  if (hit) return hit;
  const res = await fetch(event.request);
  // The decoder's wasm and the chunks loaded on demand are kept once fetched.
  if (res.ok && new URL(event.request.url).pathname.startsWith("/assets/")) {
    const copy = res.clone();
    event.waitUntil(caches.open(SHELL).then((c) => c.put(event.request, copy)));
  }
  return res;
}

self.addEventListener("fetch", (event) => {
  const req = event.request;
  if (req.method !== "GET") return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin || url.pathname.startsWith("/v1/") || url.pathname.startsWith("/_local/")) return;
  if (req.mode === "navigate") event.respondWith(page(req));
  else if (url.pathname.startsWith("/images/")) event.respondWith(image(event));
  else event.respondWith(asset(event));
});
