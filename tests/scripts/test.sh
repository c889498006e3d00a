#!/usr/bin/env bash
# `make test`: install and start the local servers, run every test of the workspace against
# them, use the web app in a real browser, validate the infrastructure template and the CI
# workflows, fuzz the API over its OpenAPI document (schemathesis), deploy the whole stack to
# a ministack of its own and use it through its API Gateway (infra/deploy_local.py), stop the
# servers. Fails if the DynamoDB/S3 suites did not run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
mkdir -p target

tests/scripts/servers.sh start
trap 'tests/scripts/servers.sh stop' EXIT
eval "$(tests/scripts/servers.sh env)"

# Without incremental compilation: a cold build (CI's, on a fresh clone) only writes its
# caches, gigabytes of them, and is no faster for them. CARGO_INCREMENTAL=1 keeps them for a
# development loop of warm reruns.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

# One build of everything (tests, the functions and the `catalog` binary the infra check runs),
# with the same feature resolution the test run uses, so nothing is compiled twice.
cargo build --workspace --all-targets

LOG=target/test-output.log
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast --status-level pass 2>&1 | tee "$LOG"
  passed() { grep -cE "PASS .*catalog-tests::suite $1::$2::" "$LOG" || true; }
else
  cargo test --workspace --no-fail-fast 2>&1 | tee "$LOG"
  passed() { grep -cE "^test $1::$2::.* ok$" "$LOG" || true; }
fi
# The server-backed suites must have run (they fail without the servers; this also catches a
# filter or a refactor that quietly drops them).
for suite in "storage_contract dynamodb" "api aws" "accounts aws" "accounts dynamodb" "keys aws" "keys dynamodb" "blob_contract s3" "imports aws"; do
  n=$(passed $suite)
  echo "[test] $suite: $n passed against DynamoDB Local / ministack"
  if [ "$n" -eq 0 ]; then
    echo "[test] the $suite suite did not run against the local servers (see $LOG)" >&2
    exit 1
  fi
done

# The web app, built (npm packages, the API's types, a type check) and used in headless
# Chromium against a `catalog serve` of its own (installs Chromium with apt when missing).
make --no-print-directory web
tests/scripts/browser.sh
infra/validate.sh
tests/scripts/fuzz.sh
# The whole stack deployed to a ministack of its own and used through its API Gateway
# (`make deploy-local`; the servers above stay as they are).
.local/infra-venv/bin/python infra/deploy_local.py
echo "[test] all green"
