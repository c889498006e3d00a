//! A function's logs: Lambda's logging controls read once at init, and the subscriber
//! installed before anything else runs.
//!
//! It does what lambda_runtime's `init_default_subscriber` does: JSON lines when
//! `AWS_LAMBDA_LOG_FORMAT` is `JSON`, text otherwise; no timestamps (Lambda stamps each
//! line); the filter as `EnvFilter` makes it there: `RUST_LOG`'s directives when it has any
//! (`debug`, `catalog_core=debug,warn`; a target it does not name is then off unless it gives
//! a bare level), otherwise the level of Lambda's log controls (`AWS_LAMBDA_LOG_LEVEL`),
//! otherwise `INFO`. The filter is tracing-subscriber's `Targets` instead of `EnvFilter`:
//! targets and levels only, without the regex engine `EnvFilter` would link into every
//! function (about 0.3 MB; README, "Cold start"). A span or field directive
//! (`target[span{field}]=level`), or one that does not parse, is skipped with a line on
//! stderr, as `EnvFilter` skips what it cannot read.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

/// Installs the function's subscriber, from the process environment. A second call (a test
/// that already has one) leaves the first in place.
pub fn init() {
    let (filter, skipped) = filter(|name| std::env::var(name).ok());
    for directive in skipped {
        eprintln!("RUST_LOG: ignoring `{directive}` (only targets and levels are read)");
    }
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let lines = tracing_subscriber::fmt::layer()
        .with_target(false)
        .without_time()
        .with_ansi(false);
    let registry = tracing_subscriber::registry();
    let _ = if json {
        registry.with(lines.json().with_filter(filter)).try_init()
    } else {
        registry.with(lines.with_filter(filter)).try_init()
    };
}

/// The filter `var` (an environment lookup) asks for, and the directives it skipped.
fn filter(var: impl Fn(&str) -> Option<String>) -> (Targets, Vec<String>) {
    let mut targets = Targets::new();
    let (mut skipped, mut default) = (Vec::new(), None);
    for directive in var("RUST_LOG").unwrap_or_default().split(',') {
        // An empty directive would parse as the empty target, which matches every target.
        let directive = directive.trim();
        if directive.is_empty() {
            continue;
        }
        match directive.parse::<Targets>() {
            Ok(parsed) if !directive.contains('[') => {
                default = parsed.default_level().or(default);
                targets.extend(
                    parsed
                        .iter()
                        .map(|(target, level)| (target.to_string(), level)),
                );
            }
            _ => skipped.push(directive.to_string()),
        }
    }
    // As with EnvFilter: Lambda's level (else INFO) only when RUST_LOG said nothing it reads.
    let rust_log_said = default.is_some() || targets.iter().next().is_some();
    let default = default.or_else(|| {
        (!rust_log_said).then(|| {
            var("AWS_LAMBDA_LOG_LEVEL")
                .and_then(|l| level(&l))
                .unwrap_or(LevelFilter::INFO)
        })
    });
    match default {
        Some(level) => (targets.with_default(level), skipped),
        None => (targets, skipped),
    }
}

/// One of Lambda's level names (`TRACE` .. `ERROR`, and `FATAL`, which tracing calls error).
fn level(name: &str) -> Option<LevelFilter> {
    if name.trim().eq_ignore_ascii_case("fatal") {
        Some(LevelFilter::ERROR)
    } else {
        name.trim().parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use tracing::Level;

    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Targets {
        filter(crate::config::tests::vars(pairs)).0
    }

    #[test]
    fn info_unless_told_otherwise() {
        let f = with(&[]);
        assert!(f.would_enable("catalog_core::lambda", &Level::INFO));
        assert!(!f.would_enable("catalog_core::lambda", &Level::DEBUG));
    }

    #[test]
    fn lambdas_level_unless_rust_log_says() {
        let f = with(&[("AWS_LAMBDA_LOG_LEVEL", "WARN")]);
        assert!(f.would_enable("hyper", &Level::WARN));
        assert!(!f.would_enable("hyper", &Level::INFO));
        assert!(with(&[("AWS_LAMBDA_LOG_LEVEL", "FATAL")]).would_enable("x", &Level::ERROR));
        assert!(!with(&[("AWS_LAMBDA_LOG_LEVEL", "FATAL")]).would_enable("x", &Level::WARN));

        // RUST_LOG, when it says anything, is the whole filter (as with EnvFilter).
        let f = with(&[
            ("AWS_LAMBDA_LOG_LEVEL", "INFO"),
            ("RUST_LOG", "debug,catalog_core::services=trace"),
        ]);
        assert!(f.would_enable("hyper", &Level::DEBUG));
        assert!(f.would_enable("catalog_core::services::catalog", &Level::TRACE));
        assert!(!f.would_enable("catalog_core::api", &Level::TRACE));
        // Targets only: every other target is off.
        let f = with(&[
            ("AWS_LAMBDA_LOG_LEVEL", "INFO"),
            ("RUST_LOG", "catalog_core=debug"),
        ]);
        assert!(f.would_enable("catalog_core::api", &Level::DEBUG));
        assert!(!f.would_enable("aws_smithy_runtime", &Level::ERROR));
    }

    #[test]
    fn a_directive_that_is_not_a_target_and_level_is_skipped() {
        let (f, skipped) = filter(crate::config::tests::vars(&[(
            "RUST_LOG",
            "catalog_core=loud, error ,hyper[{x}]=trace",
        )]));
        assert_eq!(skipped, ["catalog_core=loud", "hyper[{x}]=trace"]);
        assert!(f.would_enable("catalog_core", &Level::ERROR));
        assert!(!f.would_enable("catalog_core", &Level::WARN));
        assert!(!f.would_enable("hyper", &Level::TRACE));
        // Nothing readable: Lambda's level, else INFO.
        let f = with(&[("RUST_LOG", "x=loud"), ("AWS_LAMBDA_LOG_LEVEL", "chatty")]);
        assert!(f.would_enable("x", &Level::INFO));
        assert!(!f.would_enable("x", &Level::DEBUG));
    }
}
