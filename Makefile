# Kirana catalog backend. `make run` and `make test` are the whole set-up on a fresh machine.

.PHONY: run web test test-browser bench bench-api bench-er bench-heldout bench-import bench-inventory bench-images bench-init bench-off openapi package deploy smoke deploy-local validate-infra servers-start servers-stop fmt lint clean

MATCHBENCH ?= ../shared/matchbench
BENCH_BIN = target/perf/catalog
BENCH_OUT = target/bench-results

## Serve every route on the embedded backend (SQLite + blob folder under ./data) at 127.0.0.1:8080,
## and the web app (built first) at /.
run: web
	cargo run -p catalog -- serve

## The web app (web/): its npm packages (when package-lock.json changed), the API's types from
## shared/openapi.json, a type check, and the bundle in web/dist.
web: web/node_modules/.package-lock.json
	cd web && npm run --silent build

web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error

## The web app in a real browser (Chromium, headless, installed with apt when missing) against a
## fresh `catalog serve`: sign-in, scans online and offline, an import, a review. Screenshots
## in target/browser/. Part of `make test`.
test-browser: web
	cargo build -q -p catalog
	tests/scripts/browser.sh

## Install and start DynamoDB Local + ministack, run all tests, validate infra, stop the servers.
test:
	tests/scripts/test.sh

## Matching benchmark on matchbench dev/1m (reads the data from $(MATCHBENCH); never copies it).
bench: bench-1m

bench-%:
	cargo build -q --profile perf -p catalog
	mkdir -p $(BENCH_OUT)
	@cat=$(MATCHBENCH)/dev/$*/catalog.csv; [ -f $$cat ] || cat=$$cat.gz; \
	$(BENCH_BIN) match --catalog $$cat --queries $(MATCHBENCH)/dev/$*/queries.csv --out $(BENCH_OUT)/$*.csv && \
	python3 $(MATCHBENCH)/score.py $(MATCHBENCH)/dev/$*/queries.csv $(BENCH_OUT)/$*.csv && \
	python3 tests/scripts/calibration.py $(MATCHBENCH)/dev/$*/queries.csv $(BENCH_OUT)/$*.csv && \
	python3 tests/scripts/by_row_size.py $(MATCHBENCH)/dev/$*/queries.csv $(BENCH_OUT)/$*.csv

## The same on real listings nobody generated: matchbench's er-dev/abt-buy (two shops' names).
bench-er:
	cargo build -q --profile perf -p catalog
	mkdir -p $(BENCH_OUT)
	$(BENCH_BIN) match --catalog $(MATCHBENCH)/er-dev/abt-buy/catalog.csv --queries $(MATCHBENCH)/er-dev/abt-buy/queries.csv --out $(BENCH_OUT)/er.csv && \
	python3 $(MATCHBENCH)/score.py $(MATCHBENCH)/er-dev/abt-buy/queries.csv $(BENCH_OUT)/er.csv

## A held-out check: matchbench's generator with another seed (HELDOUT_SEED, 7), at
## HELDOUT_SIZE products (1000000) with 2,000 matches and 1,000 negatives, built once outside
## the tree ($(HELDOUT)), so that a rule tuned to the dev sets shows. The generator's
## native-script rows need indic-transliteration from PyPI (in a venv there).
HELDOUT ?= ../heldout
HELDOUT_SEED ?= 7
HELDOUT_SIZE ?= 1000000
bench-heldout:
	cargo build -q --profile perf -p catalog
	mkdir -p $(BENCH_OUT)
	@set -e; d=$(HELDOUT)/seed$(HELDOUT_SEED)-$(HELDOUT_SIZE); \
	if [ ! -f $$d/queries.csv ]; then \
	  python3 -m venv $(HELDOUT)/venv && $(HELDOUT)/venv/bin/pip -q install indic-transliteration rapidfuzz; \
	  $(HELDOUT)/venv/bin/python $(MATCHBENCH)/make_bench.py --out $$d --seed $(HELDOUT_SEED) \
	    --catalog-size $(HELDOUT_SIZE) --n-match 2000 --n-negative 1000; \
	fi; \
	$(BENCH_BIN) match --catalog $$d/catalog.csv --queries $$d/queries.csv --out $(BENCH_OUT)/heldout.csv; \
	python3 $(MATCHBENCH)/score.py $$d/queries.csv $(BENCH_OUT)/heldout.csv; \
	python3 tests/scripts/calibration.py $$d/queries.csv $(BENCH_OUT)/heldout.csv; \
	python3 tests/scripts/by_row_size.py $$d/queries.csv $(BENCH_OUT)/heldout.csv

## Bulk-import benchmark: fresh DynamoDB Local + ministack started for it (and stopped after),
## stock lists of $(BENCH_IMPORT_ROWS) rows built at run time from matchbench dev/1m. Sizes
## below 1M rows run $(BENCH_IMPORT_REPEAT) times and end with the median ratio (the rates of
## a small shared machine move by a third between runs); 1M rows run once.
BENCH_IMPORT_ROWS ?= 10000 100000 1000000
BENCH_IMPORT_REPEAT ?= 3
bench-import:
	cargo build -q --profile perf -p catalog
	tests/scripts/servers.sh stop
	tests/scripts/servers.sh start
	@eval "$$(tests/scripts/servers.sh env)"; status=0; \
	for n in $(BENCH_IMPORT_ROWS); do \
	  r=$(BENCH_IMPORT_REPEAT); [ $$n -lt 1000000 ] || r=1; \
	  $(BENCH_BIN) bench-import --catalog $(MATCHBENCH)/dev/1m/catalog.csv.gz --rows $$n --repeat $$r || status=1; \
	done; \
	tests/scripts/servers.sh stop; exit $$status

## What a store's inventory operations cost on DynamoDB (capacity units, ReturnConsumedCapacity),
## against a fresh DynamoDB Local.
bench-inventory:
	cargo build -q -p catalog
	tests/scripts/servers.sh stop
	tests/scripts/servers.sh start
	@eval "$$(tests/scripts/servers.sh env)"; status=0; \
	target/debug/catalog bench-inventory --items 1000 || status=1; \
	tests/scripts/servers.sh stop; exit $$status

## The local server (catalog serve's router, SQLite) under $(BENCH_API_CLIENTS) concurrent clients of
## oha (the load generator from crates.io, installed into .local/oha on first use): requests/s,
## p50 and p99 for a product, an inventory page, a match and a scan, each read next to the
## storage call it makes, timed in the same run.
OHA_VERSION ?= 1.14.0
BENCH_API_CLIENTS ?= 50
bench-api:
	@[ -x .local/oha/bin/oha ] || { echo "installing oha $(OHA_VERSION) into .local/oha (once)"; \
	  cargo install --quiet --locked --root .local/oha oha --version $(OHA_VERSION); }
	cargo build -q --profile perf -p catalog
	RUST_LOG=warn target/perf/catalog bench-api --oha .local/oha/bin/oha --clients $(BENCH_API_CLIENTS)

## Open Food Facts bulk load: `catalog off-import` of synthetic OFF exports (gzipped JSONL built
## at run time from the OFF names in $(MATCHBENCH), never copied) of $(BENCH_OFF_ROWS) records
## into a freshly started DynamoDB Local: records/s next to the raw BatchWriteItem rate of the
## same server, write units per product, the import process's peak RSS.
BENCH_OFF_ROWS ?= 100000,1000000
bench-off:
	cargo build -q --profile perf -p catalog
	tests/scripts/servers.sh stop
	tests/scripts/servers.sh start
	@eval "$$(tests/scripts/servers.sh env)"; status=0; \
	$(BENCH_BIN) bench-off --names $(MATCHBENCH)/data/off_lifyzer/off_barcode_names.csv --rows $(BENCH_OFF_ROWS) || status=1; \
	tests/scripts/servers.sh stop; exit $$status

## Image pipeline on 12 MP photos against Pillow, one CPU: photos built at run time from
## Debian's mate-backgrounds (downloaded into .local, never committed), Pillow in a venv there.
BENCH_IMAGES = .local/bench-images
PILLOW_VERSION = 13.0.0
bench-images:
	@mkdir -p $(BENCH_IMAGES)
	@[ -d $(BENCH_IMAGES)/deb ] || (cd $(BENCH_IMAGES) && apt-get download mate-backgrounds && dpkg -x mate-backgrounds_*.deb deb)
	@[ -x $(BENCH_IMAGES)/venv/bin/python ] || python3 -m venv $(BENCH_IMAGES)/venv
	@$(BENCH_IMAGES)/venv/bin/pip install -q --disable-pip-version-check "pillow==$(PILLOW_VERSION)"
	cargo bench -q -p catalog-core --no-default-features --bench images --no-run
	@bin=$$(cargo bench -q -p catalog-core --no-default-features --bench images --no-run --message-format=json \
	  | python3 -c 'import json,sys; print([m["executable"] for m in map(json.loads, sys.stdin) if m.get("executable")][-1])'); \
	$(BENCH_IMAGES)/venv/bin/python tests/scripts/bench_images.py --photos $(BENCH_IMAGES)/deb/usr/share/backgrounds/mate \
	  --set $(BENCH_IMAGES)/set --bench $$bin

## Cold starts: every function's release binary (the profile `make package` ships, built for
## this machine) started against a fake Lambda Runtime API, next to an empty lambda_runtime
## function: init and first-answer medians over $(BENCH_INIT_ROUNDS) interleaved rounds, with
## the token secret in ministack's SSM (started for it and stopped after).
BENCH_INIT_ROUNDS ?= 30
FUNCTIONS = $(filter-out catalog,$(notdir $(patsubst %/,%,$(wildcard functions/*/))))
# Linked as `make package` links (no PIE, `.cargo/config.toml`), for this machine: an explicit
# --target keeps the flag off the host's build scripts and out of target/release. The flag
# goes to the linker itself here: with gcc's `-no-pie` (what zig's driver takes for arm64),
# crc-fast's cdylib failed to link here as if it were an executable (`undefined symbol: main`).
HOST = $(shell rustc -vV | sed -n 's/^host: //p')
bench-init:
	CARGO_TARGET_$(shell echo $(HOST) | tr a-z- A-Z_)_RUSTFLAGS="-C link-arg=-Wl,--no-pie" \
	  cargo build --release --target $(HOST) -p empty-lambda $(addprefix -p ,$(FUNCTIONS))
	@tests/scripts/servers.sh start; \
	eval "$$(tests/scripts/servers.sh env)"; \
	python3 tests/scripts/bench_init.py --bin-dir target/$(HOST)/release --events events \
	  --functions $(shell echo $(FUNCTIONS) | tr " " ,) --rounds $(BENCH_INIT_ROUNDS) \
	  --endpoint "$$CATALOG_TEST_S3_ENDPOINT"; status=$$?; \
	tests/scripts/servers.sh stop; exit $$status

## Writes shared/openapi.json, the document `GET /v1/openapi.json` serves, from the handlers
## (a test fails while it is out of date).
openapi:
	mkdir -p target
	cargo run -q -p catalog -- openapi > target/openapi.json.tmp
	mv target/openapi.json.tmp shared/openapi.json

## cargo lambda build --release --arm64 of every function: target/lambda/<function>/bootstrap.zip.
package:
	infra/package.sh

## Deploy the stack kirana-catalog-$(STAGE) (dev, staging or prod) to the AWS account your
## credentials reach: checks the credentials and the stage's token secret, `make package`
## (skipped with DEPLOY_BUILD=0: CI deploys the zips it built once), then a change set;
## CodeDeploy shifts each changed function's alias as the stage says. README, "Deploying".
STAGE ?= dev
DEPLOY_BUILD ?= 1
deploy:
	infra/deploy.sh $(STAGE) $(DEPLOY_BUILD)

## The smoke flow (infra/smoke.py) through the deployed API of $(STAGE).
smoke:
	@infra/venv.sh
	.local/infra-venv/bin/python infra/deploy.py --stage $(STAGE) --smoke

## The whole stack on a ministack of its own (CloudFormation, Lambda running this machine's
## binaries, API Gateway, DynamoDB, S3, SQS): deployed, smoke-tested and fuzzed through its
## API Gateway, updated with one changed function, deleted. Part of `make test`. The build
## is `make test`'s, so neither compiles anything twice.
deploy-local: web
	cargo build --workspace --all-targets
	tests/scripts/servers.sh install
	@infra/venv.sh
	.local/infra-venv/bin/python infra/deploy_local.py

## Expand the SAM template, cfn-lint it, and check it against the code's routes and tables;
## cfn-lint infra/ci-role.yaml; actionlint the CI workflows.
validate-infra:
	cargo build -q -p catalog
	infra/validate.sh

## Start or stop the local DynamoDB/S3 servers by hand (then `eval "$$(tests/scripts/servers.sh env)"`).
servers-start:
	tests/scripts/servers.sh start
servers-stop:
	tests/scripts/servers.sh stop

fmt:
	cargo fmt --all

lint:
	cargo clippy --workspace --all-targets -- -D warnings

clean:
	cargo clean
	rm -rf .local
