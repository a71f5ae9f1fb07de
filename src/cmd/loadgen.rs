//! `authpulse loadgen`: produce a load-generator stream (`authpulse_loadgen::Profile`)
//! to Kafka, optionally paced by a token bucket, with a progress bar on
//! stderr and the oracle's truth file.
//!
//! [`Sender`] is the fast way to produce: records are enqueued with
//! `send_result` (librdkafka batches them) and deliveries are awaited later,
//! oldest first, only when the queue is full or at [`Sender::flush`].
//! Awaiting `FutureProducer::send` one record at a time is ~100× slower.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use authpulse_loadgen::{generate, Oracle, Profile};
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::future_producer::DeliveryFuture;
use rdkafka::producer::{FutureProducer, FutureRecord};

use super::servers::BrokerArgs;

/// Deliveries kept in flight before the oldest one is awaited.
const MAX_PENDING: usize = 100_000;

/// A Kafka producer that enqueues without waiting and checks every
/// delivery later.
pub struct Sender {
    producer: FutureProducer,
    pending: VecDeque<DeliveryFuture>,
    sent: u64,
    bytes: u64,
}

impl Sender {
    /// A producer for `brokers` with the security and compression options.
    pub fn new(brokers: &str, kafka: &authpulse_connect::KafkaOptions) -> anyhow::Result<Sender> {
        kafka.validate()?;
        let producer: FutureProducer = kafka
            .producer_config(brokers)
            .set("message.timeout.ms", "120000")
            .set("linger.ms", "20")
            .set("queue.buffering.max.messages", "200000")
            .set("queue.buffering.max.kbytes", "262144")
            .set("batch.num.messages", "10000")
            .create()
            .context("creating the Kafka producer")?;
        Ok(Sender {
            producer,
            pending: VecDeque::new(),
            sent: 0,
            bytes: 0,
        })
    }

    /// Enqueues one record; waits only when librdkafka's queue is full.
    pub async fn send(&mut self, topic: &str, key: &[u8], payload: &[u8]) -> anyhow::Result<()> {
        loop {
            match self
                .producer
                .send_result(FutureRecord::to(topic).key(key).payload(payload))
            {
                Ok(delivery) => {
                    self.pending.push_back(delivery);
                    self.sent += 1;
                    self.bytes += payload.len() as u64;
                    while self.pending.len() >= MAX_PENDING {
                        self.await_oldest().await?;
                    }
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    if !self.await_oldest().await? {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
                Err((e, _)) => anyhow::bail!("produce to {topic}: {e}"),
            }
        }
    }

    async fn await_oldest(&mut self) -> anyhow::Result<bool> {
        let Some(d) = self.pending.pop_front() else {
            return Ok(false);
        };
        check(d.await)?;
        Ok(true)
    }

    /// Waits for every outstanding delivery; returns the records sent so far.
    pub async fn flush(&mut self) -> anyhow::Result<u64> {
        while self.await_oldest().await? {}
        Ok(self.sent)
    }

    pub fn sent(&self) -> u64 {
        self.sent
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

fn check(r: <DeliveryFuture as std::future::Future>::Output) -> anyhow::Result<()> {
    match r {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((e, _))) => anyhow::bail!("delivery failed: {e}"),
        Err(_) => anyhow::bail!("delivery canceled (producer dropped)"),
    }
}

/// Token-bucket pacing: `rate` tokens per second, bursts of at most 50 ms
/// worth of tokens.
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// `None` for `rate <= 0` (as fast as possible).
    pub fn new(rate: f64) -> Option<TokenBucket> {
        (rate > 0.0).then(|| TokenBucket {
            rate,
            burst: (rate * 0.05).max(1.0),
            tokens: 0.0,
            last: Instant::now(),
        })
    }

    /// Takes one token, sleeping until it is available.
    pub async fn take(&mut self) {
        loop {
            let now = Instant::now();
            self.tokens =
                (self.tokens + (now - self.last).as_secs_f64() * self.rate).min(self.burst);
            self.last = now;
            if self.tokens >= 1.0 {
                self.tokens -= 1.0;
                return;
            }
            let wait = ((1.0 - self.tokens) / self.rate).max(0.001);
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
    }
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

/// What a produce run did.
#[derive(Debug, Clone)]
pub struct Produced {
    pub messages: u64,
    pub bytes: u64,
    pub secs: f64,
}

impl Produced {
    pub fn rate(&self) -> f64 {
        self.messages as f64 / self.secs.max(1e-9)
    }
}

/// Produces every message of `profile` to `topic`; feeds `oracle` when given.
pub async fn produce_profile(
    sender: &mut Sender,
    topic: &str,
    profile: &Profile,
    rate: f64,
    mut oracle: Option<&mut Oracle>,
    pb: &ProgressBar,
) -> anyhow::Result<Produced> {
    let started = Instant::now();
    let (sent0, bytes0) = (sender.sent(), sender.bytes());
    let mut bucket = TokenBucket::new(rate);
    let mut since_tick = 0u64;
    for m in generate(profile) {
        if let Some(b) = bucket.as_mut() {
            b.take().await;
        }
        sender.send(topic, m.key.as_bytes(), &m.payload).await?;
        if let Some(o) = oracle.as_deref_mut() {
            o.observe(&m);
        }
        since_tick += 1;
        if since_tick == 1024 {
            pb.inc(since_tick);
            since_tick = 0;
        }
    }
    pb.inc(since_tick);
    sender.flush().await?;
    Ok(Produced {
        messages: sender.sent() - sent0,
        bytes: sender.bytes() - bytes0,
        secs: started.elapsed().as_secs_f64(),
    })
}

/// `authpulse loadgen`.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let profile = args.profile()?;
    // A wrong password or an untrusted certificate fails here, in seconds,
    // not as 120 s delivery timeouts.
    args.kafka.check().await?;
    let mut sender = Sender::new(&args.kafka.brokers, &args.kafka.security)?;
    let mut oracle = args.truth.as_ref().map(|_| Oracle::new());
    let pb = progress_bar(profile.events, "loadgen", !args.quiet);
    let produced = produce_profile(
        &mut sender,
        &args.topic,
        &profile,
        args.rate,
        oracle.as_mut(),
        &pb,
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
