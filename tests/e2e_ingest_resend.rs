//! Re-sends are counted once whatever partition they land in and however
//! late they come; distinct ids are never taken for re-sends; an operator
//! replay (`ingest --replay-from`) from an offset or a time adds nothing;
//! the re-send lookup reads the claims of the group's event times, not
//! every claim kept.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use authpulse_loadgen::{generate, Message, MessageKind, Oracle, Profile};
use chrono::{TimeZone, Utc};
use common::pipeline::{count, expected, produce_stream, rollup_sums, stored, wait_ingested};
use common::*;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};

fn dead_letters(stack: &Stack) -> u64 {
    count(stack, "SELECT count() FROM authpulse.dead_letters")
}

/// An unlabelled series of ingest's `/metrics`.
fn metric(port: u16, name: &str) -> Option<f64> {
    let (status, text) = http_get(&format!("http://127.0.0.1:{port}/metrics"), None);
    (status == 200).then_some(())?;
    text.lines()
        .find(|l| l.strip_prefix(name).is_some_and(|r| r.starts_with(' ')))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// Ingest with its metrics on `listen` (the tests read its counters).
fn ingest_args(listen: &str) -> [&str; 5] {
    [
        "ingest",
        "--batch-wait-ms",
        "200",
        "--metrics-listen",
        listen,
    ]
}

fn duplicates(port: u16) -> Option<u64> {
    metric(port, "authpulse_ingest_duplicates_total").map(|v| v as u64)
}

/// Sends each payload to every partition of the topic.
fn produce_to_every_partition(brokers: &str, payloads: &[Vec<u8>], partitions: i32) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("message.timeout.ms", "60000")
        .create()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut pending = Vec::new();
        for (i, payload) in payloads.iter().enumerate() {
            for p in 0..partitions {
                let key = format!("resend-{i}-{p}");
                let record = FutureRecord::to("auth-events")
                    .partition(p)
                    .key(&key)
                    .payload(payload);
                match producer.send_result(record) {
                    Ok(delivery) => pending.push(delivery),
                    Err((e, _)) => panic!("produce: {e}"),
                }
            }
        }
        for d in pending {
            d.await
                .unwrap()
                .unwrap_or_else(|(e, _)| panic!("produce: {e}"));
        }
    });
}

fn run_replay(stack: &mut Stack, from: &str, log: &str) {
    let i = stack.spawn(
        &["ingest", "--batch-wait-ms", "200", "--replay-from", from],
        log,
    );
    let code = wait_exit(stack.child(i), Duration::from_secs(240));
    assert_eq!(
        code,
        Some(0),
        "replay from {from} did not finish by itself\n{}",
        stack.log(log)
    );
}

#[test]
fn resends_to_other_partitions_days_later_and_replays_count_once() {
    let mut stack = pipeline::start_stack("resend", 4, "UTC");
    let p = Profile {
        seed: 41,
        events: 3_000,
        orgs: 2,
        apps_per_org: 2,
        users_per_org: 200,
        start: Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap(),
        span: chrono::Duration::days(20),
        duplicate_fraction: 0.02,
        poison_fraction: 0.01,
        ..Profile::default()
    };
    let mut oracle = Oracle::new();
    let mut messages = Vec::new();
    let mut firsts = Vec::new();
    let mut twins = 0u64;
    for m in generate(&p) {
        oracle.observe(&m);
        if let MessageKind::Event(e) = &m.kind {
            // Ten valid logins whose id halves are equal: the old filter
            // folded every one of them to the same 64 bits.
            if twins < 10 && firsts.len() % 50 == 7 && e.body.kind() == "login" {
                let mut twin = e.clone();
                twin.id = uuid::Uuid::from_u64_pair(0xfeed_0000 + twins, 0xfeed_0000 + twins);
                twins += 1;
                let msg = Message::event(twin);
                oracle.observe(&msg);
                messages.push((msg.key.clone(), msg.payload.clone()));
            }
            firsts.push(m.payload.clone());
        }
        messages.push((m.key, m.payload));
    }
    produce(&stack.brokers(), "auth-events", &messages);
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let args = ingest_args(&listen);
    let a = stack.spawn(&args, "ingest-a.log");
    wait_ingested(&stack, &oracle, &["ingest-a.log"]);
    let equal_halves = count(
        &stack,
        "SELECT count() FROM authpulse.login_events WHERE toString(event_id) LIKE '00000000-feed-%'",
    );
    assert_eq!(twins, 10);
    assert_eq!(equal_halves, 10, "ten distinct logins with equal id halves");
    let dead = dead_letters(&stack);
    assert_eq!(dead, oracle.poison_by_reason().values().sum::<u64>());
    assert_eq!(stack.terminate(a), Some(0));

    // "Days later": what the old per-partition memory relied on is gone
    // (its table kept ids 3 days), and the re-sends come to every
    // partition, most of them not their original's.
    stack.query("TRUNCATE TABLE authpulse.ingest_event_ids");
    let before_resends = Utc::now() - chrono::Duration::seconds(1);
    let resent: Vec<Vec<u8>> = firsts.iter().step_by(10).cloned().collect();
    produce_to_every_partition(&stack.brokers(), &resent, 4);
    let b = stack.spawn(&args, "ingest-b.log");
    let want_dups = resent.len() as u64 * 4;
    let counted = eventually(Duration::from_secs(240), || {
        (duplicates(port) == Some(want_dups)).then_some(())
    });
    assert!(
        counted.is_some(),
        "re-sends dropped: {:?} of {want_dups}\n{}",
        duplicates(port),
        stack.log("ingest-b.log")
    );
    std::thread::sleep(Duration::from_secs(3));
    let want = expected(&oracle);
    assert_eq!(
        stored(&stack),
        want,
        "re-sends on other partitions counted once"
    );
    let rollups_before: BTreeMap<_, _> = rollup_sums(&stack);
    assert_eq!(stack.terminate(b), Some(0));

    // Operator replays from offset 0 and from a time add nothing.
    run_replay(&mut stack, "0", "replay-0.log");
    run_replay(
        &mut stack,
        &before_resends.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "replay-time.log",
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(stored(&stack), want, "replays stored nothing again");
    assert_eq!(
        rollup_sums(&stack),
        rollups_before,
        "rollups unchanged by replays"
    );
    assert_eq!(dead_letters(&stack), dead, "no dead letter twice");
    assert!(
        stack.log("replay-0.log").contains("replay caught up"),
        "{}",
        stack.log("replay-0.log")
    );
}

/// The claims are kept for the raw retention, and with random ids a lookup
/// keyed by id read all of them for every store group (42.8 M rows per
/// group in the benchmark of 2026-12-04). Sorted by event time, a group
/// reads the granules of its own event times (and of its late events').
#[test]
fn the_resend_lookup_reads_the_claims_of_its_event_times_not_all_kept() {
    let mut stack = pipeline::start_stack("claims-lookup", 2, "UTC");
    // History: 2 M claims of other events over the 300 days before the
    // stream (inside the claims' 400-day TTL, which counts from today).
    let history: u64 = 2_000_000;
    let start = Utc::now() - chrono::Duration::days(30);
    let from = start - chrono::Duration::days(300);
    stack.query(&format!(
        "INSERT INTO authpulse.ingest_claims_by_time \
           (occurred_at, event_id, topic, partition, offset, store_key) \
         SELECT fromUnixTimestamp64Milli(toInt64({}) + toInt64(number * 12960), 'UTC'), \
                generateUUIDv4(number), 'history', 0, number, 'history' \
         FROM numbers({history})",
        from.timestamp_millis()
    ));
    let p = Profile {
        seed: 43,
        events: 20_000,
        orgs: 2,
        apps_per_org: 2,
        users_per_org: 300,
        start,
        span: chrono::Duration::days(5),
        duplicate_fraction: 0.0,
        poison_fraction: 0.0,
        ..Profile::default()
    };
    let oracle = produce_stream(&stack, "auth-events", &p);
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let args = ingest_args(&listen);
    let i = stack.spawn(&args, "ingest.log");
    wait_ingested(&stack, &oracle, &["ingest.log"]);
    assert_eq!(duplicates(port), Some(0), "no event taken for a re-send");
    let lookups = metric(port, "authpulse_ingest_claims_rows_read_count").unwrap_or(0.0);
    let read = metric(port, "authpulse_ingest_claims_rows_read_sum").unwrap_or(0.0);
    let claims = count(
        &stack,
        "SELECT count() FROM authpulse.ingest_claims_by_time",
    );
    assert_eq!(
        claims,
        history + oracle.valid_events(),
        "one claim per stored event"
    );
    assert!(
        lookups >= 1.0,
        "no lookup counted\n{}",
        stack.log("ingest.log")
    );
    // The 7 days before the stream (its late events') hold ~47 000 of the
    // history's claims; read whole, the table is 2 M per lookup.
    let mean = read / lookups;
    assert!(
        mean < history as f64 / 10.0,
        "a lookup read {mean:.0} rows on average ({lookups} lookups) of {claims} claims"
    );
    assert_eq!(stack.terminate(i), Some(0));
}
