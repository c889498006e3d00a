//! The empty function `make bench-init` measures every function's cold start against: the
//! runtime, tokio and serde_json, echoing its event (tests/scripts/bench_init.py).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
