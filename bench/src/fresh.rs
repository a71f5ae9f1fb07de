//! Freshness: paced background traffic at a fixed rate through the real
//! path (broker → `authpulse ingest` → ClickHouse → `authpulse api`), plus
//! sampled logins of one probe user; each sample's time from produce to
//! visible in that user's login report is recorded.

use std::sync::Arc;
use std::time::{Duration, Instant};

use authpulse_loadgen::Profile;
use authpulse_schemas::{to_json, Body, Event, Login, Org};
use chrono::Utc;
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::sync::Mutex;
use uuid::Uuid;

use super::http::Http;
use super::latency::{histogram, spawn_api, wait_healthy, Stats, KEY};
use super::{free_port, peak_rss, Ctx};

pub struct FreshResult {
    pub target_rate: f64,
    pub achieved_rate: f64,
    pub secs: f64,
    pub samples: u64,
    pub missed: u64,
    pub stats: Option<Stats>,
    pub consumer_peak_rss: Option<u64>,
    /// CPU seconds during the paced traffic: consumer, api, ClickHouse, broker.
    pub cpu: [Option<f64>; 4],
    pub metrics: Option<String>,
    /// Produce → changed answer of every report endpoint, after the paced
    /// traffic (ingest idle, snapshot views on their own schedules).
    pub endpoints: Vec<EndpointFresh>,
    pub endpoints_error: Option<String>,
}

const POLL_EVERY: Duration = Duration::from_millis(50);
const GIVE_UP: Duration = Duration::from_secs(30);

fn sample_event(user: Uuid, n: u64) -> Event {
    Event {
        id: Uuid::new_v4(),
        occurred_at: Utc::now(),
        org: Org {
            id: Uuid::from_u128(0xBE4C_0000),
            slug: "bench-fresh".into(),
        },
        body: Body::Login(Login {
            success: true,
            failure_reason: None,
            user_id: Some(user),
            login_id: format!("fresh{n}@bench.example"),
            application_id: Uuid::from_u128(0xBE4C_0001),
            application_name: Some("Freshness probe".into()),
            provider: "password".into(),
            ip: None,
            user_agent: None,
            session_id: None,
        }),
    }
}

/// Produces one successful login of `user`. Every sample has the same key,
/// so all land in one partition, in order: the k-th sample is visible when
/// the user's login count reaches k.
fn send_sample(producer: &FutureProducer, topic: &str, user: Uuid, n: u64) -> anyhow::Result<()> {
    let e = sample_event(user, n);
    let payload = to_json(&e);
    let delivery = producer
        .send_result(
            FutureRecord::to(topic)
                .key("bench-freshness-probe")
                .payload(&payload),
        )
        .map_err(|(e, _)| anyhow::anyhow!("produce sample: {e}"))?;
    tokio::spawn(async move {
        let _ = delivery.await;
    });
    Ok(())
}

/// The user's successful logins as the login report counts them.
async fn report_total(http: &Http, base: &str, user: Uuid) -> anyhow::Result<u64> {
    let now = Utc::now().timestamp_millis();
    let url = format!(
        "{base}/api/report/login?start={}&end={}&userId={user}",
        now - 3_600_000,
        now + 3_600_000
    );
    let r = http.get(&url, Some(KEY)).await?;
    anyhow::ensure!(
        r.status == 200,
        "login report: HTTP {}: {}",
        r.status,
        r.text()
    );
    let v: serde_json::Value = serde_json::from_slice(&r.body)?;
    Ok(v["total"].as_u64().unwrap_or(0))
}

pub async fn run(ctx: &Ctx, rate: f64) -> anyhow::Result<FreshResult> {
    let topic = format!("bench-fresh-{}", std::process::id());
    let db = "bench_fresh";
    ctx.create_topic(&topic).await?;
    ctx.fresh_db(db).await?;
    ctx.ch.wait_idle(Duration::from_secs(60)).await?;
    let auth_path = ctx.workdir.join("bench-auth-fresh.json");
    std::fs::write(
        &auth_path,
        serde_json::to_vec(&serde_json::json!({
            "api_keys": [{ "key": KEY, "name": "bench", "scopes": ["*"] }],
            "jwt": { "hs256_secrets": [JWT_SECRET] }
        }))?,
    )?;
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
    let mut api = spawn_api(ctx, db, port, &auth_path, "api-fresh.log")?;
    wait_healthy(ctx, &base, &mut api).await?;

    let mut sender = ctx.producer()?;
    let producer = sender.producer();
    let http = &ctx.http;
    // Warm-up: the consumer has joined once a first sample is visible.
    let warm = Uuid::new_v4();
    send_sample(&producer, &topic, warm, 0)?;
    let t = Instant::now();
    while report_total(http, &base, warm).await? == 0 {
        if t.elapsed() > Duration::from_secs(60) {
            anyhow::bail!(
                "warm-up sample never became visible; ingest log: {}",
                ingest.log_tail()
            );
        }
        tokio::time::sleep(POLL_EVERY).await;
    }

    let secs = ctx.args.fresh_secs.max(1);
    let span = chrono::Duration::days(1);
    let profile = Profile {
        seed: ctx.args.seed + 1,
        events: (rate * secs as f64) as u64,
        orgs: ctx.args.orgs,
        apps_per_org: ctx.args.apps_per_org,
        users_per_org: ctx.args.users_per_org,
        start: Utc::now() - span,
        span,
        ..Profile::default()
    };
    let cpu0 = cpu(ctx, &ingest, &api);
    let bulk_topic = topic.clone();
    let bulk = tokio::spawn(async move {
        sender
            .produce_profile(&bulk_topic, &profile, rate, None, &mut |_| {})
            .await
    });
    // Sampler: a login of the probe user every `every`; send times kept.
    let user = Uuid::new_v4();
    let sent = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let sampler = {
        let (producer, topic, sent) = (producer.clone(), topic.clone(), sent.clone());
        let every = Duration::from_secs_f64(1.0 / ctx.args.fresh_samples_per_sec.max(0.1));
        let stop = Instant::now() + Duration::from_secs(secs);
        tokio::spawn(async move {
            let mut n = 1;
            while Instant::now() < stop {
                sent.lock().await.push(Instant::now());
                send_sample(&producer, &topic, user, n)?;
                n += 1;
                tokio::time::sleep(every).await;
            }
            anyhow::Ok(())
        })
    };
    // One poller: once the count reaches k, samples 1..=k are visible.
    let mut latencies = Vec::new();
    let mut seen = 0usize;
    let mut last_progress = Instant::now();
    loop {
        let total = report_total(http, &base, user).await? as usize;
        let now = Instant::now();
        {
            let sent = sent.lock().await;
            let upto = total.min(sent.len());
            if upto > seen {
                latencies.extend(sent[seen..upto].iter().map(|at| now - *at));
                seen = upto;
                last_progress = now;
            }
            if sampler.is_finished() && seen >= sent.len() {
                break;
            }
        }
        if now - last_progress > GIVE_UP {
            break;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    sampler.await??;
    let produced = bulk.await??;
    let samples = sent.lock().await.len() as u64;
    let cpu1 = cpu(ctx, &ingest, &api);
    let mut used = [None; 4];
    for i in 0..4 {
        used[i] = cpu0[i].zip(cpu1[i]).map(|(a, b)| b - a);
    }
    // Every report endpoint, one marker event each, with the consumer
    // still running.
    let (endpoints, endpoints_error) =
        match endpoint_freshness(http, &base, &producer, &topic).await {
            Ok(v) => (v, None),
            Err(e) => (Vec::new(), Some(format!("{e:#}"))),
        };
    let consumer_peak_rss = peak_rss(ingest.pid());
    let metrics = super::ingest_metrics(http, metrics_port).await;
    ingest.terminate();
    api.terminate();
    ctx.drop_db(db).await;
    let mut h = histogram();
    for d in &latencies {
        h.record(d.as_micros().max(1) as u64)?;
    }
    Ok(FreshResult {
        target_rate: rate,
        achieved_rate: produced.rate(),
        secs: produced.secs,
        samples,
        missed: samples - latencies.len() as u64,
        stats: (!h.is_empty()).then(|| Stats::of(&h)),
        consumer_peak_rss,
        cpu: used,
        metrics,
        endpoints,
        endpoints_error,
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

/// Time from producing a marker event to the first changed answer of one
/// report endpoint (`None`: unchanged after [`GIVE_UP`]).
pub struct EndpointFresh {
    pub endpoint: &'static str,
    pub visible_after: Option<Duration>,
}

/// HS256 secret of the bench's auth config (Janssen stat takes a Bearer JWT).
pub const JWT_SECRET: &str = "bench-freshness-hs256-secret-0123456789";

const PROBE_ORG: u128 = 0xBE4C_1000;
const PROBE_SLUG: &str = "bench-fresh-probe";
const PROBE_APP: u128 = 0xBE4C_1001;
const PROBE_ENTITY: &str = "bench-fresh-probe-client";

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
/// distinct-user figure).
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

fn probe_audit() -> Event {
    probe_event(Body::Audit(authpulse_schemas::Audit {
        action: "client.secret_generated".into(),
        entity_type: "client".into(),
        entity_id: PROBE_ENTITY.into(),
        actor_id: Some("bench".into()),
        actor_email: None,
        organization_id: Some(Uuid::from_u128(PROBE_ORG).to_string()),
        metadata: Default::default(),
        ip_address: None,
    }))
}

/// Every report endpoint with a marker event that must change its answer:
/// reads the answer, produces the marker, polls until the answer differs.
pub async fn endpoint_freshness(
    http: &Http,
    base: &str,
    producer: &FutureProducer,
    topic: &str,
) -> anyhow::Result<Vec<EndpointFresh>> {
    let now = Utc::now().timestamp_millis();
    let range = format!("start={}&end={}", now - 40 * 86_400_000, now + 3_600_000);
    let app = Uuid::from_u128(PROBE_APP);
    let org = |ep: &str| format!("/api/organizations/{PROBE_SLUG}/analytics/{ep}");
    let month = Utc::now().format("%Y%m");
    let bearer = format!(
        "Bearer {}",
        authpulse_api::auth::sign_hs256(
            JWT_SECRET.as_bytes(),
            &serde_json::json!({"sub": "bench", "scope": "openid jans_stat", "exp": Utc::now().timestamp() + 3600}),
        )
    );
    // Org analytics need a member of the organization (an API key is not).
    let member = format!(
        "Bearer {}",
        authpulse_api::auth::sign_hs256(
            JWT_SECRET.as_bytes(),
            &serde_json::json!({"sub": "bench", "exp": Utc::now().timestamp() + 3600, "orgs": { PROBE_SLUG: "Member" }}),
        )
    );
    type Marker = fn() -> Event;
    let probes: Vec<(&'static str, String, bool, Marker)> = vec![
        (
            "FusionAuth login",
            format!("/api/report/login?{range}&applicationId={app}"),
            false,
            probe_login,
        ),
        (
            "FusionAuth registration",
            format!("/api/report/registration?{range}&applicationId={app}"),
            false,
            probe_registration,
        ),
        (
            "FusionAuth DAU",
            format!("/api/report/daily-active-users?{range}"),
            false,
            probe_login,
        ),
        (
            "FusionAuth MAU",
            format!("/api/report/monthly-active-users?{range}"),
            false,
            probe_login,
        ),
        (
            "FusionAuth totals",
            "/api/report/totals".into(),
            false,
            probe_registration,
        ),
        ("org login-trends", org("login-trends"), true, probe_login),
        (
            "org logins-by-service",
            org("logins-by-service"),
            true,
            probe_login,
        ),
        (
            "org logins-by-provider",
            org("logins-by-provider"),
            true,
            probe_login,
        ),
        ("org recent-logins", org("recent-logins"), true, probe_login),
        ("Porta stats", "/api/admin/stats".into(), false, probe_login),
        (
            "Porta audit list",
            "/api/admin/audit?limit=5".into(),
            false,
            probe_audit,
        ),
        (
            "Porta entity history",
            format!("/api/admin/clients/{PROBE_ENTITY}/history?limit=5"),
            false,
            probe_audit,
        ),
        (
            "Janssen stat",
            format!("/jans-auth/restv1/internal/stat?month={month}"),
            true,
            probe_login,
        ),
    ];
    let mut out = Vec::new();
    for (endpoint, path, jwt, marker) in probes {
        let auth = match (jwt, path.starts_with("/api/organizations/")) {
            (false, _) => KEY,
            (true, true) => member.as_str(),
            (true, false) => bearer.as_str(),
        };
        let before = match answer(http, &format!("{base}{path}"), auth).await {
            Ok(b) => b,
            Err(e) => {
                eprintln!("freshness of {endpoint}: {e:#}");
                out.push(EndpointFresh {
                    endpoint,
                    visible_after: None,
                });
                continue;
            }
        };
        let e = marker();
        let payload = to_json(&e);
        let sent = Instant::now();
        producer
            .send(
                FutureRecord::to(topic)
                    .key(&e.id.to_string())
                    .payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| anyhow::anyhow!("produce marker: {e}"))?;
        let visible_after = loop {
            if answer(http, &format!("{base}{path}"), auth).await? != before {
                break Some(sent.elapsed());
            }
            if sent.elapsed() > GIVE_UP {
                break None;
            }
            tokio::time::sleep(POLL_EVERY).await;
        };
        out.push(EndpointFresh {
            endpoint,
            visible_after,
        });
    }
    Ok(out)
}

async fn answer(http: &Http, url: &str, auth: &str) -> anyhow::Result<bytes::Bytes> {
    let r = http.get(url, Some(auth)).await?;
    anyhow::ensure!(r.status == 200, "{url}: HTTP {}: {}", r.status, r.text());
    Ok(r.body)
}
