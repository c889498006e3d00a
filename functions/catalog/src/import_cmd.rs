//! `catalog import FILE --store STORE`: the bulk import pipeline from the command line, on the
//! embedded backend, with a progress bar. The same job, service and report as an upload
//! through the API.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use catalog_core::app::App;
use catalog_core::auth::Principal;
use catalog_core::domain::StoreId;
use catalog_core::ports::BlobKey;
use catalog_core::services::imports::{NewImport, Progress, RunOptions, RunOutcome};

pub async fn run(file: &Path, store: &str, data_dir: &Path, secret: &str) -> anyhow::Result<()> {
    let store = StoreId::parse(store).map_err(|e| anyhow::anyhow!("--store {e}"))?;
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let (app, paths) = App::embedded_with(
        data_dir,
        "http://127.0.0.1:8080",
        secret,
        Arc::new(catalog_core::services::LoggedEvents),
        Arc::new(catalog_core::adapters::sms::LoggedCodes),
        None,
    )?;
    let who = Principal::operator("cli");
    let created = app
        .catalog
        .create_import(
            &who,
            &store,
            NewImport {
                content_length: bytes.len() as u64,
                content_type: "text/csv".into(),
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}: {}", service_detail(&e)))?;
    let job = created.job.job;
    app.catalog
        .uploads
        .put(
            &BlobKey::parse(&job.upload_key).map_err(anyhow::Error::msg)?,
            bytes.into(),
            "text/csv",
        )
        .await?;

    let (tx, mut rx) = tokio::sync::watch::channel(Progress::default());
    let bar = indicatif::ProgressBar::new(job.upload_bytes);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let watcher = {
        let bar = bar.clone();
        tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let p = *rx.borrow();
                bar.set_position(p.bytes_read);
                bar.set_message(format!("{} rows", p.rows));
            }
        })
    };
    let started = std::time::Instant::now();
    let (outcome, stats) = app
        .catalog
        .run_import(
            &store,
            &job.job_id,
            &RunOptions {
                progress: Some(tx),
                ..Default::default()
            },
        )
        .await?;
    let _ = watcher.await;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let job = match outcome {
        RunOutcome::Finished(job) => job,
        RunOutcome::Paused(_) => bail!("the import paused (it should not without a deadline)"),
        RunOutcome::Skipped(why) => bail!("the import did not run: {why}"),
        RunOutcome::Busy => bail!("another run holds the import; try again in a few minutes"),
    };
    let c = job.counters;
    println!(
        "job {} {}: {} rows, {} imported, {} failed, {} duplicates; {} new pending products; {:.1} s ({:.0} rows/s)",
        job.job_id,
        job.status.as_str(),
        c.processed,
        c.successful,
        c.failed,
        c.duplicates_found,
        stats.products_created,
        seconds,
        c.processed as f64 / seconds.max(1e-9),
    );
    if let Some(reason) = &job.failure_reason {
        println!("failed: {reason}");
    }
    if let Some(report) = &job.report_key {
        let key = BlobKey::parse(report).map_err(anyhow::Error::msg)?;
        println!("error report: {}", paths.uploads.path_of(&key).display());
    }
    if job.status.as_str() == "failed" {
        std::process::exit(1);
    }
    Ok(())
}

fn service_detail(e: &catalog_core::services::ServiceError) -> String {
    match e {
        catalog_core::services::ServiceError::Invalid(errors) => errors
            .0
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}
