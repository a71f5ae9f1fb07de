//! Ingest delivery guarantees against the real broker and ClickHouse: every
//! valid event stored exactly once (raw tables and rollups) through
//! SIGKILLs, a ClickHouse outage and two consumers sharing partitions; every
//! bad message dead-lettered with its reason.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use authpulse_loadgen::{generate, MessageKind, Oracle, Profile};
use chrono::{TimeZone, Utc};
use common::pipeline::{
    count, dead_letters_by_reason, expected, expected_rollups, produce_stream, rollup_sums, stored,
    wait_ingested,
};
use common::*;

fn profile(seed: u64, events: u64, duplicates: f64, poison: f64) -> Profile {
    Profile {
        seed,
        events,
        orgs: 3,
        apps_per_org: 3,
        users_per_org: 300,
        start: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        span: chrono::Duration::days(40),
        duplicate_fraction: duplicates,
        poison_fraction: poison,
        late_fraction: 0.05,
        ..Profile::default()
    }
}

/// Waits until the raw tables hold what the oracle expects (never more),
/// then checks that nothing else arrives.
fn assert_exact(stack: &Stack, oracle: &Oracle, logs: &[&str]) {
    let expected = expected(oracle);
    wait_ingested(stack, oracle, logs);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(stored(stack), expected, "raw tables exact after settling");
    assert_eq!(
        rollup_sums(stack),
        expected_rollups(oracle),
        "every rollup counted each event once"
    );
    let poison: BTreeMap<String, u64> = oracle
        .poison_by_reason()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    assert_eq!(
        dead_letters_by_reason(stack),
        poison,
        "every bad message dead-lettered once, with its reason"
    );
}

fn start_stack(name: &str, partitions: i32) -> Stack {
    pipeline::start_stack(name, partitions, "UTC")
}

const INGEST: &[&str] = &["ingest", "--batch-rows", "700", "--batch-wait-ms", "150"];

#[test]
fn sigkill_mid_batch_loses_and_duplicates_nothing() {
    let mut stack = start_stack("sigkill", 4);
    let oracle = produce_stream(&stack, "auth-events", &profile(11, 24_000, 0.03, 0.01));
    let mut logs = Vec::new();
    for round in 0..5 {
        // Odd rounds run two consumers: store groups written ahead by one
        // member (all four partitions) are then resumed by owners that each
        // read only part of them, and the other way round.
        let members = if round % 2 == 1 { 2 } else { 1 };
        let mut children = Vec::new();
        let mut round_logs = Vec::new();
        for m in 0..members {
            let log = format!("ingest-{round}-{m}.log");
            children.push(stack.spawn(INGEST, &log));
            round_logs.push(log.clone());
            logs.push(log);
        }
        // Wait until every member owns partitions: the killed members of
        // the round before hold theirs until the group's session timeout
        // (under group.protocol=consumer the broker's, 10 s in broker.sh).
        eventually(Duration::from_secs(120), || {
            round_logs
                .iter()
                .all(|l| stack.log(l).contains("partition assigned"))
                .then_some(())
        })
        .unwrap_or_else(|| panic!("round {round}: members never got partitions"));
        // Let them get into the stream, then kill them wherever they are.
        std::thread::sleep(Duration::from_millis(1000 + 300 * round));
        for i in children {
            let pid = stack.child(i).id();
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            let _ = stack.child(i).wait();
        }
    }
    let partial: u64 = stored(&stack).values().sum();
    assert!(partial > 0, "the killed consumers made progress");
    stack.spawn(INGEST, "ingest-final-0.log");
    stack.spawn(INGEST, "ingest-final-1.log");
    logs.push("ingest-final-0.log".into());
    logs.push("ingest-final-1.log".into());
    let names: Vec<&str> = logs.iter().map(String::as_str).collect();
    assert_exact(&stack, &oracle, &names);
    let replays = names
        .iter()
        .filter(|l| stack.log(l).contains("re-forming a batch"))
        .count();
    eprintln!("consumers that re-formed a written-ahead batch: {replays}");
}

/// The worst crash for a store group: its write-ahead record and one of
/// its tables landed, the rest did not, and its four partitions are then
/// resumed by two consumers that each own two. Each must store the whole
/// group again (reading the partitions it does not own from the topic),
/// under the group's tokens: the landed table drops it, the others take it
/// once.
#[test]
fn partly_stored_group_resumed_by_two_owners() {
    let mut stack = start_stack("group", 4);
    let oracle = produce_stream(&stack, "auth-events", &profile(14, 12_000, 0.03, 0.02));
    let i = stack.spawn_env(
        INGEST,
        "ingest-abort.log",
        &[("AUTHPULSE_FAILPOINT_STORE_ABORT", "login_events")],
    );
    let code = wait_exit(stack.child(i), Duration::from_secs(120));
    assert_eq!(code, None, "aborted by a signal at the failpoint");
    assert!(stack.log("ingest-abort.log").contains("failpoint"));
    let partial = stored(&stack);
    assert!(
        partial["login"] > 0,
        "the group's logins landed: {partial:?}"
    );
    assert!(
        partial["login"] < expected(&oracle)["login"],
        "not every login landed: {partial:?}"
    );
    stack.spawn(INGEST, "ingest-a.log");
    stack.spawn(INGEST, "ingest-b.log");
    let logs = ["ingest-abort.log", "ingest-a.log", "ingest-b.log"];
    assert_exact(&stack, &oracle, &logs);
    assert_columns_match_events(
        &stack,
        &generate(&profile(14, 12_000, 0.03, 0.02)).collect::<Vec<_>>(),
    );
    let re_read = ["ingest-a.log", "ingest-b.log"]
        .iter()
        .filter(|l| stack.log(l).contains("read a group member again"))
        .count();
    assert!(
        re_read >= 1,
        "an owner of part of the group read the other members again"
    );
}

#[test]
fn clickhouse_outage_mid_stream_loses_nothing() {
    let mut stack = start_stack("outage", 3);
    let oracle = produce_stream(&stack, "auth-events", &profile(12, 15_000, 0.0, 0.0));
    stack.spawn(INGEST, "ingest.log");
    eventually(Duration::from_secs(60), || {
        (stored(&stack).values().sum::<u64>() > 0).then_some(())
    })
    .expect("ingest started storing");
    stack.clickhouse("stop");
    std::thread::sleep(Duration::from_secs(6));
    stack.clickhouse("start");
    assert_exact(&stack, &oracle, &["ingest.log"]);
    let metrics_log = stack.log("ingest.log");
    assert!(
        metrics_log.contains("retrying"),
        "the consumer saw the outage and retried"
    );
}

#[test]
fn poison_and_resent_messages_two_consumers() {
    let mut stack = start_stack("poison", 4);
    let p = profile(13, 12_000, 0.05, 0.05);
    let oracle = produce_stream(&stack, "auth-events", &p);
    assert!(
        oracle.duplicates() > 100 && oracle.poison_by_reason().len() == 4,
        "the stream has every kind of bad input"
    );
    let (ma, mb) = (free_port(), free_port());
    let with_metrics = |port: u16| {
        let mut a: Vec<String> = INGEST.iter().map(|s| s.to_string()).collect();
        a.extend(["--metrics-listen".to_string(), format!("127.0.0.1:{port}")]);
        a
    };
    let (a, b) = (with_metrics(ma), with_metrics(mb));
    stack.spawn(
        &a.iter().map(String::as_str).collect::<Vec<_>>(),
        "ingest-a.log",
    );
    stack.spawn(
        &b.iter().map(String::as_str).collect::<Vec<_>>(),
        "ingest-b.log",
    );
    assert_exact(&stack, &oracle, &["ingest-a.log", "ingest-b.log"]);

    // Lag: the broker's high watermarks add up to every message produced,
    // and once caught up every partition's lag is 0.
    let produced = generate(&p).count() as u64;
    let last_seen = std::cell::Cell::new((0u64, 0u64, 0));
    let settled = eventually(Duration::from_secs(30), || {
        let (mut high, mut lag, mut partitions) = (0u64, 0u64, 0);
        for port in [ma, mb] {
            let (_, text) = http_get(&format!("http://127.0.0.1:{port}/metrics"), None);
            for line in text.lines() {
                let value = || line.rsplit(' ').next().unwrap().parse::<u64>().unwrap();
                if line.starts_with("authpulse_ingest_partition_high_watermark{") {
                    high += value();
                    partitions += 1;
                } else if line.starts_with("authpulse_ingest_partition_lag{") {
                    lag += value();
                }
            }
        }
        last_seen.set((high, lag, partitions));
        (partitions == 4 && high == produced && lag == 0).then_some(())
    });
    let (high, lag, partitions) = last_seen.get();
    assert!(
        settled.is_some(),
        "high watermarks sum to {produced} and lag drains to 0: last seen high {high}, lag {lag}, \
         partitions reported {partitions}\n{}\n{}",
        http_get(&format!("http://127.0.0.1:{ma}/metrics"), None).1,
        http_get(&format!("http://127.0.0.1:{mb}/metrics"), None).1
    );

    // An event far in the future (clock skew) is dead-lettered, not counted.
    let mut future = oracle_event(&p);
    future.occurred_at = Utc::now() + chrono::Duration::days(3);
    produce(
        &stack.brokers(),
        "auth-events",
        &[(future.id.to_string(), authpulse_schemas::to_json(&future))],
    );
    eventually(Duration::from_secs(60), || {
        (count(
            &stack,
            "SELECT count() FROM authpulse.dead_letters WHERE reason = 'future_timestamp'",
        ) == 1)
            .then_some(())
    })
    .expect("future event dead-lettered");
    assert_eq!(stored(&stack), expected(&oracle), "and not stored");
    for log in ["ingest-a.log", "ingest-b.log"] {
        assert!(
            stack.log(log).contains("partition assigned"),
            "{log} owned partitions"
        );
    }

    // The DLQ topic carries each bad message with its reason header.
    let dlq = consume_all(&stack.brokers(), "auth-events-dlq", Duration::from_secs(20));
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    for (headers, _) in &dlq {
        *reasons
            .entry(headers["authpulse.reason"].clone())
            .or_default() += 1;
        assert!(headers.contains_key("authpulse.source.offset"));
    }
    let mut poison: BTreeMap<String, u64> = oracle
        .poison_by_reason()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    poison.insert("future_timestamp".into(), 1);
    assert_eq!(reasons, poison);

    // Every poison payload is in the table byte for byte (compare sizes).
    let expected_bytes: u64 = generate(&p)
        .filter(|m| matches!(m.kind, MessageKind::Poison(_)))
        .map(|m| m.payload.len() as u64)
        .sum();
    assert_eq!(
        count(
            &stack,
            "SELECT sum(length(payload)) FROM authpulse.dead_letters WHERE reason != 'future_timestamp'"
        ),
        expected_bytes
    );
}

/// Every column of the stored login, token and session rows equals the
/// event it came from (the consumer writes RowBinary itself; reports read
/// only some of these columns).
fn assert_columns_match_events(stack: &Stack, messages: &[authpulse_loadgen::Message]) {
    use authpulse_schemas::Body;
    let ms = |t: chrono::DateTime<Utc>| t.timestamp_millis().to_string();
    let opt = |s: &Option<String>| s.clone().unwrap_or_default();
    let uid = |u: Option<uuid::Uuid>| u.unwrap_or_default().to_string();
    let mut want: BTreeMap<&str, std::collections::BTreeSet<String>> = BTreeMap::new();
    for e in messages.iter().filter_map(|m| m.as_event()) {
        let head = [
            e.id.to_string(),
            ms(e.occurred_at),
            e.org.id.to_string(),
            e.org.slug.clone(),
        ];
        let (table, rest): (&str, Vec<String>) = match &e.body {
            Body::Login(l) => (
                "login_events",
                vec![
                    l.application_id.to_string(),
                    opt(&l.application_name),
                    uid(l.user_id),
                    l.login_id.clone(),
                    l.success.to_string(),
                    if l.success {
                        String::new()
                    } else {
                        opt(&l.failure_reason)
                    },
                    l.provider.clone(),
                    opt(&l.ip),
                    opt(&l.user_agent),
                    opt(&l.session_id),
                ],
            ),
            Body::Token(t) => (
                "token_events",
                vec![
                    t.grant_type.clone(),
                    t.token_type.clone(),
                    t.client_id.clone(),
                    uid(t.application_id),
                    uid(t.user_id),
                ],
            ),
            Body::Session(x) => (
                "session_events",
                vec![
                    x.action.as_str().to_string(),
                    x.session_id.clone(),
                    x.user_id.to_string(),
                    x.expires_at.map_or("0".into(), ms),
                    uid(x.application_id),
                ],
            ),
            _ => continue,
        };
        want.entry(table).or_default().insert(
            head.into_iter()
                .chain(rest)
                .collect::<Vec<_>>()
                .join("\u{1f}"),
        );
    }
    let columns = [
        ("login_events", "application_id, application_name, user_id, login_id, success, failure_reason, provider, ip, user_agent, session_id"),
        ("token_events", "grant_type, token_type, client_id, application_id, user_id"),
        ("session_events", "action, session_id, user_id, toUnixTimestamp64Milli(expires_at), application_id"),
    ];
    for (table, cols) in columns {
        let sql = format!(
            "SELECT arrayStringConcat(arrayMap(x -> toString(x), [toString(event_id), \
             toString(toUnixTimestamp64Milli(occurred_at)), toString(org_id), org_slug, {}]), '\\x1F') \
             FROM authpulse.{table} FORMAT JSONEachRow",
            cols.split(", ")
                .map(|c| format!("toString({c})"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let got: std::collections::BTreeSet<String> = stack
            .query(&sql)
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v.as_object()
                    .unwrap()
                    .values()
                    .next()
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(got.len(), want[table].len(), "{table}: one row per event");
        let diff: Vec<_> = got.symmetric_difference(&want[table]).take(3).collect();
        assert!(
            diff.is_empty(),
            "{table}: stored columns differ from the events: {diff:?}"
        );
    }
}

/// A fresh valid event of the profile's first org.
fn oracle_event(p: &Profile) -> authpulse_schemas::Event {
    let mut e = generate(p).find_map(|m| m.as_event().cloned()).unwrap();
    e.id = uuid::Uuid::from_u128(0xF07E_0000);
    e
}

/// Reads a topic from the beginning until it is idle for a while.
fn consume_all(
    brokers: &str,
    topic: &str,
    idle: Duration,
) -> Vec<(BTreeMap<String, String>, Vec<u8>)> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::{Headers, Message};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("test-reader-{}", std::process::id()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut out = Vec::new();
    let mut last = std::time::Instant::now();
    while last.elapsed() < idle {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(500)) {
            let mut h = BTreeMap::new();
            if let Some(hs) = m.headers() {
                for x in hs.iter() {
                    h.insert(
                        x.key.to_string(),
                        String::from_utf8_lossy(x.value.unwrap_or_default()).into_owned(),
                    );
                }
            }
            out.push((h, m.payload().unwrap_or_default().to_vec()));
            last = std::time::Instant::now();
        }
    }
    out
}

#[test]
fn sigterm_stores_and_commits_open_batches_and_exits_zero() {
    let mut stack = start_stack("sigterm", 2);
    let oracle = produce_stream(&stack, "auth-events", &profile(14, 3_000, 0.0, 0.0));
    // Batches that never fill and never age: only the shutdown stores them.
    let i = stack.spawn(
        &[
            "ingest",
            "--batch-rows",
            "1000000",
            "--batch-bytes",
            "1000000000",
            "--batch-wait-ms",
            "3600000",
        ],
        "ingest.log",
    );
    eventually(Duration::from_secs(60), || {
        stack
            .log("ingest.log")
            .contains("partition assigned")
            .then_some(())
    })
    .expect("consumer joined");
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        stored(&stack).values().sum::<u64>(),
        0,
        "nothing stored before the signal"
    );
    assert_eq!(
        stack.terminate(i),
        Some(0),
        "exit 0 on SIGTERM:\n{}",
        stack.log("ingest.log")
    );
    assert_eq!(
        stored(&stack),
        expected(&oracle),
        "every open batch stored on shutdown"
    );
    // And committed: a new consumer of the group finds nothing to do.
    stack.spawn(INGEST, "ingest-2.log");
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(stored(&stack), expected(&oracle));
    assert!(
        !stack.log("ingest-2.log").contains("re-forming"),
        "no batch was left uncommitted"
    );
}

/// Produces `messages` in chunks from a thread while the test goes on
/// (acks=all, idempotent: see `produce`); `sent` counts the chunks acked.
fn produce_paced(
    brokers: String,
    messages: Vec<(String, Vec<u8>)>,
    chunk: usize,
    pause: Duration,
    sent: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for c in messages.chunks(chunk) {
            produce(&brokers, "auth-events", c);
            sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            std::thread::sleep(pause);
        }
    })
}

fn messages_of(p: &Profile) -> (Oracle, Vec<(String, Vec<u8>)>) {
    let mut oracle = Oracle::new();
    let mut out = Vec::new();
    for m in generate(p) {
        oracle.observe(&m);
        out.push((m.key.clone(), m.payload.clone()));
    }
    (oracle, out)
}

/// Waits until the stream is half produced and ingest has stored some of it.
fn wait_mid_stream(stack: &Stack, sent: &std::sync::atomic::AtomicUsize, half: usize) {
    eventually(Duration::from_secs(180), || {
        (sent.load(std::sync::atomic::Ordering::SeqCst) >= half
            && stored(stack).values().sum::<u64>() > 0)
            .then_some(())
    })
    .expect("the stream is half produced and ingest stores it");
}

/// A three-node KRaft cluster, topics with three replicas and
/// min.insync.replicas=2: the node leading every partition ingest consumes
/// is SIGKILLed mid-stream and restarted later. Producers (acks=all,
/// idempotent) and the one ingest instance carry on by themselves; raw rows,
/// rollups and dead letters equal the oracle exactly.
#[test]
fn cluster_partition_leader_sigkill_mid_stream_is_exact() {
    let mut stack = Stack::start_cluster("cluster", 3);
    stack.create_topic_led_by("auth-events", 4, 2);
    stack.create_topic("auth-events-dlq", 1);
    stack.migrate("authpulse");
    let leaders = stack.partition_leaders("auth-events");
    let leader = leaders[&0];
    assert!(
        leader > 0 && leaders.values().all(|l| *l == leader),
        "one node leads every partition: {leaders:?}"
    );
    let (oracle, messages) = messages_of(&profile(21, 24_000, 0.02, 0.005));
    let chunks = messages.len().div_ceil(500);
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let ingest = stack.spawn(INGEST, "ingest.log");
    let producer = produce_paced(
        stack.brokers(),
        messages,
        500,
        Duration::from_millis(150),
        sent.clone(),
    );
    wait_mid_stream(&stack, &sent, chunks / 3);

    stack.kill_broker_node(leader);
    let moved = eventually(Duration::from_secs(90), || {
        let now = stack.partition_leaders("auth-events");
        now.values().all(|l| *l > 0 && *l != leader).then_some(now)
    });
    assert!(
        moved.is_some(),
        "the surviving nodes took over every partition"
    );
    eprintln!("leaders after node {leader} died: {:?}", moved.unwrap());
    // Consume and produce with a node down for a while (min ISR 2 of 3).
    std::thread::sleep(Duration::from_secs(5));
    stack.restart_broker_node(leader);
    let rejoined = eventually(Duration::from_secs(120), || {
        stack
            .partition_isr("auth-events")
            .values()
            .all(|isr| isr.contains(&leader))
            .then_some(())
    });
    assert!(
        rejoined.is_some(),
        "node {leader} caught up and rejoined every ISR: {:?}",
        stack.partition_isr("auth-events")
    );
    producer.join().expect("producer thread");
    assert_eq!(sent.load(std::sync::atomic::Ordering::SeqCst), chunks);
    assert_exact(&stack, &oracle, &["ingest.log"]);
    assert!(
        stack.child(ingest).try_wait().unwrap().is_none(),
        "the one ingest instance carried on by itself"
    );
}

/// One node, SIGKILLed mid-stream and started again on the same data dir:
/// the log is durable, producers retry, ingest reconnects; exact.
#[test]
fn single_broker_sigkill_restart_mid_stream_is_exact() {
    let mut stack = start_stack("brokerkill", 3);
    let (oracle, messages) = messages_of(&profile(22, 15_000, 0.02, 0.005));
    let chunks = messages.len().div_ceil(500);
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let ingest = stack.spawn(INGEST, "ingest.log");
    let producer = produce_paced(
        stack.brokers(),
        messages,
        500,
        Duration::from_millis(150),
        sent.clone(),
    );
    wait_mid_stream(&stack, &sent, chunks / 3);
    stack.kill_broker_node(1);
    std::thread::sleep(Duration::from_secs(3));
    stack.broker_ctl("start");
    producer.join().expect("producer thread");
    assert_eq!(sent.load(std::sync::atomic::Ordering::SeqCst), chunks);
    assert_exact(&stack, &oracle, &["ingest.log"]);
    assert!(
        stack.child(ingest).try_wait().unwrap().is_none(),
        "ingest carried on by itself"
    );
}
