//! Many readers: N concurrent keep-alive connections, each sending mixed
//! report requests with varied parameters (ranges, applications,
//! organizations, months, pages: drawn deterministically from the loaded
//! profile) to `authpulse api` on the latency step's largest database for a
//! fixed time; then the same number of connections sending `SELECT 1` to
//! ClickHouse over HTTP for the same time: the per-query floor of the
//! server every report goes through.

use std::time::{Duration, Instant};

use authpulse_loadgen::{app_ids, org_ids, Profile};
use chrono::{Datelike, Utc};
use hdrhistogram::Histogram;

use super::fresh::{member_bearer, stat_bearer, write_auth};
use super::http::Http;
use super::latency::{histogram, spawn_api, wait_healthy, Stats, KEY};
use super::{free_port, Ctx};

/// One side of the comparison: requests answered, failed, rate, latency.
pub struct Side {
    pub requests: u64,
    pub errors: u64,
    pub rate: f64,
    pub stats: Option<Stats>,
    /// The first failure, to say what failed.
    pub first_error: Option<String>,
}

pub struct KindLatency {
    pub kind: &'static str,
    pub cached: Option<Stats>,
    pub uncached: Option<Stats>,
}

pub struct ReadersResult {
    pub connections: u64,
    pub secs: f64,
    pub database: String,
    pub size: u64,
    pub reports: Side,
    pub select1: Side,
    /// Per endpoint kind of the mix: its answered requests' latency with
    /// the report cache on, then off (what sets the p99).
    pub mix: Vec<KindLatency>,
    /// CPU seconds during the counted reports phase: api, ClickHouse, the
    /// bench's own client.
    pub reports_cpu: [Option<f64>; 3],
    /// CPU seconds during the counted SELECT 1 phase: ClickHouse, client.
    pub select1_cpu: [Option<f64>; 2],
    /// The report cache's (hits, lookups) over the reports phase.
    pub cache_lookups: Option<(u64, u64)>,
    /// Per table, the polls that found it changed over the reports phase
    /// (each drops the cached answers over it).
    pub table_changes: Vec<(String, u64)>,
    /// The same reports with the report cache off.
    pub uncached: Side,
    /// CPU seconds of that phase: api, ClickHouse, client.
    pub uncached_cpu: [Option<f64>; 3],
}

/// CPU seconds so far of `api` (when given), ClickHouse and this process.
fn cpu_now(ctx: &Ctx, api: Option<u32>) -> [Option<f64>; 3] {
    [
        api.and_then(super::cpu_secs),
        ctx.server_cpu().0,
        super::cpu_secs(std::process::id()),
    ]
}

/// CPU used between two marks taken `warm` apart from the counted window:
/// the marks bracket the whole phase, so the warm-up's share is removed
/// proportionally.
fn used(a: [Option<f64>; 3], b: [Option<f64>; 3], share: f64) -> [Option<f64>; 3] {
    let mut out = [None; 3];
    for i in 0..3 {
        out[i] = a[i].zip(b[i]).map(|(x, y)| (y - x) * share);
    }
    out
}

/// splitmix64: a fixed sequence per seed, so every run sends the same mix.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

pub const KINDS: [&str; 13] = [
    "FusionAuth login",
    "FusionAuth registration",
    "FusionAuth DAU",
    "FusionAuth MAU",
    "FusionAuth totals",
    "Janssen stat",
    "org login-trends",
    "org logins-by-service",
    "org logins-by-provider",
    "org recent-logins",
    "Porta stats",
    "Porta audit list",
    "Porta organization history",
];

/// What the requests draw from: the loaded profile's span, organizations
/// and applications.
struct Space {
    start_ms: i64,
    end_ms: i64,
    orgs: Vec<(uuid::Uuid, String)>,
    apps: Vec<Vec<uuid::Uuid>>,
}

#[derive(Clone, Copy)]
enum Auth {
    Key,
    Member,
    Stat,
}

/// One request: (kind index, path, credentials).
fn request(rng: &mut Rng, s: &Space) -> (usize, String, Auth) {
    let kind = rng.below(KINDS.len() as u64) as usize;
    let span = (s.end_ms - s.start_ms).max(3_600_000) as u64;
    // A range inside the span: 1 hour to the whole span long.
    let len = 3_600_000 + rng.below(span - 3_600_000 + 1) as i64;
    let start = s.start_ms + rng.below((span as i64 - len + 1).max(1) as u64) as i64;
    let end = start + len;
    let o = rng.below(s.orgs.len() as u64) as usize;
    let (org_id, slug) = &s.orgs[o];
    // Half the FusionAuth requests for one application.
    let app = if rng.below(2) == 0 {
        let apps = &s.apps[o];
        format!(
            "&applicationId={}",
            apps[rng.below(apps.len() as u64) as usize]
        )
    } else {
        String::new()
    };
    let day = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap_or_default()
            .date_naive()
    };
    let month = |ms: i64| {
        let d = day(ms);
        format!("{:04}{:02}", d.year(), d.month())
    };
    let dates = format!("start_date={}&end_date={}", day(start), day(end));
    let fa = |report: &str| format!("/api/report/{report}?start={start}&end={end}{app}");
    let org = |ep: &str, q: &str| format!("/api/organizations/{slug}/analytics/{ep}?{q}");
    let (path, auth) = match kind {
        0 => (fa("login"), Auth::Key),
        1 => (fa("registration"), Auth::Key),
        2 => (fa("daily-active-users"), Auth::Key),
        3 => (fa("monthly-active-users"), Auth::Key),
        4 => ("/api/report/totals".to_string(), Auth::Key),
        5 => (
            format!(
                "/jans-auth/restv1/internal/stat?start-month={}&end-month={}",
                month(start),
                month(end)
            ),
            Auth::Stat,
        ),
        6 => (org("login-trends", &dates), Auth::Member),
        7 => (org("logins-by-service", &dates), Auth::Member),
        8 => (org("logins-by-provider", &dates), Auth::Member),
        9 => (
            org("recent-logins", &format!("limit={}", 5 + rng.below(46))),
            Auth::Member,
        ),
        10 => ("/api/admin/stats".to_string(), Auth::Key),
        11 => (
            format!(
                "/api/admin/audit?page={}&pageSize={}",
                1 + rng.below(5),
                [10, 20, 50][rng.below(3) as usize]
            ),
            Auth::Key,
        ),
        _ => (
            format!(
                "/api/admin/organizations/{org_id}/history?limit={}",
                10 + rng.below(41)
            ),
            Auth::Key,
        ),
    };
    (kind, path, auth)
}

/// Per connection: its histogram, answered and failed requests, first
/// failure, requests per kind.
struct Conn {
    h: Histogram<u64>,
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    kinds: [Histogram<u64>; KINDS.len()],
}

/// `conns` connections (one HTTP client each, so one keep-alive
/// connection each), each sending `next()`'s requests back to back for
/// `warm + secs`; only requests started after the warm-up are counted.
async fn phase<F>(
    conns: u64,
    warm: Duration,
    secs: Duration,
    make: F,
) -> anyhow::Result<(Side, [Option<Stats>; KINDS.len()])>
where
    F: Fn(u64) -> Box<dyn FnMut() -> (usize, String, Vec<(String, String)>) + Send> + Send,
{
    let t0 = Instant::now();
    let counted_from = t0 + warm;
    let stop = counted_from + secs;
    let mut tasks = Vec::new();
    for c in 0..conns {
        let mut next = make(c);
        tasks.push(tokio::spawn(async move {
            let http = Http::new();
            let mut conn = Conn {
                h: histogram(),
                ok: 0,
                errors: 0,
                first_error: None,
                kinds: std::array::from_fn(|_| histogram()),
            };
            loop {
                let t = Instant::now();
                if t >= stop {
                    break;
                }
                let (kind, url, headers) = next();
                let headers: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let r = http.get_with(&url, &headers).await;
                let elapsed = t.elapsed();
                if t < counted_from {
                    continue;
                }
                let failure = match r {
                    Ok(r) if r.status == 200 => None,
                    Ok(r) => Some(format!(
                        "{url}: HTTP {}: {}",
                        r.status,
                        r.text().chars().take(200).collect::<String>()
                    )),
                    Err(e) => Some(format!("{e:#}")),
                };
                match failure {
                    None => {
                        conn.ok += 1;
                        let us = elapsed.as_micros().max(1) as u64;
                        conn.h.record(us)?;
                        conn.kinds[kind].record(us)?;
                    }
                    Some(f) => {
                        conn.errors += 1;
                        conn.first_error.get_or_insert(f);
                    }
                }
            }
            anyhow::Ok(conn)
        }));
    }
    let mut h = histogram();
    let (mut ok, mut errors, mut first_error) = (0, 0, None);
    let mut kinds: [Histogram<u64>; KINDS.len()] = std::array::from_fn(|_| histogram());
    for t in tasks {
        let c = t.await??;
        h.add(&c.h)?;
        ok += c.ok;
        errors += c.errors;
        if first_error.is_none() {
            first_error = c.first_error;
        }
        for (k, c) in kinds.iter_mut().zip(&c.kinds) {
            k.add(c)?;
        }
    }
    let side = Side {
        requests: ok,
        errors,
        rate: ok as f64 / secs.as_secs_f64(),
        stats: (!h.is_empty()).then(|| Stats::of(&h)),
        first_error,
    };
    Ok((side, kinds.map(|h| (!h.is_empty()).then(|| Stats::of(&h)))))
}

/// The `SELECT 1` URL of ClickHouse's HTTP interface and its auth headers.
fn select1(ctx: &Ctx) -> anyhow::Result<(String, Vec<(String, String)>)> {
    let base = ctx.args.clickhouse_url.trim_end_matches('/');
    anyhow::ensure!(
        base.starts_with("http://"),
        "readers: the SELECT 1 floor is measured over plain HTTP; --clickhouse-url {base} is not http://"
    );
    let mut headers = Vec::new();
    if let Some(user) = &ctx.args.ch_auth.user {
        headers.push(("x-clickhouse-user".to_string(), user.clone()));
    }
    if let Some(p) = &ctx.args.ch_auth.password {
        headers.push(("x-clickhouse-key".to_string(), p.expose().to_string()));
    }
    Ok((format!("{base}/?query=SELECT%201"), headers))
}

pub async fn run(ctx: &Ctx, size: u64) -> anyhow::Result<ReadersResult> {
    let db = super::latency::db_name(size);
    let conns = ctx.args.readers.max(1);
    let secs = Duration::from_secs(ctx.args.readers_secs.max(1));
    let warm = Duration::from_secs(2);
    let (select1_url, select1_headers) = select1(ctx)?;
    let profile: Profile = super::ingest::profile(ctx, size);
    let orgs = org_ids(&profile);
    let slugs: Vec<String> = orgs.iter().map(|(_, s)| s.clone()).collect();
    let space = std::sync::Arc::new(Space {
        start_ms: profile.start.timestamp_millis(),
        end_ms: Utc::now().timestamp_millis(),
        apps: (0..orgs.len())
            .map(|o| app_ids(&profile, o).into_iter().map(|(id, _)| id).collect())
            .collect(),
        orgs,
    });
    anyhow::ensure!(
        space.apps.iter().all(|a| !a.is_empty()) && !space.orgs.is_empty(),
        "readers: the profile has no organizations or applications"
    );
    let auth_path = write_auth(ctx, "bench-auth-readers.json", &slugs)?;
    let mix = Mix {
        space,
        stat: stat_bearer(),
        member: member_bearer(&slugs),
        seed: ctx.args.seed,
    };
    // Counted share of each phase (the marks also cover the warm-up).
    let share = secs.as_secs_f64() / (secs + warm).as_secs_f64();
    let on = reports_phase(ctx, &db, &auth_path, &mix, true, conns, warm, secs, share).await?;
    let off = reports_phase(ctx, &db, &auth_path, &mix, false, conns, warm, secs, share).await?;
    eprintln!("   {conns} connections × {} s of SELECT 1", secs.as_secs());
    let c0 = cpu_now(ctx, None);
    let (select1, _) = phase(conns, warm, secs, |_| {
        let (url, headers) = (select1_url.clone(), select1_headers.clone());
        Box::new(move || (0, url.clone(), headers.clone()))
    })
    .await?;
    let [_, ch_cpu, client_cpu] = used(c0, cpu_now(ctx, None), share);
    eprintln!(
        "   SELECT 1: {:.0} req/s, p99 {:.1} ms, {} errors",
        select1.rate,
        select1.stats.map_or(0.0, |s| s.p99_ms),
        select1.errors
    );
    Ok(ReadersResult {
        connections: conns,
        secs: secs.as_secs_f64(),
        database: db,
        size,
        reports: on.side,
        select1,
        mix: KINDS
            .iter()
            .zip(on.kinds)
            .zip(off.kinds)
            .map(|((kind, cached), uncached)| KindLatency {
                kind,
                cached,
                uncached,
            })
            .collect(),
        reports_cpu: on.cpu,
        select1_cpu: [ch_cpu, client_cpu],
        cache_lookups: on.cache_lookups,
        table_changes: on.table_changes,
        uncached: off.side,
        uncached_cpu: off.cpu,
    })
}

/// What every reports phase draws its requests from.
struct Mix {
    space: std::sync::Arc<Space>,
    stat: String,
    member: String,
    seed: u64,
}

struct ReportsPhase {
    side: Side,
    kinds: [Option<Stats>; KINDS.len()],
    cpu: [Option<f64>; 3],
    cache_lookups: Option<(u64, u64)>,
    table_changes: Vec<(String, u64)>,
}

/// The mixed reports against a fresh `authpulse api` with the report cache
/// on or off; every phase sends the same request sequence.
#[allow(clippy::too_many_arguments)]
async fn reports_phase(
    ctx: &Ctx,
    db: &str,
    auth_path: &std::path::Path,
    mix: &Mix,
    report_cache: bool,
    conns: u64,
    warm: Duration,
    secs: Duration,
    share: f64,
) -> anyhow::Result<ReportsPhase> {
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let log = if report_cache {
        "api-readers.log"
    } else {
        "api-readers-uncached.log"
    };
    let mut api = spawn_api(ctx, db, port, auth_path, log, report_cache)?;
    wait_healthy(ctx, &base, &mut api).await?;
    let cache = if report_cache { "on" } else { "off" };
    eprintln!(
        "   {conns} connections × {} s of mixed reports (report cache {cache})",
        secs.as_secs()
    );
    let c0 = cpu_now(ctx, Some(api.pid()));
    let reports = phase(conns, warm, secs, |c| {
        let mut rng = Rng(mix.seed ^ c.wrapping_mul(0x2545_F491_4F6C_DD1D));
        let (space, base, stat, member) = (
            mix.space.clone(),
            base.clone(),
            mix.stat.clone(),
            mix.member.clone(),
        );
        Box::new(move || {
            let (kind, path, auth) = request(&mut rng, &space);
            let value = match auth {
                Auth::Key => KEY.to_string(),
                Auth::Member => member.clone(),
                Auth::Stat => stat.clone(),
            };
            (
                kind,
                format!("{base}{path}"),
                vec![("authorization".to_string(), value)],
            )
        })
    })
    .await;
    let cpu = used(c0, cpu_now(ctx, Some(api.pid())), share);
    let metrics = if report_cache {
        ctx.http
            .get(&format!("{base}/metrics"), None)
            .await
            .ok()
            .map(|r| r.text())
    } else {
        None
    };
    let cache_lookups = metrics.as_deref().and_then(parse_cache_lookups);
    let table_changes = metrics
        .as_deref()
        .map(parse_table_changes)
        .unwrap_or_default();
    api.terminate();
    let (side, kinds) = reports?;
    eprintln!(
        "   reports (cache {cache}): {:.0} req/s, p99 {:.1} ms, {} errors",
        side.rate,
        side.stats.map_or(0.0, |s| s.p99_ms),
        side.errors
    );
    Ok(ReportsPhase {
        side,
        kinds,
        cpu,
        cache_lookups,
        table_changes,
    })
}

/// Per table, the fingerprint changes the API's report cache saw, from its
/// `/metrics`; most first.
fn parse_table_changes(text: &str) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = text
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("authpulse_api_report_cache_table_changes_total{")?;
            let (labels, value) = rest.split_once("} ")?;
            let table = labels.strip_prefix("table=\"")?.strip_suffix('"')?;
            Some((table.to_string(), value.trim().parse::<f64>().ok()? as u64))
        })
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

/// (hits, lookups) of the API's report cache so far, from its `/metrics`.
fn parse_cache_lookups(text: &str) -> Option<(u64, u64)> {
    let (mut hits, mut all) = (0u64, 0u64);
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("authpulse_api_report_cache_total{") else {
            continue;
        };
        let (labels, value) = rest.split_once("} ")?;
        let n = value.trim().parse::<f64>().ok()? as u64;
        all += n;
        if labels.contains("result=\"hit\"") {
            hits += n;
        }
    }
    (all > 0).then_some((hits, all))
}

#[cfg(test)]
mod tests {
    #[test]
    fn cache_lookups_are_read_from_the_exposition() {
        let text = "# TYPE authpulse_api_report_cache_total counter\n\
authpulse_api_report_cache_total{kind=\"answer\",result=\"hit\"} 90\n\
authpulse_api_report_cache_total{kind=\"interval\",result=\"miss\"} 10\n\
authpulse_api_report_cache_total{kind=\"interval\",result=\"hit\"} 5\n\
authpulse_api_requests_total{route=\"/x\"} 7\n";
        assert_eq!(super::parse_cache_lookups(text), Some((95, 105)));
        assert_eq!(super::parse_cache_lookups("nothing"), None);
        let text = "authpulse_api_report_cache_table_changes_total{table=\"sessions_now\"} 3\n\
authpulse_api_report_cache_table_changes_total{table=\"login_events\"} 7\n";
        assert_eq!(
            super::parse_table_changes(text),
            [
                ("login_events".to_string(), 7),
                ("sessions_now".to_string(), 3)
            ]
        );
    }
}
