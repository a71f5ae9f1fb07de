//! Freshness of every report endpoint: background traffic paced at a fixed
//! rate through the real path (broker → `authpulse ingest` → ClickHouse →
//! `authpulse api`), on the largest database the latency step loaded when
//! it ran; meanwhile, for each endpoint, N marker events one after another,
//! each timed from produce to the first answer of that endpoint that shows
//! it.
//!
//! The background traffic's event times lie 40–41 days back: it loads the
//! consumer, the broker and ClickHouse exactly as current traffic does, but
//! changes no figure the markers are read from (last 24 h / 7 d, the
//! current month, the probe organization and application), so an answer
//! that changes is a marker becoming visible, not background noise.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use authpulse_loadgen::Profile;
use authpulse_schemas::{to_json, Body, Event, Login, Org};
use chrono::Utc;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::Value;
use uuid::Uuid;

use super::http::Http;
use super::latency::{histogram, spawn_api, wait_healthy, Stats, KEY};
use super::{free_port, peak_rss, Ctx};

pub struct FreshResult {
    pub target_rate: f64,
    pub achieved_rate: f64,
    /// Seconds of background traffic (the whole marker phase).
    pub secs: f64,
    /// The database measured and its raw events before the run.
    pub database: String,
    pub raw_events: u64,
    /// Markers per endpoint.
    pub markers: u64,
    pub endpoints: Vec<EndpointFresh>,
    pub endpoints_error: Option<String>,
    /// The 7-day window boundary, measured with two markers.
    pub window: Option<WindowCheck>,
    pub window_error: Option<String>,
    pub consumer_peak_rss: Option<u64>,
    /// CPU seconds during the marker phase: consumer, api, ClickHouse, broker.
    pub cpu: [Option<f64>; 4],
    /// Share of the machine's cores busy during the marker phase (every
    /// process, the bench's own included; /proc/stat).
    pub machine_busy: Option<f64>,
    /// What ClickHouse's own counters (`system.events`) say it did during
    /// the marker phase.
    pub clickhouse: Option<String>,
    pub metrics: Option<String>,
}

/// Produce → visible of one endpoint's markers.
pub struct EndpointFresh {
    pub endpoint: &'static str,
    pub path: String,
    /// Over the markers that became visible.
    pub stats: Option<Stats>,
    /// Each read of the endpoint while markers were awaited: the API's
    /// (and its queries') part of produce → visible.
    pub polls: Option<Stats>,
    /// Markers not visible within [`GIVE_UP`].
    pub missed: u64,
    /// The first failure: of the answer before a marker (the endpoint was
    /// not measured further) or of a poll.
    pub error: Option<String>,
}

/// `newOrgsLast7d` around its window's start: a marker at now − 7 d − 1 min
/// (stored, not counted) and one at now − 7 d + 1 min (counted).
pub struct WindowCheck {
    /// Change of `newOrgsLast7d` once both are stored (expected 1).
    pub counted: i64,
    /// Raw rows of the marker outside the window (expected 1: it was
    /// stored, and still not counted).
    pub outside_stored: u64,
}

const POLL_EVERY: Duration = Duration::from_millis(50);
const GIVE_UP: Duration = Duration::from_secs(30);

/// HS256 secret of the bench's auth config (Janssen stat and org analytics
/// take a Bearer JWT).
pub const JWT_SECRET: &str = "bench-freshness-hs256-secret-0123456789";

const PROBE_ORG: u128 = 0xBE4C_1000;
const PROBE_SLUG: &str = "bench-fresh-probe";
const PROBE_APP: u128 = 0xBE4C_1001;
const PROBE_ENTITY: &str = "bench-fresh-probe-client";
const PROBE_GRANT: &str = "bench_fresh_probe";

/// The auth config of the bench's API: the key (every scope, a member of
/// `orgs`) and the JWT secret. Returns its path.
pub fn write_auth(ctx: &Ctx, name: &str, orgs: &[String]) -> anyhow::Result<std::path::PathBuf> {
    let memberships: serde_json::Map<String, Value> = orgs
        .iter()
        .map(|slug| (slug.clone(), serde_json::json!("Owner")))
        .collect();
    let path = ctx.workdir.join(name);
    std::fs::write(
        &path,
        serde_json::to_vec(&serde_json::json!({
            "api_keys": [{ "key": KEY, "name": "bench", "scopes": ["*"], "memberships": memberships }],
            "jwt": { "hs256_secrets": [JWT_SECRET] }
        }))?,
    )?;
    Ok(path)
}

/// `Bearer <JWT>` with the Janssen stat scope.
pub fn stat_bearer() -> String {
    format!(
        "Bearer {}",
        authpulse_api::auth::sign_hs256(
            JWT_SECRET.as_bytes(),
            &serde_json::json!({"sub": "bench", "scope": "openid jans_stat", "exp": Utc::now().timestamp() + 3600}),
        )
    )
}

/// `Bearer <JWT>` of a member of `orgs` (org analytics need a member; an
/// API key is not one unless its config says so).
pub fn member_bearer(orgs: &[String]) -> String {
    let orgs: serde_json::Map<String, Value> = orgs
        .iter()
        .map(|slug| (slug.clone(), serde_json::json!("Member")))
        .collect();
    format!(
        "Bearer {}",
        authpulse_api::auth::sign_hs256(
            JWT_SECRET.as_bytes(),
            &serde_json::json!({"sub": "bench", "exp": Utc::now().timestamp() + 3 * 3600, "orgs": orgs}),
        )
    )
}

fn probe_event(body: Body) -> Event {
    Event {
        id: Uuid::new_v4(),
        occurred_at: Utc::now(),
        org: Org {
            id: Uuid::from_u128(PROBE_ORG),
            slug: PROBE_SLUG.into(),
        },
        body,
    }
}

/// A successful login of a user never seen before (changes every login and
/// distinct-user figure of the probe application).
fn probe_login() -> Event {
    let user = Uuid::new_v4();
    probe_event(Body::Login(Login {
        success: true,
        failure_reason: None,
        user_id: Some(user),
        login_id: format!("{user}@probe.example"),
        application_id: Uuid::from_u128(PROBE_APP),
        application_name: Some("Freshness probe".into()),
        provider: "password".into(),
        ip: None,
        user_agent: None,
        session_id: None,
    }))
}

fn probe_registration() -> Event {
    probe_event(Body::Registration(authpulse_schemas::Registration {
        action: authpulse_schemas::RegistrationAction::Registered,
        user_id: Uuid::new_v4(),
        application_id: Some(Uuid::from_u128(PROBE_APP)),
        application_name: Some("Freshness probe".into()),
    }))
}

fn audit(action: &str, entity_type: &str, entity_id: String) -> Event {
    probe_event(Body::Audit(authpulse_schemas::Audit {
        action: action.into(),
        entity_type: entity_type.into(),
        entity_id,
        actor_id: Some("bench".into()),
        actor_email: None,
        organization_id: Some(Uuid::from_u128(PROBE_ORG).to_string()),
        metadata: Default::default(),
        ip_address: None,
    }))
}

fn probe_audit() -> Event {
    audit(
        "client.secret_generated",
        "client",
        PROBE_ENTITY.to_string(),
    )
}

/// A new organization: the only thing that moves Porta's `newOrgsLast7d`
/// here (the loaded profile creates its organizations at the start of its
/// span, the background traffic 40 days back).
fn probe_org_created() -> Event {
    audit(
        "organization.created",
        "organization",
        Uuid::new_v4().to_string(),
    )
}

/// A token of a grant type no other traffic uses: Janssen's per-grant token
/// counts of the current month are exact, unlike its distinct-user sketch,
/// which one more user need not move at 100 M events.
fn probe_token() -> Event {
    probe_event(Body::Token(authpulse_schemas::Token {
        grant_type: PROBE_GRANT.into(),
        token_type: "access_token".into(),
        client_id: PROBE_ENTITY.into(),
        application_id: Some(Uuid::from_u128(PROBE_APP)),
        user_id: None,
    }))
}

type Marker = fn() -> Event;

/// One endpoint: its path, which credentials, the marker that must change
/// its answer, and the JSON pointer to the part of the answer read (`None`:
/// all of it) — the part that only markers change.
struct Probe {
    endpoint: &'static str,
    path: String,
    auth: Auth,
    marker: Marker,
    pick: Option<String>,
}

#[derive(Clone, Copy)]
enum Auth {
    Key,
    Member,
    Stat,
}

fn probes() -> Vec<Probe> {
    let now = Utc::now().timestamp_millis();
    // The last hour through the next: the probe application has nothing
    // else, and the intervals holding "now" are the ones that change.
    let range = format!("start={}&end={}", now - 3_600_000, now + 3_600_000);
    let app = Uuid::from_u128(PROBE_APP);
    let org = |ep: &str| format!("/api/organizations/{PROBE_SLUG}/analytics/{ep}");
    let month = Utc::now().format("%Y%m");
    let p = |endpoint, path: String, auth, marker: Marker, pick: Option<String>| Probe {
        endpoint,
        path,
        auth,
        marker,
        pick,
    };
    vec![
        p(
            "FusionAuth login",
            format!("/api/report/login?{range}&applicationId={app}"),
            Auth::Key,
            probe_login,
            None,
        ),
        p(
            "FusionAuth registration",
            format!("/api/report/registration?{range}&applicationId={app}"),
            Auth::Key,
            probe_registration,
            None,
        ),
        // Per application: exact distinct counts (merged live states); one
        // more user need not move the global sketch at 100 M events.
        p(
            "FusionAuth DAU",
            format!("/api/report/daily-active-users?{range}&applicationId={app}"),
            Auth::Key,
            probe_login,
            None,
        ),
        p(
            "FusionAuth MAU",
            format!("/api/report/monthly-active-users?{range}&applicationId={app}"),
            Auth::Key,
            probe_login,
            None,
        ),
        p(
            "FusionAuth totals",
            "/api/report/totals".into(),
            Auth::Key,
            probe_registration,
            Some(format!("/applicationTotals/{app}")),
        ),
        p(
            "org login-trends",
            org("login-trends"),
            Auth::Member,
            probe_login,
            None,
        ),
        p(
            "org logins-by-service",
            org("logins-by-service"),
            Auth::Member,
            probe_login,
            None,
        ),
        p(
            "org logins-by-provider",
            org("logins-by-provider"),
            Auth::Member,
            probe_login,
            None,
        ),
        p(
            "org recent-logins",
            org("recent-logins"),
            Auth::Member,
            probe_login,
            None,
        ),
        p(
            "Porta stats",
            "/api/admin/stats".into(),
            Auth::Key,
            probe_org_created,
            Some("/recentActivity/newOrgsLast7d".into()),
        ),
        // The page, not the total: the background's audit events are
        // counted in the total but are never the newest.
        p(
            "Porta audit list",
            "/api/admin/audit?page=1&pageSize=5".into(),
            Auth::Key,
            probe_audit,
            Some("/data".into()),
        ),
        p(
            "Porta entity history",
            format!("/api/admin/clients/{PROBE_ENTITY}/history?limit=5"),
            Auth::Key,
            probe_audit,
            None,
        ),
        p(
            "Janssen stat",
            format!("/jans-auth/restv1/internal/stat?month={month}"),
            Auth::Stat,
            probe_token,
            Some("/response/0/token_count_per_granttype".into()),
        ),
    ]
}

/// The raw events in `db` (sum of the raw tables' active rows).
async fn raw_events(ctx: &Ctx, db: &str) -> anyhow::Result<u64> {
    let tables: Vec<String> = super::rows::tables()
        .iter()
        .map(|t| format!("'{t}'"))
        .collect();
    ctx.ch
        .count(&format!(
            "SELECT toUInt64(sum(rows)) FROM system.parts WHERE database = '{db}' AND active AND table IN ({})",
            tables.join(", ")
        ))
        .await
}

/// Measures freshness on `db` (the latency step's largest database) or,
/// without one, on a new empty database.
pub async fn run(ctx: &Ctx, rate: f64, db: Option<&str>) -> anyhow::Result<FreshResult> {
    let topic = format!("bench-fresh-{}", std::process::id());
    ctx.create_topic(&topic).await?;
    let own_db = db.is_none();
    let db = db.unwrap_or("bench_fresh");
    if own_db {
        ctx.fresh_db(db).await?;
    }
    ctx.ch.wait_idle(Duration::from_secs(180)).await?;
    let raw_before = raw_events(ctx, db).await?;
    let auth_path = write_auth(ctx, "bench-auth-fresh.json", &[])?;
    let metrics_port = free_port()?;
    let mut ingest = ctx.spawn(
        &[
            "ingest".into(),
            "--database".into(),
            db.into(),
            "--topics".into(),
            topic.clone(),
            "--group".into(),
            format!("bench-fresh-{}", std::process::id()),
            "--dlq-topic".into(),
            "bench-dlq".into(),
            "--metrics-listen".into(),
            format!("127.0.0.1:{metrics_port}"),
        ],
        "ingest-fresh.log",
    )?;
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let mut api = spawn_api(ctx, db, port, &auth_path, "api-fresh.log", true)?;
    wait_healthy(ctx, &base, &mut api).await?;

    let mut sender = ctx.producer()?;
    let producer = sender.producer();
    let http = &ctx.http;
    let creds = Creds {
        stat: stat_bearer(),
        member: member_bearer(&[PROBE_SLUG.to_string()]),
    };
    // Warm-up: the consumer has joined once a first marker is visible.
    let login = &probes()[0];
    let before = read(http, &base, login, &creds).await?;
    produce(&producer, &topic, &probe_login()).await?;
    let t = Instant::now();
    while read(http, &base, login, &creds).await? == before {
        if t.elapsed() > Duration::from_secs(60) {
            anyhow::bail!(
                "warm-up marker never became visible; ingest log: {}",
                ingest.log_tail()
            );
        }
        tokio::time::sleep(POLL_EVERY).await;
    }

    // Background traffic until the markers are done (the task is aborted
    // then; the count is kept by the progress callback).
    let day = chrono::Duration::days(1);
    let profile = Profile {
        seed: ctx.args.seed + 1,
        // An hour's worth: more than the marker phase takes.
        events: (rate * 3600.0) as u64,
        orgs: ctx.args.orgs,
        apps_per_org: ctx.args.apps_per_org,
        users_per_org: ctx.args.users_per_org,
        start: Utc::now() - day * 41,
        span: day,
        ..Profile::default()
    };
    let cpu0 = cpu(ctx, &ingest, &api);
    let (stat0, events0) = (machine_stat(), ctx.ch.events().await);
    let produced = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let bulk = {
        let (topic, produced) = (topic.clone(), produced.clone());
        tokio::spawn(async move {
            let mut progress = move |n: u64| {
                produced.fetch_add(n, Ordering::Relaxed);
            };
            sender
                .produce_profile(&topic, &profile, rate, None, &mut progress)
                .await
        })
    };
    // Let the background reach its pace before the first marker.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (endpoints, endpoints_error) = match endpoint_freshness(
        http,
        &base,
        &producer,
        &topic,
        &creds,
        ctx.args.fresh_markers.max(1),
    )
    .await
    {
        Ok(v) => (v, None),
        Err(e) => (Vec::new(), Some(format!("{e:#}"))),
    };
    let (window, window_error) =
        match window_check(ctx, db, http, &base, &producer, &topic, &creds).await {
            Ok(w) => (Some(w), None),
            Err(e) => (None, Some(format!("{e:#}"))),
        };
    let secs = started.elapsed().as_secs_f64();
    let sent = produced.load(Ordering::Relaxed);
    let bulk_error = if bulk.is_finished() {
        // Finished early: the hour's worth ran out or producing failed.
        match bulk.await {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(format!("background traffic: {e}")),
            Err(e) => Some(format!("background traffic: {e}")),
        }
    } else {
        bulk.abort();
        None
    };
    let cpu1 = cpu(ctx, &ingest, &api);
    let machine_busy = stat0
        .zip(machine_stat())
        .and_then(|((b0, t0), (b1, t1))| (t1 > t0).then(|| (b1 - b0) as f64 / (t1 - t0) as f64));
    let clickhouse = events0
        .zip(ctx.ch.events().await)
        .map(|(a, b)| b.since(&a).summary());
    let mut used = [None; 4];
    for i in 0..4 {
        used[i] = cpu0[i].zip(cpu1[i]).map(|(a, b)| b - a);
    }
    let consumer_peak_rss = peak_rss(ingest.pid());
    let metrics = super::ingest_metrics(http, metrics_port).await;
    ingest.terminate();
    api.terminate();
    if own_db {
        ctx.drop_db(db).await;
    }
    if let Some(e) = bulk_error {
        anyhow::bail!(e);
    }
    Ok(FreshResult {
        target_rate: rate,
        achieved_rate: sent as f64 / secs.max(1e-9),
        secs,
        database: db.to_string(),
        raw_events: raw_before,
        markers: ctx.args.fresh_markers.max(1),
        endpoints,
        endpoints_error,
        window,
        window_error,
        consumer_peak_rss,
        cpu: used,
        machine_busy,
        clickhouse,
        metrics,
    })
}

fn cpu(ctx: &Ctx, ingest: &super::Child, api: &super::Child) -> [Option<f64>; 4] {
    let (ch, broker) = ctx.server_cpu();
    [
        super::cpu_secs(ingest.pid()),
        super::cpu_secs(api.pid()),
        ch,
        broker,
    ]
}

/// Busy and total jiffies of all cores so far (/proc/stat's first line;
/// idle and iowait are not busy).
fn machine_stat() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let f: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    let total: u64 = f.iter().sum();
    let idle = f.get(3)? + f.get(4)?;
    Some((total - idle, total))
}

struct Creds {
    stat: String,
    member: String,
}

/// The part of `probe`'s answer that its markers change.
async fn read(http: &Http, base: &str, probe: &Probe, creds: &Creds) -> anyhow::Result<Value> {
    let auth = match probe.auth {
        Auth::Key => KEY,
        Auth::Member => creds.member.as_str(),
        Auth::Stat => creds.stat.as_str(),
    };
    let url = format!("{base}{}", probe.path);
    let r = http.get(&url, Some(auth)).await?;
    anyhow::ensure!(r.status == 200, "{url}: HTTP {}: {}", r.status, r.text());
    let v: Value = serde_json::from_slice(&r.body)
        .map_err(|e| anyhow::anyhow!("{url}: not JSON ({e}): {}", r.text()))?;
    Ok(match &probe.pick {
        None => v,
        // Absent (no entry for the probe yet) reads as null.
        Some(p) => v.pointer(p).cloned().unwrap_or(Value::Null),
    })
}

/// Produces `e` keyed by its id and waits for the broker's ack.
async fn produce(producer: &FutureProducer, topic: &str, e: &Event) -> anyhow::Result<()> {
    produce_keyed(producer, topic, &e.id.to_string(), e).await
}

async fn produce_keyed(
    producer: &FutureProducer,
    topic: &str,
    key: &str,
    e: &Event,
) -> anyhow::Result<()> {
    let payload = to_json(e);
    producer
        .send(
            FutureRecord::to(topic).key(key).payload(&payload),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| anyhow::anyhow!("produce marker: {e}"))?;
    Ok(())
}

/// For every endpoint, `markers` marker events one after another: read the
/// answer, produce the marker (timed from the produce call), poll every
/// 50 ms until the answer differs.
async fn endpoint_freshness(
    http: &Http,
    base: &str,
    producer: &FutureProducer,
    topic: &str,
    creds: &Creds,
    markers: u64,
) -> anyhow::Result<Vec<EndpointFresh>> {
    let mut out = Vec::new();
    for probe in probes() {
        let mut h = histogram();
        let mut polls = histogram();
        let mut missed = 0;
        let mut error = None;
        for _ in 0..markers {
            let before = match read(http, base, &probe, creds).await {
                Ok(b) => b,
                Err(e) => {
                    error = Some(format!("{e:#}"));
                    break;
                }
            };
            let e = (probe.marker)();
            let sent = Instant::now();
            produce(producer, topic, &e).await?;
            loop {
                let asked = Instant::now();
                let answer = read(http, base, &probe, creds).await;
                polls.record(asked.elapsed().as_micros().max(1) as u64)?;
                match answer {
                    Ok(now) if now != before => {
                        h.record(sent.elapsed().as_micros().max(1) as u64)?;
                        break;
                    }
                    Ok(_) => {}
                    // A failed poll under load is the answer not being
                    // there: keep polling, say what failed, and count the
                    // marker missed if it never shows.
                    Err(e) => {
                        error.get_or_insert(format!("a poll failed: {e:#}"));
                    }
                }
                if sent.elapsed() > GIVE_UP {
                    missed += 1;
                    break;
                }
                tokio::time::sleep(POLL_EVERY).await;
            }
        }
        let stats = (!h.is_empty()).then(|| Stats::of(&h));
        let polls = (!polls.is_empty()).then(|| Stats::of(&polls));
        eprintln!(
            "   {:<26} {}",
            probe.endpoint,
            match (stats, &error) {
                (Some(s), e) => format!(
                    "p50 {:.0} ms  p99 {:.0} ms  max {:.0} ms  poll p99 {:.0} ms  missed {missed}{}",
                    s.p50_ms,
                    s.p99_ms,
                    s.max_ms,
                    polls.map_or(0.0, |p| p.p99_ms),
                    e.as_ref().map(|e| format!("  ({e})")).unwrap_or_default()
                ),
                (None, Some(e)) => format!("failed: {e}"),
                (None, None) => format!("missed {missed}"),
            }
        );
        out.push(EndpointFresh {
            endpoint: probe.endpoint,
            path: probe.path.clone(),
            stats,
            polls,
            missed,
            error,
        });
    }
    Ok(out)
}

/// `newOrgsLast7d` counts exactly (now − 7 d, now]: an organization created
/// 7 d + 1 min ago and one created 7 d − 1 min ago, produced in that order
/// under one key (one partition, stored in order); once the second counts,
/// the first is stored too (checked in the raw table) and must not count.
async fn window_check(
    ctx: &Ctx,
    db: &str,
    http: &Http,
    base: &str,
    producer: &FutureProducer,
    topic: &str,
    creds: &Creds,
) -> anyhow::Result<WindowCheck> {
    let probe = probes()
        .into_iter()
        .find(|p| p.endpoint == "Porta stats")
        .ok_or_else(|| anyhow::anyhow!("no Porta stats probe"))?;
    let number = |v: &Value| {
        v.as_i64()
            .ok_or_else(|| anyhow::anyhow!("newOrgsLast7d is not a number: {v}"))
    };
    let before = number(&read(http, base, &probe, creds).await?)?;
    let week = chrono::Duration::days(7);
    let minute = chrono::Duration::minutes(1);
    let mut outside = probe_org_created();
    outside.occurred_at = Utc::now() - week - minute;
    let mut inside = probe_org_created();
    inside.occurred_at = Utc::now() - week + minute;
    let key = "bench-window-probe";
    produce_keyed(producer, topic, key, &outside).await?;
    produce_keyed(producer, topic, key, &inside).await?;
    let t = Instant::now();
    while number(&read(http, base, &probe, creds).await?)? == before {
        anyhow::ensure!(
            t.elapsed() < GIVE_UP,
            "the marker inside the window did not count within {} s",
            GIVE_UP.as_secs()
        );
        tokio::time::sleep(POLL_EVERY).await;
    }
    // A late second change would be the outside marker counting.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = number(&read(http, base, &probe, creds).await?)?;
    let outside_stored = ctx
        .ch
        .count(&format!(
            "SELECT count() FROM `{db}`.audit_events WHERE event_id = toUUID('{}')",
            outside.id
        ))
        .await?;
    Ok(WindowCheck {
        counted: after - before,
        outside_stored,
    })
}
