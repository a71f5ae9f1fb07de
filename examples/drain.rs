//! Diagnostic: how fast a bare rdkafka consumer (same read-ahead settings as
//! `authpulse ingest`, no parsing, no storing) drains a topic. Tells whether
//! the broker or the pipeline bounds ingest throughput
//! (docs/benchmarks-analysis.md).
//!
//!     cargo run --release --example drain -- BROKERS TOPIC MESSAGES MAX_PARTITION_FETCH_BYTES
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::Message;
use std::time::{Duration, Instant};
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (brokers, topic, n, mpfb) = (&a[1], &a[2], a[3].parse::<usize>().unwrap(), &a[4]);
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("drain{}", std::process::id()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("queued.max.messages.kbytes", "12288")
        .set("fetch.max.bytes", "52428800")
        .set("max.partition.fetch.bytes", mpfb)
        .create()
        .unwrap();
    c.subscribe(&[topic]).unwrap();
    let t = Instant::now();
    let mut got = 0usize;
    let mut bytes = 0usize;
    let mut first: Option<Instant> = None;
    while got < n {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
            first.get_or_insert_with(Instant::now);
            got += 1;
            bytes += m.payload().map_or(0, |p| p.len());
        }
    }
    let f = first.unwrap();
    println!(
        "{got} msgs {bytes} bytes in {:.2}s ({:.2}s after first): {:.0} msg/s {:.1} MB/s",
        t.elapsed().as_secs_f64(),
        f.elapsed().as_secs_f64(),
        got as f64 / f.elapsed().as_secs_f64(),
        bytes as f64 / f.elapsed().as_secs_f64() / 1e6
    );
}
