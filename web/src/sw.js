// The app's service worker: the shell (index.html and the bundles of this build) is kept in a
// cache named by the build, so the app opens offline; a new build's worker fills its own cache
// and drops the old one. The API is never cached (stock must be read live; scans queue in
// IndexedDB, not here). Product images are kept once seen, so an offline list still shows them.
const VERSION = "%VERSION%";
const SHELL = `shell-${VERSION}`;
const IMAGES = "images-v1";
const PRECACHE = %PRECACHE%;

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL).then((c) => c.addAll(PRECACHE)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== SHELL && k !== IMAGES).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  if (req.method !== "GET") return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin || url.pathname.startsWith("/v1/") || url.pathname.startsWith("/_local/")) return;
  if (req.mode === "navigate") {
    // Network first, so a deploy shows at once; the cached shell when offline.
    event.respondWith(fetch(req).catch(() => caches.match("/", { cacheName: SHELL })));
    return;
  }
  if (url.pathname.startsWith("/images/")) {
    event.respondWith(
      caches.open(IMAGES).then((c) =>
        c.match(req).then(
          (hit) =>
            hit ||
            fetch(req).then((res) => {
              if (res.ok) c.put(req, res.clone());
              return res;
            }),
        ),
      ),
    );
    return;
  }
  event.respondWith(
    caches.match(req).then(
      (hit) =>
        hit ||
        fetch(req).then((res) => {
          // The decoder's wasm (and anything else of ours) is kept once it has been fetched.
          if (res.ok && url.pathname.startsWith("/assets/")) {
            const copy = res.clone();
            caches.open(SHELL).then((c) => c.put(req, copy));
          }
          return res;
        }),
    ),
  );
});
