//! `authpulse import --source S FILE`: backfill a file through the
//! collector's mapping (same ids, so a re-import counts nothing twice),
//! with a progress bar on stderr.

use std::path::PathBuf;

use anyhow::Context as _;
use authpulse_collector::Source;
use indicatif::{ProgressBar, ProgressStyle};

use super::collect::{orgs, sink, MappingArgs};
use super::servers::KafkaArgs;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Format of FILE: auth0, keycloak, fusionauth or contract.
    #[arg(long, value_parser = ["auth0", "keycloak", "fusionauth", "contract"])]
    pub source: String,
    /// NDJSON (one event or webhook body per line) or one JSON array (the
    /// vendor's export: Auth0 GET /api/v2/logs, Keycloak admin events API).
    pub file: PathBuf,
    #[command(flatten)]
    pub mapping: MappingArgs,
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    let source = Source::parse(&a.source).context("unknown --source")?;
    let orgs = orgs(&a.mapping)?;
    a.kafka.check().await?;
    let sink = sink(&a.kafka, &a.mapping, 200_000)?;
    let total = std::fs::metadata(&a.file)
        .with_context(|| format!("{}", a.file.display()))?
        .len();
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let stats =
        authpulse_collector::import::import_file(source, &a.file, &sink, &orgs, |done, s| {
            bar.set_position(done);
            bar.set_message(format!("{} produced, {} skipped", s.produced, s.skipped));
        })
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", a.file.display()))?;
    bar.finish();
    println!(
        "imported {}: {} source events, {} contract events produced, {} skipped (dead-lettered)",
        a.file.display(),
        stats.items,
        stats.produced,
        stats.skipped
    );
    Ok(())
}
