//! Metrics in CloudWatch's Embedded Metric Format (EMF): a record is one JSON line on stdout,
//! which CloudWatch Logs turns into metrics in the stack's namespace (`METRICS_NAMESPACE`), by
//! the dimensions the record names. No agent and no API call: a record costs one formatted
//! line. Where no namespace is configured (`catalog serve`) nothing is written.
//!
//! What is recorded, and where:
//! - `Requests` and `Latency` by `Route` and `Status` class: every API request
//!   (`http::metrics`);
//! - `MatchDecisions` by `Decision` (`match`, `review`, `new`): every row matched through the
//!   API;
//! - `JobRows` by `Kind` (`import`, `off_import`, `export`) and `Outcome` (`successful`,
//!   `failed`, `duplicates`): the rows of every job, once, when it ends for good (a failed
//!   job's rows are counted too; `failed` counts rows, not jobs).
//!
//! Hand-written rather than through a metrics crate: a few fixed records, each a dozen lines
//! of serde_json, where the crates bring a global registry and a flush cycle made for many
//! metrics per invocation.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

/// Where the records go: stdout in Lambda, a buffer in tests.
pub type Sink = Arc<dyn Fn(&str) + Send + Sync>;

/// A metric's unit, as CloudWatch names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// Where records go, and in which namespace; [`Metrics::none`] writes nothing.
#[derive(Clone)]
pub struct Metrics {
    to: Option<(Arc<str>, Sink)>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("namespace", &self.to.as_ref().map(|(n, _)| n))
            .finish()
    }
}

impl Metrics {
    /// No metrics (locally).
    pub fn none() -> Self {
        Metrics { to: None }
    }

    pub fn new(namespace: &str, sink: Sink) -> Self {
        Metrics {
            to: Some((namespace.into(), sink)),
        }
    }

    /// Records on stdout, one line each (what CloudWatch Logs reads in Lambda).
    pub fn stdout(namespace: &str) -> Self {
        Self::new(
            namespace,
            Arc::new(|line: &str| {
                use std::io::Write;
                // The whole line under stdout's lock, as tracing writes its lines: the two
                // never interleave.
                let _ = std::io::stdout()
                    .lock()
                    .write_all(format!("{line}\n").as_bytes());
            }),
        )
    }

    /// The metrics of `namespace`, or none.
    pub fn stdout_or_none(namespace: Option<&str>) -> Self {
        namespace.map_or_else(Self::none, Self::stdout)
    }

    /// Writes one record: its `dimensions` (name and value) and its `values`.
    pub fn put(&self, dimensions: &[(&str, &str)], values: &[(&str, Unit, f64)]) {
        if let Some((namespace, sink)) = &self.to {
            sink(&record(namespace, dimensions, values, SystemTime::now()));
        }
    }
}

/// One EMF record: the metadata naming one dimension set and the metrics, then the members
/// (each name once, and none of them `_aws`).
fn record(
    namespace: &str,
    dimensions: &[(&str, &str)],
    values: &[(&str, Unit, f64)],
    at: SystemTime,
) -> String {
    let millis = at
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    let names: Vec<&str> = dimensions.iter().map(|(name, _)| *name).collect();
    debug_assert!(
        {
            let mut all: Vec<&str> = names
                .iter()
                .copied()
                .chain(values.iter().map(|v| v.0))
                .collect();
            all.push("_aws");
            all.sort_unstable();
            all.windows(2).all(|w| w[0] != w[1])
        },
        "a metric record names each member once"
    );
    let metrics: Vec<Value> = values
        .iter()
        .map(|(name, unit, _)| json!({"Name": name, "Unit": unit.as_str()}))
        .collect();
    let mut out = Map::new();
    out.insert(
        "_aws".into(),
        json!({
            "Timestamp": millis,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [names],
                "Metrics": metrics,
            }]
        }),
    );
    for (name, value) in dimensions {
        out.insert((*name).into(), json!(value));
    }
    for (name, _, value) in values {
        out.insert((*name).into(), json!(value));
    }
    Value::Object(out).to_string()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_record_is_emf_with_its_dimensions_and_values() {
        let at = UNIX_EPOCH + Duration::from_millis(1_795_323_600_123);
        let line = record(
            "KiranaCatalog/kirana-catalog-dev",
            &[("Kind", "import"), ("Outcome", "failed")],
            &[("JobRows", Unit::Count, 3.0)],
            at,
        );
        assert!(!line.contains('\n'), "one line: {line}");
        let v: Value = serde_json::from_str(&line).unwrap();
        let meta = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(v["_aws"]["Timestamp"], 1_795_323_600_123u64);
        assert_eq!(meta["Namespace"], "KiranaCatalog/kirana-catalog-dev");
        assert_eq!(meta["Dimensions"], json!([["Kind", "Outcome"]]));
        assert_eq!(
            meta["Metrics"],
            json!([{"Name": "JobRows", "Unit": "Count"}])
        );
        // Every dimension and metric the metadata names is a member of the record.
        for d in meta["Dimensions"][0].as_array().unwrap() {
            assert!(v[d.as_str().unwrap()].is_string(), "{d}");
        }
        for m in meta["Metrics"].as_array().unwrap() {
            assert!(v[m["Name"].as_str().unwrap()].is_number(), "{m}");
        }
        assert_eq!(
            (v["Kind"].as_str(), v["JobRows"].as_f64()),
            (Some("import"), Some(3.0))
        );
    }

    #[test]
    fn without_a_namespace_nothing_is_written() {
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let seen = lines.clone();
        let sink: Sink = Arc::new(move |l: &str| seen.lock().unwrap().push(l.to_owned()));
        Metrics::none().put(
            &[("Decision", "match")],
            &[("MatchDecisions", Unit::Count, 1.0)],
        );
        Metrics::new("ns", sink).put(
            &[("Decision", "match")],
            &[("MatchDecisions", Unit::Count, 1.0)],
        );
        assert_eq!(lines.lock().unwrap().len(), 1);
        assert_eq!(
            format!("{:?}", Metrics::none()),
            "Metrics { namespace: None }"
        );
    }
}
