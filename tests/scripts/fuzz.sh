#!/usr/bin/env bash
# Fuzzes the HTTP API over its own OpenAPI document (part of `make test`):
#   1. starts `catalog serve` on a fresh data folder and a free loopback port;
#   2. fetches /v1/openapi.json and validates it as OpenAPI 3.1 (openapi-spec-validator);
#   3. runs schemathesis over every operation with an admin token: no 5xx, every response's
#      status, content type (problems are application/problem+json) and body as documented.
# Prints schemathesis' summary; any failure fails the script. Tools go into .local/fuzz-venv
# (pinned). Needs the `catalog` binary built (CATALOG_BIN overrides its path).
#   FUZZ_EXAMPLES  test cases per operation and phase (default 60)
#   FUZZ_SEED      the generator's seed (default 20261202: the same cases every run)
#   FUZZ_BASE_URL  fuzz the API already answering there instead of starting one (the
#                  deployed stack of `make deploy-local`; the token is signed with $JWT_SECRET)
#   FUZZ_OUT       where the reports go (default target/fuzz)
#   FUZZ_PHASES    schemathesis' phases (default all: examples,coverage,fuzzing,stateful)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.local/fuzz-venv"
OUT="${FUZZ_OUT:-$ROOT/target/fuzz}"
CATALOG="${CATALOG_BIN:-$ROOT/target/debug/catalog}"
SCHEMATHESIS_VERSION="4.32.5"
VALIDATOR_VERSION="0.9.0"

log() { printf '[fuzz] %s\n' "$*" >&2; }

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION" \
  || ! "$VENV/bin/python" -c "import openapi_spec_validator" 2>/dev/null; then
  log "installing schemathesis $SCHEMATHESIS_VERSION and openapi-spec-validator $VALIDATOR_VERSION into .local/fuzz-venv"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check \
    "schemathesis==$SCHEMATHESIS_VERSION" "openapi-spec-validator==$VALIDATOR_VERSION"
fi

# CPython before 3.11.9 (this machine's 3.11.7) breaks when two threads run ast.parse at once
# ("SystemError: AST constructor recursion depth mismatch", CPython gh-106905), and hypothesis
# parses lambdas' source from schemathesis' worker threads: one run in a few died of it. The
# venv's interpreter serialises ast.parse (a .pth line runs at start-up).
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
cat >"$SITE/ast_parse_lock.py" <<'PY'
"""ast.parse one thread at a time (CPython gh-106905, before 3.11.9). Written by fuzz.sh."""
import ast
import threading

_lock = threading.Lock()
_parse = ast.parse


def parse(*args, **kwargs):
    with _lock:
        return _parse(*args, **kwargs)


ast.parse = parse
PY
echo "import ast_parse_lock" >"$SITE/ast_parse_lock.pth"

rm -rf "$OUT"
mkdir -p "$OUT"
if [ -n "${FUZZ_BASE_URL:-}" ]; then
  BASE="$FUZZ_BASE_URL"
  curl -sf "$BASE/v1/health" >/dev/null || { log "nothing answers on $BASE"; exit 1; }
else
  DATA="$(mktemp -d)"
  PORT="$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  BASE="http://127.0.0.1:$PORT"
  RUST_LOG=warn "$CATALOG" serve --addr "127.0.0.1:$PORT" --data-dir "$DATA" >"$OUT/serve.log" 2>&1 &
  SERVER=$!
  cleanup() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$DATA"; }
  trap cleanup EXIT
  for _ in $(seq 1 100); do
    curl -sf "$BASE/v1/health" >/dev/null 2>&1 && break
    kill -0 "$SERVER" 2>/dev/null || { log "catalog serve died:"; cat "$OUT/serve.log" >&2; exit 1; }
    sleep 0.1
  done
  curl -sf "$BASE/v1/health" >/dev/null || { log "catalog serve did not answer on $BASE"; exit 1; }
fi

curl -sf "$BASE/v1/openapi.json" -o "$OUT/openapi.json"
"$VENV/bin/python" - "$OUT/openapi.json" <<'PY'
import json, sys
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV31SpecValidator
doc = json.load(open(sys.argv[1]))
validate(doc, cls=OpenAPIV31SpecValidator)
ops = sum(1 for item in doc["paths"].values() for m in item if m in ("get", "put", "post", "patch", "delete"))
print(f"[fuzz] openapi-spec-validator: a valid OpenAPI {doc['openapi']} document, {len(doc['paths'])} paths, {ops} operations")
PY

TOKEN="$("$CATALOG" token --role admin --sub fuzz-admin --days 1)"
# schemathesis keeps its caches in the working folder: the run's own, not the checkout.
cd "$OUT"
set +e
"$VENV/bin/schemathesis" run "$OUT/openapi.json" \
  --url "$BASE" \
  --header "Authorization: Bearer $TOKEN" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
  --phases "${FUZZ_PHASES:-examples,coverage,fuzzing,stateful}" \
  --max-examples "${FUZZ_EXAMPLES:-60}" \
  --seed "${FUZZ_SEED:-20261202}" \
  --workers 2 \
  --request-timeout 10 \
  --no-color \
  --report junit --report-dir "$OUT" \
  2>&1 | tee "$OUT/schemathesis.log"
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
  log "schemathesis found failures (exit $status): see $OUT/schemathesis.log and $OUT/serve.log"
  exit 1
fi
log "schemathesis: no failures"
