# Kirana catalog backend. `make run` and `make test` are the whole set-up on a fresh machine.

.PHONY: run test package validate-infra servers-start servers-stop fmt lint clean

## Serve every route on the embedded backend (SQLite + blob folder under ./data) at 127.0.0.1:8080.
run:
	cargo run -p catalog -- serve

## Install and start DynamoDB Local + ministack, run all tests, validate infra, stop the servers.
test:
	tests/scripts/test.sh

## cargo lambda build --release --arm64 of every function: target/lambda/<function>/bootstrap.zip.
package:
	infra/package.sh

## Expand the SAM template, cfn-lint it, and check it against the code's routes and tables.
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
