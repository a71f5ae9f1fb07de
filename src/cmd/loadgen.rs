//! `authpulse loadgen`: produce a load-generator stream (`authpulse_loadgen::Profile`)
//! to Kafka, optionally paced by a token bucket, with a progress bar on
//! stderr and the oracle's truth file.
//!
//! Producing is `authpulse_loadgen::kafka::Sender`, the producer the
//! tests and the benchmark use too.

use std::path::PathBuf;

use anyhow::Context as _;
use authpulse_loadgen::kafka::Sender;
use authpulse_loadgen::{Oracle, Profile};
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::servers::BrokerArgs;

/// The producer: one fast, idempotent `Sender` shared with demo, the tests
/// and the benchmark (`authpulse_loadgen::kafka`).
pub fn sender(brokers: &str, kafka: &authpulse_connect::KafkaOptions) -> anyhow::Result<Sender> {
    Ok(Sender::new(kafka.validated_producer_config(brokers)?)?)
}

/// A progress bar on stderr with rate and ETA (hidden when stderr is not a
/// terminal or `show` is false).
pub fn progress_bar(len: u64, what: &str, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr_with_hz(4));
    pb.set_style(
        ProgressStyle::with_template(
            "{msg} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} {per_sec} ETA {eta}",
        )
        .expect("valid template"),
    );
    pb.set_message(what.to_string());
    pb
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub kafka: BrokerArgs,
    /// Topic to produce to.
    #[arg(long, default_value = "auth-events")]
    pub topic: String,
    /// Generator seed (the stream is a pure function of the profile).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Messages, including duplicates and poison.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Organizations (tenants).
    #[arg(long, default_value_t = 5)]
    pub orgs: u32,
    /// Applications per organization.
    #[arg(long, default_value_t = 4)]
    pub apps_per_org: u32,
    /// Users per organization.
    #[arg(long, default_value_t = 2_000)]
    pub users_per_org: u32,
    /// Start of the event-time span (RFC 3339); default now − span.
    #[arg(long)]
    pub start: Option<String>,
    /// Length of the event-time span in days (fractions allowed).
    #[arg(long, default_value_t = 90.0)]
    pub span_days: f64,
    /// Zipf exponent of user activity.
    #[arg(long, default_value_t = 1.1)]
    pub zipf_s: f64,
    /// Fraction of late (out-of-order) events.
    #[arg(long, default_value_t = 0.02)]
    pub late_fraction: f64,
    /// Fraction of exact re-sends.
    #[arg(long, default_value_t = 0.01)]
    pub duplicate_fraction: f64,
    /// Fraction of poison messages.
    #[arg(long, default_value_t = 0.005)]
    pub poison_fraction: f64,
    /// Events per second (0 = as fast as possible), token-bucket paced.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Write the oracle's truth JSON here.
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

impl Args {
    pub fn profile(&self) -> anyhow::Result<Profile> {
        anyhow::ensure!(
            self.span_days.is_finite() && self.span_days > 0.0,
            "--span-days must be positive"
        );
        let span = chrono::Duration::milliseconds((self.span_days * 86_400_000.0) as i64);
        let start = match &self.start {
            Some(s) => DateTime::parse_from_rfc3339(s)
                .with_context(|| format!("--start {s:?} is not RFC 3339"))?
                .with_timezone(&Utc),
            None => Utc::now() - span,
        };
        for (name, f) in [
            ("--late-fraction", self.late_fraction),
            ("--duplicate-fraction", self.duplicate_fraction),
            ("--poison-fraction", self.poison_fraction),
        ] {
            anyhow::ensure!((0.0..=1.0).contains(&f), "{name} must be in 0..=1");
        }
        Ok(Profile {
            seed: self.seed,
            events: self.events,
            orgs: self.orgs.max(1),
            apps_per_org: self.apps_per_org,
            users_per_org: self.users_per_org.max(1),
            start,
            span,
            zipf_s: self.zipf_s,
            late_fraction: self.late_fraction,
            duplicate_fraction: self.duplicate_fraction,
            poison_fraction: self.poison_fraction,
        })
    }
}

/// `authpulse loadgen`.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let profile = args.profile()?;
    // A wrong password or an untrusted certificate fails here, in seconds,
    // not as 120 s delivery timeouts.
    args.kafka.check().await?;
    let mut sender = sender(&args.kafka.brokers, &args.kafka.security)?;
    let mut oracle = args.truth.as_ref().map(|_| Oracle::new());
    let pb = progress_bar(profile.events, "loadgen", !args.quiet);
    let produced = sender
        .produce_profile(
            &args.topic,
            &profile,
            args.rate,
            oracle.as_mut(),
            &mut |n| pb.inc(n),
        )
        .await?;
    pb.finish_and_clear();
    eprintln!(
        "produced {} messages ({:.1} MB) to {} in {:.1}s: {:.0} msg/s",
        produced.messages,
        produced.bytes as f64 / 1e6,
        args.topic,
        produced.secs,
        produced.rate()
    );
    if let (Some(path), Some(oracle)) = (&args.truth, &oracle) {
        oracle
            .write_truth(path)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!(
            "truth: {} valid events, {} duplicates, poison {:?} -> {}",
            oracle.valid_events(),
            oracle.duplicates(),
            oracle.poison_by_reason(),
            path.display()
        );
    }
    Ok(())
}
