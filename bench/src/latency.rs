//! Report latency: a database of N raw events (inserted directly, the rollups
//! filled by the materialized views), a running `authpulse api` on it, and
//! p50/p99 of every report endpoint — next to the same report computed from
//! the raw tables with SQL.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use authpulse_loadgen::{app_ids, generate, org_ids};
use chrono::{Datelike, Utc};
use hdrhistogram::Histogram;

use super::rows::{tables, Columns, TableBuffers};
use super::{free_port, Child, Ctx};

pub const KEY: &str = "bench-member-key-0123456789";

#[derive(Clone, Copy, Debug)]
pub struct Stats {
    pub n: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Stats {
    pub fn of(h: &Histogram<u64>) -> Stats {
        Stats {
            n: h.len(),
            p50_ms: h.value_at_quantile(0.50) as f64 / 1000.0,
            p99_ms: h.value_at_quantile(0.99) as f64 / 1000.0,
            max_ms: h.max() as f64 / 1000.0,
        }
    }
}

pub struct EndpointResult {
    pub name: String,
    pub path: String,
    pub status: u16,
    pub bytes: usize,
    pub api: Option<Stats>,
    pub raw: Option<Stats>,
    pub raw_sql: Option<String>,
    /// CPU milliseconds per timed request: ClickHouse's and the API's
    /// (from /proc over the timed requests; the client's excluded).
    pub cpu_ms: [Option<f64>; 2],
    /// What ClickHouse's counters say it did over the timed requests.
    pub ch: Option<ChDuring>,
    pub error: Option<String>,
}

/// ClickHouse's counters (`system.events`) over one endpoint's timed
/// requests: its queries per request, and the background work (merges,
/// snapshot refreshes) that shared the cores with them.
#[derive(Debug, Clone, Copy)]
pub struct ChDuring {
    /// Select queries per request.
    pub queries: f64,
    /// Their wall time per request, summed (queries may run concurrently).
    pub select_ms: f64,
    /// Time ClickHouse's threads were ready to run but waited for a core,
    /// per request.
    pub wait_ms: f64,
    /// Merges, and the seconds they took, in the window.
    pub merges: u64,
    pub merge_secs: f64,
    /// Snapshot views' refreshes that completed in the window.
    pub refreshes: u64,
}

impl ChDuring {
    fn of(d: &crate::ch::Events, requests: u64) -> ChDuring {
        let n = requests.max(1) as f64;
        ChDuring {
            // The first counter read is itself a select, counted by then.
            queries: d.get("SelectQuery").saturating_sub(1) as f64 / n,
            select_ms: d.get("SelectQueryTimeMicroseconds") as f64 / 1e3 / n,
            wait_ms: d.get("OSCPUWaitMicroseconds") as f64 / 1e3 / n,
            merges: d.get("Merge"),
            merge_secs: d.get("MergeTotalMilliseconds") as f64 / 1e3,
            refreshes: d.get("RefreshableViewRefreshSuccess"),
        }
    }
}

pub struct SizeResult {
    pub size: u64,
    pub rows: u64,
    pub load_secs: f64,
    pub parts: u64,
    /// `SELECT 1` over ClickHouse HTTP: the per-query floor.
    pub floor: Option<Stats>,
    /// The API's health check through the bench's HTTP client: the
    /// client's (and loopback's) own per-request cost, an upper bound.
    pub http_floor: Option<Stats>,
    pub endpoints: Vec<EndpointResult>,
}

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid bounds")
}

struct Endpoint {
    name: &'static str,
    path: String,
    bearer: bool,
    raw: Option<String>,
}

/// Inserts `events` as raw rows into `db` (a separate task inserts while
/// the caller's iterator generates); returns the rows inserted.
pub async fn load(
    ctx: &Ctx,
    db: &str,
    events: impl Iterator<Item = authpulse_schemas::Event>,
) -> anyhow::Result<u64> {
    let cols = Columns::of(&ctx.ch, db).await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(usize, Vec<u8>)>(4);
    let ch = ctx.ch.clone();
    let db_owned = db.to_string();
    let inserter = tokio::spawn(async move {
        let tables = tables();
        while let Some((t, rows)) = rx.recv().await {
            ch.insert_bytes(&db_owned, &tables[t], rows).await?;
        }
        anyhow::Ok(())
    });
    let mut bufs = TableBuffers::new(cols);
    let mut n = 0u64;
    for e in events {
        bufs.push(&e)?;
        n += 1;
        if n.is_multiple_of(65_536) {
            for chunk in bufs.take(64 << 20) {
                if tx.send(chunk).await.is_err() {
                    break;
                }
            }
        }
    }
    for chunk in bufs.take(0) {
        let _ = tx.send(chunk).await;
    }
    drop(tx);
    inserter.await.context("inserter task")??;
    Ok(n)
}

/// The first sends of valid events of a profile.
pub fn events_of(
    profile: &authpulse_loadgen::Profile,
) -> impl Iterator<Item = authpulse_schemas::Event> {
    generate(profile).filter_map(|m| match m.kind {
        authpulse_loadgen::MessageKind::Event(e) => Some(e),
        _ => None,
    })
}

/// The database of the report-latency run at `size` raw events.
pub fn db_name(size: u64) -> String {
    format!("bench_reports_{size}")
}

/// Loads (or reuses) `size` raw events and times every report; with
/// `keep_db` the database stays for the readers and freshness steps (the
/// caller drops it).
pub async fn run(ctx: &Ctx, size: u64, keep_db: bool) -> anyhow::Result<SizeResult> {
    let db = db_name(size);
    let profile = super::ingest::profile(ctx, size);
    let ch = &ctx.ch;
    let kept: u64 = if ctx.args.reuse {
        let tables: Vec<String> = tables().iter().map(|t| format!("'{t}'")).collect();
        ch.count(&format!(
            "SELECT toUInt64(sum(rows)) FROM system.parts WHERE database = '{db}' AND active AND table IN ({})",
            tables.join(", ")
        ))
        .await?
    } else {
        0
    };
    let t = Instant::now();
    let rows = if kept > 0 {
        // The kept database was filled by the same profile and size; bring
        // its schema up to date (new rollups are backfilled by migrations).
        ctx.migrate_db(&db).await?;
        eprintln!("   reusing {db} ({kept} raw rows)");
        kept
    } else {
        ctx.fresh_db(&db).await?;
        load(ctx, &db, events_of(&profile)).await?
    };
    let load_secs = t.elapsed().as_secs_f64();
    ch.wait_idle(Duration::from_secs(180)).await?;
    ctx.refresh_views(&db).await?;
    let parts: u64 = ch
        .count(&format!(
            "SELECT count() FROM system.parts WHERE database = '{db}' AND active"
        ))
        .await?;
    eprintln!("   loaded {rows} rows in {load_secs:.1}s ({parts} active parts)");

    // The API, with a key that is a member of every org and stat caching off.
    let orgs = org_ids(&profile);
    let memberships: serde_json::Map<String, serde_json::Value> = orgs
        .iter()
        .map(|(_, slug)| (slug.clone(), serde_json::json!("Owner")))
        .collect();
    let auth_path = ctx.workdir.join("bench-auth.json");
    std::fs::write(
        &auth_path,
        serde_json::to_vec(&serde_json::json!({
            "api_keys": [{ "key": KEY, "name": "bench", "scopes": ["*"], "memberships": memberships }]
        }))?,
    )?;
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let mut child = spawn_api(
        ctx,
        &db,
        port,
        &auth_path,
        &format!("api-{size}.log"),
        false,
    )?;
    wait_healthy(ctx, &base, &mut child).await?;
    let mut h = histogram();
    for _ in 0..ctx.args.requests {
        let (el, _) = ch.timed(&db, "SELECT 1").await?;
        h.record(el.as_micros().max(1) as u64)?;
    }
    let floor = Some(Stats::of(&h));
    let mut h = histogram();
    let health = format!("{base}/jans-auth/sys/health-check");
    for _ in 0..ctx.args.requests {
        let t = Instant::now();
        let r = ctx.http.get(&health, None).await?;
        h.record(t.elapsed().as_micros().max(1) as u64)?;
        anyhow::ensure!(r.status == 200, "health check: HTTP {}", r.status);
    }
    let http_floor = Some(Stats::of(&h));
    let entity_status = entity_status_select(ctx, &db).await?;
    let api_pid = child.pid();
    let endpoints = measure(ctx, &db, &base, &profile, &orgs, &entity_status, api_pid).await;
    child.terminate();
    if !keep_db {
        ctx.drop_db(&db).await;
    }
    Ok(SizeResult {
        size,
        rows,
        load_secs,
        parts,
        floor,
        http_floor,
        endpoints: endpoints?,
    })
}

/// `authpulse api` on `db`; Janssen's TTL cache is off, and the report
/// cache (api/src/cache.rs) is on only with `report_cache`, so the latency
/// step measures what an answer costs to compute.
pub fn spawn_api(
    ctx: &Ctx,
    db: &str,
    port: u16,
    auth: &std::path::Path,
    log: &str,
    report_cache: bool,
) -> anyhow::Result<Child> {
    let mut args = vec![
        "api".into(),
        "--database".into(),
        db.into(),
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "--api-key".into(),
        format!("{KEY}-all"),
        "--auth-config".into(),
        super::path_str(auth),
        "--stat-cache-secs".into(),
        "0".into(),
    ];
    if !report_cache {
        args.extend(["--report-cache-poll-ms".into(), "0".into()]);
    }
    ctx.spawn(&args, log)
}

pub async fn wait_healthy(ctx: &Ctx, base: &str, child: &mut Child) -> anyhow::Result<()> {
    let t = Instant::now();
    let url = format!("{base}/jans-auth/sys/health-check");
    while t.elapsed() < Duration::from_secs(60) {
        if let Some(s) = child.exited() {
            anyhow::bail!("authpulse api exited ({s}): {}", child.log_tail());
        }
        if let Ok(r) = ctx.http.get(&url, None).await {
            if r.status == 200 {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("authpulse api did not become healthy: {}", child.log_tail())
}

/// The entity-status rule as the schema defines it: the SELECT of the
/// materialized view that keeps `entity_state` (entity_type, entity_id,
/// org_id, status, version), read from `db` at run time so the raw-SQL
/// equivalent of the Porta stats applies the same rule over the raw
/// audit_events without a copy of it.
async fn entity_status_select(ctx: &Ctx, db: &str) -> anyhow::Result<String> {
    let sql: String = ctx
        .ch
        .client()
        .query(
            "SELECT as_select FROM system.tables WHERE database = ? AND name = 'entity_state_mv'",
        )
        .bind(db)
        .fetch_one()
        .await
        .with_context(|| format!("the entity_state_mv definition in {db}"))?;
    anyhow::ensure!(!sql.trim().is_empty(), "{db}.entity_state_mv has no SELECT");
    Ok(sql)
}

fn endpoints(
    profile: &authpulse_loadgen::Profile,
    orgs: &[(uuid::Uuid, String)],
    entity_status: &str,
) -> Vec<Endpoint> {
    let s = profile.start.timestamp_millis();
    let e = Utc::now().timestamp_millis();
    let (org, slug) = orgs[0].clone();
    let app = app_ids(profile, 0)[0].0;
    let d0 = profile.start.date_naive();
    let d1 = Utc::now().date_naive();
    let m0 = format!("{:04}{:02}", d0.year(), d0.month());
    let m1 = format!("{:04}{:02}", d1.year(), d1.month());
    let range = format!(
        "occurred_at >= fromUnixTimestamp64Milli(toInt64({s})) AND occurred_at < fromUnixTimestamp64Milli(toInt64({e}))"
    );
    let days = format!("toDate(occurred_at) BETWEEN '{d0}' AND '{d1}'");
    let fa = |name: &'static str, path: String, raw: String| Endpoint {
        name,
        path,
        bearer: false,
        raw: Some(raw),
    };
    vec![
        fa(
            "FusionAuth login (hourly, all apps)",
            format!("/api/report/login?start={s}&end={e}"),
            format!("SELECT toStartOfHour(occurred_at) AS h, count() FROM login_events WHERE success AND {range} GROUP BY h ORDER BY h"),
        ),
        fa(
            "FusionAuth login (hourly, one app)",
            format!("/api/report/login?start={s}&end={e}&applicationId={app}"),
            format!("SELECT toStartOfHour(occurred_at) AS h, count() FROM login_events WHERE success AND application_id = '{app}' AND {range} GROUP BY h ORDER BY h"),
        ),
        fa(
            "FusionAuth registration (hourly)",
            format!("/api/report/registration?start={s}&end={e}"),
            format!("SELECT toStartOfHour(occurred_at) AS h, count() FROM registration_events WHERE action = 'registered' AND {range} GROUP BY h ORDER BY h"),
        ),
        fa(
            "FusionAuth daily-active-users",
            format!("/api/report/daily-active-users?start={s}&end={e}"),
            format!("SELECT toDate(occurred_at) AS d, uniqExact(user_id) FROM login_events WHERE success AND {range} GROUP BY d ORDER BY d"),
        ),
        fa(
            "FusionAuth monthly-active-users",
            format!("/api/report/monthly-active-users?start={s}&end={e}"),
            format!("SELECT toStartOfMonth(occurred_at) AS m, uniqExact(user_id) FROM login_events WHERE success AND {range} GROUP BY m ORDER BY m"),
        ),
        fa(
            "FusionAuth totals",
            "/api/report/totals".to_string(),
            "SELECT (SELECT groupArray((application_id, n)) FROM (SELECT application_id, countIf(success) AS n FROM login_events GROUP BY application_id)), \
             (SELECT groupArray((application_id, r, t)) FROM (SELECT application_id, countIf(action = 'registered') - countIf(action = 'unregistered') AS r, countIf(action = 'registered') AS t FROM registration_events WHERE action IN ('registered', 'unregistered') GROUP BY application_id)), \
             (SELECT (countIf(action = 'user_created') - countIf(action = 'user_deleted'), countIf(action = 'user_created')) FROM registration_events)".to_string(),
        ),
        Endpoint {
            name: "Janssen stat (all months)",
            path: format!("/jans-auth/restv1/internal/stat?start-month={m0}&end-month={m1}"),
            bearer: true,
            raw: Some(format!(
                "SELECT (SELECT groupArray((m, u)) FROM (SELECT toYYYYMM(occurred_at) AS m, uniqExact(user_id) AS u FROM login_events WHERE success AND toYYYYMM(occurred_at) BETWEEN {m0} AND {m1} GROUP BY m)), \
                 (SELECT groupArray((m, g, t, n)) FROM (SELECT toYYYYMM(occurred_at) AS m, grant_type AS g, token_type AS t, count() AS n FROM token_events WHERE toYYYYMM(occurred_at) BETWEEN {m0} AND {m1} GROUP BY m, g, t))"
            )),
        },
        fa(
            "Org analytics login-trends",
            format!("/api/organizations/{slug}/analytics/login-trends?start_date={d0}&end_date={d1}"),
            format!("SELECT toDate(occurred_at) AS d, count() FROM login_events WHERE org_id = '{org}' AND success AND {days} GROUP BY d ORDER BY d"),
        ),
        fa(
            "Org analytics logins-by-service",
            format!("/api/organizations/{slug}/analytics/logins-by-service?start_date={d0}&end_date={d1}"),
            format!("SELECT application_id, any(application_name), count() AS n FROM login_events WHERE org_id = '{org}' AND success AND {days} GROUP BY application_id ORDER BY n DESC"),
        ),
        fa(
            "Org analytics logins-by-provider",
            format!("/api/organizations/{slug}/analytics/logins-by-provider?start_date={d0}&end_date={d1}"),
            format!("SELECT provider, count() AS n FROM login_events WHERE org_id = '{org}' AND success AND {days} GROUP BY provider ORDER BY n DESC"),
        ),
        fa(
            "Org analytics recent-logins",
            format!("/api/organizations/{slug}/analytics/recent-logins?limit=10"),
            format!("SELECT event_id, user_id, application_id, provider, occurred_at FROM login_events WHERE org_id = '{org}' AND success ORDER BY occurred_at DESC, event_id DESC LIMIT 10"),
        ),
        fa(
            "Porta admin stats",
            "/api/admin/stats".to_string(),
            format!(
                "SELECT entity_type, status, count() FROM (SELECT entity_type, entity_id, \
                 argMax(status, version) AS status FROM ({entity_status}) GROUP BY entity_type, entity_id) \
                 GROUP BY entity_type, status"
            ),
        ),
        Endpoint {
            name: "Porta audit log (page 1)",
            path: "/api/admin/audit?page=1&pageSize=20".to_string(),
            bearer: false,
            raw: Some(
                "SELECT (SELECT count() FROM audit_events), \
                 (SELECT groupArray((event_id, toUnixTimestamp64Milli(occurred_at), action, entity_type, entity_id, actor_id, actor_email, organization_id, metadata, ip_address)) \
                  FROM (SELECT * FROM audit_events ORDER BY occurred_at DESC, toString(event_id) DESC LIMIT 20))"
                    .to_string(),
            ),
        },
        Endpoint {
            name: "Porta organization history",
            path: format!("/api/admin/organizations/{org}/history?limit=20"),
            bearer: false,
            raw: Some(format!(
                "SELECT event_id, toUnixTimestamp64Milli(occurred_at), action, actor_id, metadata, ip_address FROM audit_events \
                 WHERE entity_type = 'organization' AND entity_id = '{org}' ORDER BY occurred_at DESC, toString(event_id) DESC LIMIT 21"
            )),
        },
    ]
}

async fn measure(
    ctx: &Ctx,
    db: &str,
    base: &str,
    profile: &authpulse_loadgen::Profile,
    orgs: &[(uuid::Uuid, String)],
    entity_status: &str,
    api_pid: u32,
) -> anyhow::Result<Vec<EndpointResult>> {
    let mut out = Vec::new();
    let bearer = format!("Bearer {KEY}");
    let ch = &ctx.ch;
    for ep in endpoints(profile, orgs, entity_status) {
        let auth = Some(if ep.bearer { bearer.as_str() } else { KEY });
        let url = format!("{base}{}", ep.path);
        let mut res = EndpointResult {
            name: ep.name.to_string(),
            path: ep.path.clone(),
            status: 0,
            bytes: 0,
            api: None,
            raw: None,
            raw_sql: ep.raw.clone(),
            cpu_ms: [None; 2],
            ch: None,
            error: None,
        };
        let first = ctx.http.get(&url, auth).await?;
        res.status = first.status;
        res.bytes = first.body.len();
        if first.status != 200 {
            res.error = Some(format!(
                "HTTP {}: {}",
                first.status,
                first.text().chars().take(200).collect::<String>()
            ));
            out.push(res);
            continue;
        }
        for _ in 0..4 {
            ctx.http.get(&url, auth).await?;
        }
        let mut h = histogram();
        let cpu = || [ctx.server_cpu().0, super::cpu_secs(api_pid)];
        let cpu0 = cpu();
        let events0 = ch.events().await;
        for _ in 0..ctx.args.requests {
            let t = Instant::now();
            let r = ctx.http.get(&url, auth).await?;
            h.record(t.elapsed().as_micros().max(1) as u64)?;
            anyhow::ensure!(r.status == 200, "{}: HTTP {}", ep.path, r.status);
        }
        let events1 = ch.events().await;
        let cpu1 = cpu();
        res.ch = events0
            .zip(events1)
            .map(|(a, b)| ChDuring::of(&b.since(&a), ctx.args.requests));
        res.cpu_ms = std::array::from_fn(|i| {
            Some((cpu1[i]? - cpu0[i]?) * 1000.0 / ctx.args.requests.max(1) as f64)
        });
        res.api = Some(Stats::of(&h));
        if let Some(sql) = &ep.raw {
            let mut h = histogram();
            match ch.timed(db, sql).await {
                Err(e) => res.error = Some(format!("raw SQL: {e:#}")),
                Ok(_) => {
                    for _ in 0..ctx.args.raw_requests {
                        let (el, _) = ch.timed(db, sql).await?;
                        h.record(el.as_micros().max(1) as u64)?;
                    }
                    res.raw = Some(Stats::of(&h));
                }
            }
        }
        eprintln!(
            "   {:<40} p50 {:>8.2} ms  p99 {:>8.2} ms{}",
            res.name,
            res.api.map_or(0.0, |s| s.p50_ms),
            res.api.map_or(0.0, |s| s.p99_ms),
            res.raw
                .map(|r| format!("   raw SQL p99 {:.1} ms", r.p99_ms))
                .unwrap_or_default()
        );
        out.push(res);
    }
    Ok(out)
}
