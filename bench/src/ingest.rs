//! Ingest throughput: one pre-filled topic, three ways into identically
//! migrated databases, each timed until every event is visible in the
//! rollups.
//!
//! (a) `authpulse ingest` as a child process, (b) ClickHouse's Kafka table
//! engine with parsing materialized views, (c) ClickHouse inserting the same
//! rows from local JSONEachRow files (the store's own limit).

use std::io::Write as _;
use std::time::{Duration, Instant};

use authpulse_loadgen::{generate, Oracle, Profile};
use chrono::Utc;

use super::ch::Counts;
use super::rows::{tables, Columns, TableBuffers, ENVELOPE};
use super::{peak_rss, Ctx};

pub const TOPIC: &str = "bench-ingest";

pub struct IngestResult {
    pub messages: u64,
    pub valid_events: u64,
    pub payload_bytes: u64,
    pub produce_secs: f64,
    pub expected: Counts,
    /// authpulse, kafka engine, file insert (in that order).
    pub runs: Vec<IngestRun>,
}

#[derive(Default, Clone)]
pub struct IngestRun {
    pub name: &'static str,
    pub ok: bool,
    pub error: Option<String>,
    pub secs: f64,
    /// Events per second, end to end.
    pub rate: f64,
    pub exact: bool,
    pub peak_rss: Option<u64>,
    pub child_cpu: Option<f64>,
    pub ch_cpu: Option<f64>,
    pub broker_cpu: Option<f64>,
    /// `perf report` excerpts (by process, by thread, consumer symbols).
    pub perf: Option<String>,
    /// The consumer's own metrics at the end of the run.
    pub metrics: Option<String>,
}

pub fn profile(ctx: &Ctx, events: u64) -> Profile {
    let a = &ctx.args;
    let span = chrono::Duration::days(i64::from(a.span_days.max(1)));
    Profile {
        seed: a.seed,
        events,
        orgs: a.orgs,
        apps_per_org: a.apps_per_org,
        users_per_org: a.users_per_org,
        start: Utc::now() - span,
        span,
        ..Profile::default()
    }
}

fn expected(oracle: &Oracle) -> Counts {
    let t = oracle.events_by_type();
    let get = |k: &str| t.get(k).copied().unwrap_or(0);
    Counts {
        login: get("login"),
        registration: get("registration"),
        token: get("token"),
        session: get("session"),
        audit: get("audit"),
        login_success: oracle.totals().apps.values().map(|a| a.logins).sum(),
    }
}

pub async fn run(ctx: &Ctx) -> anyhow::Result<IngestResult> {
    // The Kafka engine neither validates nor deduplicates, so the stream
    // compared is clean (late events kept, no poison, no re-sends).
    let profile = Profile {
        duplicate_fraction: 0.0,
        poison_fraction: 0.0,
        ..profile(ctx, ctx.args.events)
    };
    ctx.create_topic(TOPIC).await?;
    // The raw tables' columns, from a database migrated as every path's is.
    let columns_db = "bench_ingest_columns";
    ctx.fresh_db(columns_db).await?;
    let cols = Columns::of(&ctx.ch, columns_db).await?;
    ctx.ch
        .exec(&format!("DROP DATABASE IF EXISTS {columns_db} SYNC"))
        .await?;
    let rows_dir = ctx.workdir.join("rows");
    std::fs::create_dir_all(&rows_dir)?;
    let mut files = tables()
        .iter()
        .map(|t| {
            std::fs::File::create(rows_dir.join(format!("{t}.jsonl")))
                .map(|f| std::io::BufWriter::with_capacity(1 << 20, f))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut sender = ctx.producer()?;
    let mut oracle = Oracle::new();
    let mut bufs = TableBuffers::new(cols.clone());
    let t = Instant::now();
    for m in generate(&profile) {
        sender.send(TOPIC, m.key.as_bytes(), &m.payload).await?;
        oracle.observe(&m);
        if let Some(e) = m.as_event() {
            bufs.push(e)?;
        }
        for (table, b) in bufs.take(1 << 20) {
            files[table].write_all(&b)?;
        }
    }
    for (table, b) in bufs.take(0) {
        files[table].write_all(&b)?;
    }
    for f in &mut files {
        f.flush()?;
    }
    sender.flush().await?;
    let produce_secs = t.elapsed().as_secs_f64();
    let exp = expected(&oracle);
    eprintln!(
        "   produced {} messages ({} valid events) in {produce_secs:.1}s",
        sender.sent(),
        oracle.valid_events()
    );
    let mut result = IngestResult {
        messages: sender.sent(),
        valid_events: oracle.valid_events(),
        payload_bytes: sender.bytes(),
        produce_secs,
        expected: exp,
        runs: Vec::new(),
    };
    drop(sender);
    let timeout = Duration::from_secs(120 + ctx.args.events / 2_000);

    let a = authpulse(ctx, exp, timeout)
        .await
        .unwrap_or_else(|e| failed("authpulse", e));
    eprintln!("   authpulse ingest: {}", summary(&a));
    let limit_b = if a.ok {
        Duration::from_secs_f64((a.secs * 6.0).max(120.0))
    } else {
        timeout
    };
    result.runs.push(a);
    let b = kafka_engine(ctx, exp, limit_b, &cols)
        .await
        .unwrap_or_else(|e| failed("kafka_engine", e));
    eprintln!("   ClickHouse Kafka engine: {}", summary(&b));
    result.runs.push(b);
    let c = file_insert(ctx, exp, &rows_dir)
        .await
        .unwrap_or_else(|e| failed("file_insert", e));
    eprintln!("   ClickHouse file insert: {}", summary(&c));
    result.runs.push(c);
    let _ = std::fs::remove_dir_all(&rows_dir);
    Ok(result)
}

fn failed(name: &'static str, e: anyhow::Error) -> IngestRun {
    IngestRun {
        name,
        error: Some(format!("{e:#}")),
        ..IngestRun::default()
    }
}

fn summary(r: &IngestRun) -> String {
    match &r.error {
        Some(e) => format!("FAILED: {e}"),
        None => format!("{:.1}s, {:.0} events/s", r.secs, r.rate),
    }
}

/// Polls the rollups of `db` until every expected event is visible.
async fn wait_visible(
    ctx: &Ctx,
    db: &str,
    exp: Counts,
    limit: Duration,
    mut alive: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<Counts> {
    let t = Instant::now();
    loop {
        alive()?;
        let c = ctx.ch.counts(db).await?;
        if c.events() >= exp.events() && c.login_success >= exp.login_success {
            return Ok(c);
        }
        if t.elapsed() > limit {
            anyhow::bail!(
                "not all events visible after {:.0}s: have {c:?}, expected {exp:?}",
                limit.as_secs_f64()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[derive(Clone, Copy)]
struct CpuMark {
    ch: Option<f64>,
    broker: Option<f64>,
}

fn mark(ctx: &Ctx) -> CpuMark {
    let (ch, broker) = ctx.server_cpu();
    CpuMark { ch, broker }
}

fn finish(ctx: &Ctx, run: &mut IngestRun, m0: CpuMark, exp: Counts, got: Counts) {
    let m1 = mark(ctx);
    run.ch_cpu = m0.ch.zip(m1.ch).map(|(a, b)| b - a);
    run.broker_cpu = m0.broker.zip(m1.broker).map(|(a, b)| b - a);
    run.rate = exp.events() as f64 / run.secs.max(1e-9);
    run.exact = got == exp;
    run.ok = true;
}

async fn authpulse(ctx: &Ctx, exp: Counts, limit: Duration) -> anyhow::Result<IngestRun> {
    let db = "bench_ingest_authpulse";
    ctx.fresh_db(db).await?;
    ctx.ch.wait_idle(Duration::from_secs(60)).await?;
    let mut run = IngestRun {
        name: "authpulse",
        ..IngestRun::default()
    };
    let perf_data = ctx.workdir.join("perf-ingest.data");
    let mut perf = if ctx.args.perf {
        let c = std::process::Command::new("perf")
            .args(["record", "-a", "-F", "499", "-q", "-o"])
            .arg(&perf_data)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        tokio::time::sleep(Duration::from_millis(300)).await;
        c.ok()
    } else {
        None
    };
    let metrics_port = super::free_port()?;
    let m0 = mark(ctx);
    let t = Instant::now();
    let mut child = ctx.spawn(
        &[
            "ingest".into(),
            "--database".into(),
            db.into(),
            "--topics".into(),
            TOPIC.into(),
            "--group".into(),
            format!("bench-authpulse-{}", std::process::id()),
            "--dlq-topic".into(),
            "bench-dlq".into(),
            "--metrics-listen".into(),
            format!("127.0.0.1:{metrics_port}"),
        ],
        "ingest-authpulse.log",
    )?;
    let pid = child.pid();
    let got = {
        let child = &mut child;
        wait_visible(ctx, db, exp, limit, move || match child.exited() {
            Some(s) => anyhow::bail!("authpulse ingest exited early ({s}): {}", child.log_tail()),
            None => Ok(()),
        })
        .await
    };
    run.secs = t.elapsed().as_secs_f64();
    run.peak_rss = peak_rss(pid);
    run.child_cpu = super::cpu_secs(pid);
    run.metrics = super::ingest_metrics(&ctx.http, metrics_port).await;
    if let Some(p) = perf.as_mut() {
        let _ = std::process::Command::new("kill")
            .args(["-INT", &p.id().to_string()])
            .status();
        let _ = p.wait();
        run.perf = perf_summary(&perf_data, pid);
        let _ = std::fs::remove_file(&perf_data);
    }
    child.terminate();
    let got = got?;
    finish(ctx, &mut run, m0, exp, got);
    ctx.drop_db(db).await;
    Ok(run)
}

/// Parsing SQL of `column` (of ClickHouse type `ty`) from the JSON text
/// column `raw` of the staging table: the envelope where [`ENVELOPE`] says,
/// any other column the `data` field of its name; parsed by type.
fn kafka_column(column: &str, ty: &str) -> String {
    let path: Vec<String> = match ENVELOPE.iter().find(|(c, _)| *c == column) {
        Some((_, path)) => path.iter().map(|p| format!("'{p}'")).collect(),
        None => vec!["'data'".into(), format!("'{column}'")],
    };
    let path = path.join(", ");
    let expr = if ty.contains("UUID") {
        format!("toUUIDOrZero(JSONExtractString(raw, {path}))")
    } else if ty.starts_with("DateTime64") {
        format!("parseDateTime64BestEffortOrZero(JSONExtractString(raw, {path}), 3, 'UTC')")
    } else if ty == "Bool" {
        format!("JSONExtractBool(raw, {path})")
    } else if ty.contains("String") {
        // Objects (audit metadata) are stored as their JSON text.
        format!(
            "if(JSONType(raw, {path}) = 'Object', JSONExtractRaw(raw, {path}), JSONExtractString(raw, {path}))"
        )
    } else {
        format!("JSONExtract(raw, {path}, '{ty}')")
    };
    format!("{expr} AS {column}")
}

/// The Kafka engine DDL: Kafka table → MV → Null staging table (type, raw)
/// → one parsing MV per raw table. The staging MVs exist before the Kafka
/// MV that starts consumption, so no event type misses rows.
///
/// Tuned the way the engine's users tune it for throughput: one consumer
/// per partition, each with its own thread that parses and flushes its own
/// blocks (kafka_thread_per_consumer; otherwise one thread serves them all
/// in turn), blocks of `max_block` rows. ClickHouse caps consumers at its
/// physical cores unless told otherwise; a partition without a consumer of
/// its own would be the bottleneck, so the cap is lifted.
pub fn kafka_engine_ddl(
    cols: &Columns,
    brokers: &str,
    group: &str,
    consumers: u32,
    max_block: u64,
) -> Vec<String> {
    let mut ddl =
        vec!["CREATE TABLE kafka_stage (type String, raw String) ENGINE = Null".to_string()];
    for ((kind, table), columns) in authpulse_testkit::TYPES
        .iter()
        .zip(tables())
        .zip(&cols.tables)
    {
        let select: Vec<String> = columns.iter().map(|(c, t)| kafka_column(c, t)).collect();
        ddl.push(format!(
            "CREATE MATERIALIZED VIEW kafka_{kind}_mv TO {table} AS SELECT {} \
             FROM kafka_stage WHERE type = '{kind}'",
            select.join(", ")
        ));
    }
    ddl.push(format!(
        "CREATE TABLE kafka_src (raw String) ENGINE = Kafka SETTINGS \
         kafka_broker_list = '{brokers}', kafka_topic_list = '{TOPIC}', \
         kafka_group_name = '{group}', kafka_format = 'JSONAsString', \
         kafka_num_consumers = {consumers}, kafka_thread_per_consumer = 1, \
         kafka_disable_num_consumers_limit = 1, kafka_max_block_size = {max_block}, \
         kafka_flush_interval_ms = 500"
    ));
    ddl.push(
        "CREATE MATERIALIZED VIEW kafka_src_mv TO kafka_stage AS \
         SELECT JSONExtractString(raw, 'type') AS type, raw FROM kafka_src"
            .to_string(),
    );
    ddl
}

async fn kafka_engine(
    ctx: &Ctx,
    exp: Counts,
    limit: Duration,
    cols: &Columns,
) -> anyhow::Result<IngestRun> {
    let db = "bench_ingest_kafka_engine";
    ctx.fresh_db(db).await?;
    let ch = &ctx.ch;
    ch.wait_idle(Duration::from_secs(60)).await?;
    let brokers = ctx
        .args
        .kafka_engine_brokers
        .clone()
        .unwrap_or_else(|| ctx.args.brokers.clone());
    let group = format!("bench-chkafka-{}", std::process::id());
    let consumers = match ctx.args.kafka_consumers {
        0 => ctx.args.partitions as u32,
        n => n,
    };
    let ddl = kafka_engine_ddl(
        cols,
        &brokers,
        &group,
        consumers,
        ctx.args.kafka_max_block_size,
    );
    let (start, last) = ddl.split_at(ddl.len() - 1);
    for s in start {
        if let Err(e) = ch.exec_in(db, s).await {
            // Is it the broker? The same table with nothing listening.
            let probe = ch
                .exec_in(
                    db,
                    "CREATE TABLE kafka_probe (raw String) ENGINE = Kafka SETTINGS \
                     kafka_broker_list = '127.0.0.1:1', kafka_topic_list = 'none', \
                     kafka_group_name = 'none', kafka_format = 'JSONAsString'",
                )
                .await;
            ctx.drop_db(db).await;
            let probe = match probe {
                Ok(_) => "a Kafka table with an unreachable broker list can be created, \
                          so the failure depends on the broker"
                    .to_string(),
                Err(p) => format!(
                    "the same CREATE with kafka_broker_list = '127.0.0.1:1' (nothing \
                     listening) fails too, so this is not the broker: {}",
                    p.to_string().lines().next().unwrap_or_default()
                ),
            };
            anyhow::bail!("{e:#}\n  ({probe})");
        }
    }
    let mut run = IngestRun {
        name: "kafka_engine",
        ..IngestRun::default()
    };
    let m0 = mark(ctx);
    let t = Instant::now();
    ch.exec_in(db, &last[0]).await?;
    let got = wait_visible(ctx, db, exp, limit, || Ok(())).await;
    run.secs = t.elapsed().as_secs_f64();
    let m1 = mark(ctx);
    let got = match got {
        Ok(g) => g,
        Err(e) => {
            let why = ch
                .client()
                .query(
                    "SELECT arrayStringConcat(exceptions.text, ' | ') FROM system.kafka_consumers \
                     WHERE database = ?",
                )
                .bind(db)
                .fetch_all::<String>()
                .await
                .map(|v| v.join(" | "))
                .unwrap_or_else(|e| format!("(system.kafka_consumers: {e:#})"));
            let _ = ch
                .exec_in(db, "DROP TABLE IF EXISTS kafka_src_mv SYNC")
                .await;
            ctx.drop_db(db).await;
            anyhow::bail!("{e:#}; Kafka engine exceptions: {}", why.trim());
        }
    };
    // Stop consuming before anything else is measured.
    let _ = ch
        .exec_in(db, "DROP TABLE IF EXISTS kafka_src_mv SYNC")
        .await;
    let _ = ch.exec_in(db, "DROP TABLE IF EXISTS kafka_src SYNC").await;
    finish(ctx, &mut run, m0, exp, got);
    run.ch_cpu = m0.ch.zip(m1.ch).map(|(a, b)| b - a);
    run.broker_cpu = m0.broker.zip(m1.broker).map(|(a, b)| b - a);
    ctx.drop_db(db).await;
    Ok(run)
}

async fn file_insert(
    ctx: &Ctx,
    exp: Counts,
    rows_dir: &std::path::Path,
) -> anyhow::Result<IngestRun> {
    let db = "bench_ingest_file";
    ctx.fresh_db(db).await?;
    let ch = &ctx.ch;
    ch.wait_idle(Duration::from_secs(60)).await?;
    let mut run = IngestRun {
        name: "file_insert",
        ..IngestRun::default()
    };
    let m0 = mark(ctx);
    let t = Instant::now();
    for table in tables() {
        ch.insert_file(db, &table, &rows_dir.join(format!("{table}.jsonl")))
            .await?;
    }
    let got = wait_visible(ctx, db, exp, Duration::from_secs(60), || Ok(())).await?;
    run.secs = t.elapsed().as_secs_f64();
    finish(ctx, &mut run, m0, exp, got);
    ctx.drop_db(db).await;
    Ok(run)
}

fn perf_report(data: &std::path::Path, extra: &[&str]) -> Option<String> {
    let out = std::process::Command::new("perf")
        .arg("report")
        .arg("-i")
        .arg(data)
        .args(["--stdio", "--no-children"])
        .args(extra)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .take(15)
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// CPU samples of the whole machine by process, by thread name, and the
/// consumer's hottest symbols.
fn perf_summary(data: &std::path::Path, consumer: u32) -> Option<String> {
    let by_process = perf_report(data, &["--sort", "pid", "--percent-limit", "1"])?;
    let by_thread =
        perf_report(data, &["--sort", "comm", "--percent-limit", "1"]).unwrap_or_default();
    let pid = consumer.to_string();
    let symbols = perf_report(
        data,
        &[
            "--pid",
            &pid,
            "--percentage",
            "relative",
            "--sort",
            "dso,sym",
            "--percent-limit",
            "2",
        ],
    )
    .unwrap_or_default();
    Some(format!(
        "by process:\n{by_process}\n\nby thread name:\n{by_thread}\n\nconsumer (pid {pid}) hottest symbols, % of its own samples:\n{symbols}"
    ))
}
