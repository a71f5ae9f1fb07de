//! The ingest half of the attack suite (`deploy/local/attack.sh`): chaos
//! (SIGKILLed consumers, rebalances, ClickHouse stopped and killed, a
//! broker restart) and poison (every kind of hostile message) against the
//! real broker and ClickHouse, checked against the load generator's exact
//! oracle. Ignored by default; the attack scripts run them with
//! `ATTACK_SIZE=ci|large` and `ATTACK_OUT=<dir>`, and each writes its
//! section of docs/reliability.md there (also when it fails).

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use authpulse_loadgen::{generate, hostile, Message, MessageKind, Oracle, Profile, HOSTILE_KINDS};
use chrono::{TimeZone, Utc};
use common::pipeline::{
    count, dead_letters_by_reason, expected, expected_rollups, rollup_sums, stored,
};
use common::*;

struct Size {
    name: &'static str,
    events: u64,
    poison: u64,
}

fn size() -> Size {
    let mut s = match std::env::var("ATTACK_SIZE").as_deref() {
        Ok("large") => Size {
            name: "large",
            events: 10_000_000,
            poison: 100_000,
        },
        _ => Size {
            name: "ci",
            events: 200_000,
            poison: 3_000,
        },
    };
    let num = |k: &str| std::env::var(k).ok().and_then(|v| v.parse().ok());
    if let Some(n) = num("ATTACK_EVENTS") {
        s.events = n;
    }
    if let Some(n) = num("ATTACK_POISON") {
        s.poison = n;
    }
    s
}

fn out_file(name: &str) -> PathBuf {
    let dir = std::env::var("ATTACK_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir().join("authpulse-attack"));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn profile(seed: u64, events: u64, duplicates: f64, poison: f64) -> Profile {
    Profile {
        seed,
        events,
        orgs: 4,
        apps_per_org: 3,
        users_per_org: 2_000,
        start: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        span: chrono::Duration::days(40),
        duplicate_fraction: duplicates,
        poison_fraction: poison,
        late_fraction: 0.05,
        ..Profile::default()
    }
}

fn inserting(stack: &Stack) -> u64 {
    count(
        stack,
        "SELECT count() FROM system.processes WHERE query_kind = 'Insert'",
    )
}

/// Where the store stands against the oracle.
struct Tally {
    stored: BTreeMap<&'static str, u64>,
    rollups: BTreeMap<&'static str, u64>,
    dead: BTreeMap<String, u64>,
    lost: u64,
    duplicated: u64,
}

fn tally(stack: &Stack, oracle: &Oracle) -> Tally {
    let (want, s) = (expected(oracle), stored(stack));
    let (mut lost, mut duplicated) = (0, 0);
    for (k, w) in &want {
        let got = s.get(k).copied().unwrap_or(0);
        lost += w.saturating_sub(got);
        duplicated += got.saturating_sub(*w);
    }
    Tally {
        stored: s,
        rollups: rollup_sums(stack),
        dead: dead_letters_by_reason(stack),
        lost,
        duplicated,
    }
}

fn want_dead(oracle: &Oracle) -> BTreeMap<String, u64> {
    oracle
        .poison_by_reason()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// Waits (up to `limit`) until raw rows, rollups and dead letters equal the
/// oracle and no insert is running, then checks nothing more arrives.
fn settle(stack: &Stack, oracle: &Oracle, limit: Duration) -> (bool, Tally) {
    let (want, want_r, want_d) = (
        expected(oracle),
        expected_rollups(oracle),
        want_dead(oracle),
    );
    let exact = |t: &Tally| t.stored == want && t.rollups == want_r && t.dead == want_d;
    let reached = eventually(limit, || {
        let t = tally(stack, oracle);
        (exact(&t) && inserting(stack) == 0).then_some(())
    });
    if reached.is_some() {
        std::thread::sleep(Duration::from_secs(5));
    }
    let t = tally(stack, oracle);
    (reached.is_some() && exact(&t), t)
}

fn kill9(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();
}

fn ingest_args(metrics: Option<u16>) -> Vec<String> {
    let mut a: Vec<String> = ["ingest", "--batch-rows", "5000", "--batch-wait-ms", "300"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if let Some(p) = metrics {
        a.extend(["--metrics-listen".into(), format!("127.0.0.1:{p}")]);
    }
    a
}

fn spawn_ingest(stack: &mut Stack, log: &str) -> usize {
    let args = ingest_args(None);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    stack.spawn(&args, log)
}

#[test]
#[ignore = "attack suite: deploy/local/attack.sh"]
fn chaos() {
    let size = size();
    let started = Instant::now();
    let mut stack = pipeline::start_stack("attack-chaos", 4, "UTC");
    let p = profile(101, size.events, 0.02, 0.005);
    // Produced while the consumers are killed, in chunks (the stream is not
    // held in memory at the large size).
    let brokers = stack.brokers();
    let producer = std::thread::spawn(move || {
        let mut oracle = Oracle::new();
        let mut chunk = Vec::with_capacity(50_000);
        for m in generate(&p) {
            oracle.observe(&m);
            chunk.push((m.key, m.payload));
            if chunk.len() == 50_000 {
                produce(&brokers, "auth-events", &chunk);
                chunk.clear();
            }
        }
        produce(&brokers, "auth-events", &chunk);
        oracle
    });

    let (mut kills, mut ch_stops, mut ch_kills, mut broker_restarts, mut two_member_rounds) =
        (0u32, 0u32, 0u32, 0u32, 0u32);
    let mut logs: Vec<String> = Vec::new();
    let min_rounds = 6;
    let mut round = 0u32;
    let ch_pidfile = stack.dir.join("clickhouse/clickhouse.pid");
    loop {
        let producing = !producer.is_finished();
        if !producing && round >= min_rounds {
            break;
        }
        let members = if round % 2 == 1 { 2 } else { 1 };
        if members == 2 {
            two_member_rounds += 1;
        }
        let mut children = Vec::new();
        for m in 0..members {
            let log = format!("ingest-{round}-{m}.log");
            children.push(spawn_ingest(&mut stack, &log));
            logs.push(log);
        }
        // Into the stream first (joining takes seconds on a loaded machine).
        let _ = eventually(Duration::from_secs(90), || {
            logs[logs.len() - members..]
                .iter()
                .all(|l| stack.log(l).contains("partition assigned"))
                .then_some(())
        });
        std::thread::sleep(Duration::from_millis(2500 + 700 * u64::from(round % 4)));
        match round % 4 {
            // ClickHouse stopped mid-stream, then back.
            1 => {
                stack.clickhouse("stop");
                ch_stops += 1;
                std::thread::sleep(Duration::from_secs(4));
                stack.clickhouse("start");
            }
            // ClickHouse SIGKILLed mid-stream, then back.
            3 => {
                if let Some(pid) = std::fs::read_to_string(&ch_pidfile)
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                {
                    kill9(pid);
                    ch_kills += 1;
                }
                std::thread::sleep(Duration::from_secs(3));
                stack.clickhouse("start");
            }
            _ => {}
        }
        // Rebalances with two members: one dies first, the other takes its
        // partitions over and is killed a little later.
        for (n, i) in children.into_iter().enumerate() {
            if n > 0 {
                std::thread::sleep(Duration::from_millis(1500));
            }
            kill9(stack.child(i).id());
            let _ = stack.child(i).wait();
            kills += 1;
        }
        round += 1;
    }
    let oracle = producer.join().expect("producer thread");

    // A broker restart under two running consumers (after the producer is
    // done: a producer retrying through it could write a message twice).
    let a = spawn_ingest(&mut stack, "ingest-broker-0.log");
    let b = spawn_ingest(&mut stack, "ingest-broker-1.log");
    logs.extend(["ingest-broker-0.log".into(), "ingest-broker-1.log".into()]);
    std::thread::sleep(Duration::from_secs(3));
    stack.broker_ctl("stop");
    std::thread::sleep(Duration::from_secs(2));
    stack.broker_ctl("start");
    broker_restarts += 1;
    std::thread::sleep(Duration::from_secs(5));
    kill9(stack.child(a).id());
    let _ = stack.child(a).wait();
    kills += 1;
    let _ = b; // keeps running with the final member

    let c = spawn_ingest(&mut stack, "ingest-final.log");
    logs.push("ingest-final.log".into());
    let limit = Duration::from_secs(300 + size.events / 2_000);
    let (ok, t) = settle(&stack, &oracle, limit);
    let _ = stack.terminate(c);

    let messages =
        oracle.valid_events() + oracle.duplicates() + want_dead(&oracle).values().sum::<u64>();
    let mut md = String::new();
    let _ = writeln!(
        md,
        "## 10-chaos: kills, rebalances, ClickHouse and broker outages\n"
    );
    let _ = writeln!(
        md,
        "Result: **{}**. {} messages ({} valid events, {} re-sends of an id, {} poison) produced to 4 partitions \
         while ingest ran in {} rounds (one member, or two members part of the time so partitions were \
         rebalanced), each ended by SIGKILL. Took {:.0} s.\n",
        if ok { "PASS" } else { "FAIL" },
        messages,
        oracle.valid_events(),
        oracle.duplicates(),
        want_dead(&oracle).values().sum::<u64>(),
        round,
        started.elapsed().as_secs_f64()
    );
    let _ = writeln!(md, "| figure | value |\n|---|---|");
    for (k, v) in [
        ("size", size.name.to_string()),
        ("events (valid)", oracle.valid_events().to_string()),
        ("ingest SIGKILLs", kills.to_string()),
        (
            "rounds with two members (rebalances)",
            two_member_rounds.to_string(),
        ),
        ("ClickHouse stopped mid-stream", ch_stops.to_string()),
        ("ClickHouse SIGKILLed mid-stream", ch_kills.to_string()),
        ("broker restarts", broker_restarts.to_string()),
        ("lost", t.lost.to_string()),
        ("duplicated", t.duplicated.to_string()),
    ] {
        let _ = writeln!(md, "| {k} | {v} |");
    }
    let _ = writeln!(
        md,
        "\n| table | expected (oracle) | stored |\n|---|---|---|"
    );
    let want = expected(&oracle);
    for (k, w) in &want {
        let _ = writeln!(
            md,
            "| raw {k}_events | {w} | {} |",
            t.stored.get(k).copied().unwrap_or(0)
        );
    }
    for (k, w) in expected_rollups(&oracle) {
        let _ = writeln!(
            md,
            "| 15-minute rollup, {k} | {w} | {} |",
            t.rollups.get(k).copied().unwrap_or(0)
        );
    }
    for (k, w) in want_dead(&oracle) {
        let _ = writeln!(
            md,
            "| dead letters, {k} | {w} | {} |",
            t.dead.get(&k).copied().unwrap_or(0)
        );
    }
    std::fs::write(out_file("10-chaos.md"), &md).unwrap();
    eprintln!("{md}");
    if !ok {
        let tail: String = logs
            .iter()
            .map(|l| {
                let text = stack.log(l);
                let start = text.len().saturating_sub(3000);
                format!(
                    "--- {l}\n{}\n",
                    String::from_utf8_lossy(&text.as_bytes()[start..])
                )
            })
            .collect();
        panic!(
            "chaos run not exact: lost {}, duplicated {}\n{tail}",
            t.lost, t.duplicated
        );
    }
}

/// Total lag over partitions from /metrics.
fn lag(port: u16) -> Option<u64> {
    let (status, text) = http_get(&format!("http://127.0.0.1:{port}/metrics"), None);
    (status == 200).then(|| {
        text.lines()
            .filter(|l| l.starts_with("authpulse_ingest_partition_lag{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    })
}

#[test]
#[ignore = "attack suite: deploy/local/attack.sh"]
fn poison() {
    let size = size();
    let started = Instant::now();
    let mut stack = pipeline::start_stack("attack-poison", 4, "UTC");
    let valid_n = (size.poison * 4).clamp(10_000, 400_000);
    let p = profile(202, valid_n, 0.01, 0.0);
    let mut oracle = Oracle::new();
    let mut messages: Vec<(String, Vec<u8>)> = Vec::new();
    let mut sent_by_kind: BTreeMap<&str, u64> = BTreeMap::new();
    let mut want_by_reason: BTreeMap<String, u64> = BTreeMap::new();
    let every = (valid_n / size.poison.max(1)).max(1);
    let mut hostile_n = 0u64;
    let mut colliding = 0u64;
    let mut last = None;
    for (i, m) in generate(&p).enumerate() {
        oracle.observe(&m);
        if let MessageKind::Event(e) = &m.kind {
            // Hostile messages derived from valid events, spread through
            // the stream, every kind in turn.
            if (i as u64).is_multiple_of(every) && hostile_n < size.poison {
                let k = (hostile_n as usize) % HOSTILE_KINDS.len();
                let (name, code) = HOSTILE_KINDS[k];
                messages.push((format!("poison-{hostile_n}"), hostile(hostile_n, k, e)));
                *sent_by_kind.entry(name).or_default() += 1;
                *want_by_reason.entry(code.to_string()).or_default() += 1;
                hostile_n += 1;
            }
            // Valid events with crafted ids whose two halves are equal
            // (they all folded to the same 64 bits in the old re-send
            // filter): each is a distinct event and must be stored.
            if colliding < 10 && i % 97 == 5 {
                let mut twin = e.clone();
                twin.id = uuid::Uuid::from_u64_pair(0xC0FFEE + colliding, 0xC0FFEE + colliding);
                let msg = Message::event(twin);
                oracle.observe(&msg);
                messages.push((msg.key.clone(), msg.payload.clone()));
                colliding += 1;
            }
        }
        if let MessageKind::Event(e) = &m.kind {
            last = Some(e.clone());
        }
        messages.push((m.key, m.payload));
    }
    // The rest (re-sends made the stream's events fewer than planned).
    if let Some(e) = last {
        while hostile_n < size.poison {
            let k = (hostile_n as usize) % HOSTILE_KINDS.len();
            let (name, code) = HOSTILE_KINDS[k];
            messages.push((format!("poison-{hostile_n}"), hostile(hostile_n, k, &e)));
            *sent_by_kind.entry(name).or_default() += 1;
            *want_by_reason.entry(code.to_string()).or_default() += 1;
            hostile_n += 1;
        }
    }
    assert_eq!(
        hostile_n, size.poison,
        "the stream holds every hostile message"
    );
    produce(&stack.brokers(), "auth-events", &messages);
    let port = free_port();
    let args = ingest_args(Some(port));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let i = stack.spawn(&args, "ingest.log");
    let limit = Duration::from_secs(300 + valid_n / 1_000);
    let consume_started = Instant::now();
    let want = expected(&oracle);
    let reached = eventually(limit, || {
        let done = stored(&stack) == want
            && rollup_sums(&stack) == expected_rollups(&oracle)
            && dead_letters_by_reason(&stack) == want_by_reason
            && inserting(&stack) == 0;
        done.then_some(())
    });
    let took = consume_started.elapsed();
    let drained = eventually(Duration::from_secs(60), || {
        (lag(port) == Some(0)).then_some(())
    });
    std::thread::sleep(Duration::from_secs(3));
    let t = tally(&stack, &oracle);
    let dead = dead_letters_by_reason(&stack);
    let without_reason = count(
        &stack,
        "SELECT count() FROM authpulse.dead_letters WHERE reason = '' OR detail = ''",
    );
    let colliding_stored = count(
        &stack,
        "SELECT count() FROM (SELECT event_id FROM authpulse.login_events \
         UNION ALL SELECT event_id FROM authpulse.registration_events \
         UNION ALL SELECT event_id FROM authpulse.token_events \
         UNION ALL SELECT event_id FROM authpulse.session_events \
         UNION ALL SELECT event_id FROM authpulse.audit_events) \
         WHERE toString(event_id) LIKE '00000000-00c0-ff%'",
    );
    let ok = reached.is_some()
        && drained.is_some()
        && t.stored == want
        && t.rollups == expected_rollups(&oracle)
        && dead == want_by_reason
        && without_reason == 0
        && colliding_stored == colliding;
    let _ = stack.terminate(i);

    let dead_total: u64 = dead.values().sum();
    let mut md = String::new();
    let _ = writeln!(md, "## 20-poison: hostile messages\n");
    let _ = writeln!(
        md,
        "Result: **{}**. {hostile_n} hostile messages of {} kinds spread through {} valid events \
         ({} re-sends, {colliding} valid events with crafted ids whose halves are equal) on 4 partitions, one \
         consumer. Dead-lettered: {dead_total} ({:.1} %), {without_reason} without a reason. Valid events stored: \
         lost {}, duplicated {}. Everything stored and the lag at 0 after {:.1} s (no stall). Took {:.0} s.\n",
        if ok { "PASS" } else { "FAIL" },
        HOSTILE_KINDS.len(),
        oracle.valid_events(),
        oracle.duplicates(),
        100.0 * dead_total as f64 / hostile_n.max(1) as f64,
        t.lost,
        t.duplicated,
        took.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    let _ = writeln!(md, "| kind | sent | expected reason |\n|---|---|---|");
    for (name, code) in HOSTILE_KINDS {
        let _ = writeln!(
            md,
            "| {name} | {} | `{code}` |",
            sent_by_kind.get(name).copied().unwrap_or(0)
        );
    }
    let _ = writeln!(md, "\n| reason | expected | dead-lettered |\n|---|---|---|");
    for (k, w) in &want_by_reason {
        let _ = writeln!(
            md,
            "| `{k}` | {w} | {} |",
            dead.get(k).copied().unwrap_or(0)
        );
    }
    let _ = writeln!(
        md,
        "\nEvents with crafted ids (equal halves) in the raw tables: {colliding_stored} of {colliding}."
    );
    std::fs::write(out_file("20-poison.md"), &md).unwrap();
    eprintln!("{md}");
    assert!(
        ok,
        "poison run failed: reached {:?}, drained {:?}, stored {:?} vs {want:?}, dead {dead:?} vs {want_by_reason:?}\n{}",
        reached.is_some(),
        drained.is_some(),
        t.stored,
        stack.log("ingest.log")
    );
}
