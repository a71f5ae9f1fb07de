//! Prometheus metrics of the consumer, served at `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;

#[derive(Default, Clone, Copy)]
struct Offsets {
    /// Next offset to consume after the last commit (or the resume point).
    committed: Option<i64>,
    /// Last offset delivered + 1.
    seen: i64,
    /// As reported by the broker's ListOffsets.
    high: Option<i64>,
}

#[derive(Default)]
struct Counters {
    consumed: BTreeMap<&'static str, u64>,
    inserted: BTreeMap<&'static str, u64>,
    dead_lettered: BTreeMap<&'static str, u64>,
    /// (topic, partition) → offsets
    partitions: BTreeMap<(String, i32), Offsets>,
}

pub struct Metrics {
    counters: Mutex<Counters>,
    batch_rows: Mutex<Histogram<u64>>,
    insert_micros: Mutex<Histogram<u64>>,
    batches: AtomicU64,
    insert_failures: AtomicU64,
    duplicates: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            counters: Mutex::default(),
            batch_rows: Mutex::new(
                Histogram::new_with_bounds(1, 10_000_000, 2).expect("valid bounds"),
            ),
            insert_micros: Mutex::new(
                Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid bounds"),
            ),
            batches: AtomicU64::new(0),
            insert_failures: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    pub fn consumed(&self, kind: &'static str) {
        *self
            .counters
            .lock()
            .unwrap()
            .consumed
            .entry(kind)
            .or_default() += 1;
    }

    pub fn inserted(&self, kind: &'static str, n: u64) {
        *self
            .counters
            .lock()
            .unwrap()
            .inserted
            .entry(kind)
            .or_default() += n;
    }

    pub fn dead_lettered(&self, reason: &'static str) {
        *self
            .counters
            .lock()
            .unwrap()
            .dead_lettered
            .entry(reason)
            .or_default() += 1;
    }

    pub fn batch(&self, rows: usize) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        let _ = self.batch_rows.lock().unwrap().record(rows.max(1) as u64);
    }

    pub fn record_insert(&self, took: Duration) {
        let _ = self
            .insert_micros
            .lock()
            .unwrap()
            .record(took.as_micros().max(1) as u64);
    }

    pub fn duplicate(&self) {
        self.duplicates.fetch_add(1, Ordering::Relaxed);
    }

    pub fn insert_failed(&self) {
        self.insert_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub fn seen(&self, topic: &str, partition: i32, offset: i64) {
        let mut c = self.counters.lock().unwrap();
        let o = c
            .partitions
            .entry((topic.to_string(), partition))
            .or_default();
        o.seen = o.seen.max(offset + 1);
        // The first offset delivered after an assignment is the resume point.
        o.committed.get_or_insert(offset);
    }

    pub fn committed(&self, topic: &str, partition: i32, next: i64) {
        let mut c = self.counters.lock().unwrap();
        c.partitions
            .entry((topic.to_string(), partition))
            .or_default()
            .committed = Some(next);
    }

    /// Whether a committed offset is known for the partition.
    pub fn knows_committed(&self, topic: &str, partition: i32) -> bool {
        let c = self.counters.lock().unwrap();
        c.partitions
            .get(&(topic.to_string(), partition))
            .is_some_and(|o| o.committed.is_some())
    }

    /// The group's committed offset read from the broker, for a partition
    /// this member owns but has received nothing from (already caught up
    /// when assigned); a delivered message or a commit takes precedence.
    pub fn committed_if_unknown(&self, topic: &str, partition: i32, next: i64) {
        let mut c = self.counters.lock().unwrap();
        c.partitions
            .entry((topic.to_string(), partition))
            .or_default()
            .committed
            .get_or_insert(next);
    }

    pub fn high_watermark(&self, topic: &str, partition: i32, high: i64) {
        let mut c = self.counters.lock().unwrap();
        c.partitions
            .entry((topic.to_string(), partition))
            .or_default()
            .high = Some(high);
    }

    pub fn forget_partition(&self, topic: &str, partition: i32) {
        self.counters
            .lock()
            .unwrap()
            .partitions
            .remove(&(topic.to_string(), partition));
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let c = self.counters.lock().unwrap();
        let family = |out: &mut String,
                      name: &str,
                      help: &str,
                      label: &str,
                      m: &BTreeMap<&'static str, u64>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (k, v) in m {
                let _ = writeln!(out, "{name}{{{label}=\"{k}\"}} {v}");
            }
        };
        family(
            &mut out,
            "authpulse_ingest_events_consumed_total",
            "Messages consumed, by event type (or 'invalid').",
            "type",
            &c.consumed,
        );
        family(
            &mut out,
            "authpulse_ingest_events_inserted_total",
            "Events stored in ClickHouse, by event type.",
            "type",
            &c.inserted,
        );
        family(
            &mut out,
            "authpulse_ingest_dead_letters_total",
            "Messages sent to the dead-letter path, by reason.",
            "reason",
            &c.dead_lettered,
        );
        let _ = writeln!(out, "# HELP authpulse_ingest_partition_lag Messages not yet committed: max(high watermark, last offset seen + 1) minus the committed offset.\n# TYPE authpulse_ingest_partition_lag gauge");
        for ((topic, p), o) in &c.partitions {
            let end = o.high.unwrap_or(0).max(o.seen);
            let lag = (end - o.committed.unwrap_or(0)).max(0);
            let _ = writeln!(
                out,
                "authpulse_ingest_partition_lag{{topic=\"{topic}\",partition=\"{p}\"}} {lag}"
            );
        }
        let _ = writeln!(out, "# HELP authpulse_ingest_partition_high_watermark High watermark as the broker reports it.\n# TYPE authpulse_ingest_partition_high_watermark gauge");
        for ((topic, p), o) in &c.partitions {
            if let Some(h) = o.high {
                let _ = writeln!(out, "authpulse_ingest_partition_high_watermark{{topic=\"{topic}\",partition=\"{p}\"}} {h}");
            }
        }
        let _ = writeln!(out, "# HELP authpulse_ingest_partition_committed_offset Next offset after the last committed batch.\n# TYPE authpulse_ingest_partition_committed_offset gauge");
        for ((topic, p), o) in &c.partitions {
            if let Some(h) = o.committed {
                let _ = writeln!(out, "authpulse_ingest_partition_committed_offset{{topic=\"{topic}\",partition=\"{p}\"}} {h}");
            }
        }
        drop(c);
        let _ = writeln!(out, "# HELP authpulse_ingest_batches_total Batches stored.\n# TYPE authpulse_ingest_batches_total counter\nauthpulse_ingest_batches_total {}", self.batches.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP authpulse_ingest_insert_failures_total Failed store attempts (retried).\n# TYPE authpulse_ingest_insert_failures_total counter\nauthpulse_ingest_insert_failures_total {}", self.insert_failures.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP authpulse_ingest_duplicates_total Messages dropped as re-sends of an event id already stored.\n# TYPE authpulse_ingest_duplicates_total counter\nauthpulse_ingest_duplicates_total {}", self.duplicates.load(Ordering::Relaxed));
        summary(
            &mut out,
            "authpulse_ingest_batch_rows",
            "Rows per stored batch.",
            &self.batch_rows.lock().unwrap(),
            1.0,
        );
        summary(
            &mut out,
            "authpulse_ingest_insert_seconds",
            "Time to store one store group (the batches due together, every table) in ClickHouse.",
            &self.insert_micros.lock().unwrap(),
            1e-6,
        );
        out
    }
}

fn summary(out: &mut String, name: &str, help: &str, h: &Histogram<u64>, scale: f64) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} summary");
    for q in [0.5, 0.9, 0.99, 0.999] {
        let _ = writeln!(
            out,
            "{name}{{quantile=\"{q}\"}} {}",
            h.value_at_quantile(q) as f64 * scale
        );
    }
    let sum: f64 = h
        .iter_recorded()
        .map(|v| v.value_iterated_to() as f64 * v.count_at_value() as f64)
        .sum();
    let _ = writeln!(out, "{name}_sum {}\n{name}_count {}", sum * scale, h.len());
}

/// Serves `/metrics` until the process ends.
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<()> {
    use axum::{routing::get, Router};
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let m = metrics.clone();
            async move { m.render() }
        }),
    );
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await
}
