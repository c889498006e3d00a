#!/usr/bin/env bash
# The web app in a real browser: headless Chromium (Debian's, installed with apt when missing,
# as servers.sh installs Java) driven by selenium (PyPI, in .local/browser-venv) against a
# `catalog serve` the suite starts on a free loopback port and a fresh data folder (the demo
# catalog, no Open Food Facts lookups), and kills and restarts mid-way. Runs
# tests/browser/test_pwa.py; screenshots and the server's log go to target/browser/. Expects web/dist and target/debug/catalog built (`make test-browser` builds
# them; `make test` too).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
SELENIUM_VERSION="4.50.0"
VENV=.local/browser-venv
OUT=target/browser
CATALOG="${CATALOG_BIN:-target/debug/catalog}"

log() { printf '[browser] %s\n' "$*" >&2; }

# The browser: $CHROME_BIN, else Debian's chromium, else Google Chrome (GitHub's runners have it
# with its driver); the driver: $CHROMEDRIVER, else chromedriver.
CHROME_BIN="${CHROME_BIN:-$(command -v chromium || command -v google-chrome || true)}"
CHROMEDRIVER="${CHROMEDRIVER:-$(command -v chromedriver || true)}"
if [ -z "$CHROME_BIN" ] || [ -z "$CHROMEDRIVER" ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    log "installing chromium and chromium-driver (apt)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null; }
  else
    log "the browser tests need Chromium and its driver: install chromium and chromium-driver"; exit 1
  fi
  CHROME_BIN="$(command -v chromium)" CHROMEDRIVER="$(command -v chromedriver)"
fi
if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
if [ "$("$VENV/bin/pip" show selenium 2>/dev/null | sed -n 's/^Version: //p')" != "$SELENIUM_VERSION" ]; then
  log "installing selenium==$SELENIUM_VERSION (pip)"
  "$VENV/bin/pip" install -q --disable-pip-version-check "selenium==$SELENIUM_VERSION"
fi
[ -f web/dist/index.html ] || { log "web/dist is not built: make web"; exit 1; }
[ -x "$CATALOG" ] || { log "$CATALOG is not built: cargo build -p catalog"; exit 1; }

rm -rf "$OUT" && mkdir -p "$OUT"
# The suite starts (and stops, and restarts) its own `catalog serve`.
start=$(date +%s)
SE_OFFLINE=true "$VENV/bin/python" tests/browser/test_pwa.py --catalog "$CATALOG" --out "$OUT" \
  --chrome "$CHROME_BIN" --driver "$CHROMEDRIVER"
log "passed in $(( $(date +%s) - start )) s; screenshots in $OUT/"
