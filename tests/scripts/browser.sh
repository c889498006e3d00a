#!/usr/bin/env bash
# The web app in a real browser: headless Chromium (Debian's, installed with apt when missing,
# as servers.sh installs Java) driven by selenium (PyPI, in .local/browser-venv) against a
# `catalog serve` of its own on a free loopback port and a fresh data folder (the demo catalog,
# no Open Food Facts lookups). Runs tests/browser/test_pwa.py; screenshots go to
# target/browser/. Expects web/dist and target/debug/catalog built (`make test-browser` builds
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
DATA="$(mktemp -d)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
# Its log has the sign-in codes' SMS (info), which the suite reads as a phone would.
OFF_BASE_URL=off RUST_LOG=info "$CATALOG" serve --addr "127.0.0.1:$PORT" --data-dir "$DATA" --web-dir web/dist \
  >"$OUT/serve.log" 2>&1 &
SERVER=$!
cleanup() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$DATA"; }
trap cleanup EXIT
for _ in $(seq 1 120); do
  if curl -fsS "$BASE/v1/health" >/dev/null 2>&1; then break; fi
  kill -0 "$SERVER" 2>/dev/null || { log "catalog serve exited:"; tail -20 "$OUT/serve.log" >&2; exit 1; }
  sleep 0.5
done
start=$(date +%s)
SE_OFFLINE=true "$VENV/bin/python" tests/browser/test_pwa.py --base "$BASE" --catalog "$CATALOG" --out "$OUT" --log "$OUT/serve.log" \
  --chrome "$CHROME_BIN" --driver "$CHROMEDRIVER"
log "passed in $(( $(date +%s) - start )) s; screenshots in $OUT/"
