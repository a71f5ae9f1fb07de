//! Prometheus metrics of the consumer, served at `/metrics` with `/healthz`
//! and `/readyz` on the same listener.
//!
//! Counters and histograms go through the `metrics` facade into one
//! process-wide `metrics-exporter-prometheus` recorder ([`prometheus`]), so
//! the API's metrics share it when both run in one process. Per-partition
//! offsets are the exception: they are computed at scrape time from the
//! partitions this member owns right now, and a revoked partition's series
//! must disappear, which a facade gauge cannot do.
//! Names and labels: docs/operations.md (metrics reference).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Buckets (seconds) of every `*_seconds` histogram: store groups take from
/// milliseconds to minutes (ClickHouse outage, retried); API requests
/// milliseconds to the request timeout.
pub const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];
/// Buckets of `authpulse_ingest_batch_rows` (default batch limit 100 000).
pub const ROW_BUCKETS: &[f64] = &[
    1.0,
    10.0,
    100.0,
    1_000.0,
    5_000.0,
    10_000.0,
    25_000.0,
    50_000.0,
    100_000.0,
    250_000.0,
    1_000_000.0,
];

/// Buckets of `authpulse_ingest_claims_rows_read`: from a few granules to
/// a whole table of retention-long claims.
pub const READ_ROW_BUCKETS: &[f64] = &[
    1_000.0,
    10_000.0,
    100_000.0,
    1_000_000.0,
    10_000_000.0,
    100_000_000.0,
    1_000_000_000.0,
];

struct Prometheus {
    handle: PrometheusHandle,
    process: metrics_process::Collector,
}

static PROMETHEUS: OnceLock<Prometheus> = OnceLock::new();

fn global() -> &'static Prometheus {
    PROMETHEUS.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("authpulse_ingest_batch_rows".into()),
                    ROW_BUCKETS,
                )
            })
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("authpulse_ingest_claims_rows_read".into()),
                    READ_ROW_BUCKETS,
                )
            })
            .expect("bucket lists are non-empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!(
                "another metrics recorder is installed; /metrics shows only what reaches this one"
            );
        }
        let process = metrics_process::Collector::default();
        process.describe();
        describe();
        gauge!("authpulse_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        Prometheus { handle, process }
    })
}

/// Installs the process-wide Prometheus recorder (once) and returns a
/// function rendering everything recorded, process metrics included.
pub fn prometheus() -> impl Fn() -> String + Send + Sync + Clone + 'static {
    global();
    || {
        let p = global();
        p.process.collect();
        p.handle.run_upkeep();
        p.handle.render()
    }
}

fn describe() {
    describe_gauge!(
        "authpulse_build_info",
        "Always 1; the version label is the running build."
    );
    describe_counter!(
        "authpulse_ingest_events_consumed_total",
        "Messages consumed, by event type (or 'invalid')."
    );
    describe_counter!(
        "authpulse_ingest_events_inserted_total",
        "Events stored in ClickHouse, by event type."
    );
    describe_counter!(
        "authpulse_ingest_dead_letters_total",
        "Messages sent to the dead-letter path, by reason."
    );
    describe_counter!("authpulse_ingest_batches_total", "Batches stored.");
    describe_counter!(
        "authpulse_ingest_insert_failures_total",
        "Failed store attempts (retried)."
    );
    describe_counter!(
        "authpulse_ingest_duplicates_total",
        "Messages dropped as re-sends of an event id already stored."
    );
    describe_counter!(
        "authpulse_ingest_partitions_assigned_total",
        "Partitions this member started owning (group rebalances)."
    );
    describe_counter!(
        "authpulse_ingest_partitions_revoked_total",
        "Partitions taken from this member (group rebalances)."
    );
    describe_gauge!(
        "authpulse_ingest_partitions_owned",
        "Partitions this member owns now."
    );
    describe_gauge!(
        "authpulse_ingest_lag",
        "Messages not yet committed, summed over the partitions this member owns."
    );
    describe_histogram!("authpulse_ingest_batch_rows", "Rows per stored batch.");
    describe_histogram!(
        "authpulse_ingest_claims_rows_read",
        "Rows one store group's re-send lookup read (ClickHouse's count): the group's ids \
         and the granules of ingest_claims_by_time its event times touch."
    );
    describe_histogram!(
        "authpulse_ingest_claims_lookup_seconds",
        metrics::Unit::Seconds,
        "Time of one store group's re-send lookup (claims on its events)."
    );
    describe_histogram!(
        "authpulse_ingest_store_seconds",
        metrics::Unit::Seconds,
        "Time to store one store group (the batches due together, every table) in ClickHouse."
    );
    describe_histogram!(
        "authpulse_ingest_store_stage_seconds",
        metrics::Unit::Seconds,
        "Time of each stage of one store group's store, by stage: write_ahead (the write-ahead \
         record and the group's event ids, together), claims (re-send lookup and the new \
         claims), tables (the raw tables and the dead-letter table, together)."
    );
}

#[derive(Default, Clone, Copy)]
struct Offsets {
    /// Next offset to consume after the last commit (or the resume point).
    committed: Option<i64>,
    /// Last offset delivered + 1.
    seen: i64,
    /// As reported by the broker's ListOffsets.
    high: Option<i64>,
}

impl Offsets {
    /// Lag = max(high watermark, last offset seen + 1) − committed offset.
    fn lag(&self) -> i64 {
        (self.high.unwrap_or(0).max(self.seen) - self.committed.unwrap_or(0)).max(0)
    }
}

pub struct Metrics {
    /// (topic, partition) → offsets, for the partitions owned now.
    partitions: Mutex<BTreeMap<(String, i32), Offsets>>,
    render: Box<dyn Fn() -> String + Send + Sync>,
}

impl Default for Metrics {
    fn default() -> Self {
        let render = Box::new(prometheus());
        // Unlabelled counters are exported from the start (a rate over a
        // series that appears only at its first event misses that event).
        for name in [
            "authpulse_ingest_batches_total",
            "authpulse_ingest_insert_failures_total",
            "authpulse_ingest_duplicates_total",
            "authpulse_ingest_partitions_assigned_total",
            "authpulse_ingest_partitions_revoked_total",
        ] {
            counter!(name).increment(0);
        }
        Metrics {
            partitions: Mutex::default(),
            render,
        }
    }
}

impl Metrics {
    pub fn consumed(&self, kind: &'static str) {
        counter!("authpulse_ingest_events_consumed_total", "type" => kind).increment(1);
    }

    pub fn inserted(&self, kind: &'static str, n: u64) {
        counter!("authpulse_ingest_events_inserted_total", "type" => kind).increment(n);
    }

    pub fn dead_lettered(&self, reason: &'static str) {
        counter!("authpulse_ingest_dead_letters_total", "reason" => reason).increment(1);
    }

    pub fn batch(&self, rows: usize) {
        counter!("authpulse_ingest_batches_total").increment(1);
        histogram!("authpulse_ingest_batch_rows").record(rows as f64);
    }

    pub fn record_insert(&self, took: Duration) {
        histogram!("authpulse_ingest_store_seconds").record(took.as_secs_f64());
    }

    /// One stage of a store group's store (`crate::sink::Sink::store`).
    pub fn store_stage(&self, stage: &'static str, took: Duration) {
        histogram!("authpulse_ingest_store_stage_seconds", "stage" => stage)
            .record(took.as_secs_f64());
    }

    /// One store group's re-send lookup: rows read (when ClickHouse said)
    /// and time taken.
    pub fn claims_lookup(&self, rows_read: Option<u64>, took: Duration) {
        if let Some(n) = rows_read {
            histogram!("authpulse_ingest_claims_rows_read").record(n as f64);
        }
        histogram!("authpulse_ingest_claims_lookup_seconds").record(took.as_secs_f64());
    }

    pub fn duplicate(&self) {
        counter!("authpulse_ingest_duplicates_total").increment(1);
    }

    pub fn insert_failed(&self) {
        counter!("authpulse_ingest_insert_failures_total").increment(1);
    }

    /// The partition's entry, counting an assignment when it is new (a
    /// delivered message or a committed offset is the first sign of it).
    fn entry<'a>(
        map: &'a mut BTreeMap<(String, i32), Offsets>,
        topic: &str,
        partition: i32,
    ) -> &'a mut Offsets {
        let key = (topic.to_string(), partition);
        if !map.contains_key(&key) {
            counter!("authpulse_ingest_partitions_assigned_total").increment(1);
        }
        map.entry(key).or_default()
    }

    pub fn seen(&self, topic: &str, partition: i32, offset: i64) {
        let mut c = self.partitions.lock().unwrap();
        let o = Self::entry(&mut c, topic, partition);
        o.seen = o.seen.max(offset + 1);
        // The first offset delivered after an assignment is the resume point.
        o.committed.get_or_insert(offset);
    }

    pub fn committed(&self, topic: &str, partition: i32, next: i64) {
        let mut c = self.partitions.lock().unwrap();
        Self::entry(&mut c, topic, partition).committed = Some(next);
    }

    /// Whether a committed offset is known for the partition.
    pub fn knows_committed(&self, topic: &str, partition: i32) -> bool {
        let c = self.partitions.lock().unwrap();
        c.get(&(topic.to_string(), partition))
            .is_some_and(|o| o.committed.is_some())
    }

    /// The group's committed offset read from the broker, for a partition
    /// this member owns but has received nothing from (already caught up
    /// when assigned); a delivered message or a commit takes precedence.
    pub fn committed_if_unknown(&self, topic: &str, partition: i32, next: i64) {
        let mut c = self.partitions.lock().unwrap();
        Self::entry(&mut c, topic, partition)
            .committed
            .get_or_insert(next);
    }

    pub fn high_watermark(&self, topic: &str, partition: i32, high: i64) {
        let mut c = self.partitions.lock().unwrap();
        Self::entry(&mut c, topic, partition).high = Some(high);
    }

    pub fn forget_partition(&self, topic: &str, partition: i32) {
        if self
            .partitions
            .lock()
            .unwrap()
            .remove(&(topic.to_string(), partition))
            .is_some()
        {
            counter!("authpulse_ingest_partitions_revoked_total").increment(1);
        }
    }

    /// Prometheus text exposition: the recorder's metrics, then the owned
    /// partitions' offsets.
    pub fn render(&self) -> String {
        let c = self.partitions.lock().unwrap().clone();
        gauge!("authpulse_ingest_partitions_owned").set(c.len() as f64);
        gauge!("authpulse_ingest_lag").set(c.values().map(Offsets::lag).sum::<i64>() as f64);
        let mut out = (self.render)();
        let family =
            |out: &mut String, name: &str, help: &str, value: &dyn Fn(&Offsets) -> Option<i64>| {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
                for ((topic, p), o) in &c {
                    if let Some(v) = value(o) {
                        let _ = writeln!(out, "{name}{{topic=\"{topic}\",partition=\"{p}\"}} {v}");
                    }
                }
            };
        family(
            &mut out,
            "authpulse_ingest_partition_lag",
            "Messages not yet committed: max(high watermark, last offset seen + 1) minus the committed offset.",
            &|o| Some(o.lag()),
        );
        family(
            &mut out,
            "authpulse_ingest_partition_high_watermark",
            "High watermark as the broker reports it.",
            &|o| o.high,
        );
        family(
            &mut out,
            "authpulse_ingest_partition_committed_offset",
            "Next offset after the last committed batch.",
            &|o| o.committed,
        );
        out
    }
}

/// What `/readyz` checks: ClickHouse answers `SELECT 1` and the broker
/// answers a metadata request.
pub struct Readiness {
    clickhouse: clickhouse::Client,
    kafka: rdkafka::ClientConfig,
    probe: Mutex<Option<Arc<rdkafka::consumer::BaseConsumer>>>,
}

static READINESS: OnceLock<Readiness> = OnceLock::new();

/// Sets what the ingest `/readyz` checks (the binary calls this before
/// `run`). `kafka` is the client configuration the consumer connects
/// with (brokers and security settings).
/// `clickhouse`: the client ingest stores with (credentials, TLS, database).
pub fn set_readiness(clickhouse: clickhouse::Client, kafka: rdkafka::ClientConfig) {
    let _ = READINESS.set(Readiness {
        clickhouse,
        kafka,
        probe: Mutex::new(None),
    });
}

const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

impl Readiness {
    async fn check(&self) -> Result<(), String> {
        let ch = async {
            match tokio::time::timeout(
                PROBE_TIMEOUT,
                self.clickhouse.query("SELECT 1").fetch_one::<u8>(),
            )
            .await
            {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("clickhouse: {e}")),
                Err(_) => Err("clickhouse: no answer in 3 s".to_string()),
            }
        };
        let probe = {
            let mut p = self.probe.lock().unwrap();
            match &*p {
                Some(c) => Ok(c.clone()),
                None => match self.kafka.create::<rdkafka::consumer::BaseConsumer>() {
                    Ok(c) => Ok(p.insert(Arc::new(c)).clone()),
                    Err(e) => Err(format!("kafka: {e}")),
                },
            }
        };
        let kafka = async {
            let c = probe?;
            // A metadata request blocks: off the runtime threads.
            tokio::task::spawn_blocking(move || {
                use rdkafka::consumer::Consumer as _;
                c.fetch_metadata(None, PROBE_TIMEOUT)
                    .map(|_| ())
                    .map_err(|e| format!("kafka: {e}"))
            })
            .await
            .map_err(|e| format!("kafka: {e}"))?
        };
        let (ch, kafka) = tokio::join!(ch, kafka);
        let errors: Vec<String> = [ch, kafka].into_iter().filter_map(Result::err).collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

/// Serves `/metrics`, `/healthz` (the process answers) and `/readyz`
/// (ClickHouse and the broker answer) until the process ends.
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<()> {
    use axum::{http::StatusCode, routing::get, Router};
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let m = metrics.clone();
                async move { m.render() }
            }),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(|| async {
                match READINESS.get() {
                    None => (StatusCode::OK, "ok (no checks configured)\n".to_string()),
                    Some(r) => match r.check().await {
                        Ok(()) => (StatusCode::OK, "ok\n".to_string()),
                        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")),
                    },
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await
}
