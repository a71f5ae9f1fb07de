//! `authpulse-scaling`: the scaling table of docs/scaling.md, measured on
//! this machine with real servers. One topic (loadgen, 4 partitions) is
//! drained four times into fresh databases: one ClickHouse server or two
//! shards (through the cluster database), by one ingest instance or two
//! of one consumer group. For each: events/s from the first stored row to
//! the last rollup row, and the API's single-connection latency over the
//! result.
//!
//! Run from the repo: `cargo build --release --bin authpulse --bin
//! authpulse-scaling && target/release/authpulse-scaling`.

#[path = "../http.rs"]
#[allow(dead_code)]
mod http;

use std::time::{Duration, Instant};

use anyhow::Context as _;
use authpulse_loadgen::{Oracle, Profile};
use authpulse_testkit::pipeline::{expected, expected_rollups, produce_stream};
use authpulse_testkit::{block_on, free_port, refresh_views, rollup_sums, Shards, Stack};
use clap::Parser;
use hdrhistogram::Histogram;

#[derive(Parser)]
#[command(about = "Measure 1 vs 2 ClickHouse shards and 1 vs 2 ingest instances (docs/scaling.md)")]
struct Args {
    /// Events in the topic each configuration drains.
    #[arg(long, default_value_t = 300_000)]
    events: u64,
    /// Requests per endpoint for the latency figures.
    #[arg(long, default_value_t = 100)]
    requests: u32,
}

const KEY: &str = "scaling-key-0123456789";
const TOPIC: &str = "scaling";

struct Outcome {
    shards: usize,
    instances: usize,
    events_per_sec: f64,
    drain_secs: f64,
    /// Share of the machine's CPU time busy while draining.
    busy: f64,
    p50_ms: f64,
    p99_ms: f64,
    worst: (String, f64),
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let p = Profile {
        events: args.events,
        orgs: 8,
        apps_per_org: 3,
        users_per_org: 5_000,
        duplicate_fraction: 0.0,
        poison_fraction: 0.0,
        ..Profile::default()
    };
    let mut stack = Stack::start("scaling");
    let shards = Shards::start("scaling", 2);
    stack.create_topic(TOPIC, 4);
    stack.create_topic("auth-events-dlq", 1);
    eprintln!("producing {} events", args.events);
    let oracle = produce_stream(&stack, TOPIC, &p);
    let mut out = Vec::new();
    for (i, (n_shards, instances)) in [(1, 1), (1, 2), (2, 1), (2, 2)].into_iter().enumerate() {
        let o = run(&mut stack, &shards, &oracle, &args, i, n_shards, instances)
            .with_context(|| format!("{n_shards} shard(s), {instances} instance(s)"))?;
        eprintln!(
            "{n_shards} shard(s), {instances} instance(s): {:.0} events/s, p99 {:.1} ms",
            o.events_per_sec, o.p99_ms
        );
        out.push(o);
    }
    println!("| ClickHouse | ingest instances | events/s | drain (s) | CPU busy while draining | report p50 (median of endpoints) | report p99 (median of endpoints) | worst p99 |");
    println!("|---|---|---|---|---|---|---|---|");
    for o in &out {
        println!(
            "| {} | {} | {:.0} | {:.1} | {:.0} % | {:.1} ms | {:.1} ms | {:.1} ms ({}) |",
            if o.shards == 1 {
                "1 server".to_string()
            } else {
                format!("{} shards", o.shards)
            },
            o.instances,
            o.events_per_sec,
            o.drain_secs,
            o.busy * 100.0,
            o.p50_ms,
            o.p99_ms,
            o.worst.1,
            o.worst.0
        );
    }
    println!(
        "\n{} events, 4 partitions, {} requests per endpoint; {} cores.",
        args.events,
        args.requests,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    Ok(())
}

fn run(
    stack: &mut Stack,
    shards: &Shards,
    oracle: &Oracle,
    args: &Args,
    i: usize,
    n_shards: usize,
    instances: usize,
) -> anyhow::Result<Outcome> {
    let db = format!("scale_{i}");
    // One server: node 1 alone, migrated as a single node; two shards:
    // both nodes, ingest and the API on the cluster database.
    let (read_db, urls) = if n_shards == 1 {
        let out = std::process::Command::new(&stack.bin)
            .args(["migrate", "--database", &db, "--timezones", "UTC"])
            .env("AUTHPULSE_CLICKHOUSE_URL", shards.url(0))
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (db.clone(), vec![shards.url(0); instances])
    } else {
        shards.migrate(&db, "UTC");
        (
            format!("{db}_cluster"),
            (0..instances).map(|k| shards.url(k % 2)).collect(),
        )
    };
    eprintln!("{read_db}: draining");
    let group = format!("scaling-{i}");
    let spawned = Instant::now();
    let children: Vec<usize> = urls
        .iter()
        .enumerate()
        .map(|(k, url)| {
            stack.spawn_env(
                &[
                    "ingest",
                    "--group",
                    &group,
                    "--topics",
                    TOPIC,
                    "--database",
                    &read_db,
                ],
                &format!("ingest-{i}-{k}.log"),
                &[("AUTHPULSE_CLICKHOUSE_URL", url.as_str())],
            )
        })
        .collect();
    let client = shards.client(0).with_database(&read_db);
    let want = expected_rollups(oracle);
    let total: u64 = expected(oracle).values().sum();
    let count = |sql: &str| -> u64 { shards.query(0, sql).trim().parse().unwrap_or(0) };
    let mut first_row: Option<Instant> = None;
    let mut cpu_at_first = cpu_times();
    let done = loop {
        if first_row.is_none() && count(&format!("SELECT count() FROM {read_db}.login_events")) > 0
        {
            first_row = Some(Instant::now());
            cpu_at_first = cpu_times();
        }
        let sums = block_on(rollup_sums(&client, &read_db)).context("rollup sums")?;
        if sums.iter().all(|(k, v)| want.get(k) == Some(v)) {
            break Instant::now();
        }
        anyhow::ensure!(
            spawned.elapsed() < Duration::from_secs(1800),
            "not drained after 30 min: {sums:?} vs {want:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let cpu_at_end = cpu_times();
    for c in children {
        stack.terminate(c);
    }
    eprintln!("{read_db}: drained; snapshots and the API");
    let from = first_row.unwrap_or(spawned);
    let drain = done.duration_since(from).as_secs_f64();
    anyhow::ensure!(
        block_on(refresh_views(&client, &read_db))? > 0,
        "no snapshots in {read_db}"
    );

    // The API on the result (node 1; on two shards, the cluster database).
    let auth = stack.dir.join(format!("auth-{i}.json"));
    std::fs::write(
        &auth,
        serde_json::json!({"api_keys": [{"key": KEY, "name": "scaling", "scopes": ["*"]}]})
            .to_string(),
    )?;
    let listen = format!("127.0.0.1:{}", free_port());
    let api = stack.spawn_env(
        &[
            "api",
            "--listen",
            &listen,
            "--auth-config",
            auth.to_str().unwrap(),
            "--database",
            &read_db,
        ],
        &format!("api-{i}.log"),
        &[("AUTHPULSE_CLICKHOUSE_URL", shards.url(0).as_str())],
    );
    let base = format!("http://{listen}");
    let (start, end) = (
        p_start_ms(oracle),
        chrono::Utc::now().timestamp_millis() + 86_400_000,
    );
    let range = format!("start={start}&end={end}");
    let endpoints = [
        ("login", format!("/api/report/login?{range}")),
        ("DAU", format!("/api/report/daily-active-users?{range}")),
        ("MAU", format!("/api/report/monthly-active-users?{range}")),
        ("totals", "/api/report/totals".to_string()),
        ("Porta stats", "/api/admin/stats".to_string()),
        ("audit list", "/api/admin/audit?limit=20".to_string()),
    ];
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let timed = rt.block_on(async {
        let http = http::Http::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while http
            .get(&format!("{base}/readyz"), None)
            .await
            .map(|r| r.status)
            .ok()
            != Some(200)
        {
            anyhow::ensure!(Instant::now() < deadline, "api not ready");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut out = Vec::new();
        for (name, path) in &endpoints {
            let url = format!("{base}{path}");
            for _ in 0..5 {
                http.get(&url, Some(KEY)).await?;
            }
            let mut h = Histogram::<u64>::new(3)?;
            for _ in 0..args.requests {
                let t = Instant::now();
                let r = http.get(&url, Some(KEY)).await?;
                anyhow::ensure!(r.status == 200, "{url}: {} {}", r.status, r.text());
                h.record(t.elapsed().as_micros() as u64)?;
            }
            out.push((
                name.to_string(),
                h.value_at_quantile(0.5) as f64 / 1000.0,
                h.value_at_quantile(0.99) as f64 / 1000.0,
            ));
        }
        Ok::<_, anyhow::Error>(out)
    })?;
    stack.terminate(api);
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let worst = timed
        .iter()
        .max_by(|a, b| a.2.total_cmp(&b.2))
        .map(|(n, _, p99)| (n.clone(), *p99))
        .unwrap_or_default();
    Ok(Outcome {
        shards: n_shards,
        instances,
        events_per_sec: total as f64 / drain.max(1e-3),
        drain_secs: drain,
        busy: (cpu_at_end.0 - cpu_at_first.0) as f64
            / (cpu_at_end.1 - cpu_at_first.1).max(1) as f64,
        p50_ms: median(timed.iter().map(|t| t.1).collect()),
        p99_ms: median(timed.iter().map(|t| t.2).collect()),
        worst,
    })
}

/// (busy, total) jiffies of all CPUs, from /proc/stat's `cpu` line.
fn cpu_times() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().sum();
    // idle and iowait
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// The first day of the stream's events (the report range's start).
fn p_start_ms(oracle: &Oracle) -> i64 {
    oracle
        .login_hourly(chrono_tz::Tz::UTC, None)
        .keys()
        .next()
        .map_or(0, |h| (h - 24) * 3_600_000)
}
