//! `authpulse-bench`: ingest throughput and CPU per event (authpulse's
//! consumer vs ClickHouse's Kafka engine vs a file insert), report latency,
//! many concurrent readers vs `SELECT 1`, per-endpoint freshness, consumer
//! memory and distinct-user accuracy, against running ClickHouse and broker
//! servers (deploy/local/bench.sh starts them) and the `authpulse` binary.
//! Results go to JSON and to a Markdown report (docs/benchmarks.md)
//! rendered from templates/benchmarks.md.j2.

mod ch;
mod fresh;
mod http;
mod ingest;
mod latency;
mod mau;
mod readers;
mod report;
mod rows;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use rdkafka::admin::{NewTopic, TopicReplication};

pub use ch::Ch;

#[derive(Parser, Clone, Debug)]
#[command(
    name = "authpulse-bench",
    about = "Benchmark ingest, report latency, freshness, memory and distinct-user \
             accuracy against running servers (deploy/local/bench.sh)"
)]
pub struct BenchArgs {
    /// ClickHouse HTTP URL.
    #[arg(
        long,
        env = "AUTHPULSE_CLICKHOUSE_URL",
        default_value = "http://127.0.0.1:8123"
    )]
    pub clickhouse_url: String,
    /// Kafka bootstrap servers.
    #[arg(long, env = "AUTHPULSE_BROKERS", default_value = "127.0.0.1:9092")]
    pub brokers: String,
    /// Broker address as ClickHouse's Kafka engine should use it (default
    /// --brokers).
    #[arg(long)]
    pub kafka_engine_brokers: Option<String>,
    /// Scratch directory (row files, logs); default a new temp dir.
    #[arg(long)]
    pub workdir: Option<PathBuf>,
    /// Steps to run: ingest, latency, readers, freshness, mau. readers and
    /// freshness run on the largest latency database when latency runs
    /// (freshness on an empty one otherwise; readers needs latency).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "ingest,latency,readers,freshness,mau"
    )]
    pub steps: Vec<String>,
    /// Messages in the pre-filled topic of the ingest comparison.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Partitions of the benchmark topics.
    #[arg(long, default_value_t = 4)]
    pub partitions: i32,
    /// Generator seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Organizations in the generated traffic.
    #[arg(long, default_value_t = 10)]
    pub orgs: u32,
    /// Applications per organization.
    #[arg(long, default_value_t = 4)]
    pub apps_per_org: u32,
    /// Users per organization.
    #[arg(long, default_value_t = 20_000)]
    pub users_per_org: u32,
    /// Event-time span of the generated traffic, in days (ending now).
    #[arg(long, default_value_t = 90)]
    pub span_days: u32,
    /// Raw-event counts of the report latency runs (the targets compare the
    /// first and the last).
    #[arg(long, value_delimiter = ',', default_value = "1000000,100000000")]
    pub sizes: Vec<u64>,
    /// Timed requests per API endpoint (after 5 warm-up requests).
    #[arg(long, default_value_t = 200)]
    pub requests: u64,
    /// Timed runs per raw-table SQL equivalent (after 1 warm-up).
    #[arg(long, default_value_t = 10)]
    pub raw_requests: u64,
    /// Marker events per report endpoint in the freshness run (each timed
    /// from produce to visible, one after another).
    #[arg(long, default_value_t = 20)]
    pub fresh_markers: u64,
    /// Events/s of the background traffic of the freshness run (0 = half
    /// the ingest rate measured in the same run).
    #[arg(long, default_value_t = 0.0)]
    pub fresh_rate: f64,
    /// Concurrent connections of the readers step.
    #[arg(long, default_value_t = 64)]
    pub readers: u64,
    /// Seconds each side of the readers step runs (after 2 s of warm-up).
    #[arg(long, default_value_t = 30)]
    pub readers_secs: u64,
    /// Distinct users active in one month for the MAU accuracy run.
    #[arg(long, default_value_t = 1_000_000)]
    pub mau_users: u64,
    /// Consumers of the ClickHouse Kafka engine table (kafka_num_consumers;
    /// 0 = one per partition, as its users run it).
    #[arg(long, default_value_t = 0)]
    pub kafka_consumers: u32,
    /// Rows per block the Kafka engine flushes (kafka_max_block_size; default
    /// authpulse's own per-partition batch, --batch-rows).
    #[arg(long, default_value_t = 100_000)]
    pub kafka_max_block_size: u64,
    /// PID of the ClickHouse server (CPU accounting).
    #[arg(long)]
    pub clickhouse_pid: Option<u32>,
    /// PID of the broker (CPU accounting).
    #[arg(long)]
    pub broker_pid: Option<u32>,
    /// Extra `key=value` lines for the machine section (versions, ...).
    #[arg(long)]
    pub info: Vec<String>,
    /// Write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the Markdown report here.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// Profile the whole machine with `perf record -a` during 1(a) and add
    /// the CPU breakdown to the report.
    #[arg(long)]
    pub perf: bool,
    /// Keep the benchmark databases (default: drop each after its step).
    #[arg(long)]
    pub keep: bool,
    /// Report latency: measure a database kept by an earlier `--keep` run
    /// of the same size and profile (migrated to the current schema)
    /// instead of loading it again.
    #[arg(long)]
    pub reuse: bool,
    /// SASL, TLS, compression, librdkafka properties (docs/security.md).
    #[command(flatten)]
    pub kafka: authpulse_connect::KafkaOptions,
    /// ClickHouse user, password and CA (the product's client).
    #[command(flatten)]
    pub ch_auth: authpulse_connect::ClickHouseOptions,
    /// The `authpulse` binary whose ingest and api are measured (default:
    /// the one next to this binary, or AUTHPULSE_BIN).
    #[arg(long)]
    pub authpulse_bin: Option<PathBuf>,
}

impl BenchArgs {
    fn step(&self, name: &str) -> bool {
        self.steps.iter().any(|s| s.trim() == name)
    }
}

/// Everything measured in one run.
#[derive(Default)]
pub struct Results {
    pub started: String,
    pub secs: f64,
    pub machine: Vec<(String, String)>,
    pub args: Vec<(String, String)>,
    pub ingest: Option<ingest::IngestResult>,
    pub latency: Vec<latency::SizeResult>,
    pub fresh: Option<fresh::FreshResult>,
    pub readers: Option<readers::ReadersResult>,
    pub mau: Option<mau::MauResult>,
    pub errors: Vec<String>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(BenchArgs::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Fails fast on arguments that would make a step measure nothing.
fn validate(args: &BenchArgs) -> anyhow::Result<()> {
    const STEPS: [&str; 5] = ["ingest", "latency", "readers", "freshness", "mau"];
    for s in &args.steps {
        anyhow::ensure!(
            STEPS.contains(&s.trim()),
            "--steps: unknown step {s:?} (known: {})",
            STEPS.join(", ")
        );
    }
    if args.step("latency") {
        anyhow::ensure!(
            !args.sizes.is_empty() && args.sizes.iter().all(|&s| s > 0),
            "--sizes must list at least one size above 0"
        );
    }
    anyhow::ensure!(args.readers > 0, "--readers must be at least 1");
    anyhow::ensure!(args.readers_secs > 0, "--readers-secs must be at least 1");
    anyhow::ensure!(args.fresh_markers > 0, "--fresh-markers must be at least 1");
    anyhow::ensure!(
        args.fresh_rate >= 0.0 && args.fresh_rate.is_finite(),
        "--fresh-rate must be a non-negative number"
    );
    Ok(())
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    validate(&args)?;
    let started = Instant::now();
    let bin = match &args.authpulse_bin {
        Some(b) => b.clone(),
        None => authpulse_testkit::authpulse_bin()?,
    };
    anyhow::ensure!(
        bin.is_file(),
        "--authpulse-bin {} is not a file",
        bin.display()
    );
    let workdir = match &args.workdir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("authpulse-bench-{}", std::process::id())),
    };
    std::fs::create_dir_all(&workdir).with_context(|| format!("creating {}", workdir.display()))?;
    let ch = Ch::new(args.ch_auth.client(&args.clickhouse_url)?);
    let version: String = ch
        .client()
        .query("SELECT version()")
        .fetch_one()
        .await
        .context("ClickHouse is not answering")?;
    let mut results = Results {
        started: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        machine: machine(&version, &args.info),
        args: vec![
            ("events".into(), args.events.to_string()),
            ("partitions".into(), args.partitions.to_string()),
            (
                "profile".into(),
                format!(
                    "seed {}, {} orgs × {} apps × {} users, {} days",
                    args.seed, args.orgs, args.apps_per_org, args.users_per_org, args.span_days
                ),
            ),
            (
                "sizes".into(),
                args.sizes
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("requests".into(), args.requests.to_string()),
            ("raw_requests".into(), args.raw_requests.to_string()),
            ("fresh_markers".into(), args.fresh_markers.to_string()),
            (
                "readers".into(),
                format!("{} connections × {} s", args.readers, args.readers_secs),
            ),
            ("mau_users".into(), args.mau_users.to_string()),
            (
                "kafka_engine".into(),
                format!(
                    "{} consumers (kafka_num_consumers), kafka_max_block_size {}",
                    match args.kafka_consumers {
                        0 => args.partitions as u32,
                        n => n,
                    },
                    args.kafka_max_block_size
                ),
            ),
        ],
        ..Results::default()
    };
    let ctx = Ctx {
        args: args.clone(),
        workdir: workdir.clone(),
        bin,
        ch,
        http: http::Http::new(),
    };
    if args.step("ingest") {
        eprintln!("== ingest: {} messages", args.events);
        match ingest::run(&ctx).await {
            Ok(r) => results.ingest = Some(r),
            Err(e) => results.errors.push(format!("ingest: {e:#}")),
        }
    }
    // The largest size's database stays loaded for readers and freshness,
    // so that they measure at the size the targets name.
    let largest = args.sizes.iter().copied().max();
    let mut kept: Option<u64> = None;
    if args.step("latency") {
        for &size in &args.sizes {
            eprintln!("== report latency at {size} raw events");
            let keep = Some(size) == largest && kept.is_none();
            match latency::run(&ctx, size, keep).await {
                Ok(r) => {
                    results.latency.push(r);
                    if keep {
                        kept = Some(size);
                    }
                }
                Err(e) => results.errors.push(format!("latency {size}: {e:#}")),
            }
        }
    }
    if args.step("readers") {
        match kept {
            Some(size) => {
                eprintln!("== many readers at {size} raw events");
                match readers::run(&ctx, size).await {
                    Ok(r) => results.readers = Some(r),
                    Err(e) => results.errors.push(format!("readers: {e:#}")),
                }
            }
            None => results.errors.push(
                "readers: needs the latency step's database (--steps latency,readers)".into(),
            ),
        }
    }
    if args.step("freshness") {
        let max = results
            .ingest
            .as_ref()
            .and_then(|i| i.runs.first())
            .filter(|r| r.ok)
            .map(|r| r.rate);
        let rate = if args.fresh_rate > 0.0 {
            args.fresh_rate
        } else {
            max.map(|m| m / 2.0).unwrap_or(10_000.0)
        };
        eprintln!("== freshness at {rate:.0} events/s");
        let db = kept.map(latency::db_name);
        match fresh::run(&ctx, rate, db.as_deref()).await {
            Ok(r) => results.fresh = Some(r),
            Err(e) => results.errors.push(format!("freshness: {e:#}")),
        }
    }
    if let Some(size) = kept {
        ctx.drop_db(&latency::db_name(size)).await;
    }
    if args.step("mau") {
        eprintln!("== distinct users: {} users in one month", args.mau_users);
        match mau::run(&ctx).await {
            Ok(r) => results.mau = Some(r),
            Err(e) => results.errors.push(format!("mau: {e:#}")),
        }
    }
    results.secs = started.elapsed().as_secs_f64();
    for e in &results.errors {
        eprintln!("error: {e}");
    }
    let json = report::json(&results);
    let md = report::markdown(&results)?;
    if let Some(p) = &args.json {
        std::fs::write(p, serde_json::to_vec_pretty(&json)?)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    match &args.markdown {
        Some(p) => {
            std::fs::write(p, &md).with_context(|| format!("writing {}", p.display()))?;
            eprintln!("report written to {}", p.display());
        }
        None => println!("{md}"),
    }
    if args.workdir.is_none() {
        let _ = std::fs::remove_dir_all(&workdir);
    }
    Ok(())
}

/// Shared state of the steps.
pub struct Ctx {
    pub args: BenchArgs,
    pub workdir: PathBuf,
    /// The `authpulse` binary spawned for ingest and api.
    pub bin: PathBuf,
    /// ClickHouse through the product's client.
    pub ch: Ch,
    /// The HTTP client that times the API.
    pub http: http::Http,
}

impl Ctx {
    /// The product's ClickHouse client, no database selected.
    pub fn ch_client(&self) -> clickhouse::Client {
        self.ch.client().clone()
    }

    /// (Re)creates `db` with the authpulse schema.
    pub async fn fresh_db(&self, db: &str) -> anyhow::Result<()> {
        self.ch
            .exec(&format!("DROP DATABASE IF EXISTS `{db}` SYNC"))
            .await?;
        self.migrate_db(db).await
    }

    /// Migrates `db` to the current schema without dropping it.
    pub async fn migrate_db(&self, db: &str) -> anyhow::Result<()> {
        authpulse_store::migrate(&self.ch_client(), db, &[chrono_tz::Tz::UTC], None)
            .await
            .with_context(|| format!("migrating {db}"))?;
        Ok(())
    }

    /// Refreshes every refreshable view of `db` and waits for it. Past days
    /// and months of DAU / MAU and the "now" counts come from snapshots
    /// that lag by up to one refresh period (5–10 s); a measurement taken
    /// right after a bulk load reads them once they have caught up.
    pub async fn refresh_views(&self, db: &str) -> anyhow::Result<()> {
        authpulse_testkit::refresh_views(self.ch.client(), db).await?;
        Ok(())
    }

    pub async fn drop_db(&self, db: &str) {
        if !self.args.keep {
            let _ = self
                .ch
                .exec(&format!("DROP DATABASE IF EXISTS `{db}` SYNC"))
                .await;
        }
    }

    pub async fn create_topic(&self, topic: &str) -> anyhow::Result<()> {
        authpulse_testkit::create_topic(
            &self.args.kafka.client_config(&self.args.brokers),
            NewTopic::new(topic, self.args.partitions, TopicReplication::Fixed(1)),
            self.args.partitions,
        )
        .await
    }

    /// A fast producer with the bench's broker and security options.
    pub fn producer(&self) -> anyhow::Result<authpulse_testkit::Sender> {
        let config = self
            .args
            .kafka
            .validated_producer_config(&self.args.brokers)?;
        Ok(authpulse_testkit::Sender::new(config)?)
    }

    /// CPU seconds used so far by ClickHouse and the broker.
    pub fn server_cpu(&self) -> (Option<f64>, Option<f64>) {
        (
            self.args.clickhouse_pid.and_then(cpu_secs),
            self.args.broker_pid.and_then(cpu_secs),
        )
    }

    /// Spawns `authpulse <args>` with the bench's endpoints; stderr to
    /// `<workdir>/<log>`.
    pub fn spawn(&self, args: &[String], log: &str) -> anyhow::Result<Child> {
        let log_path = self.workdir.join(log);
        let out = std::fs::File::create(&log_path)?;
        let child = Command::new(&self.bin)
            .args(args)
            .env("AUTHPULSE_CLICKHOUSE_URL", &self.args.clickhouse_url)
            .env("AUTHPULSE_BROKERS", &self.args.brokers)
            .envs(self.args.kafka.to_env())
            .envs(self.args.ch_auth.to_env())
            .env("RUST_LOG", "info,rdkafka=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .with_context(|| format!("spawning {} {}", self.bin.display(), args.join(" ")))?;
        Ok(Child {
            child,
            log: log_path,
        })
    }
}

/// A child `authpulse` process, killed on drop.
pub struct Child {
    child: std::process::Child,
    pub log: PathBuf,
}

impl Child {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }

    /// SIGTERM, then SIGKILL after 30 s.
    pub fn terminate(&mut self) {
        authpulse_testkit::terminate(&mut self.child, Duration::from_secs(30));
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(authpulse_testkit::try_free_port()?)
}

/// `VmHWM` (peak resident set) of a process, in bytes.
pub fn peak_rss(pid: u32) -> Option<u64> {
    proc_status_kb(pid, "VmHWM:").map(|kb| kb * 1024)
}

fn proc_status_kb(pid: u32, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// User + system CPU seconds of a process (all its threads).
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces).
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn machine(ch_version: &str, info: &[String]) -> Vec<(String, String)> {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let mem = read("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0))
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut out = vec![
        ("CPU".to_string(), cpu),
        ("cores (nproc)".to_string(), cores.to_string()),
        ("memory".to_string(), mem),
        (
            "kernel".to_string(),
            read("/proc/sys/kernel/osrelease").trim().to_string(),
        ),
        ("ClickHouse".to_string(), ch_version.to_string()),
        (
            "authpulse".to_string(),
            format!(
                "{} ({} build)",
                env!("CARGO_PKG_VERSION"),
                if cfg!(debug_assertions) {
                    "debug"
                } else {
                    "release"
                }
            ),
        ),
    ];
    for i in info {
        if let Some((k, v)) = i.split_once('=') {
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

/// Scrapes the consumer's Prometheus metrics: batches stored, rows per
/// batch, store groups and store time per group.
pub async fn ingest_metrics(http: &http::Http, port: u16) -> Option<String> {
    let r = http
        .get(&format!("http://127.0.0.1:{port}/metrics"), None)
        .await
        .ok()?;
    let text = r.text();
    let get = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    let batches = get("authpulse_ingest_batches_total ")?;
    let rows = histogram_quantile(&text, "authpulse_ingest_batch_rows", 0.5);
    let p50 = histogram_quantile(&text, "authpulse_ingest_store_seconds", 0.5);
    let p99 = histogram_quantile(&text, "authpulse_ingest_store_seconds", 0.99);
    let groups = get("authpulse_ingest_store_seconds_count ").unwrap_or(batches);
    // Mean time per store group of each stage (they run one after another).
    let stages: Vec<String> = ["write_ahead", "claims", "tables"]
        .into_iter()
        .filter_map(|stage| {
            let label = format!("{{stage=\"{stage}\"}} ");
            let sum = get(&format!("authpulse_ingest_store_stage_seconds_sum{label}"))?;
            let count = get(&format!(
                "authpulse_ingest_store_stage_seconds_count{label}"
            ))?;
            (count > 0.0).then(|| format!("{stage} {:.3} s", sum / count))
        })
        .collect();
    Some(format!(
        "{batches:.0} batches stored in {groups:.0} store groups, rows per batch p50 {}, \
         store time per group p50 {} s / p99 {} s (≈ {} s of stores in series){}",
        rows.map_or("–".into(), |r| format!("{r:.0}")),
        p50.map_or("–".into(), |v| format!("{v:.3}")),
        p99.map_or("–".into(), |v| format!("{v:.3}")),
        p50.map_or("–".into(), |v| format!("{:.1}", v * groups)),
        if stages.is_empty() {
            String::new()
        } else {
            format!("; mean per group by stage: {}", stages.join(", "))
        },
    ))
}

/// The q-quantile of a Prometheus histogram in `text`, interpolated
/// linearly inside its bucket as PromQL's `histogram_quantile` does.
pub fn histogram_quantile(text: &str, name: &str, q: f64) -> Option<f64> {
    let prefix = format!("{name}_bucket{{le=\"");
    let buckets: Vec<(f64, f64)> = text
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|rest| {
            let (le, value) = rest.split_once("\"} ")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, value.trim().parse().ok()?))
        })
        .collect();
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for (le, count) in buckets {
        if count >= rank {
            if le.is_infinite() {
                return Some(lower);
            }
            let inside = count - below;
            return Some(if inside > 0.0 {
                lower + (le - lower) * (rank - below) / inside
            } else {
                le
            });
        }
        (lower, below) = (le, count);
    }
    None
}

pub fn path_str(p: &Path) -> String {
    p.display().to_string()
}

#[cfg(test)]
mod histogram_tests {
    /// Interpolates inside the bucket holding the rank, as PromQL does.
    #[test]
    fn quantile_from_buckets() {
        let text = "x_bucket{le=\"0.1\"} 50\nx_bucket{le=\"1\"} 90\nx_bucket{le=\"+Inf\"} 100\nx_sum 9\nx_count 100\n";
        let q = |q| super::histogram_quantile(text, "x", q).unwrap();
        assert!((q(0.5) - 0.1).abs() < 1e-9);
        assert!((q(0.25) - 0.05).abs() < 1e-9);
        assert!((q(0.7) - 0.55).abs() < 1e-9);
        // Above the last finite bucket: its upper bound.
        assert!((q(0.99) - 1.0).abs() < 1e-9);
        assert_eq!(super::histogram_quantile("", "x", 0.5), None);
    }
}
